/**
 * @module
 * The Worker entry: HTTP requests go to the Hono app, the Cron Trigger refreshes tokens and fans
 * syncs out, and the queue consumer runs them.
 */
import { createApp } from './app';
import { handleQueueBatch } from './jobs/queue';
import { runScheduled } from './jobs/scheduled';

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
