/**
 * @module
 * D1 reads and writes of the sync. Writes are bulk statements that take their rows as ONE bound
 * JSON parameter expanded with `json_each`, so a statement carries hundreds of rows while staying
 * far below D1's 100-bound-parameter limit; the caller runs them all in one `db.batch()` (a
 * transaction), so a sync commits completely or not at all.
 */
import { and, eq, inArray, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { episodes, movies, plays, seasons, shows, syncState } from '../db/schema';
import type { EpisodeRow, MovieRow, PlayRow, ShowRow } from './plan';
import { episodeKey } from './plan';

/** Rows per bulk statement: keeps each JSON parameter well under D1's 2 MB value limit. */
export const ROWS_PER_STATEMENT = 500;

export function chunk<T>(rows: readonly T[], size = ROWS_PER_STATEMENT): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

const field = (name: string) => sql.raw(`json_extract(j.value, '$.${name}')`);

export type SyncStateRow = typeof syncState.$inferSelect;

export async function readSyncState(db: Database, userId: number): Promise<SyncStateRow | undefined> {
  return db.query.syncState.findFirst({ where: eq(syncState.userId, userId) });
}

export async function readStoredMovies(db: Database, userId: number): Promise<Map<number, MovieRow>> {
  const rows = await db
    .select({
      traktId: movies.traktId,
      title: movies.title,
      year: movies.year,
      slug: movies.slug,
      imdbId: movies.imdbId,
      tmdbId: movies.tmdbId,
      plays: movies.plays,
      lastWatchedAt: movies.lastWatchedAt,
      lastUpdatedAt: movies.lastUpdatedAt,
      progress: movies.progress,
      pausedAt: movies.pausedAt,
    })
    .from(movies)
    .where(eq(movies.userId, userId));
  return new Map(rows.map((row) => [row.traktId, row]));
}

export async function readStoredShows(db: Database, userId: number): Promise<Map<number, ShowRow>> {
  const rows = await db
    .select({
      traktId: shows.traktId,
      title: shows.title,
      year: shows.year,
      slug: shows.slug,
      imdbId: shows.imdbId,
      tvdbId: shows.tvdbId,
      tmdbId: shows.tmdbId,
      airedEpisodes: shows.airedEpisodes,
      plays: shows.plays,
      lastWatchedAt: shows.lastWatchedAt,
      lastUpdatedAt: shows.lastUpdatedAt,
      resetAt: shows.resetAt,
    })
    .from(shows)
    .where(eq(shows.userId, userId));
  return new Map(rows.map((row) => [row.traktId, row]));
}

/** Stored episodes of the given shows, keyed by `show:season:episode`, with their row ids. */
export async function readStoredEpisodes(
  db: Database,
  userId: number,
  showTraktIds: number[],
): Promise<Map<string, EpisodeRow & { id: number }>> {
  const result = new Map<string, EpisodeRow & { id: number }>();
  for (const ids of chunk(showTraktIds, 90)) {
    const rows = await db
      .select({
        id: episodes.id,
        showTraktId: shows.traktId,
        seasonNumber: seasons.seasonNumber,
        episodeNumber: episodes.episodeNumber,
        traktId: episodes.traktId,
        title: episodes.title,
        plays: episodes.plays,
        lastWatchedAt: episodes.lastWatchedAt,
        progress: episodes.progress,
        pausedAt: episodes.pausedAt,
      })
      .from(episodes)
      .innerJoin(shows, eq(shows.id, episodes.showId))
      .innerJoin(seasons, eq(seasons.id, episodes.seasonId))
      .where(and(eq(shows.userId, userId), inArray(shows.traktId, ids)));
    for (const row of rows) result.set(episodeKey(row.showTraktId, row.seasonNumber, row.episodeNumber), row);
  }
  return result;
}

/** Shows that have an episode with a stored paused viewing (which may since have finished or been dropped). */
export async function readShowsWithPlayback(db: Database, userId: number): Promise<number[]> {
  const rows = await db
    .selectDistinct({ traktId: shows.traktId })
    .from(episodes)
    .innerJoin(shows, eq(shows.id, episodes.showId))
    .where(and(sql`${episodes.pausedAt} IS NOT NULL`, eq(shows.userId, userId)));
  return rows.map((row) => row.traktId);
}

/** Which of these history ids are already stored for the user. */
export async function readStoredHistoryIds(
  db: Database,
  userId: number,
  mediaType: 'movie' | 'episode',
  among?: number[],
): Promise<Set<number>> {
  if (among === undefined) {
    const rows = await db
      .select({ id: plays.historyId })
      .from(plays)
      .where(and(eq(plays.userId, userId), eq(plays.mediaType, mediaType)));
    return new Set(rows.map((row) => row.id));
  }
  const found = new Set<number>();
  for (const ids of chunk(among)) {
    const rows = await db
      .select({ id: plays.historyId })
      .from(plays)
      .where(
        and(eq(plays.userId, userId), sql`${plays.historyId} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`),
      );
    for (const row of rows) found.add(row.id);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Bulk write statements (to be run inside one db.batch).

export type Statement = SQL;

export function upsertMovies(userId: number, rows: MovieRow[]): Statement[] {
  return chunk(rows).map(
    (
      part,
    ) => sql`INSERT INTO movies (user_id, trakt_id, title, year, slug, imdb_id, tmdb_id, tmdb_ref, plays, last_watched_at, last_updated_at, progress, paused_at)
      SELECT ${userId}, ${field('traktId')}, ${field('title')}, ${field('year')}, ${field('slug')}, ${field('imdbId')}, ${field('tmdbId')}, ${field('tmdbId')},
             ${field('plays')}, ${field('lastWatchedAt')}, ${field('lastUpdatedAt')}, ${field('progress')}, ${field('pausedAt')}
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET title = excluded.title, year = excluded.year, slug = excluded.slug, imdb_id = excluded.imdb_id,
        tmdb_id = excluded.tmdb_id, tmdb_ref = coalesce(excluded.tmdb_id, movies.tmdb_ref), plays = excluded.plays, last_watched_at = excluded.last_watched_at,
        last_updated_at = excluded.last_updated_at, progress = excluded.progress, paused_at = excluded.paused_at`,
  );
}

export function deleteMovies(userId: number, traktIds: number[]): Statement[] {
  return chunk(traktIds).map(
    (ids) =>
      sql`DELETE FROM movies WHERE user_id = ${userId} AND trakt_id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`,
  );
}

export function insertPlays(userId: number, rows: PlayRow[]): Statement[] {
  return chunk(rows).map(
    (
      part,
    ) => sql`INSERT INTO plays (user_id, history_id, media_type, watched_at, action, movie_trakt_id, show_trakt_id, season_number, episode_number, episode_trakt_id)
      SELECT ${userId}, ${field('historyId')}, ${field('mediaType')}, ${field('watchedAt')}, ${field('action')}, ${field('movieTraktId')}, ${field('showTraktId')},
             ${field('seasonNumber')}, ${field('episodeNumber')}, ${field('episodeTraktId')}
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (user_id, history_id) DO NOTHING`,
  );
}

export function deletePlays(userId: number, historyIds: number[]): Statement[] {
  return chunk(historyIds).map(
    (ids) =>
      sql`DELETE FROM plays WHERE user_id = ${userId} AND history_id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`,
  );
}

export function upsertShows(userId: number, rows: ShowRow[]): Statement[] {
  return chunk(rows).map(
    (
      part,
    ) => sql`INSERT INTO shows (user_id, trakt_id, title, year, slug, imdb_id, tvdb_id, tmdb_id, tmdb_ref, aired_episodes, plays, last_watched_at, last_updated_at, reset_at)
      SELECT ${userId}, ${field('traktId')}, ${field('title')}, ${field('year')}, ${field('slug')}, ${field('imdbId')}, ${field('tvdbId')}, ${field('tmdbId')}, ${field('tmdbId')},
             ${field('airedEpisodes')}, ${field('plays')}, ${field('lastWatchedAt')}, ${field('lastUpdatedAt')}, ${field('resetAt')}
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET title = excluded.title, year = excluded.year, slug = excluded.slug, imdb_id = excluded.imdb_id,
        tvdb_id = excluded.tvdb_id, tmdb_id = excluded.tmdb_id, tmdb_ref = coalesce(excluded.tmdb_id, shows.tmdb_ref), aired_episodes = excluded.aired_episodes,
        plays = excluded.plays, last_watched_at = excluded.last_watched_at, last_updated_at = excluded.last_updated_at, reset_at = excluded.reset_at`,
  );
}

/** Deleting a show cascades to its seasons and episodes. */
export function deleteShows(userId: number, traktIds: number[]): Statement[] {
  return chunk(traktIds).map(
    (ids) =>
      sql`DELETE FROM shows WHERE user_id = ${userId} AND trakt_id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`,
  );
}

/**
 * Seasons first (ids resolved in SQL), then episodes joined to their show and season rows.
 * CROSS JOIN pins the join order (SQLite never reorders it): json_each outside, index lookups
 * inside. With a plain JOIN the planner put json_each innermost and read seasons × rows per
 * chunk (6.6 M rows for a 300-show first sync; see BENCHMARKS.md).
 */
export function upsertEpisodes(userId: number, rows: EpisodeRow[]): Statement[] {
  const statements: Statement[] = [];
  const seasonsNeeded = [
    ...new Map(
      rows.map((r) => [`${r.showTraktId}:${r.seasonNumber}`, { show: r.showTraktId, season: r.seasonNumber }]),
    ).values(),
  ];
  for (const part of chunk(seasonsNeeded)) {
    statements.push(sql`INSERT INTO seasons (show_id, season_number)
      SELECT s.id, ${field('season')} FROM json_each(${JSON.stringify(part)}) AS j
      CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = ${field('show')} WHERE true
      ON CONFLICT (show_id, season_number) DO NOTHING`);
  }
  for (const part of chunk(rows)) {
    statements.push(sql`INSERT INTO episodes (show_id, season_id, episode_number, trakt_id, title, plays, last_watched_at, progress, paused_at)
      SELECT s.id, se.id, ${field('episodeNumber')}, ${field('traktId')}, ${field('title')}, ${field('plays')}, ${field('lastWatchedAt')}, ${field('progress')}, ${field('pausedAt')}
      FROM json_each(${JSON.stringify(part)}) AS j
      CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = ${field('showTraktId')}
      CROSS JOIN seasons se ON se.show_id = s.id AND se.season_number = ${field('seasonNumber')} WHERE true
      ON CONFLICT (season_id, episode_number) DO UPDATE SET trakt_id = coalesce(excluded.trakt_id, episodes.trakt_id), title = coalesce(excluded.title, episodes.title),
        plays = excluded.plays, last_watched_at = excluded.last_watched_at, progress = excluded.progress, paused_at = excluded.paused_at`);
  }
  return statements;
}

export function deleteEpisodes(episodeIds: number[]): Statement[] {
  return chunk(episodeIds).map(
    (ids) => sql`DELETE FROM episodes WHERE id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`,
  );
}

/** Seasons of the given shows left without episodes. */
export function deleteEmptySeasons(userId: number, showTraktIds: number[]): Statement[] {
  return chunk(showTraktIds).map(
    (
      ids,
    ) => sql`DELETE FROM seasons WHERE show_id IN (SELECT id FROM shows WHERE user_id = ${userId} AND trakt_id IN (SELECT value FROM json_each(${JSON.stringify(ids)})))
      AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.season_id = seasons.id)`,
  );
}

/** Every stored episode play of the given shows (for per-episode totals over the whole history). */
export async function readEpisodePlays(db: Database, userId: number, showTraktIds: number[]) {
  const result: Array<PlayRow> = [];
  for (const ids of chunk(showTraktIds, 90)) {
    const rows = await db
      .select({
        historyId: plays.historyId,
        mediaType: plays.mediaType,
        watchedAt: plays.watchedAt,
        action: plays.action,
        movieTraktId: plays.movieTraktId,
        showTraktId: plays.showTraktId,
        seasonNumber: plays.seasonNumber,
        episodeNumber: plays.episodeNumber,
        episodeTraktId: plays.episodeTraktId,
      })
      .from(plays)
      .where(and(eq(plays.userId, userId), inArray(plays.showTraktId, ids)));
    result.push(...rows);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Deleting a user's history (DELETE /trakt/history/, account deletion).

/**
 * Statements deleting every stored history row of the user: episodes and seasons (through the
 * user's shows), plays, movies and shows. Explicit rather than left to the foreign-key cascades.
 */
export function deleteUserHistory(userId: number): Statement[] {
  const userShows = sql`SELECT id FROM shows WHERE user_id = ${userId}`;
  return [
    sql`DELETE FROM episodes WHERE show_id IN (${userShows})`,
    sql`DELETE FROM seasons WHERE show_id IN (${userShows})`,
    sql`DELETE FROM plays WHERE user_id = ${userId}`,
    sql`DELETE FROM movies WHERE user_id = ${userId}`,
    sql`DELETE FROM shows WHERE user_id = ${userId}`,
  ];
}

/**
 * The sync state of a user with no stored history: no cursors (so the next sync of each kind is a
 * first, full one), zero totals, no last result. The lease columns are left to the lease module.
 */
export const EMPTY_SYNC_STATE = {
  moviesSyncedAt: null,
  showsSyncedAt: null,
  moviesWatchedAt: null,
  moviesPausedAt: null,
  episodesWatchedAt: null,
  episodesPausedAt: null,
  moviesHistoryHighWater: null,
  episodesHistoryHighWater: null,
  movieCount: 0,
  showCount: 0,
  episodeCount: 0,
  moviePlayCount: 0,
  episodePlayCount: 0,
  lastSyncAt: null,
  lastResult: null,
  lastError: null,
  lastErrorAt: null,
} satisfies Partial<SyncStateRow>;

/** A statement deleting the user's sync state row (account deletion). */
export function deleteSyncState(userId: number): Statement {
  return sql`DELETE FROM sync_state WHERE user_id = ${userId}`;
}
