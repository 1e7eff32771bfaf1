/**
 * @module
 * Counting settled TMDB data into the user's stats: an enrichment run hands over the titles whose
 * TMDB data is now known (./enrich.ts `settled`); this moves their plays from what they counted to
 * what they count now (src/readmodel/stats.ts `recountStatements`, through the write hook
 * `tmdbDataCounted`) and records the new values on the titles, in ONE batch.
 *
 * It runs under the user's SYNC lease: the deltas are computed from the titles' counted values read
 * under it, and no writer of plays (a sync chunk, an import, DELETE /trakt/history/) can run in
 * between. When the lease is busy, the titles wait in the enrichment's state for the next run.
 * The pending counts of `sync_state` (titles and seasons not counted yet) go down in the same batch.
 */
import { sql } from 'drizzle-orm';
import { type Database, runBatch } from '../db/client';
import { ApiError } from '../http/errors';
import { playsToRead, type Recount, tmdbDataCounted } from '../readmodel/write-hooks';
import { acquireSyncLease, pendingLess, releaseSyncLease } from '../sync/state';
import { readPlaysOfTitles } from '../sync/store';

/**
 * Titles whose TMDB data is settled, with what they count from now on (genres: JSON arrays of names); `fresh`:
 * never counted before (sync-status no longer lists it as artwork to come).
 */
export type Settled = {
  movies: Array<{ traktId: number; runtime: number; genres: string; fresh?: boolean }>;
  shows: Array<{ traktId: number; genres: string; fresh?: boolean }>;
  seasons: Array<{ seasonId: number; showTraktId: number; seasonNumber: number; runtimes: string; fresh?: boolean }>;
};

export const NOTHING_SETTLED: Settled = { movies: [], shows: [], seasons: [] };

export function settledCount(settled: Settled): number {
  return settled.movies.length + settled.shows.length + settled.seasons.length;
}

/** Merges two lists (the later value of a title wins). */
export function mergeSettled(a: Settled, b: Settled): Settled {
  const by = <T>(list: T[], key: (t: T) => string | number) => [...new Map(list.map((t) => [key(t), t])).values()];
  return {
    movies: by([...a.movies, ...b.movies], (m) => m.traktId),
    shows: by([...a.shows, ...b.shows], (s) => s.traktId),
    seasons: by([...a.seasons, ...b.seasons], (s) => s.seasonId),
  };
}

/**
 * Counts the settled titles into the stats under the sync lease. `counted`: done (or nothing to do);
 * `busy`: a writer of plays holds the lease, try again later.
 */
export async function countSettled(
  d1: D1Database,
  db: Database,
  userId: number,
  settled: Settled,
  now: number,
): Promise<'counted' | 'busy'> {
  if (settledCount(settled) === 0) return 'counted';
  let leaseId: string;
  try {
    leaseId = await acquireSyncLease(db, userId, now);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'sync_in_progress') return 'busy';
    throw error;
  }
  try {
    const ids = (list: Array<{ traktId?: number; seasonId?: number }>) =>
      JSON.stringify(list.map((t) => t.traktId ?? t.seasonId));
    // The movies with their plays in one walk (a movie's plays move months when its runtime changes).
    const [movieResult, showResult, seasonResult] = await d1.batch([
      d1
        .prepare(`SELECT m.trakt_id AS traktId, m.stats_runtime AS runtime, m.stats_genres AS genres, m.plays AS plays,
            p.watched_at AS watchedAt
          FROM json_each(?1) AS j CROSS JOIN movies m ON m.user_id = ?2 AND m.trakt_id = j.value
          CROSS JOIN plays p INDEXED BY plays_user_movie_idx ON p.user_id = ?2 AND p.movie_trakt_id = m.trakt_id`)
        .bind(ids(settled.movies), userId),
      d1
        .prepare(`SELECT s.trakt_id AS traktId, s.stats_genres AS genres, s.plays AS plays
          FROM json_each(?1) AS j CROSS JOIN shows s ON s.user_id = ?2 AND s.trakt_id = j.value`)
        .bind(ids(settled.shows), userId),
      d1
        .prepare(`SELECT se.id AS id, se.stats_runtimes AS runtimes
          FROM json_each(?1) AS j CROSS JOIN seasons se ON se.id = j.value`)
        .bind(ids(settled.seasons)),
    ]);
    const moviePlays = movieResult!.results as Array<{
      traktId: number;
      runtime: number | null;
      genres: string | null;
      plays: number;
      watchedAt: string;
    }>;
    const movieRows = [...new Map(moviePlays.map((r) => [r.traktId, r])).values()];
    const showRows = showResult!.results as Array<{ traktId: number; genres: string | null; plays: number }>;
    const seasonRows = seasonResult!.results as Array<{ id: number; runtimes: string | null }>;
    const oldMovie = new Map(movieRows.map((r) => [r.traktId, r]));
    const oldShow = new Map(showRows.map((r) => [r.traktId, r]));
    const oldSeason = new Map(seasonRows.map((r) => [r.id, r.runtimes]));
    const recount: Recount = { movies: [], shows: [], seasons: [] };
    let titlesCounted = 0;
    let seasonsCounted = 0;
    for (const m of settled.movies) {
      const old = oldMovie.get(m.traktId);
      if (!old || (old.runtime === m.runtime && old.genres === m.genres)) continue;
      if (old.genres === null) titlesCounted += 1;
      recount.movies.push({
        traktId: m.traktId,
        plays: old.plays,
        old: { runtime: old.runtime, genres: old.genres },
        next: { runtime: m.runtime, genres: m.genres },
      });
    }
    for (const s of settled.shows) {
      const old = oldShow.get(s.traktId);
      if (!old || old.genres === s.genres) continue;
      if (old.genres === null) titlesCounted += 1;
      recount.shows.push({ traktId: s.traktId, plays: old.plays, old: old.genres, next: s.genres });
    }
    for (const s of settled.seasons) {
      if (!oldSeason.has(s.seasonId)) continue;
      const old = oldSeason.get(s.seasonId) ?? null;
      if (old === s.runtimes) continue;
      if (old === null) seasonsCounted += 1;
      recount.seasons.push({
        seasonId: s.seasonId,
        showTraktId: s.showTraktId,
        seasonNumber: s.seasonNumber,
        old,
        next: s.runtimes,
      });
    }
    const changed = recount.movies.length + recount.shows.length + recount.seasons.length > 0;
    // The plays whose months move: the movies' (read above), and the shows' whose seasons are recounted.
    const plays =
      recount.seasons.length > 0
        ? await readPlaysOfTitles(db, userId, { movies: [], shows: playsToRead(recount).shows })
        : { movies: [], episodes: [] };
    plays.movies = moviePlays.map((r) => ({ movieTraktId: r.traktId, watchedAt: r.watchedAt }));
    await runBatch(d1, [
      ...(changed ? tmdbDataCounted(userId, recount, plays, now) : []),
      ...(titlesCounted > 0 ? [pendingLess(userId, 'tmdb_pending_titles', sql`${titlesCounted}`)] : []),
      ...(seasonsCounted > 0 ? [pendingLess(userId, 'tmdb_pending_seasons', sql`${seasonsCounted}`)] : []),
      releaseSyncLease(db, userId, leaseId),
    ]);
    return 'counted';
  } catch (error) {
    await releaseSyncLease(db, userId, leaseId)
      .run()
      .catch(() => undefined);
    throw error;
  }
}
