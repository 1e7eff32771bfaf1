/**
 * The `webhook-deliveries` queue made explicit for tests, like the enrichment queue (./enrich-queue.ts):
 * test/setup.ts keeps every message a test sends, so Miniflare never delivers one in the middle of a later
 * test; test/webhooks.test.ts delivers them itself through the Worker's real queue handler.
 */
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';

export type SentWebhookMessage = { body: { delivery_id: string }; delaySeconds?: number };

export const webhookQueue: SentWebhookMessage[] = [];

export function captureWebhookQueue(): void {
  webhookQueue.length = 0;
  vi.spyOn(env.WEBHOOK_QUEUE, 'send').mockImplementation(async (body, options) => {
    webhookQueue.push({ body: body as SentWebhookMessage['body'], delaySeconds: options?.delaySeconds });
    return undefined as never;
  });
  vi.spyOn(env.WEBHOOK_QUEUE, 'sendBatch').mockImplementation(async (messages) => {
    for (const m of messages)
      webhookQueue.push({ body: m.body as SentWebhookMessage['body'], delaySeconds: m.delaySeconds });
    return undefined as never;
  });
}
