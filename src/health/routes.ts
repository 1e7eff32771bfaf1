/**
 * @module
 * `/health`: `GET /health` is the cheap liveness probe (no I/O); `GET /health/ready` runs the
 * readiness checks (health/readiness.ts) and answers 200 or 503. Neither needs auth, and neither
 * says more than which check failed.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { VERSION } from '../version';
import { checkReadiness } from './readiness';

export const healthRoutes = new Hono<AppEnv>()
  .get('/', (c) => c.json({ status: 'ok', version: VERSION }))
  .get('/ready', async (c) => {
    const readiness = await checkReadiness(c.env);
    c.header('Cache-Control', 'no-store');
    if (readiness.ready) return c.json({ status: 'ready', checks: readiness.checks }, 200);
    return c.json({ status: 'not_ready', checks: readiness.checks, problems: readiness.problems }, 503);
  });
