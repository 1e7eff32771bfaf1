/**
 * @module
 * The per-user sync lease in D1 (`sync_state.lease_*`): at most one sync per user at a time,
 * whether started by a fetch endpoint or by the queue consumer. A conditional upsert takes it;
 * an expired lease (a crashed run) can be taken over.
 */
import { and, eq, sql } from 'drizzle-orm';
import { randomToken } from '../crypto/bytes';
import { type Database, isoNow } from '../db/client';
import { syncState } from '../db/schema';
import { ApiError } from '../http/errors';

/** Longer than the longest sync (Workers cap a request at minutes of wall time, not hours). */
export const SYNC_LEASE_MS = 10 * 60 * 1000;

export const SYNC_IN_PROGRESS = 'A sync is already running for this account; try again shortly';

export async function acquireSyncLease(db: Database, userId: number, now = Date.now()): Promise<string> {
  const leaseId = randomToken(16);
  const until = isoNow(now + SYNC_LEASE_MS);
  const taken = await db
    .insert(syncState)
    .values({ userId, leaseId, leaseUntil: until })
    .onConflictDoUpdate({
      target: syncState.userId,
      set: { leaseId, leaseUntil: until },
      setWhere: sql`${syncState.leaseUntil} IS NULL OR ${syncState.leaseUntil} <= ${isoNow(now)}`,
    })
    .returning({ userId: syncState.userId });
  if (taken.length === 0) throw new ApiError(409, SYNC_IN_PROGRESS, { code: 'sync_in_progress', retryAfter: 30 });
  return leaseId;
}

/** A statement releasing the lease, to run in the sync's final batch. */
export function releaseSyncLease(
  db: Database,
  userId: number,
  leaseId: string,
  extra: Partial<typeof syncState.$inferInsert> = {},
) {
  return db
    .update(syncState)
    .set({ ...extra, leaseId: null, leaseUntil: null })
    .where(and(eq(syncState.userId, userId), eq(syncState.leaseId, leaseId)));
}
