/**
 * @module
 * The owner of `webhook_deliveries`: the delivery log each owner reads, the state of every delivery
 * (`pending` → `retrying`… → `delivered` | `failed`), and the dead-letter record (`failed`, with its
 * last error, once the retries are spent or the endpoint was disabled). A consumer takes a short lease
 * on a delivery before an attempt, so a duplicate queue message never sends it twice at once.
 */
import { desc, eq, type SQL, sql } from 'drizzle-orm';
import { WEBHOOK_LEASE_SECONDS, WEBHOOK_LOG_KEEP } from '../config';
import { randomBytes, toBase64Url } from '../crypto/bytes';
import { type Database, isoNow } from '../db/client';
import { webhookDeliveries } from '../db/schema';
import type { DeliveryOutput } from './schemas';

export type DeliveryRow = typeof webhookDeliveries.$inferSelect;

export const newMessageId = () => `msg_${toBase64Url(randomBytes(16))}`;

export function deliveryView(row: DeliveryRow): DeliveryOutput {
  return {
    id: row.id,
    type: row.eventType,
    status: row.status,
    attempts: row.attempts,
    created_at: row.createdAt,
    last_attempt_at: row.lastAttemptAt,
    next_attempt_at: row.status === 'pending' || row.status === 'retrying' ? row.nextAttemptAt : null,
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    completed_at: row.completedAt,
  };
}

/**
 * A new delivery to one endpoint (written only while `guard`, an SQL condition, holds), and the pruning of that
 * endpoint's oldest log rows. The insert comes first: its `changes` say whether it was written.
 */
export function insertDelivery(
  delivery: { id: string; webhookId: string; userId: number; type: string; payload: string },
  now: number,
  guard: SQL = sql`1`,
): SQL[] {
  const at = isoNow(now);
  return [
    sql`INSERT INTO webhook_deliveries (id, webhook_id, user_id, event_type, payload, status, attempts, created_at,
        next_attempt_at)
      SELECT ${delivery.id}, ${delivery.webhookId}, ${delivery.userId}, ${delivery.type}, ${delivery.payload},
        'pending', 0, ${at}, ${at} WHERE ${guard}`,
    sql`DELETE FROM webhook_deliveries WHERE webhook_id = ${delivery.webhookId} AND id IN (
      SELECT id FROM webhook_deliveries WHERE webhook_id = ${delivery.webhookId}
      ORDER BY created_at DESC LIMIT -1 OFFSET ${WEBHOOK_LOG_KEEP})`,
  ];
}

/** Takes the delivery for one attempt (counts it); undefined when it is finished or another consumer holds it. */
export async function claimDelivery(db: Database, id: string, now: number): Promise<DeliveryRow | undefined> {
  const at = isoNow(now);
  const rows = await db.all<Record<string, unknown>>(sql`UPDATE webhook_deliveries
    SET lease_until = ${isoNow(now + WEBHOOK_LEASE_SECONDS * 1000)}, attempts = attempts + 1, last_attempt_at = ${at}
    WHERE id = ${id} AND status IN ('pending', 'retrying') AND (lease_until IS NULL OR lease_until <= ${at})
    RETURNING *`);
  const row = rows[0];
  if (!row) return undefined;
  return (await db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)).limit(1))[0];
}

/** The outcome of an attempt: delivered, retrying at `nextAttemptAt`, or failed (the dead letter). */
export function recordAttempt(
  id: string,
  outcome: { status: 'delivered' | 'retrying' | 'failed'; statusCode: number | null; error: string | null },
  now: number,
  nextAttemptAt: number | null,
): SQL {
  const done = outcome.status === 'retrying' ? null : isoNow(now);
  return sql`UPDATE webhook_deliveries SET status = ${outcome.status}, lease_until = NULL,
      last_status_code = ${outcome.statusCode}, last_error = ${outcome.error},
      next_attempt_at = ${nextAttemptAt === null ? null : isoNow(nextAttemptAt)}, completed_at = ${done}
    WHERE id = ${id}`;
}

/** A delivery whose queue message was dead-lettered (the consumer kept crashing): failed, unless already done. */
export function markDeadLettered(id: string, now: number): SQL {
  return sql`UPDATE webhook_deliveries SET status = 'failed', lease_until = NULL, completed_at = ${isoNow(now)},
      last_error = coalesce(last_error, 'The delivery could not be processed')
    WHERE id = ${id} AND status IN ('pending', 'retrying')`;
}

export async function listDeliveries(db: Database, webhookId: string): Promise<DeliveryRow[]> {
  return db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.webhookId, webhookId))
    .orderBy(desc(webhookDeliveries.createdAt))
    .limit(WEBHOOK_LOG_KEEP);
}

export async function readDelivery(db: Database, id: string): Promise<DeliveryRow | undefined> {
  return (await db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)).limit(1))[0];
}

/** Deliveries that should have been attempted by now but were not (a lost queue message): for the cron. */
export async function overdueDeliveries(db: Database, now: number, limit = 100): Promise<string[]> {
  const before = isoNow(now - 10 * 60 * 1000);
  const rows = await db.all<{ id: string }>(sql`SELECT id FROM webhook_deliveries
    WHERE status IN ('pending', 'retrying') AND next_attempt_at < ${before}
      AND (lease_until IS NULL OR lease_until <= ${isoNow(now)}) LIMIT ${limit}`);
  return rows.map((r) => r.id);
}

/** Account deletion's statement for this table. */
export function deleteUserDeliveries(userId: number): SQL {
  return sql`DELETE FROM webhook_deliveries WHERE user_id = ${userId}`;
}
