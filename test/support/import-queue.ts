/**
 * The `trakt-import` queue made explicit for tests, like the enrichment queue (./enrich-queue.ts): what
 * the Worker sends is kept, and a test delivers it through the Worker's real queue handler, one message
 * per batch as wrangler.toml configures, with the attempt number it chooses.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';
import type { ImportMessage } from '../../src/import/service';
import worker from '../../src/index';

export type SentImportMessage = { body: ImportMessage; delaySeconds?: number };

export const importQueue: SentImportMessage[] = [];

export function captureImportQueue(): void {
  importQueue.length = 0;
  vi.spyOn(env.IMPORT_QUEUE, 'sendBatch').mockImplementation(async (messages) => {
    for (const m of messages) importQueue.push({ body: m.body as ImportMessage, delaySeconds: m.delaySeconds });
    return undefined as never;
  });
  vi.spyOn(env.IMPORT_QUEUE, 'send').mockImplementation(async (body, options) => {
    importQueue.push({ body: body as ImportMessage, delaySeconds: options?.delaySeconds });
    return undefined as never;
  });
}

export type ImportDelivery = { body: ImportMessage; acked: boolean; retried: boolean; retryDelay?: number };

export async function deliverImportMessage(
  body: ImportMessage,
  options: { env?: Env; attempts?: number } = {},
): Promise<ImportDelivery> {
  const batch = createMessageBatch('trakt-import', [
    { id: `import-${crypto.randomUUID()}`, timestamp: new Date(), attempts: options.attempts ?? 1, body },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env, ctx);
  const result = await getQueueResult(batch, ctx);
  return {
    body,
    acked: result.explicitAcks.length === 1,
    retried: result.retryMessages.length === 1,
    retryDelay: result.retryMessages[0]?.delaySeconds,
  };
}

/** Delivers the captured messages in order (and those they send) until none is left. */
export async function drainImportQueue(options: { env?: Env; maxRuns?: number } = {}): Promise<ImportDelivery[]> {
  const deliveries: ImportDelivery[] = [];
  for (let run = 0; importQueue.length > 0 && run < (options.maxRuns ?? 500); run++) {
    deliveries.push(await deliverImportMessage(importQueue.shift()!.body, { env: options.env }));
  }
  return deliveries;
}
