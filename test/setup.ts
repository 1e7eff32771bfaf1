/** Applies the real D1 migrations (the same files wrangler applies) before each test file; captures the enrichment and webhook queues. */
import { applyD1Migrations } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach } from 'vitest';
import { captureEnrichQueue } from './support/enrich-queue';
import { captureWebhookQueue } from './support/webhook-queue';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// TMDB enrichment messages are kept for the test to deliver (test/support/enrich-queue.ts).
beforeEach(() => {
  captureEnrichQueue();
  // Webhook deliveries likewise (test/support/webhook-queue.ts).
  captureWebhookQueue();
});
