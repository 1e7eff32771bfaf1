/**
 * @module
 * The ONE hook the write path calls: the statements to append to any `db.batch()` that writes a
 * user's history (the sync's batch, enrichment's last batch, a deletion of plays). They bump the
 * user's data version inside the same transaction as the data, so readers never see new data
 * under an old tag. The stats rollups follow the version lazily: `readStats()` rebuilds them when
 * the version they were built from is not the current one, so a sync costs what changed (no scan
 * of the user's plays) and only the first stats read after a change pays for the rebuild.
 *
 *   await runBatch(env.DB, [...dataStatements, ...historyWritten(userId)]);
 */
import type { SQL } from 'drizzle-orm';
import { bumpDataVersion } from './data-version';

export function historyWritten(userId: number, now: number = Date.now()): SQL[] {
  return [bumpDataVersion(userId, now)];
}
