/**
 * The `trakt-enrich` queue made explicit for tests. Miniflare would deliver what the Worker sends to
 * its consumer a few seconds later, in the middle of whatever test runs then; the suite instead
 * keeps each message (test/setup.ts installs this before every test) and a test that wants the
 * enrichment runs delivers them itself through the Worker's real queue handler (`drainEnrichQueue`).
 * test/enrichment-queue.test.ts also checks one real delivery by Miniflare, with the capture off.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';
import worker from '../../src/index';
import type { EnrichOutcome } from '../../src/jobs/enrichment';
import type { EnrichMessage } from '../../src/tmdb/runner';

export type SentEnrichMessage = { body: EnrichMessage; delaySeconds?: number };

/** Messages sent to ENRICH_QUEUE since the capture was installed, oldest first (delivered ones are removed). */
export const enrichQueue: SentEnrichMessage[] = [];

export function captureEnrichQueue(): void {
  enrichQueue.length = 0;
  vi.spyOn(env.ENRICH_QUEUE, 'send').mockImplementation(async (body, options) => {
    enrichQueue.push({ body: body as EnrichMessage, delaySeconds: options?.delaySeconds });
    return undefined as never;
  });
}

export type Delivery = { body: EnrichMessage; acked: boolean; retried: boolean };

/**
 * Delivers the captured messages one by one (one message per batch, as wrangler.toml configures) to
 * the Worker's queue handler, including those the runs send, until none is left or `maxRuns`.
 */
export async function drainEnrichQueue(options: { env?: Env; maxRuns?: number } = {}): Promise<Delivery[]> {
  const deliveries: Delivery[] = [];
  for (let run = 0; enrichQueue.length > 0 && run < (options.maxRuns ?? 100); run++) {
    const next = enrichQueue.shift()!;
    deliveries.push(await deliverEnrichMessage(next.body, { env: options.env }));
  }
  return deliveries;
}

export async function deliverEnrichMessage(
  body: EnrichMessage,
  options: { env?: Env; attempts?: number } = {},
): Promise<Delivery> {
  const batch = createMessageBatch('trakt-enrich', [
    { id: `enrich-${crypto.randomUUID()}`, timestamp: new Date(), attempts: options.attempts ?? 1, body },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env, ctx);
  const result = await getQueueResult(batch, ctx);
  return { body, acked: result.explicitAcks.length === 1, retried: result.retryMessages.length === 1 };
}

export type { EnrichOutcome };
