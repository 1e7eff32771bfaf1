/**
 * @module
 * Writing imported plays: one set of export items (a batch, or one history file of a ZIP) in ONE D1
 * batch, through the sync's own writer (src/sync/history-writes.ts), so the stored rows are those a
 * sync of the same plays stores, the stats rollups (write hook `playsWritten`: no trigger keeps them) and
 * stored totals move with them, the new plays are staged for the webhooks, and the data version is bumped
 * in the same transaction.
 *
 * How it lives with the sync:
 * - It runs under the user's sync lease (409 while a sync chunk holds it). A sync chunk decides what
 *   is new from a read before its commit and counts the plays it inserts in JS; an import landing in
 *   between would make that count wrong. Under the lease, the import's own read of which history ids
 *   exist is exact too, and the stored play counts move by exactly what it inserted.
 * - Plays are deduplicated by Trakt's history id (the `(user_id, history_id)` key), so an import and
 *   a sync of the same account never store a play twice, in either order, and importing again
 *   (or a newer export) adds only what is new.
 * - It leaves the sync's bookkeeping alone: no cursor, activity or high-water mark moves, so a sync
 *   afterwards still fetches everything it would have fetched (and finds the imported plays already
 *   stored). A full reconcile removes imported plays that the connected Trakt account does not have.
 */
import type { BatchItem, Database } from '../db/client';
import { runBatch } from '../db/client';
import { ApiError } from '../http/errors';
import { readLocalGrid } from '../readmodel/stats-zone';
import { historyWritten, readRollupContext } from '../readmodel/write-hooks';
import { historyWrites } from '../sync/history-writes';
import { toPlayRow } from '../sync/plan';
import { acquireSyncLease, playCountChange, releaseSyncLease, releaseUnused } from '../sync/state';
import { readStoredHistoryIds } from '../sync/store';
import { requestEnrichment } from '../tmdb/runner';
import { newPlaysCommitted } from '../webhooks/outbox';
import type { ExportHistoryItem } from './items';

export type ImportCounts = { seen: number; added: number; skipped: number };

export type WrittenPlays = ImportCounts & {
  /** Trakt ids of the movies and shows that got new plays (what TMDB enrichment is asked for). */
  movies: number[];
  shows: number[];
  /** The D1 results of the `extra` statements, in order. */
  extraResults: D1Result[];
};

/**
 * Stores the items' plays that are new, in one D1 batch under the sync lease. `extra(counts)` adds
 * statements to the same batch (the ZIP import records the file as committed there). Throws
 * ApiError 409 (`sync_in_progress`) while a sync holds the lease.
 */
export async function writeImportedPlays(
  env: Env,
  db: Database,
  userId: number,
  items: readonly ExportHistoryItem[],
  options: { now: number; extra?: (counts: ImportCounts) => BatchItem[] },
): Promise<WrittenPlays> {
  const leaseId = await acquireSyncLease(db, userId, options.now);
  try {
    const unique = new Map<number, ExportHistoryItem>();
    for (const item of items) if (!unique.has(item.id)) unique.set(item.id, item);
    const stored = await readStoredHistoryIds(db, userId, [...unique.keys()]);
    const fresh = [...unique.values()].filter((item) => !stored.has(item.id));
    const counts: ImportCounts = { seen: items.length, added: fresh.length, skipped: items.length - fresh.length };

    const movieItems = fresh.filter((item) => item.type === 'movie');
    const episodeItems = fresh.filter((item) => item.type === 'episode');
    const movieRows = movieItems.map(toPlayRow);
    const episodeRows = episodeItems.map(toPlayRow);
    // The stats rollups move by these plays in the same batch (no trigger on plays): what their titles count
    // and the user's stats zone, read under the lease like the sync's history step does.
    const context =
      fresh.length > 0
        ? await readRollupContext(
            env.DB,
            userId,
            [...movieRows, ...episodeRows],
            await readLocalGrid(db, userId, options.now),
          )
        : undefined;
    const movies = context ? historyWrites(userId, 'movies', movieItems, movieRows, [], context) : null;
    const shows = context ? historyWrites(userId, 'shows', episodeItems, episodeRows, [], context) : null;
    const extra = options.extra?.(counts) ?? [];
    const statements: BatchItem[] = [
      ...(movies?.statements ?? []),
      ...(shows?.statements ?? []),
      // Read side (ETags): a new version only when plays were added.
      ...(fresh.length > 0 ? historyWritten(userId, options.now) : []),
      ...extra,
      // The stored play counts move by what was inserted, in the statement that releases the lease.
      releaseSyncLease(
        db,
        userId,
        leaseId,
        playCountChange({ movie: movieItems.length, episode: episodeItems.length }),
      ),
    ];
    const results = await runBatch(env.DB, statements);
    // Webhooks: the plays this batch staged (write hook `playsInserted`), announced once committed. Never throws.
    if (fresh.length > 0) await newPlaysCommitted(env, userId, options.now);
    const firstExtra = statements.length - 1 - extra.length;
    return {
      ...counts,
      movies: movies?.titlesWithNewPlays ?? [],
      shows: shows?.titlesWithNewPlays ?? [],
      extraResults: results.slice(firstExtra, firstExtra + extra.length),
    };
  } catch (error) {
    await releaseUnused(db, userId, leaseId).catch(() => undefined);
    if (error instanceof ApiError) throw error;
    // The batch is one transaction: nothing of it was stored.
    throw new ApiError(503, STORE_FAILED, { cause: error, retryAfter: 60 });
  }
}

/** A write D1 refused (on Workers Free, also the daily allowance of rows written, spent until 00:00 UTC). */
export const STORE_FAILED =
  'The database did not store these plays (nothing of them was written); try again later. On Workers Free the ' +
  'daily allowance of D1 rows written may be spent: it renews at 00:00 UTC';

/**
 * TMDB enrichment of what an import added, exactly as for a background sync chunk: a message on
 * `trakt-enrich` naming the titles (a user without a TMDB key gets the backlog flag from the run).
 * Never fails the import.
 */
export async function enrichImported(env: Env, userId: number, written: WrittenPlays, now: number) {
  await requestEnrichment(env, userId, { movies: written.movies, shows: written.shows, backlog: false }, now);
}
