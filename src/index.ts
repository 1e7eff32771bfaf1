/**
 * @module
 * The Worker entry: HTTP requests go to the Hono app, the Cron Trigger refreshes tokens and fans
 * syncs out, and the queue consumer runs them. `RateLimiter` is the Durable Object class behind the
 * app-wide Trakt and TMDB limits (bound as RATE_LIMITER in wrangler.toml).
 */
import { createApp } from './app';
import { handleQueueBatch } from './jobs/queue';
import { runScheduled } from './jobs/scheduled';

export { RateLimiter } from './pacing/limiter';

const app = createApp();

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    await runScheduled(env, controller.scheduledTime, (p) => ctx.waitUntil(p));
  },
  async queue(batch, env, ctx) {
    await handleQueueBatch(batch, env, ctx);
  },
} satisfies ExportedHandler<Env>;
