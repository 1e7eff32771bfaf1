/**
 * Applies the real D1 migrations (the same files wrangler applies) before each test file; captures the enrichment,
 * single sync, import and webhook queues.
 */
import { applyD1Migrations } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach } from 'vitest';
import { captureEnrichQueue } from './support/enrich-queue';
import { captureImportQueue } from './support/import-queue';
import { captureSyncQueue } from './support/sync-queue';
import { captureWebhookQueue } from './support/webhook-queue';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// TMDB enrichment, single sync, import and webhook messages are kept for the test to deliver
// (test/support/enrich-queue.ts, sync-queue.ts, import-queue.ts, webhook-queue.ts).
beforeEach(() => {
  captureEnrichQueue();
  captureSyncQueue();
  captureImportQueue();
  captureWebhookQueue();
});
