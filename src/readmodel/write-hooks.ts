/**
 * @module
 * The hooks the write path calls: the statements to append to any `db.batch()` that writes a
 * user's history, so the read side (ETags, stats rollups) changes in the same transaction as the
 * data and readers never see new data under an old tag.
 * - `historyWritten`: any write of the history (the sync's batch, a deletion of plays): bumps the
 *   user's data version. The rollups themselves follow every insert and delete of a play through
 *   triggers (migration 0010).
 * - `playsInserted(userId, historyIds)`: after a batch's inserted plays and their titles: counts what TMDB
 *   already knows about them (runtime, genres) into the rollups, and stages them for the `play.created`
 *   webhooks (./play-outbox.ts). Every writer of plays (the sync, the import) appends it to its batch and,
 *   once the batch has committed, calls `newPlaysCommitted(env, userId)` (src/webhooks/outbox.ts), which
 *   sends one delivery per endpoint for the whole batch (the cron does it should the writer die in between).
 * - `tmdbDataWritten`: enrichment's last batch: counts the plays of the titles and seasons it
 *   fetched again (and, with `sweep`, a slice of those still waiting), and bumps the data version.
 *
 *   await runBatch(env.DB, [...dataStatements, ...historyWritten(userId)]);
 */
import type { SQL } from 'drizzle-orm';
import { bumpDataVersion } from './data-version';
import { stageNewPlays } from './play-outbox';
import { recountPlays } from './stats';

/** Titles whose TMDB title was fetched (movies, shows) and seasons (`[show trakt id, season]`) whose episodes were. */
export type FetchedTitles = { movies: number[]; shows: number[]; seasons: Array<[number, number]> };

export function historyWritten(userId: number, now: number = Date.now()): SQL[] {
  return [bumpDataVersion(userId, now)];
}

export function playsInserted(userId: number, historyIds: readonly number[]): SQL[] {
  return [...recountPlays(userId, { historyIds }), ...stageNewPlays(userId, historyIds)];
}

export function tmdbDataWritten(
  userId: number,
  fetched: FetchedTitles,
  options: { sweep: boolean; now?: number },
): SQL[] {
  return [...recountPlays(userId, { ...fetched, sweep: options.sweep }), bumpDataVersion(userId, options.now)];
}
