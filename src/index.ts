/**
 * @module
 * The Worker entry: HTTP requests go to the Hono app, the Cron Trigger refreshes tokens and fans
 * syncs out, and the queue consumer runs them. `RateLimiter` is the Durable Object class behind the
 * app-wide Trakt and TMDB limits (bound as RATE_LIMITER in wrangler.toml).
 */
import { createApp } from './app';
import { handleQueueBatch } from './jobs/queue';
import { runScheduled } from './jobs/scheduled';
import { observeCronRun } from './observability/cron';
import { observeInvocation } from './observability/invocation';

export { RateLimiter } from './pacing/limiter';

const app = createApp();

// Each invocation runs in its own observation scope (logging fields, metrics, D1 meter).
export default {
  fetch: (request, env, ctx) =>
    observeInvocation(env, {}, (observed) => Promise.resolve(app.fetch(request, observed, ctx))),
  async scheduled(controller, env, ctx) {
    await observeInvocation(env, { invocation: 'cron' }, (observed) =>
      observeCronRun(observed, () => runScheduled(observed, controller.scheduledTime, (p) => ctx.waitUntil(p))),
    );
  },
  async queue(batch, env, ctx) {
    await observeInvocation(env, { invocation: 'queue', queue: batch.queue }, (observed) =>
      handleQueueBatch(batch, observed, ctx),
    );
  },
} satisfies ExportedHandler<Env>;
