/**
 * @module
 * Clearing a user's stored watch history for a clean re-sync (DELETE /trakt/history/). The
 * account, its Trakt connection and its API keys stay. The sync lease is taken first, so the
 * history is never cleared under a running sync (which would write its batch back afterwards);
 * the rows and the cursors go in one batch that also releases the lease, so the next sync of
 * each kind is a first, full one.
 */
import { type Database, runBatch } from '../db/client';
import { deletePlayStats } from '../readmodel/stats';
import { historyWritten } from '../readmodel/write-hooks';
import { acquireSyncLease, EMPTY_SYNC_STATE, releaseSyncLease } from './state';
import { deleteUserHistory } from './store';

export async function clearStoredHistory(d1: D1Database, db: Database, userId: number, now = Date.now()) {
  const leaseId = await acquireSyncLease(db, userId, now);
  await runBatch(d1, [
    deletePlayStats(userId), // the rollups go with the plays (no trigger on plays counts them out)
    ...deleteUserHistory(userId),
    // Read side: empty stats, new ETags (same transaction as the deletion).
    ...historyWritten(userId, now),
    releaseSyncLease(db, userId, leaseId, EMPTY_SYNC_STATE),
  ]);
}
