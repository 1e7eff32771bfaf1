/**
 * @module
 * `/health`: `GET /health` is the cheap liveness probe (no I/O); `GET /health/ready` runs the
 * readiness checks (health/readiness.ts) and answers 200 or 503. Neither needs auth, and neither
 * says more than which check failed.
 */
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../app-env';
import { describe } from '../http/describe';
import { VERSION } from '../version';
import { checkReadiness } from './readiness';
import { livenessOutput, notReadyOutput, readyOutput } from './schemas';

export const healthRoutes = new Hono<AppEnv>()
  .get(
    '/',
    describe({
      summary: 'Liveness check and version',
      tag: 'meta',
      responses: { 200: { description: 'The API is up', schema: livenessOutput } },
    }),
    (c) => c.json({ status: 'ok', version: VERSION } satisfies z.input<typeof livenessOutput>),
  )
  .get(
    '/ready',
    describe({
      summary: 'Readiness: D1, KV, configuration and migrations',
      tag: 'meta',
      responses: {
        200: { description: 'Every check passed', schema: readyOutput },
        503: { description: 'A check failed; each failed check is named', schema: notReadyOutput },
      },
    }),
    async (c) => {
      const readiness = await checkReadiness(c.env);
      c.header('Cache-Control', 'no-store');
      if (readiness.ready) {
        return c.json({ status: 'ready', checks: readiness.checks } satisfies z.input<typeof readyOutput>, 200);
      }
      return c.json(
        {
          status: 'not_ready',
          checks: readiness.checks,
          problems: readiness.problems,
        } satisfies z.input<typeof notReadyOutput>,
        503,
      );
    },
  );
