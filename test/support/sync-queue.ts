/**
 * The `trakt-sync` queue's single sends made explicit for tests, like the enrichment queue
 * (./enrich-queue.ts): a new connection queues its first sync at once, and a continuation or a request
 * handed back queues another; Miniflare would deliver them seconds later, in the middle of whatever test
 * runs then. test/setup.ts installs the capture before every test; a test that wants the sync delivers
 * the messages itself (`deliverSyncMessage`). The cron's `sendBatch` is not captured (its tests record it).
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';
import worker from '../../src/index';

export type SentSyncMessage = { body: Record<string, unknown> & { user_id: number }; delaySeconds?: number };

/** Messages sent to SYNC_QUEUE since the capture was installed, oldest first. */
export const syncQueue: SentSyncMessage[] = [];

export function captureSyncQueue(): void {
  syncQueue.length = 0;
  vi.spyOn(env.SYNC_QUEUE, 'send').mockImplementation(async (body, options) => {
    syncQueue.push({ body: body as SentSyncMessage['body'], delaySeconds: options?.delaySeconds });
    return undefined as never;
  });
}

/** Delivers one message to the Worker's queue handler, as Queues would (one message per batch). */
export async function deliverSyncMessage(body: SentSyncMessage['body'], options: { env?: Env } = {}) {
  const batch = createMessageBatch('trakt-sync', [
    { id: `sync-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env, ctx);
  const result = await getQueueResult(batch, ctx);
  return { body, acked: result.explicitAcks.length === 1, retried: result.retryMessages.length === 1 };
}

/** Delivers the captured messages (and those their runs send) until none is left or `maxRuns`. */
export async function drainSyncQueue(options: { env?: Env; maxRuns?: number } = {}) {
  const deliveries = [];
  for (let run = 0; syncQueue.length > 0 && run < (options.maxRuns ?? 100); run++)
    deliveries.push(await deliverSyncMessage(syncQueue.shift()!.body, options));
  return deliveries;
}
