/**
 * @module
 * The hooks the write path calls: the statements to append to any `db.batch()` that writes a
 * user's history, so the read side (ETags, stats rollups) changes in the same transaction as the
 * data and readers never see new data under an old tag.
 * - `historyWritten`: any write of the history (the sync's batch, an import, a deletion of plays):
 *   bumps the user's data version.
 * - `playsWritten`: the plays a batch inserts and deletes, into and out of the stats rollups: one
 *   upsert of the buckets they touch, summed in JS with what their titles count (`readRollupContext`,
 *   read by the writer under the sync lease) and the user's local grid; and stages the inserted plays for
 *   the `play.created` webhooks (./play-outbox.ts). Every writer of plays (the sync, the import) appends it
 *   to its batch and, once the batch has committed, calls `newPlaysCommitted(env, userId)`
 *   (src/webhooks/outbox.ts), which sends one delivery per endpoint for the whole batch (the cron does it
 *   should the writer die in between). No trigger on `plays` keeps the rollups (issue 25): a writer that
 *   skips this hook leaves the stats wrong.
 * - `tmdbDataCounted`: enrichment's recount (under the sync lease): moves the titles' plays to the TMDB
 *   data they count now (`playsToRead` says whose plays to read first), and bumps the data version.
 *
 *   const context = await readRollupContext(env.DB, userId, [...inserted, ...removed], grid);
 *   await runBatch(env.DB, [...playsWritten(userId, { inserted, removed }, context), ...data, ...historyWritten(userId)]);
 */
import type { SQL } from 'drizzle-orm';
import { bumpDataVersion } from './data-version';
import { stageNewPlays } from './play-outbox';
import {
  playsCountedStatements,
  type Recount,
  type RecountPlays,
  type RollupContext,
  type RollupPlay,
  readCountedTitles,
  recountStatements,
} from './stats';
import type { LocalGrid } from './stats-zone';

export type { Recount, RecountPlays, RollupContext, RollupPlay } from './stats';
export { playsToRead } from './stats';
export type { LocalGrid } from './stats-zone';

export function historyWritten(userId: number, now: number = Date.now()): SQL[] {
  return [bumpDataVersion(userId, now)];
}

export function playsWritten(
  userId: number,
  plays: { inserted: ReadonlyArray<RollupPlay & { historyId: number }>; removed: readonly RollupPlay[] },
  context: RollupContext,
): SQL[] {
  return [
    ...playsCountedStatements(userId, plays.removed, -1, context),
    ...playsCountedStatements(userId, plays.inserted, 1, context),
    ...stageNewPlays(
      userId,
      plays.inserted.map((play) => play.historyId),
    ),
  ];
}

/**
 * What a writer of plays reads once, under the user's sync lease, before composing its batch: what the
 * plays' titles count in the stats (one read per stored title), and the user's stats zone (`grid`,
 * stats-zone.ts `readLocalGrid`, read once per invocation and passed in).
 */
export async function readRollupContext(
  d1: D1Database,
  userId: number,
  plays: readonly RollupPlay[],
  grid: LocalGrid | null,
): Promise<RollupContext> {
  return { counted: await readCountedTitles(d1, userId, plays), grid };
}

export function tmdbDataCounted(userId: number, recount: Recount, plays: RecountPlays, now?: number): SQL[] {
  return [...recountStatements(userId, recount, plays), bumpDataVersion(userId, now)];
}
