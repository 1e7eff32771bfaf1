/**
 * @module
 * D1 reads and writes of the watch history (`movies`, `shows`, `seasons`, `episodes`, `plays`).
 * Writes are bulk statements that take their rows as ONE bound JSON parameter expanded with
 * `json_each`, so a statement carries hundreds of rows while staying far below D1's
 * 100-bound-parameter limit. The sync runs one chunk's statements in one `db.batch()` (a
 * transaction). Per-item totals (plays, last watch) are computed in SQL from `plays` for the
 * items a chunk touched (`INSERT … SELECT … GROUP BY`), never from the whole library in memory.
 *
 * CROSS JOIN pins the join order (SQLite never reorders it): json_each outside, index lookups
 * inside. With a plain JOIN the planner once put json_each innermost and read seasons × rows.
 */
import { and, eq, gte, lte, type SQL, sql } from 'drizzle-orm';
import { chunk, type Database } from '../db/client';
import { plays } from '../db/schema';
import type { EpisodeMeta, MovieMeta, PlayRow, ShowMeta } from './plan';

export type Statement = SQL;

const field = (name: string) => sql.raw(`json_extract(j.value, '$.${name}')`);
const json = (rows: unknown) => JSON.stringify(rows);

/**
 * The big bulk parameters (plays and the titles and episodes they mention) go in as positional arrays, read back
 * with `$[i]`: JSON.stringify of arrays is several times faster than of objects with the same values (1,000 plays:
 * about 0.3 ms of CPU instead of 3 ms), and the parameter is half the size.
 */
function packed<Row>() {
  return <const Key extends keyof Row & string>(keys: readonly Key[]) => ({
    json: (rows: readonly Row[]) => JSON.stringify(rows.map((row) => keys.map((key) => row[key]))),
    at: (key: Key) => sql.raw(`json_extract(j.value, '$[${keys.indexOf(key)}]')`),
  });
}
const PLAY = packed<PlayRow>()([
  'historyId',
  'mediaType',
  'watchedAt',
  'action',
  'movieTraktId',
  'showTraktId',
  'seasonNumber',
  'episodeNumber',
  'episodeTraktId',
]);
const MOVIE = packed<MovieMeta>()(['traktId', 'title', 'year', 'slug', 'imdbId', 'tmdbId']);
const SHOW = packed<ShowMeta>()(['traktId', 'title', 'year', 'slug', 'imdbId', 'tmdbId', 'tvdbId', 'airedEpisodes']);
const EPISODE = packed<EpisodeMeta>()(['showTraktId', 'seasonNumber', 'episodeNumber', 'traktId', 'title']);

/** Stored plays of one type whose `watched_at` lies in [from, to] (either end open when null). */
export async function readStoredPlays(
  db: Database,
  userId: number,
  mediaType: 'movie' | 'episode',
  from: string | null,
  to: string | null,
) {
  return db
    .select({
      historyId: plays.historyId,
      watchedAt: plays.watchedAt,
      movieTraktId: plays.movieTraktId,
      showTraktId: plays.showTraktId,
      seasonNumber: plays.seasonNumber,
      episodeNumber: plays.episodeNumber,
    })
    .from(plays)
    .where(
      and(
        eq(plays.userId, userId),
        eq(plays.mediaType, mediaType),
        from === null ? undefined : gte(plays.watchedAt, from),
        to === null ? undefined : lte(plays.watchedAt, to),
      ),
    );
}

/** Which of the given Trakt history ids the user already has as plays (one indexed probe per id). */
export async function readStoredHistoryIds(db: Database, userId: number, historyIds: readonly number[]) {
  const found = new Set<number>();
  for (const ids of chunk(historyIds)) {
    const rows = await db.all<{ id: number }>(
      sql`SELECT history_id AS id FROM plays WHERE user_id = ${userId}
        AND history_id IN (SELECT value FROM json_each(${json(ids)}))`,
    );
    for (const row of rows) found.add(row.id);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Plays

export function insertPlays(userId: number, rows: PlayRow[]): Statement[] {
  return chunk(rows).map(
    (part) => sql`INSERT INTO plays (user_id, history_id, media_type, watched_at, action, movie_trakt_id, show_trakt_id,
      season_number, episode_number, episode_trakt_id)
      SELECT ${userId}, ${PLAY.at('historyId')}, ${PLAY.at('mediaType')}, ${PLAY.at('watchedAt')}, ${PLAY.at('action')},
        ${PLAY.at('movieTraktId')}, ${PLAY.at('showTraktId')},
             ${PLAY.at('seasonNumber')}, ${PLAY.at('episodeNumber')}, ${PLAY.at('episodeTraktId')}
      FROM json_each(${PLAY.json(part)}) AS j WHERE true
      ON CONFLICT (user_id, history_id) DO NOTHING`,
  );
}

export function deletePlays(userId: number, historyIds: number[]): Statement[] {
  return chunk(historyIds).map(
    (ids) =>
      sql`DELETE FROM plays WHERE user_id = ${userId} AND history_id IN (SELECT value FROM json_each(${json(ids)}))`,
  );
}

// ---------------------------------------------------------------------------------------------
// Touched-item counts (for the stored totals in sync_state, see state.adjustCount)

export function countMovies(userId: number, traktIds: number[]): SQL {
  return sql`SELECT count(*) FROM movies WHERE user_id = ${userId} AND trakt_id IN (SELECT value
    FROM json_each(${json(traktIds)}))`;
}

export function countShows(userId: number, traktIds: number[]): SQL {
  return sql`SELECT count(*) FROM shows WHERE user_id = ${userId} AND trakt_id IN (SELECT value
    FROM json_each(${json(traktIds)}))`;
}

/** Watched episodes (plays > 0) among the given `[show, season, episode]` keys. */
export function countWatchedEpisodes(userId: number, keys: Array<[number, number, number]>): SQL {
  return sql`SELECT count(*) FROM json_each(${json(keys)}) AS j
    CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = json_extract(j.value, '$[0]')
    CROSS JOIN seasons se ON se.show_id = s.id AND se.season_number = json_extract(j.value, '$[1]')
    CROSS JOIN episodes e ON e.season_id = se.id AND e.episode_number = json_extract(j.value, '$[2]')
    WHERE e.plays > 0`;
}

// ---------------------------------------------------------------------------------------------
// Movies

/**
 * Movies mentioned by new plays: metadata from history, plays and last watch computed from the
 * stored plays (`INSERT … SELECT … GROUP BY`). A paused viewing survives only if newer than the last watch.
 */
export function upsertMovieTotals(userId: number, metas: MovieMeta[]): Statement[] {
  return chunk(metas).map(
    (part) => sql`INSERT INTO movies (user_id, trakt_id, title, year, slug, imdb_id, tmdb_id, tmdb_ref, plays,
      last_watched_at, last_updated_at)
      SELECT ${userId}, p.movie_trakt_id, ${MOVIE.at('title')}, ${MOVIE.at('year')}, ${MOVIE.at('slug')},
        ${MOVIE.at('imdbId')}, ${MOVIE.at('tmdbId')}, ${MOVIE.at('tmdbId')},
             count(*), max(p.watched_at), max(p.watched_at)
      FROM json_each(${MOVIE.json(part)}) AS j
      CROSS JOIN plays p ON p.user_id = ${userId} AND p.movie_trakt_id = ${MOVIE.at('traktId')}
      WHERE true GROUP BY p.movie_trakt_id
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET title = excluded.title, year = excluded.year,
        slug = excluded.slug, imdb_id = excluded.imdb_id,
        tmdb_id = excluded.tmdb_id, tmdb_ref = coalesce(excluded.tmdb_id, movies.tmdb_ref), plays = excluded.plays,
          last_watched_at = excluded.last_watched_at,
        last_updated_at = max(coalesce(movies.last_updated_at, ''), excluded.last_updated_at),
        progress = CASE WHEN movies.paused_at > excluded.last_watched_at THEN movies.progress END,
        paused_at = CASE WHEN movies.paused_at > excluded.last_watched_at THEN movies.paused_at END`,
  );
}

/** Movies that lost plays: recount them, and delete those with no play left. */
export function recountMovies(userId: number, traktIds: number[]): Statement[] {
  return chunk(traktIds).flatMap((ids) => [
    sql`UPDATE movies SET
        plays = (SELECT count(*) FROM plays p WHERE p.user_id = ${userId} AND p.movie_trakt_id = movies.trakt_id),
        last_watched_at = (SELECT max(p.watched_at) FROM plays p WHERE p.user_id = ${userId}
          AND p.movie_trakt_id = movies.trakt_id)
      WHERE user_id = ${userId} AND trakt_id IN (SELECT value FROM json_each(${json(ids)}))
        AND EXISTS (SELECT 1 FROM plays p WHERE p.user_id = ${userId} AND p.movie_trakt_id = movies.trakt_id)`,
    sql`DELETE FROM movies WHERE user_id = ${userId} AND trakt_id IN (SELECT value FROM json_each(${json(ids)}))
        AND NOT EXISTS (SELECT 1 FROM plays p WHERE p.user_id = ${userId} AND p.movie_trakt_id = movies.trakt_id)`,
  ]);
}

/** `/sync/watched/movies` fields history does not carry, for movies already stored. */
export function updateWatchedMovies(userId: number, rows: Array<{ traktId: number; lastUpdatedAt: string | null }>) {
  return chunk(rows).map(
    (part) => sql`INSERT INTO movies (user_id, trakt_id, title, plays, last_watched_at, last_updated_at)
      SELECT m.user_id, m.trakt_id, m.title, m.plays, m.last_watched_at, ${field('lastUpdatedAt')}
      FROM json_each(${json(part)}) AS j CROSS JOIN movies m ON m.user_id = ${userId}
        AND m.trakt_id = ${field('traktId')} WHERE true
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET last_updated_at = coalesce(excluded.last_updated_at,
        movies.last_updated_at)`,
  );
}

/** Replaces the stored paused viewings of movies with Trakt's playback list (newer than the last watch only). */
export function applyMoviePlayback(
  userId: number,
  rows: Array<{ movieTraktId: number | null; progress: number; pausedAt: string }>,
) {
  return [
    sql`UPDATE movies SET progress = NULL, paused_at = NULL WHERE user_id = ${userId} AND paused_at IS NOT NULL`,
    ...chunk(rows).map(
      (part) => sql`INSERT INTO movies (user_id, trakt_id, title, plays, last_watched_at, progress, paused_at)
        SELECT m.user_id, m.trakt_id, m.title, m.plays, m.last_watched_at, ${field('progress')}, ${field('pausedAt')}
        FROM json_each(${json(part)}) AS j CROSS JOIN movies m ON m.user_id = ${userId}
          AND m.trakt_id = ${field('movieTraktId')}
        WHERE ${field('pausedAt')} > m.last_watched_at
        ON CONFLICT (user_id, trakt_id) DO UPDATE SET progress = excluded.progress, paused_at = excluded.paused_at`,
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Shows, seasons, episodes

export function upsertShowTotals(userId: number, metas: ShowMeta[]): Statement[] {
  return chunk(metas).map(
    (part) => sql`INSERT INTO shows (user_id, trakt_id, title, year, slug, imdb_id, tvdb_id, tmdb_id, tmdb_ref,
      aired_episodes, plays, last_watched_at, last_updated_at)
      SELECT ${userId}, p.show_trakt_id, ${SHOW.at('title')}, ${SHOW.at('year')}, ${SHOW.at('slug')},
        ${SHOW.at('imdbId')}, ${SHOW.at('tvdbId')}, ${SHOW.at('tmdbId')}, ${SHOW.at('tmdbId')},
             ${SHOW.at('airedEpisodes')}, count(*), max(p.watched_at), max(p.watched_at)
      FROM json_each(${SHOW.json(part)}) AS j
      CROSS JOIN plays p ON p.user_id = ${userId} AND p.show_trakt_id = ${SHOW.at('traktId')}
      WHERE true GROUP BY p.show_trakt_id
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET title = excluded.title, year = excluded.year,
        slug = excluded.slug, imdb_id = excluded.imdb_id,
        tvdb_id = excluded.tvdb_id, tmdb_id = excluded.tmdb_id, tmdb_ref = coalesce(excluded.tmdb_id, shows.tmdb_ref),
        aired_episodes = coalesce(excluded.aired_episodes, shows.aired_episodes), plays = excluded.plays,
          last_watched_at = excluded.last_watched_at,
        last_updated_at = max(coalesce(shows.last_updated_at, ''), excluded.last_updated_at)`,
  );
}

/** Seasons first (ids resolved in SQL), then episodes with their totals from plays. */
export function upsertEpisodeTotals(userId: number, metas: EpisodeMeta[]): Statement[] {
  const statements: Statement[] = [];
  const seasonsNeeded = [
    ...new Map(
      metas.map((r) => [`${r.showTraktId}:${r.seasonNumber}`, { show: r.showTraktId, season: r.seasonNumber }]),
    ).values(),
  ];
  for (const part of chunk(seasonsNeeded)) {
    statements.push(sql`INSERT INTO seasons (show_id, season_number)
      SELECT s.id, ${field('season')} FROM json_each(${json(part)}) AS j
      CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = ${field('show')} WHERE true
      ON CONFLICT (show_id, season_number) DO NOTHING`);
  }
  for (const part of chunk(metas)) {
    statements.push(sql`INSERT INTO episodes (show_id, season_id, episode_number, trakt_id, title, plays,
      last_watched_at, progress, paused_at)
      SELECT s.id, se.id, ${EPISODE.at('episodeNumber')}, ${EPISODE.at('traktId')}, ${EPISODE.at('title')}, count(*),
        max(p.watched_at), 100, NULL
      FROM json_each(${EPISODE.json(part)}) AS j
      CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = ${EPISODE.at('showTraktId')}
      CROSS JOIN seasons se ON se.show_id = s.id AND se.season_number = ${EPISODE.at('seasonNumber')}
      CROSS JOIN plays p ON p.user_id = ${userId} AND p.show_trakt_id = ${EPISODE.at('showTraktId')}
        AND p.season_number = ${EPISODE.at('seasonNumber')} AND p.episode_number = ${EPISODE.at('episodeNumber')}
      WHERE true GROUP BY se.id, ${EPISODE.at('episodeNumber')}
      ON CONFLICT (season_id, episode_number) DO UPDATE SET trakt_id = coalesce(excluded.trakt_id,
        episodes.trakt_id), title = coalesce(excluded.title, episodes.title),
        plays = excluded.plays, last_watched_at = excluded.last_watched_at,
        progress = CASE WHEN episodes.paused_at > excluded.last_watched_at THEN episodes.progress ELSE 100 END,
        paused_at = CASE WHEN episodes.paused_at > excluded.last_watched_at THEN episodes.paused_at END`);
  }
  return statements;
}

/**
 * Episodes and shows that lost plays: recount them; drop episodes with neither a play nor a
 * paused viewing, shows with no play (cascading to their seasons and episodes) and empty seasons.
 */
export function recountShows(userId: number, showIds: number[], keys: Array<[number, number, number]>): Statement[] {
  const episodePlays = (fn: 'count(*)' | 'max(p.watched_at)') =>
    sql`(SELECT ${sql.raw(fn)} FROM plays p WHERE p.user_id = ${userId} AND p.show_trakt_id = json_extract(j.value,
      '$[0]')
      AND p.season_number = json_extract(j.value, '$[1]') AND p.episode_number = json_extract(j.value, '$[2]'))`;
  const statements: Statement[] = [];
  for (const part of chunk(keys)) {
    statements.push(sql`INSERT INTO episodes (show_id, season_id, episode_number, plays, last_watched_at, progress)
      SELECT e.show_id, e.season_id, e.episode_number, ${episodePlays('count(*)')},
        ${episodePlays('max(p.watched_at)')}, e.progress
      FROM json_each(${json(part)}) AS j
      CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = json_extract(j.value, '$[0]')
      CROSS JOIN seasons se ON se.show_id = s.id AND se.season_number = json_extract(j.value, '$[1]')
      CROSS JOIN episodes e ON e.season_id = se.id AND e.episode_number = json_extract(j.value, '$[2]') WHERE true
      ON CONFLICT (season_id, episode_number) DO UPDATE SET plays = excluded.plays,
        last_watched_at = excluded.last_watched_at,
        progress = CASE WHEN episodes.paused_at IS NOT NULL THEN episodes.progress WHEN excluded.plays > 0 THEN 100
          ELSE 0 END`);
    statements.push(sql`DELETE FROM episodes WHERE plays = 0 AND paused_at IS NULL AND id IN (
      SELECT e.id FROM json_each(${json(part)}) AS j
      CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = json_extract(j.value, '$[0]')
      CROSS JOIN seasons se ON se.show_id = s.id AND se.season_number = json_extract(j.value, '$[1]')
      CROSS JOIN episodes e ON e.season_id = se.id AND e.episode_number = json_extract(j.value, '$[2]'))`);
  }
  for (const ids of chunk(showIds)) {
    const list = json(ids);
    statements.push(
      sql`UPDATE shows SET
          plays = (SELECT count(*) FROM plays p WHERE p.user_id = ${userId} AND p.show_trakt_id = shows.trakt_id),
          last_watched_at = (SELECT max(p.watched_at) FROM plays p WHERE p.user_id = ${userId}
            AND p.show_trakt_id = shows.trakt_id)
        WHERE user_id = ${userId} AND trakt_id IN (SELECT value FROM json_each(${list}))
          AND EXISTS (SELECT 1 FROM plays p WHERE p.user_id = ${userId} AND p.show_trakt_id = shows.trakt_id)`,
      sql`DELETE FROM shows WHERE user_id = ${userId} AND trakt_id IN (SELECT value FROM json_each(${list}))
          AND NOT EXISTS (SELECT 1 FROM plays p WHERE p.user_id = ${userId} AND p.show_trakt_id = shows.trakt_id)`,
      sql`DELETE FROM seasons WHERE show_id IN (SELECT id FROM shows WHERE user_id = ${userId}
        AND trakt_id IN (SELECT value FROM json_each(${list})))
          AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.season_id = seasons.id)`,
    );
  }
  return statements;
}

/** `/sync/watched/shows` fields history does not carry (rewatch reset, aired count), for shows already stored. */
export function updateWatchedShows(
  userId: number,
  rows: Array<{ traktId: number; lastUpdatedAt: string | null; resetAt: string | null; airedEpisodes: number | null }>,
) {
  return chunk(rows).map(
    (part) => sql`INSERT INTO shows (user_id, trakt_id, title, plays, last_watched_at, last_updated_at, reset_at,
      aired_episodes)
      SELECT s.user_id, s.trakt_id, s.title, s.plays, s.last_watched_at, ${field('lastUpdatedAt')},
        ${field('resetAt')}, ${field('airedEpisodes')}
      FROM json_each(${json(part)}) AS j CROSS JOIN shows s ON s.user_id = ${userId}
        AND s.trakt_id = ${field('traktId')} WHERE true
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET last_updated_at = coalesce(excluded.last_updated_at,
        shows.last_updated_at),
        reset_at = excluded.reset_at, aired_episodes = coalesce(excluded.aired_episodes, shows.aired_episodes)`,
  );
}

/**
 * The user's shows, for statements over their paused episodes: they walk the user's shows, then the per-show
 * partial index `episodes_show_paused_idx` (this replaced `readShowsWithPlayback` and its global index).
 */
const userShowIds = (userId: number) => sql`(SELECT id FROM shows WHERE user_id = ${userId})`;

/**
 * Replaces the stored paused viewings of episodes with Trakt's playback list, for shows in the
 * library: a viewing newer than the episode's last watch is kept with its progress; an episode
 * only started (never watched) is stored with plays 0.
 */
export function applyEpisodePlayback(
  userId: number,
  rows: Array<{
    showTraktId: number | null;
    seasonNumber: number | null;
    episodeNumber: number | null;
    episodeTraktId: number | null;
    title: string | null;
    progress: number;
    pausedAt: string;
  }>,
): Statement[] {
  const statements: Statement[] = [
    sql`DELETE FROM episodes WHERE show_id IN ${userShowIds(userId)} AND paused_at IS NOT NULL AND plays = 0`,
    sql`UPDATE episodes SET paused_at = NULL, progress = 100 WHERE show_id IN ${userShowIds(userId)}
      AND paused_at IS NOT NULL`,
  ];
  const valid = rows.filter((r) => r.showTraktId !== null && r.seasonNumber !== null && r.episodeNumber !== null);
  for (const part of chunk(valid)) {
    statements.push(
      sql`INSERT INTO seasons (show_id, season_number)
        SELECT s.id, ${field('seasonNumber')} FROM json_each(${json(part)}) AS j
        CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = ${field('showTraktId')} WHERE true
        ON CONFLICT (show_id, season_number) DO NOTHING`,
      sql`INSERT INTO episodes (show_id, season_id, episode_number, trakt_id, title, plays, last_watched_at,
        progress, paused_at)
        SELECT s.id, se.id, ${field('episodeNumber')}, ${field('episodeTraktId')}, ${field('title')}, 0, NULL,
          ${field('progress')}, ${field('pausedAt')}
        FROM json_each(${json(part)}) AS j
        CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = ${field('showTraktId')}
        CROSS JOIN seasons se ON se.show_id = s.id AND se.season_number = ${field('seasonNumber')} WHERE true
        ON CONFLICT (season_id, episode_number) DO UPDATE SET
          trakt_id = coalesce(episodes.trakt_id, excluded.trakt_id), title = coalesce(episodes.title, excluded.title),
          progress = CASE WHEN episodes.last_watched_at IS NULL OR excluded.paused_at > episodes.last_watched_at
            THEN excluded.progress ELSE episodes.progress END,
          paused_at = CASE WHEN episodes.last_watched_at IS NULL OR excluded.paused_at > episodes.last_watched_at
            THEN excluded.paused_at ELSE episodes.paused_at END`,
    );
  }
  statements.push(sql`DELETE FROM seasons WHERE show_id IN ${userShowIds(userId)}
    AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.season_id = seasons.id)`);
  return statements;
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
