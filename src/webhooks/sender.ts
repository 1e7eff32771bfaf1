/**
 * @module
 * One attempt of one delivery: take it (./deliveries.ts lease), check the endpoint (enabled, URL allowed:
 * ./url-policy.ts), sign it the Standard Webhooks way with the `standardwebhooks` package (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`), POST it with
 * a timeout and without following redirects, and record the outcome in one batch: the delivery
 * (delivered, retrying with the next attempt's time, or failed = the dead letter) and the endpoint's
 * failure streak, which disables it after sustained failure (./retry-policy.ts).
 */

import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { WEBHOOK_TIMEOUT_MS, webhooksAllowInsecure } from '../config';
import { keyRing } from '../crypto/envelope';
import { database, runBatch } from '../db/client';
import { webhooks } from '../db/schema';
import { log } from '../observability/log';
import { claimDelivery, type DeliveryRow, readDelivery, recordAttempt } from './deliveries';
import { openSecret, recordFailure, recordSuccess, type WebhookRow } from './endpoints';
import { MAX_ATTEMPTS, nextRetryDelaySeconds, shouldDisable } from './retry-policy';
import { webhookUrlProblem } from './url-policy';

export const USER_AGENT = 'trakt-history-api-webhooks/1';

export type AttemptResult =
  | { outcome: 'delivered' | 'failed' | 'skipped'; delivery?: DeliveryRow }
  | { outcome: 'retrying'; delaySeconds: number; delivery?: DeliveryRow };

type Sent = { ok: boolean; statusCode: number | null; error: string | null };

async function send(url: string, secret: string, id: string, payload: string, now: number): Promise<Sent> {
  const timestamp = new Date(now);
  const signature = new Webhook(secret).sign(id, timestamp, payload);
  try {
    const response = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': USER_AGENT,
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(now / 1000)),
        'webhook-signature': signature,
      },
      body: payload,
    });
    await response.body?.cancel();
    if (response.status >= 200 && response.status < 300) return { ok: true, statusCode: response.status, error: null };
    if (response.status >= 300 && response.status < 400)
      return { ok: false, statusCode: response.status, error: `Redirect (HTTP ${response.status}) not followed` };
    return { ok: false, statusCode: response.status, error: `HTTP ${response.status}` };
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    return {
      ok: false,
      statusCode: null,
      error: timedOut ? `No answer within ${WEBHOOK_TIMEOUT_MS / 1000} s` : 'Connection failed',
    };
  }
}

/**
 * Makes one attempt of `deliveryId` (see the module comment). `retries: false` (the test delivery) makes a
 * failed attempt final. Never throws for the endpoint's faults; a D1 failure throws (the queue retries).
 */
export async function attemptDelivery(
  env: Env,
  deliveryId: string,
  now: number,
  options: { retries?: boolean } = {},
): Promise<AttemptResult> {
  const db = database(env.DB);
  const delivery = await claimDelivery(db, deliveryId, now);
  if (!delivery) return { outcome: 'skipped' };
  const [endpoint] = await db.select().from(webhooks).where(eq(webhooks.id, delivery.webhookId)).limit(1);
  if (!endpoint) return { outcome: 'skipped' };
  const refused = endpoint.disabledAt
    ? `Endpoint disabled (${endpoint.disabledReason ?? 'disabled'})`
    : webhookUrlProblem(endpoint.url, webhooksAllowInsecure(env));
  let sent: Sent;
  if (refused && endpoint.disabledAt) {
    await runBatch(env.DB, [
      recordAttempt(delivery.id, { status: 'failed', statusCode: null, error: refused }, now, null),
    ]);
    return { outcome: 'failed', delivery: await readDelivery(db, delivery.id) };
  }
  if (refused) sent = { ok: false, statusCode: null, error: `Refused: ${refused}` };
  else
    sent = await send(endpoint.url, await openSecret(await keyRing(env), endpoint), delivery.id, delivery.payload, now);
  return finish(env, endpoint, delivery, sent, now, options.retries !== false);
}

async function finish(
  env: Env,
  endpoint: WebhookRow,
  delivery: DeliveryRow,
  sent: Sent,
  now: number,
  retries: boolean,
): Promise<AttemptResult> {
  const db = database(env.DB);
  if (sent.ok) {
    await runBatch(env.DB, [
      recordAttempt(delivery.id, { status: 'delivered', statusCode: sent.statusCode, error: null }, now, null),
      recordSuccess(endpoint.id, now),
    ]);
    return { outcome: 'delivered', delivery: await readDelivery(db, delivery.id) };
  }
  const failingSince = endpoint.failingSince ?? new Date(now).toISOString();
  const disable = shouldDisable(failingSince, endpoint.consecutiveFailures + 1, now);
  const delay =
    retries && !disable && delivery.attempts < MAX_ATTEMPTS ? nextRetryDelaySeconds(delivery.attempts) : null;
  const status = delay === null ? 'failed' : 'retrying';
  await runBatch(env.DB, [
    recordAttempt(
      delivery.id,
      { status, statusCode: sent.statusCode, error: sent.error },
      now,
      delay === null ? null : now + delay * 1000,
    ),
    recordFailure(endpoint.id, now, disable),
  ]);
  if (disable) log.warn('webhook_disabled', { user_id: endpoint.userId, webhook_id: endpoint.id });
  else log.info('webhook_attempt_failed', { user_id: endpoint.userId, webhook_id: endpoint.id, error: sent.error });
  const after = await readDelivery(db, delivery.id);
  return delay === null
    ? { outcome: 'failed', delivery: after }
    : { outcome: 'retrying', delaySeconds: delay, delivery: after };
}
