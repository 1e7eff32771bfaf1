/**
 * @module
 * The Worker entry: HTTP requests go to the Hono app, the Cron Trigger refreshes tokens and fans
 * syncs out, and the queue consumer runs them. `RateLimiter` is the Durable Object class behind the
 * app-wide Trakt and TMDB limits (bound as RATE_LIMITER in wrangler.toml).
 */
import { createApp } from './app';
import { recordUsage } from './budget/usage';
import { handleQueueBatch } from './jobs/queue';
import { runScheduled } from './jobs/scheduled';
import { observeCronRun } from './observability/cron';
import { observeInvocation } from './observability/invocation';

export { RateLimiter } from './pacing/limiter';

const app = createApp();

// Each invocation runs in its own observation scope (logging fields, metrics, D1 meter), and its D1 rows
// go to the day's counter of the daily budget (src/budget/usage.ts): a request's after it answers,
// background work's before it ends.
export default {
  fetch: (request, env, ctx) =>
    observeInvocation(env, {}, async (observed, scope) => {
      const response = await app.fetch(request, observed, ctx);
      const recorded = recordUsage(env.DB, scope.counters, Date.now(), { background: false });
      if (recorded) ctx.waitUntil(recorded);
      return response;
    }),
  async scheduled(controller, env, ctx) {
    await observeInvocation(env, { invocation: 'cron' }, async (observed, scope) => {
      try {
        await observeCronRun(observed, () => runScheduled(observed, controller.scheduledTime, (p) => ctx.waitUntil(p)));
      } finally {
        await recordUsage(env.DB, scope.counters, Date.now(), { background: true });
      }
    });
  },
  async queue(batch, env, ctx) {
    await observeInvocation(env, { invocation: 'queue', queue: batch.queue }, async (observed, scope) => {
      try {
        await handleQueueBatch(batch, observed, ctx);
      } finally {
        await recordUsage(env.DB, scope.counters, Date.now(), { background: true });
      }
    });
  },
} satisfies ExportedHandler<Env>;
