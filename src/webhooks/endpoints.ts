/**
 * @module
 * The owner of `webhooks`: a user's endpoints, their sealed signing secrets, and their health (the
 * failure streak and the disabled state the owner sees). Every read and write of the table goes here.
 */
import { and, desc, eq, type SQL, sql } from 'drizzle-orm';
import { MAX_WEBHOOKS_PER_USER } from '../config';
import { randomBytes, toBase64, toBase64Url } from '../crypto/bytes';
import { aadFor, type KeyRing, open, seal } from '../crypto/envelope';
import { type Database, isoNow } from '../db/client';
import { webhooks } from '../db/schema';
import { ApiError } from '../http/errors';
import type { WebhookEvent, WebhookOutput } from './schemas';

export type WebhookRow = typeof webhooks.$inferSelect;

const secretAad = (userId: number, id: string) => aadFor(userId, `webhook_secret:${id}`);

function parseEvents(raw: string): WebhookEvent[] {
  try {
    return JSON.parse(raw) as WebhookEvent[];
  } catch {
    return [];
  }
}

export function webhookView(row: WebhookRow): WebhookOutput {
  return {
    id: row.id,
    url: row.url,
    events: parseEvents(row.events),
    created_at: row.createdAt,
    enabled: row.disabledAt === null,
    disabled_at: row.disabledAt,
    disabled_reason: row.disabledReason,
    failing_since: row.failingSince,
    consecutive_failures: row.consecutiveFailures,
    last_success_at: row.lastSuccessAt,
    last_failure_at: row.lastFailureAt,
  };
}

/** A new endpoint with a fresh `whsec_` secret (24 random bytes, as the Standard Webhooks libraries make them). */
export async function createWebhook(
  db: Database,
  ring: KeyRing,
  userId: number,
  input: { url: string; events: WebhookEvent[] },
  now: number,
): Promise<{ row: WebhookRow; secret: string }> {
  const [count] = await db.select({ n: sql<number>`count(*)` }).from(webhooks).where(eq(webhooks.userId, userId));
  if ((count?.n ?? 0) >= MAX_WEBHOOKS_PER_USER)
    throw new ApiError(409, `At most ${MAX_WEBHOOKS_PER_USER} webhooks per account`);
  const id = `wh_${toBase64Url(randomBytes(12))}`;
  const secret = `whsec_${toBase64(randomBytes(24))}`;
  const at = isoNow(now);
  const [row] = await db
    .insert(webhooks)
    .values({
      id,
      userId,
      url: input.url,
      events: JSON.stringify([...new Set(input.events)]),
      sealedSecret: await seal(ring, secret, secretAad(userId, id)),
      createdAt: at,
      updatedAt: at,
    })
    .returning();
  return { row: row!, secret };
}

export async function listWebhooks(db: Database, userId: number): Promise<WebhookRow[]> {
  return db.select().from(webhooks).where(eq(webhooks.userId, userId)).orderBy(desc(webhooks.createdAt));
}

export async function findWebhook(db: Database, userId: number, id: string): Promise<WebhookRow | undefined> {
  const [row] = await db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.userId, userId), eq(webhooks.id, id)))
    .limit(1);
  return row;
}

export async function deleteWebhook(db: Database, userId: number, id: string): Promise<boolean> {
  const rows = await db
    .delete(webhooks)
    .where(and(eq(webhooks.userId, userId), eq(webhooks.id, id)))
    .returning({ id: webhooks.id });
  return rows.length > 0;
}

/** The owner turns an endpoint on (clearing the failure streak) or off. */
export async function setWebhookEnabled(db: Database, userId: number, id: string, enabled: boolean, now: number) {
  const at = isoNow(now);
  const [row] = await db
    .update(webhooks)
    .set(
      enabled
        ? { disabledAt: null, disabledReason: null, failingSince: null, consecutiveFailures: 0, updatedAt: at }
        : { disabledAt: at, disabledReason: 'disabled by the owner', updatedAt: at },
    )
    .where(and(eq(webhooks.userId, userId), eq(webhooks.id, id)))
    .returning();
  return row;
}

export async function openSecret(ring: KeyRing, row: WebhookRow): Promise<string> {
  return open(ring, row.sealedSecret, secretAad(row.userId, row.id));
}

/** After a successful attempt: the streak ends. */
export function recordSuccess(id: string, now: number): SQL {
  return sql`UPDATE webhooks SET failing_since = NULL, consecutive_failures = 0, last_success_at = ${isoNow(now)}
    WHERE id = ${id}`;
}

/** After a failed attempt: the streak grows; `disable` (./retry-policy.ts decided) turns the endpoint off. */
export function recordFailure(id: string, now: number, disable: boolean): SQL {
  const at = isoNow(now);
  return sql`UPDATE webhooks SET failing_since = coalesce(failing_since, ${at}),
      consecutive_failures = consecutive_failures + 1, last_failure_at = ${at},
      disabled_at = CASE WHEN ${disable ? 1 : 0} = 1 AND disabled_at IS NULL THEN ${at} ELSE disabled_at END,
      disabled_reason = CASE WHEN ${disable ? 1 : 0} = 1 AND disabled_at IS NULL
        THEN 'deliveries failed for 24 hours' ELSE disabled_reason END
    WHERE id = ${id}`;
}

/** Account deletion's statement for this table (after the deliveries, ./deliveries.ts). */
export function deleteUserWebhooks(userId: number): SQL {
  return sql`DELETE FROM webhooks WHERE user_id = ${userId}`;
}
