/**
 * @module
 * D1 reads and writes of the watch history (`movies`, `shows`, `seasons`, `episodes`, `plays`).
 * Writes are bulk statements that take their rows as ONE bound JSON parameter expanded with
 * `json_each`, so a statement carries hundreds of rows while staying far below D1's
 * 100-bound-parameter limit. The sync runs one chunk's statements in one `db.batch()` (a
 * transaction). Per-item totals (plays, last watch) move by the chunk's new plays (summed in JS, the
 * chunk knows exactly which plays are new under its lease); only titles that LOST plays (a full pass
 * found them removed) are counted again from `plays`, through the per-title indexes.
 *
 * CROSS JOIN pins the join order (SQLite never reorders it): json_each outside, index lookups
 * inside. With a plain JOIN the planner once put json_each innermost and read seasons × rows.
 */
import { and, eq, gte, lte, type SQL, sql } from 'drizzle-orm';
import { chunk, type Database, ROWS_PER_STATEMENT } from '../db/client';
import { plays } from '../db/schema';
import type { EpisodeMeta, MovieMeta, PlayRow, ShowMeta } from './plan';
import { pendingChanged, pendingLess } from './state';

export type Statement = SQL;
export type StoredPlay = Awaited<ReturnType<typeof readStoredPlays>>[number];

const field = (name: string) => sql.raw(`json_extract(j.value, '$.${name}')`);
const json = (rows: unknown) => JSON.stringify(rows);

/**
 * The big bulk parameter (the plays) goes in as positional arrays, read back
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

/** Stored plays of one type whose `watched_at` lies in [from, to] (either end open when null): one range of the
 * `(user_id, media_type, watched_at)` index. */
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
      mediaType: plays.mediaType,
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

/**
 * The plays of some movies and shows, for a recount of their stats (src/tmdb/recount.ts): each title's plays
 * through its partial index, the ids outside (one seek per title, one read per play).
 */
export async function readPlaysOfTitles(db: Database, userId: number, titles: { movies: number[]; shows: number[] }) {
  const movieRows: Array<{ movieTraktId: number; watchedAt: string }> = [];
  const episodeRows: Array<{ showTraktId: number; seasonNumber: number; episodeNumber: number; watchedAt: string }> =
    [];
  for (const ids of chunk(titles.movies)) {
    const { results } = await db.$client
      .prepare(`SELECT p.movie_trakt_id AS movieTraktId, p.watched_at AS watchedAt FROM json_each(?) AS j
        CROSS JOIN plays p INDEXED BY plays_user_movie_idx ON p.user_id = ? AND p.movie_trakt_id = j.value`)
      .bind(json(ids), userId)
      .all<{ movieTraktId: number; watchedAt: string }>();
    movieRows.push(...results);
  }
  for (const ids of chunk(titles.shows)) {
    const { results } = await db.$client
      .prepare(`SELECT p.show_trakt_id AS showTraktId, p.season_number AS seasonNumber,
          p.episode_number AS episodeNumber, p.watched_at AS watchedAt FROM json_each(?) AS j
        CROSS JOIN plays p INDEXED BY plays_user_show_idx ON p.user_id = ? AND p.show_trakt_id = j.value`)
      .bind(json(ids), userId)
      .all<{ showTraktId: number; seasonNumber: number; episodeNumber: number; watchedAt: string }>();
    episodeRows.push(...results);
  }
  return { movies: movieRows, episodes: episodeRows };
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
// Counts of stored titles (for the totals in sync_state: state.adjustCount, state.newTitlesCounted)

export function countMovies(userId: number, traktIds: number[]): SQL {
  return sql`SELECT count(*) FROM movies WHERE user_id = ${userId} AND trakt_id IN (SELECT value
    FROM json_each(${json(traktIds)}))`;
}

export function countShows(userId: number, traktIds: number[]): SQL {
  return sql`SELECT count(*) FROM shows WHERE user_id = ${userId} AND trakt_id IN (SELECT value
    FROM json_each(${json(traktIds)}))`;
}

/** Keys grouped by season: `[show, season, [episode, …]]`, so a statement seeks each show and season once. */
function bySeason<T extends { showTraktId: number; seasonNumber: number }, V>(rows: T[], value: (row: T) => V) {
  const groups = new Map<string, [number, number, V[]]>();
  for (const row of rows) {
    const key = `${row.showTraktId}:${row.seasonNumber}`;
    const group = groups.get(key) ?? [row.showTraktId, row.seasonNumber, []];
    group[2].push(value(row));
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** The show and season of a `[show, season, [...]]` row, then its items (`e`): seeks once per season. */
const seasonItems = (
  userId: number,
) => sql`CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = json_extract(j.value, '$[0]')
    CROSS JOIN seasons se ON se.show_id = s.id AND se.season_number = json_extract(j.value, '$[1]')
    CROSS JOIN json_each(j.value, '$[2]') AS e`;

/** Watched episodes (plays > 0) among the given `[show, season, episode]` keys (a season not stored reads nothing). */
export function countWatchedEpisodes(userId: number, keys: Array<[number, number, number]>): SQL {
  const groups = bySeason(
    keys.map(([showTraktId, seasonNumber, episode]) => ({ showTraktId, seasonNumber, episode })),
    (k) => k.episode,
  );
  return sql`SELECT count(*) FROM json_each(${json(groups)}) AS j ${seasonItems(userId)}
    CROSS JOIN episodes ep ON ep.season_id = se.id AND ep.episode_number = e.value
    WHERE ep.plays > 0`;
}

// ---------------------------------------------------------------------------------------------
// Movies

/** A title's share of a chunk's new plays: how many, and the newest. */
export type NewPlays = { plays: number; lastWatchedAt: string };

/**
 * Movies mentioned by new plays: metadata from history, plays and last watch moved by the new plays
 * (`n`, `last`). A paused viewing survives only if newer than the last watch.
 */
export function upsertMovieTotals(userId: number, metas: Array<MovieMeta & NewPlays>): Statement[] {
  return chunk(metas).map(
    (part) => sql`INSERT INTO movies (user_id, trakt_id, title, year, slug, imdb_id, tmdb_id, tmdb_ref, plays,
      last_watched_at, last_updated_at)
      SELECT ${userId}, ${field('traktId')}, ${field('title')}, ${field('year')}, ${field('slug')}, ${field('imdbId')},
        ${field('tmdbId')}, ${field('tmdbId')}, ${field('plays')}, ${field('lastWatchedAt')}, ${field('lastWatchedAt')}
      FROM json_each(${json(part)}) AS j WHERE true
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET title = excluded.title, year = excluded.year,
        slug = excluded.slug, imdb_id = excluded.imdb_id,
        tmdb_id = excluded.tmdb_id, tmdb_ref = coalesce(excluded.tmdb_id, movies.tmdb_ref),
        plays = movies.plays + excluded.plays,
        last_watched_at = max(movies.last_watched_at, excluded.last_watched_at),
        last_updated_at = max(coalesce(movies.last_updated_at, ''), excluded.last_updated_at),
        progress = CASE WHEN movies.paused_at > max(movies.last_watched_at, excluded.last_watched_at)
          THEN movies.progress END,
        paused_at = CASE WHEN movies.paused_at > max(movies.last_watched_at, excluded.last_watched_at)
          THEN movies.paused_at END`,
  );
}

/**
 * Movies that lost plays: recount them from their plays (the movie index), and delete those with no play
 * left (a movie whose TMDB data was not counted yet leaves the pending count with it).
 */
export function recountMovies(userId: number, traktIds: number[]): Statement[] {
  return chunk(traktIds).flatMap((ids) => {
    const these = sql`user_id = ${userId} AND trakt_id IN (SELECT value FROM json_each(${json(ids)}))`;
    const none = sql`NOT EXISTS (SELECT 1 FROM plays p WHERE p.user_id = ${userId} AND p.movie_trakt_id = movies.trakt_id)`;
    return [
      sql`UPDATE movies SET
          plays = (SELECT count(*) FROM plays p WHERE p.user_id = ${userId} AND p.movie_trakt_id = movies.trakt_id),
          last_watched_at = (SELECT max(p.watched_at) FROM plays p WHERE p.user_id = ${userId}
            AND p.movie_trakt_id = movies.trakt_id)
        WHERE ${these} AND NOT ${none}`,
      sql`DELETE FROM movies WHERE ${these} AND ${none} AND stats_genres IS NULL`,
      pendingChanged(userId, 'tmdb_pending_titles', -1),
      sql`DELETE FROM movies WHERE ${these} AND ${none}`,
    ];
  });
}

/**
 * `/sync/watched/movies` fields history does not carry, for movies already stored, written only where they
 * differ. (Updates by key are upserts over the movie rows: `json_each` CROSS JOIN pins the keys outside, one
 * index seek each; an UPDATE … FROM json_each may put the table outside and read it once per key.)
 */
export function updateWatchedMovies(userId: number, rows: Array<{ traktId: number; lastUpdatedAt: string | null }>) {
  return chunk(rows).map(
    (part) => sql`INSERT INTO movies (user_id, trakt_id, title, plays, last_watched_at, last_updated_at)
      SELECT m.user_id, m.trakt_id, m.title, m.plays, m.last_watched_at, ${field('lastUpdatedAt')}
      FROM json_each(${json(part)}) AS j CROSS JOIN movies m ON m.user_id = ${userId}
        AND m.trakt_id = ${field('traktId')}
      WHERE ${field('lastUpdatedAt')} IS NOT NULL AND m.last_updated_at IS NOT ${field('lastUpdatedAt')}
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET last_updated_at = excluded.last_updated_at`,
  );
}

/** Replaces the stored paused viewings of movies with Trakt's playback list (newer than the last watch only). */
export function applyMoviePlayback(
  userId: number,
  rows: Array<{ movieTraktId: number | null; progress: number; pausedAt: string }>,
) {
  return [
    // INDEXED BY: without it SQLite walks every movie of the user (the primary key) for the few paused ones.
    sql`UPDATE movies INDEXED BY movies_user_paused_idx SET progress = NULL, paused_at = NULL
      WHERE user_id = ${userId} AND paused_at IS NOT NULL`,
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

export function upsertShowTotals(userId: number, metas: Array<ShowMeta & NewPlays>): Statement[] {
  return chunk(metas).map(
    (part) => sql`INSERT INTO shows (user_id, trakt_id, title, year, slug, imdb_id, tvdb_id, tmdb_id, tmdb_ref,
      aired_episodes, plays, last_watched_at, last_updated_at)
      SELECT ${userId}, ${field('traktId')}, ${field('title')}, ${field('year')}, ${field('slug')}, ${field('imdbId')},
        ${field('tvdbId')}, ${field('tmdbId')}, ${field('tmdbId')}, ${field('airedEpisodes')}, ${field('plays')},
        ${field('lastWatchedAt')}, ${field('lastWatchedAt')}
      FROM json_each(${json(part)}) AS j WHERE true
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET title = excluded.title, year = excluded.year,
        slug = excluded.slug, imdb_id = excluded.imdb_id,
        tvdb_id = excluded.tvdb_id, tmdb_id = excluded.tmdb_id, tmdb_ref = coalesce(excluded.tmdb_id, shows.tmdb_ref),
        aired_episodes = coalesce(excluded.aired_episodes, shows.aired_episodes),
        plays = shows.plays + excluded.plays,
        last_watched_at = max(shows.last_watched_at, excluded.last_watched_at),
        last_updated_at = max(coalesce(shows.last_updated_at, ''), excluded.last_updated_at)`,
  );
}

/** The seasons of `[show, season]` keys, created when missing (ids resolved in SQL); new ones are pending for TMDB. */
function ensureSeasons(userId: number, keys: Array<{ show: number; season: number }>): Statement[] {
  return chunk(keys).flatMap((part) => [
    sql`INSERT INTO seasons (show_id, season_number)
      SELECT s.id, ${field('season')} FROM json_each(${json(part)}) AS j
      CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = ${field('show')} WHERE true
      ON CONFLICT (show_id, season_number) DO NOTHING`,
    pendingChanged(userId, 'tmdb_pending_seasons', 1),
  ]);
}

/** Seasons first, then episodes with their totals moved by the new plays (the episodes grouped by season). */
export function upsertEpisodeTotals(userId: number, metas: Array<EpisodeMeta & NewPlays>): Statement[] {
  const seasonsNeeded = [
    ...new Map(
      metas.map((r) => [`${r.showTraktId}:${r.seasonNumber}`, { show: r.showTraktId, season: r.seasonNumber }]),
    ).values(),
  ];
  const statements: Statement[] = ensureSeasons(userId, seasonsNeeded);
  const newLast =
    sql.raw(`CASE WHEN episodes.last_watched_at IS NULL OR excluded.last_watched_at > episodes.last_watched_at
    THEN excluded.last_watched_at ELSE episodes.last_watched_at END`);
  const item = (name: number) => sql.raw(`json_extract(e.value, '$[${name}]')`);
  const groups = bySeason(metas, (m) => [m.episodeNumber, m.traktId, m.title, m.plays, m.lastWatchedAt]);
  for (const part of chunk(groups, ROWS_PER_STATEMENT / 10)) {
    statements.push(sql`INSERT INTO episodes (season_id, episode_number, trakt_id, title, plays, last_watched_at,
      progress, paused_at)
      SELECT se.id, ${item(0)}, ${item(1)}, ${item(2)}, ${item(3)}, ${item(4)}, 100, NULL
      FROM json_each(${json(part)}) AS j ${seasonItems(userId)}
      WHERE true
      ON CONFLICT (season_id, episode_number) DO UPDATE SET trakt_id = coalesce(excluded.trakt_id,
        episodes.trakt_id), title = coalesce(excluded.title, episodes.title),
        plays = episodes.plays + excluded.plays, last_watched_at = ${newLast},
        progress = CASE WHEN episodes.paused_at > ${newLast} THEN episodes.progress ELSE 100 END,
        paused_at = CASE WHEN episodes.paused_at > ${newLast} THEN episodes.paused_at END`);
  }
  return statements;
}

/** The user's seasons (through their shows): for statements over their episodes. */
const userSeasonIds = (userId: number) =>
  sql`(SELECT se.id FROM shows s CROSS JOIN seasons se ON se.show_id = s.id WHERE s.user_id = ${userId})`;

/**
 * Deletes the user's seasons matching `where` (SQL over `seasons`) that are left without episodes, the
 * ones still pending for TMDB first (they leave the pending count). An empty season has no episode to cascade to.
 */
function deleteEmptySeasons(userId: number, where: SQL): Statement[] {
  const empty = sql`${where} AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.season_id = seasons.id)`;
  return [
    sql`DELETE FROM seasons WHERE ${empty} AND stats_runtimes IS NULL`,
    pendingChanged(userId, 'tmdb_pending_seasons', -1),
    sql`DELETE FROM seasons WHERE ${empty}`,
  ];
}

/**
 * Episodes and shows that lost plays: recount them from the show's plays; drop episodes with neither a
 * play nor a paused viewing, shows with no play (cascading to their seasons and episodes) and empty seasons.
 */
export function recountShows(userId: number, showIds: number[], keys: Array<[number, number, number]>): Statement[] {
  const episodePlays = (fn: 'count(*)' | 'max(p.watched_at)') =>
    sql`(SELECT ${sql.raw(fn)} FROM plays p INDEXED BY plays_user_show_idx WHERE p.user_id = ${userId} AND p.show_trakt_id = json_extract(j.value,
      '$[0]')
      AND p.season_number = json_extract(j.value, '$[1]') AND p.episode_number = json_extract(j.value, '$[2]'))`;
  const statements: Statement[] = [];
  const keyed = (part: unknown) => sql`FROM json_each(${json(part)}) AS j
      CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = json_extract(j.value, '$[0]')
      CROSS JOIN seasons se ON se.show_id = s.id AND se.season_number = json_extract(j.value, '$[1]')
      CROSS JOIN episodes e ON e.season_id = se.id AND e.episode_number = json_extract(j.value, '$[2]')`;
  for (const part of chunk(keys)) {
    statements.push(sql`INSERT INTO episodes (season_id, episode_number, plays, last_watched_at, progress)
      SELECT e.season_id, e.episode_number, ${episodePlays('count(*)')}, ${episodePlays('max(p.watched_at)')},
        e.progress ${keyed(part)} WHERE true
      ON CONFLICT (season_id, episode_number) DO UPDATE SET plays = excluded.plays,
        last_watched_at = excluded.last_watched_at,
        progress = CASE WHEN episodes.paused_at IS NOT NULL THEN episodes.progress WHEN excluded.plays > 0 THEN 100
          ELSE 0 END`);
    statements.push(sql`DELETE FROM episodes WHERE plays = 0 AND paused_at IS NULL
      AND (season_id, episode_number) IN (SELECT e.season_id, e.episode_number ${keyed(part)})`);
  }
  for (const ids of chunk(showIds)) {
    const list = json(ids);
    const these = sql`user_id = ${userId} AND trakt_id IN (SELECT value FROM json_each(${list}))`;
    const none = sql`NOT EXISTS (SELECT 1 FROM plays p WHERE p.user_id = ${userId} AND p.show_trakt_id = shows.trakt_id)`;
    const gone = sql`show_id IN (SELECT id FROM shows WHERE ${these} AND ${none})`;
    statements.push(
      sql`UPDATE shows SET
          plays = (SELECT count(*) FROM plays p WHERE p.user_id = ${userId} AND p.show_trakt_id = shows.trakt_id),
          last_watched_at = (SELECT max(p.watched_at) FROM plays p WHERE p.user_id = ${userId}
            AND p.show_trakt_id = shows.trakt_id)
        WHERE ${these} AND NOT ${none}`,
      // The seasons of shows about to go leave the pending count first (their delete cascades), and their
      // episodes go explicitly (episodes carry no foreign key).
      pendingLess(
        userId,
        'tmdb_pending_seasons',
        sql`SELECT count(*) FROM seasons WHERE ${gone} AND stats_runtimes IS NULL`,
      ),
      sql`DELETE FROM episodes WHERE season_id IN (SELECT id FROM seasons WHERE ${gone})`,
      sql`DELETE FROM shows WHERE ${these} AND ${none} AND stats_genres IS NULL`,
      pendingChanged(userId, 'tmdb_pending_titles', -1),
      sql`DELETE FROM shows WHERE ${these} AND ${none}`,
      ...deleteEmptySeasons(userId, sql`show_id IN (SELECT id FROM shows WHERE ${these})`),
    );
  }
  return statements;
}

/**
 * `/sync/watched/shows` fields history does not carry (rewatch reset, aired count), for shows already stored,
 * written only where they differ.
 */
export function updateWatchedShows(
  userId: number,
  rows: Array<{ traktId: number; lastUpdatedAt: string | null; resetAt: string | null; airedEpisodes: number | null }>,
) {
  const lastUpdated = sql.raw(`coalesce(json_extract(j.value, '$.lastUpdatedAt'), s.last_updated_at)`);
  const aired = sql.raw(`coalesce(json_extract(j.value, '$.airedEpisodes'), s.aired_episodes)`);
  return chunk(rows).map(
    (part) => sql`INSERT INTO shows (user_id, trakt_id, title, plays, last_watched_at, last_updated_at, reset_at,
      aired_episodes)
      SELECT s.user_id, s.trakt_id, s.title, s.plays, s.last_watched_at, ${lastUpdated}, ${field('resetAt')}, ${aired}
      FROM json_each(${json(part)}) AS j CROSS JOIN shows s ON s.user_id = ${userId}
        AND s.trakt_id = ${field('traktId')}
      WHERE s.last_updated_at IS NOT ${lastUpdated} OR s.reset_at IS NOT ${field('resetAt')}
        OR s.aired_episodes IS NOT ${aired}
      ON CONFLICT (user_id, trakt_id) DO UPDATE SET last_updated_at = excluded.last_updated_at,
        reset_at = excluded.reset_at, aired_episodes = excluded.aired_episodes`,
  );
}

/**
 * Replaces the stored paused viewings of episodes with Trakt's playback list, for shows in the
 * library: a viewing newer than the episode's last watch is kept with its progress; an episode
 * only started (never watched) is stored with plays 0. Paused episodes are found season by season
 * through the partial index `episodes_season_paused_idx`.
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
  /** `readPausedOnlySeasons` before: the seasons the first statement may leave empty. */
  pausedOnlySeasons: number[] = [],
): Statement[] {
  const statements: Statement[] = [
    // INDEXED BY: without it SQLite walks every episode of each season (the primary key) for the few paused ones.
    sql`DELETE FROM episodes INDEXED BY episodes_season_paused_idx WHERE season_id IN ${userSeasonIds(userId)}
      AND paused_at IS NOT NULL AND plays = 0`,
    sql`UPDATE episodes INDEXED BY episodes_season_paused_idx SET paused_at = NULL, progress = 100
      WHERE season_id IN ${userSeasonIds(userId)} AND paused_at IS NOT NULL`,
  ];
  const valid = rows.filter((r) => r.showTraktId !== null && r.seasonNumber !== null && r.episodeNumber !== null);
  statements.push(
    ...ensureSeasons(
      userId,
      valid.map((r) => ({ show: r.showTraktId!, season: r.seasonNumber! })),
    ),
  );
  for (const part of chunk(valid)) {
    statements.push(
      sql`INSERT INTO episodes (season_id, episode_number, trakt_id, title, plays, last_watched_at,
        progress, paused_at)
        SELECT se.id, ${field('episodeNumber')}, ${field('episodeTraktId')}, ${field('title')}, 0, NULL,
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
  // Seasons that only held paused viewings may be empty now (a watched episode never leaves one).
  if (pausedOnlySeasons.length > 0)
    statements.push(
      ...deleteEmptySeasons(userId, sql`id IN (SELECT value FROM json_each(${json(pausedOnlySeasons)}))`),
    );
  return statements;
}

/** The user's seasons with an episode only started (paused, never watched): the partial index, season by season. */
export async function readPausedOnlySeasons(db: Database, userId: number): Promise<number[]> {
  const { results } = await db.$client
    .prepare(`SELECT DISTINCT e.season_id AS id FROM shows s CROSS JOIN seasons se ON se.show_id = s.id
      CROSS JOIN episodes e INDEXED BY episodes_season_paused_idx ON e.season_id = se.id AND e.paused_at IS NOT NULL
      WHERE s.user_id = ? AND e.plays = 0`)
    .bind(userId)
    .all<{ id: number }>();
  return results.map((r) => r.id);
}

// ---------------------------------------------------------------------------------------------
// Deleting a user's history (DELETE /trakt/history/, account deletion).

/**
 * Statements deleting every stored history row of the user: episodes and seasons (through the
 * user's shows), plays, movies and shows. Explicit rather than left to the foreign-key cascades.
 */
export function deleteUserHistory(userId: number): Statement[] {
  return [
    sql`DELETE FROM episodes WHERE season_id IN ${userSeasonIds(userId)}`,
    sql`DELETE FROM seasons WHERE show_id IN (SELECT id FROM shows WHERE user_id = ${userId})`,
    sql`DELETE FROM plays WHERE user_id = ${userId}`,
    sql`DELETE FROM movies WHERE user_id = ${userId}`,
    sql`DELETE FROM shows WHERE user_id = ${userId}`,
  ];
}
