/**
 * @module
 * New plays become webhook deliveries through an outbox (`webhook_new_plays`, src/readmodel/play-outbox.ts), so a delivery can
 * neither be lost nor announce plays that were rolled back:
 * 1. the history write hook `playsInserted(userId, historyIds)`, which every writer of plays (the sync, the
 *    import) appends to its own batch, stages the inserted plays (src/readmodel/play-outbox.ts `stageNewPlays`);
 * 2. once that batch has committed, the writer calls `newPlaysCommitted(env, userId)`: everything staged for the
 *    user becomes ONE delivery per enabled endpoint (so one per batch of new plays), queued at once. A writer
 *    that died in between is covered by the cron (`dispatchStaleOutboxes`).
 * Two dispatches racing for the same staged plays: the second's batch finds them gone and writes nothing.
 * Events that are not about plays (`sync.failed`) are queued directly by `announceEvent`.
 */
import type { SQL } from 'drizzle-orm';
import { WEBHOOK_MAX_PLAYS_PER_DELIVERY } from '../config';
import { type Database, database, isoNow, runBatch } from '../db/client';
import { describeError, log } from '../observability/log';
import { clearStaged, readStaged, stillStaged, usersWithStaleStaging } from '../readmodel/play-outbox';
import { type DeliveryRow, insertDelivery, newMessageId } from './deliveries';
import { listWebhooks, type WebhookRow } from './endpoints';
import { readWebhookPlays } from './payload';
import type { WebhookEvent } from './schemas';

/** The queue message: one attempt of one delivery. */
export type WebhookMessage = { delivery_id: string };

const subscribed = (row: WebhookRow, event: WebhookEvent) =>
  row.disabledAt === null && (JSON.parse(row.events) as string[]).includes(event);

/** The exact body of a delivery (Standard Webhooks: `{type, timestamp, data}`). */
export function eventBody(type: string, data: unknown, now: number): string {
  return JSON.stringify({ type, timestamp: isoNow(now), data });
}

async function enqueue(env: Env, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  try {
    await env.WEBHOOK_QUEUE.sendBatch(ids.map((id) => ({ body: { delivery_id: id } satisfies WebhookMessage })));
  } catch (error) {
    // The deliveries are stored: the cron finds them overdue and queues them again.
    log.error('webhook_enqueue_failed', { deliveries: ids.length, ...describeError(error) });
  }
}

/**
 * Turns the user's staged plays into one `play.created` delivery per enabled endpoint and queues them.
 * Never throws (the staged plays wait for the next dispatch). Returns the deliveries made.
 */
export async function newPlaysCommitted(env: Env, userId: number, now: number = Date.now()): Promise<string[]> {
  const db = database(env.DB);
  try {
    const ids = await readStaged(db, userId);
    if (ids.length === 0) return [];
    const endpoints = (await listWebhooks(db, userId)).filter((row) => subscribed(row, 'play.created'));
    const clear = clearStaged(userId, ids);
    if (endpoints.length === 0) {
      await runBatch(env.DB, [clear]);
      return [];
    }
    const payload = eventBody('play.created', await playsData(db, userId, ids), now);
    // Guarded: only the dispatch that still finds every staged play writes its deliveries (then clears them).
    const guard = stillStaged(userId, ids);
    const deliveries = endpoints.map((row) => ({
      id: newMessageId(),
      webhookId: row.id,
      userId,
      type: 'play.created',
      payload,
    }));
    const statements: SQL[] = [];
    for (const delivery of deliveries) statements.push(...insertDelivery(delivery, now, guard));
    const results = await runBatch(env.DB, [...statements, clear]);
    const written = deliveries.filter((_, i) => (results[i * 2]?.meta.changes ?? 0) > 0).map((d) => d.id);
    await enqueue(env, written);
    return written;
  } catch (error) {
    log.warn('webhook_dispatch_failed', { user_id: userId, ...describeError(error) });
    return [];
  }
}

/** `data` of `play.created`: the newest WEBHOOK_MAX_PLAYS_PER_DELIVERY of the batch, and how many it had. */
async function playsData(db: Database, userId: number, historyIds: number[]) {
  const plays = await readWebhookPlays(db, userId, historyIds, WEBHOOK_MAX_PLAYS_PER_DELIVERY);
  return { plays, count: historyIds.length, truncated: historyIds.length > plays.length };
}

/** Queues an event that is not about plays (`sync.failed`) to every endpoint subscribed to it. Never throws. */
export async function announceEvent(
  env: Env,
  userId: number,
  type: Exclude<WebhookEvent, 'play.created'>,
  data: unknown,
  now: number = Date.now(),
): Promise<string[]> {
  try {
    const db = database(env.DB);
    const endpoints = (await listWebhooks(db, userId)).filter((row) => subscribed(row, type));
    if (endpoints.length === 0) return [];
    const payload = eventBody(type, data, now);
    const deliveries = endpoints.map((row) => ({ id: newMessageId(), webhookId: row.id, userId, type, payload }));
    await runBatch(
      env.DB,
      deliveries.flatMap((d) => insertDelivery(d, now)),
    );
    await enqueue(
      env,
      deliveries.map((d) => d.id),
    );
    return deliveries.map((d) => d.id);
  } catch (error) {
    log.warn('webhook_announce_failed', { user_id: userId, type, ...describeError(error) });
    return [];
  }
}

/** Cron: dispatches outboxes a writer left behind (staged over a minute ago) and re-queues overdue deliveries. */
export async function dispatchStaleOutboxes(env: Env, now: number, limit = 50): Promise<number> {
  const users = await usersWithStaleStaging(database(env.DB), now - 60_000, limit);
  for (const userId of users) await newPlaysCommitted(env, userId, now);
  return users.length;
}

export type { DeliveryRow };
export { enqueue as enqueueDeliveries };
