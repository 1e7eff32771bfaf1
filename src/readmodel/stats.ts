/**
 * @module
 * The stats rollups behind `GET /trakt/stats/`: figures for a user's whole history, kept exact at
 * write time (table `play_stats`, owned here with the `plays.counted_*` columns). The read itself
 * (one batch with the freshness row) is src/history/stats-read.ts; it reads only what is here.
 *
 * Why rollups and not aggregates at read time: any aggregate over `plays` reads every play
 * (60,000 rows for the XL account, even from a covering index), while the target is < 2,000 rows.
 * Triggers on `plays` (migration 0010) update the rollups in the same transaction as every insert
 * and delete of a play, so a sync costs what it changed and a read only reads the rollups (one PK
 * range) plus the first and last play from the `(user_id, watched_at)` index.
 *
 * Minutes and genres come from TMDB, which often arrives after the play. Each play records what it
 * contributed (`counted_runtime`: minutes, 0 = TMDB knows none, NULL = not fetched yet;
 * `counted_genres`), and `recountPlays()` sets them again from the TMDB cache: for the plays a sync
 * chunk inserts (by history id, O(new plays)) and, after an enrichment run, for the titles and
 * seasons it fetched, plus (once a user's backlog is done) a bounded sweep of the plays still
 * waiting (partial index `plays_uncounted_idx`): titles another user's run cached meanwhile.
 * The update trigger moves the minutes and genres between the rollup rows.
 *
 * `by_weekday_hour` is kept in UTC. With `?tz=` in the user's stats zone it comes from the local grid
 * the triggers keep as well (src/readmodel/stats-zone.ts); in any other zone it is computed exactly from
 * the plays' `(user_id, watched_at)` index joined to the zone's UTC-offset intervals (DST and
 * half-hour zones included), which reads every play once (see BENCHMARKS.md for both costs).
 */
import { and, eq, gte, inArray, type SQL, sql } from 'drizzle-orm';
import { unionAll } from 'drizzle-orm/sqlite-core';
import { chunk, type Database } from '../db/client';
import { playStats, plays } from '../db/schema';

export const TOP_GENRES = 10;
/** How far back `by_day` reaches: a year for the calendar, plus slack. */
export const DAY_ROLLUP_DAYS = 400;
/** Plays still waiting for TMDB data that one enrichment run counts again (`plays_uncounted_idx`). */
export const UNCOUNTED_SWEEP = 200;
const DAYS = 7;

/**
 * The user's rollup rows, deleted BEFORE their plays (account deletion, DELETE /trakt/history/): the
 * delete trigger then skips each play at one probe instead of updating a dozen rows per play.
 */
export function deletePlayStats(userId: number): SQL {
  return sql`DELETE FROM play_stats WHERE user_id = ${userId}`;
}
const HOURS = 24;

/** A play's runtime from the TMDB cache: minutes, 0 when TMDB knows none, NULL when not fetched yet. */
const RUNTIME_NOW = sql.raw(`CASE plays.media_type WHEN 'movie' THEN (SELECT coalesce(t.runtime, 0) FROM movies m
    JOIN tmdb_titles t ON t.kind = 'movie' AND t.tmdb_id = m.tmdb_ref
    WHERE m.user_id = plays.user_id AND m.trakt_id = plays.movie_trakt_id)
  ELSE (SELECT coalesce(e.runtime, 0) FROM shows s
    JOIN tmdb_seasons ts ON ts.tmdb_show_id = s.tmdb_ref AND ts.season_number = plays.season_number
    LEFT JOIN tmdb_episodes e ON e.tmdb_show_id = s.tmdb_ref AND e.season_number = plays.season_number
      AND e.episode_number = plays.episode_number
    WHERE s.user_id = plays.user_id AND s.trakt_id = plays.show_trakt_id) END`);
/** A play's genres from the TMDB cache (the movie's, or the show's for an episode). */
const GENRES_NOW = sql.raw(`CASE plays.media_type WHEN 'movie' THEN (SELECT t.genres FROM movies m
    JOIN tmdb_titles t ON t.kind = 'movie' AND t.tmdb_id = m.tmdb_ref AND t.status = 'found'
    WHERE m.user_id = plays.user_id AND m.trakt_id = plays.movie_trakt_id)
  ELSE (SELECT t.genres FROM shows s
    JOIN tmdb_titles t ON t.kind = 'tv' AND t.tmdb_id = s.tmdb_ref AND t.status = 'found'
    WHERE s.user_id = plays.user_id AND s.trakt_id = plays.show_trakt_id) END`);

function recount(where: SQL): SQL {
  return sql`UPDATE plays SET counted_runtime = ${RUNTIME_NOW}, counted_genres = ${GENRES_NOW}
    WHERE ${where} AND (counted_runtime IS NOT ${RUNTIME_NOW} OR counted_genres IS NOT ${GENRES_NOW})`;
}

const inJson = (column: string, ids: readonly number[]) =>
  sql`${sql.raw(column)} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;

/**
 * Statements that count the given plays again from the TMDB cache as it is now (only plays whose
 * contribution changes are written; the update trigger moves their minutes and genres):
 * - `historyIds`: plays a sync chunk wrote (through the `(user_id, history_id)` index);
 * - `movies` / `shows`: every play of those titles (after enrichment fetched their TMDB title);
 * - `seasons`: the plays of those `[show, season]` (after enrichment fetched the season's episodes);
 * - `sweep`: up to UNCOUNTED_SWEEP plays still waiting for TMDB data (titles another user's run cached).
 * Run them in the batch that wrote the plays or the TMDB data, after those writes.
 */
export function recountPlays(
  userId: number,
  targets: {
    historyIds?: readonly number[];
    movies?: readonly number[];
    shows?: readonly number[];
    seasons?: ReadonlyArray<readonly [number, number]>;
    sweep?: boolean;
  },
): SQL[] {
  const statements: SQL[] = [];
  // Seasons: json_each outside, the (user_id, show_trakt_id, season_number, …) index inside.
  for (const keys of chunk(targets.seasons ?? []))
    statements.push(
      recount(sql`rowid IN (SELECT p.rowid FROM json_each(${JSON.stringify(keys)}) AS j
        CROSS JOIN plays p ON p.user_id = ${userId} AND p.show_trakt_id = json_extract(j.value, '$[0]')
          AND p.season_number = json_extract(j.value, '$[1]'))`),
    );
  for (const ids of chunk(targets.historyIds ?? []))
    statements.push(recount(sql`user_id = ${userId} AND ${inJson('history_id', ids)}`));
  for (const ids of chunk(targets.movies ?? []))
    statements.push(recount(sql`user_id = ${userId} AND ${inJson('movie_trakt_id', ids)}`));
  for (const ids of chunk(targets.shows ?? []))
    statements.push(recount(sql`user_id = ${userId} AND ${inJson('show_trakt_id', ids)}`));
  if (targets.sweep)
    statements.push(
      recount(sql`rowid IN (SELECT rowid FROM plays WHERE user_id = ${userId} AND counted_runtime IS NULL
        LIMIT ${UNCOUNTED_SWEEP})`),
    );
  return statements;
}

const ROLLUP_COLUMNS = {
  dimension: playStats.dimension,
  bucket: playStats.bucket,
  plays: playStats.plays,
  minutes: playStats.minutes,
  minutesUnknownPlays: playStats.minutesUnknownPlays,
  watched: playStats.watched,
};

/**
 * The user's rollup rows in two PK ranges: every dimension but `day`, and the days since
 * DAY_ROLLUP_DAYS before `now` (older days stay stored but are not read). Rows at 0 plays are skipped.
 */
export function rollupQuery(db: Database, userId: number, now: number) {
  const dayFrom = new Date(now - DAY_ROLLUP_DAYS * 86_400_000).toISOString().slice(0, 10);
  const counted = sql`${playStats.plays} > 0`;
  return unionAll(
    db
      .select(ROLLUP_COLUMNS)
      .from(playStats)
      .where(
        and(
          eq(playStats.userId, userId),
          inArray(playStats.dimension, ['total', 'month', 'weekday_hour', 'genre']),
          counted,
        ),
      ),
    db
      .select(ROLLUP_COLUMNS)
      .from(playStats)
      .where(
        and(eq(playStats.userId, userId), eq(playStats.dimension, 'day'), gte(playStats.bucket, dayFrom), counted),
      ),
  );
}

/** Plays per type (`movie`, `episode`) from the kept `total` rollups: at most two rows, exact as of the last write. */
export function playTotalsQuery(db: Database, userId: number, mediaType?: 'movie' | 'episode') {
  return db
    .select({ plays: playStats.plays })
    .from(playStats)
    .where(
      and(
        eq(playStats.userId, userId),
        eq(playStats.dimension, 'total'),
        mediaType ? eq(playStats.bucket, mediaType) : inArray(playStats.bucket, ['movie', 'episode']),
      ),
    );
}

/** The first and last play, each one seek of the `(user_id, watched_at)` index, read with the freshness row. */
export function playSpanColumns(userId: number) {
  return {
    firstPlayAt: sql<
      string | null
    >`(SELECT min(${plays.watchedAt}) FROM ${plays} WHERE ${plays.userId} = ${userId})`.as('first_play_at'),
    lastPlayAt: sql<string | null>`(SELECT max(${plays.watchedAt}) FROM ${plays} WHERE ${plays.userId} = ${userId})`.as(
      'last_play_at',
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// What the read (src/history/stats-read.ts) reads, and how it shapes the answer.

type RollupRow = Awaited<ReturnType<typeof rollupQuery>>[number];
/** Plays in one cell of the weekday × hour grid (Monday = 0). */
export type Cell = { weekday: number; hour: number; plays: number };

/** Grid rows (`bucket` `<weekday>-<hour>`, UTC or local) as cells. */
export function cellsOf(rows: ReadonlyArray<{ bucket: string; plays: number }>): Cell[] {
  return rows.map((row) => {
    const [weekday, hour] = row.bucket.split('-').map(Number);
    return { weekday: weekday!, hour: hour!, plays: row.plays };
  });
}

export function emptyWeekdayHours(): number[][] {
  return Array.from({ length: DAYS }, () => Array.from({ length: HOURS }, () => 0));
}

/** Years from the month rows (D1 caps a compound SELECT at 5 terms, so years are not a rollup of their own). */
function byYear(months: RollupRow[]) {
  const years = new Map<number, { year: number; plays: number; minutes: number }>();
  for (const month of months) {
    const year = Number(month.bucket.slice(0, 4));
    const entry = years.get(year) ?? { year, plays: 0, minutes: 0 };
    entry.plays += month.plays;
    entry.minutes += month.minutes;
    years.set(year, entry);
  }
  return [...years.values()];
}

/** Shapes the rollup rows into the answer (pure). */
export function statsFromRollups(
  rows: RollupRow[],
  span: { firstPlayAt: string | null; lastPlayAt: string | null } | undefined,
  timeZone: string,
  zoneWeekdayHours?: Cell[],
  topGenres: number = TOP_GENRES,
) {
  const total = (bucket: string) => rows.find((r) => r.dimension === 'total' && r.bucket === bucket);
  const of = (dimension: RollupRow['dimension']) =>
    rows.filter((r) => r.dimension === dimension).sort((a, b) => (a.bucket < b.bucket ? -1 : 1));
  const movies = total('movie');
  const episodes = total('episode');
  const byWeekdayHour = emptyWeekdayHours();
  const cells = zoneWeekdayHours ?? cellsOf(of('weekday_hour'));
  for (const cell of cells) {
    const row = byWeekdayHour[cell.weekday];
    if (row && cell.hour >= 0 && cell.hour < HOURS) row[cell.hour] = (row[cell.hour] ?? 0) + cell.plays;
  }
  return {
    movies: { watched: movies?.watched ?? 0, plays: movies?.plays ?? 0, minutes: movies?.minutes ?? 0 },
    episodes: { watched: episodes?.watched ?? 0, plays: episodes?.plays ?? 0, minutes: episodes?.minutes ?? 0 },
    shows: { watched: total('show')?.watched ?? 0 },
    minutes_unknown_plays: (movies?.minutesUnknownPlays ?? 0) + (episodes?.minutesUnknownPlays ?? 0),
    first_play_at: span?.firstPlayAt ?? null,
    last_play_at: span?.lastPlayAt ?? null,
    by_year: byYear(of('month')),
    by_month: of('month').map((r) => ({ month: r.bucket, plays: r.plays, minutes: r.minutes })),
    by_day: of('day').map((r) => ({ date: r.bucket, plays: r.plays })),
    time_zone: timeZone,
    by_weekday_hour: byWeekdayHour,
    top_genres: of('genre')
      .sort((a, b) => b.plays - a.plays || (a.bucket < b.bucket ? -1 : 1))
      .slice(0, topGenres)
      .map((r) => ({ name: r.bucket, plays: r.plays })),
  };
}
