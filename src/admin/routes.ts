/**
 * @module
 * `/admin/*`: the operator's view, behind the `ADMIN_TOKEN` gate (admin/auth.ts).
 * `GET /admin/status`: users, connections by status, syncs in progress, sync lag, dead letters,
 * TMDB backlog and the last cron run (admin/status.ts).
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { requireAdmin } from './auth';
import { operatorStatus } from './status';

export const adminRoutes = new Hono<AppEnv>().use('*', requireAdmin).get('/status', async (c) => {
  c.header('Cache-Control', 'no-store');
  return c.json(await operatorStatus(c.env.DB, Date.now()));
});
