/** Applies the real D1 migrations (the same files wrangler applies) before each test file; captures the queues' sends. */
import { applyD1Migrations } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach } from 'vitest';
import { captureEnrichQueue } from './support/enrich-queue';
import { captureSyncQueue } from './support/sync-queue';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// TMDB enrichment messages and single sync messages are kept for the test to deliver
// (test/support/enrich-queue.ts, test/support/sync-queue.ts).
beforeEach(() => {
  captureEnrichQueue();
  captureSyncQueue();
});
