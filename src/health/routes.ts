/**
 * @module
 * `/health`: `GET /health` is the cheap liveness probe (no I/O); `GET /health/ready` runs the
 * readiness checks (health/readiness.ts; reused for a few seconds per isolate) and answers 200 or 503. Neither needs auth, and neither
 * says more than which check failed.
 */
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../app-env';
import { describe } from '../http/describe';
import { VERSION } from '../version';
import { cachedReadiness, READINESS_CACHE_MS } from './readiness';
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
      summary: 'Readiness: D1, KV, configuration, migrations and encryption keys',
      description: `No auth. The answer is reused for ${READINESS_CACHE_MS / 1000} s per isolate.`,
      tag: 'meta',
      responses: {
        200: { description: 'Every check passed', schema: readyOutput },
        503: { description: 'A check failed; each failed check is named', schema: notReadyOutput },
      },
    }),
    async (c) => {
      const readiness = await cachedReadiness(c.env, Date.now());
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
