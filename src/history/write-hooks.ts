/**
 * @module
 * The ONE hook the write path calls: the statements to append to any `db.batch()` that writes a
 * user's history (the sync's batch, enrichment's last batch, a deletion of plays). They bump the
 * user's data version (so every ETag changes) and rebuild the stats rollups, inside the same
 * transaction as the data, so readers never see new data under an old tag or old stats.
 *
 *   await runBatch(env.DB, [...dataStatements, ...historyWritten(userId)]);
 */
import type { SQL } from 'drizzle-orm';
import { bumpDataVersion } from './data-version';
import { rebuildPlayStats } from './stats';

export function historyWritten(userId: number, now: number = Date.now()): SQL[] {
  return [...rebuildPlayStats(userId), bumpDataVersion(userId, now)];
}
