/**
 * @module
 * `/admin/*`: the operator's view, behind the `ADMIN_TOKEN` gate (admin/auth.ts).
 * `GET /admin/status`: users, connections by status, syncs in progress, sync lag, dead letters,
 * TMDB backlog, the last cron run, today's D1 rows against the daily budget and the envelopes each encryption
 * key id seals (admin/status.ts).
 */
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../app-env';
import { dailyBudget } from '../budget/budget';
import { keyRing } from '../crypto/envelope';
import { describe, errorResponse } from '../http/describe';
import { requireAdmin } from './auth';
import { adminStatusOutput } from './schemas';
import { operatorStatus } from './status';

export const adminRoutes = new Hono<AppEnv>().use('*', requireAdmin).get(
  '/status',
  describe({
    summary: 'Operator status (bearer ADMIN_TOKEN, not a user JWT)',
    description:
      'Answers 404 when ADMIN_TOKEN is not set, 401 for a wrong token, 429 when throttled. ' +
      'Every figure is read from an index or a counter.',
    tag: 'admin',
    responses: {
      200: { description: 'The figures', schema: adminStatusOutput },
      401: errorResponse('Missing or wrong admin token'),
      404: errorResponse('ADMIN_TOKEN is not set'),
      429: errorResponse('Too many requests from this address'),
    },
  }),
  async (c) => {
    c.header('Cache-Control', 'no-store');
    // A malformed ENCRYPTION_KEYS must not hide the figures: every key id then shows as missing.
    const ring = await keyRing(c.env).catch(() => undefined);
    return c.json(
      (await operatorStatus(c.env.DB, Date.now(), ring, dailyBudget(c.env))) satisfies z.input<
        typeof adminStatusOutput
      >,
    );
  },
);
