/**
 * @module
 * The `webhook-deliveries` queue consumer: one message = one attempt of one delivery
 * (src/webhooks/sender.ts). A failed attempt with retries left comes back as a NEW message delayed by the
 * backoff (so the queue's own retries only cover a consumer that crashed); those land in
 * `webhook-deliveries-dlq`, whose consumer marks the delivery failed in the delivery log.
 */
import { runBatch } from '../db/client';
import { describeError, log } from '../observability/log';
import { markDeadLettered } from '../webhooks/deliveries';
import type { WebhookMessage } from '../webhooks/outbox';
import { attemptDelivery } from '../webhooks/sender';

export const WEBHOOK_QUEUE_NAME = 'webhook-deliveries';
export const WEBHOOK_DLQ_NAME = 'webhook-deliveries-dlq';

export type WebhookOutcome = 'delivered' | 'retrying' | 'failed' | 'skipped' | 'invalid' | 'retry' | 'dead_lettered';

const isWebhookMessage = (body: unknown): body is WebhookMessage =>
  typeof body === 'object' && body !== null && typeof (body as WebhookMessage).delivery_id === 'string';

export async function handleWebhookMessage(
  env: Env,
  message: Message<unknown>,
  now: () => number = Date.now,
): Promise<WebhookOutcome> {
  if (!isWebhookMessage(message.body)) {
    message.ack();
    return 'invalid';
  }
  try {
    const result = await attemptDelivery(env, message.body.delivery_id, now());
    if (result.outcome === 'retrying') {
      await env.WEBHOOK_QUEUE.send(message.body, { contentType: 'json', delaySeconds: result.delaySeconds });
    }
    message.ack();
    return result.outcome;
  } catch (error) {
    log.warn('webhook_delivery_crashed', { ...describeError(error) });
    message.retry({ delaySeconds: 30 });
    return 'retry';
  }
}

export async function handleWebhookDeadLetter(env: Env, message: Message<unknown>, now = Date.now()) {
  if (isWebhookMessage(message.body)) await runBatch(env.DB, [markDeadLettered(message.body.delivery_id, now)]);
  message.ack();
  return 'dead_lettered' as const;
}
