/**
 * @module
 * The stats rollups behind `GET /trakt/stats/`: figures for a user's whole history, kept exact at
 * write time (table `play_stats`, owned here, with the per-title "counted" columns
 * `movies.stats_runtime` / `stats_genres`, `shows.stats_genres`, `seasons.stats_runtimes`). The read
 * itself (one batch with the freshness row) is src/history/stats-read.ts; it reads only what is here.
 *
 * Why rollups and not aggregates at read time: any aggregate over `plays` reads every play (60,000
 * rows for the XL account, even from a covering index), while the target is < 2,000 rows.
 *
 * How they are kept (issue 25: a few rows written per BATCH, not a dozen per play):
 * - A writer of plays (the sync, the import) appends `playsCountedStatements()` to the batch that
 *   inserts or deletes them. The plays-only figures (plays per total, month, weekday-hour, day, and the
 *   grid in the user's stats zone) are summed in JS and written with ONE upsert of the buckets they touch.
 *   Minutes and genres depend on TMDB data, which is recorded per TITLE: a play counts what its title
 *   counts (a movie's `stats_runtime` and `stats_genres`, an episode's runtime in its season's
 *   `stats_runtimes`, the show's `stats_genres`; NULL: not counted yet, minutes unknown). Plays are
 *   summed as "minutes unknown" in JS, and one statement per kind corrects that for the titles that are
 *   counted, joining them in the same transaction (so a concurrent recount can never be missed).
 * - When enrichment brings a title's TMDB data, `recountStatements()` moves the title's plays from what
 *   it counted to what it counts now: per month by walking the title's plays (its partial index), and
 *   the totals and genres by the title's play count, then records the new values on the title. The
 *   caller computes the deltas under the user's sync lease (src/tmdb/recount.ts), so no writer of plays
 *   runs in between.
 *
 * `by_weekday_hour` is kept in UTC. With `?tz=` in the user's stats zone it comes from the local grid
 * (src/readmodel/stats-zone.ts); in any other zone it is computed exactly from the plays, which reads
 * every play once (see BENCHMARKS.md for both costs).
 */
import { and, eq, gte, inArray, type SQL, sql } from 'drizzle-orm';
import { unionAll } from 'drizzle-orm/sqlite-core';
import { chunk, type Database } from '../db/client';
import { playStats, plays } from '../db/schema';
import { type LocalGrid, localGridStatements, weekdayHourBucket } from './stats-zone';

export const TOP_GENRES = 10;
/** How far back `by_day` reaches: a year for the calendar, plus slack. */
export const DAY_ROLLUP_DAYS = 400;
const DAYS = 7;
const HOURS = 24;

/**
 * The user's rollup rows, deleted with their plays (account deletion, DELETE /trakt/history/): the
 * history's deletion statements do not count plays out one by one.
 */
export function deletePlayStats(userId: number): SQL {
  return sql`DELETE FROM play_stats WHERE user_id = ${userId}`;
}

/** A play as the rollups see it. */
export type RollupPlay = {
  mediaType: 'movie' | 'episode';
  watchedAt: string;
  movieTraktId: number | null;
  showTraktId: number | null;
  seasonNumber: number | null;
  episodeNumber: number | null;
};

const json = (value: unknown) => JSON.stringify(value);
const at = (i: number) => sql.raw(`json_extract(j.value, '$[${i}]')`);
const ADD = sql.raw(`ON CONFLICT (user_id, dimension, bucket) DO UPDATE SET plays = play_stats.plays + excluded.plays,
  minutes = play_stats.minutes + excluded.minutes,
  minutes_unknown_plays = play_stats.minutes_unknown_plays + excluded.minutes_unknown_plays`);

/** Bucket deltas summed in JS: `[dimension, bucket]` → plays, minutes, minutes of unknown runtime. */
class Buckets {
  private readonly rows = new Map<string, [string, string, number, number, number]>();
  add(dimension: string, bucket: string, plays: number, minutes: number, unknown: number) {
    const key = `${dimension}\u0000${bucket}`;
    const row = this.rows.get(key) ?? [dimension, bucket, 0, 0, 0];
    row[2] += plays;
    row[3] += minutes;
    row[4] += unknown;
    this.rows.set(key, row);
  }
  /** One upsert per 2,000 buckets touched. */
  statements(userId: number): SQL[] {
    const rows = [...this.rows.values()].filter(([, , plays, minutes, unknown]) => plays || minutes || unknown);
    return chunk(rows).map(
      (part) => sql`INSERT INTO play_stats (user_id, dimension, bucket, plays, minutes, minutes_unknown_plays)
        SELECT ${userId}, ${at(0)}, ${at(1)}, ${at(2)}, ${at(3)}, ${at(4)} FROM json_each(${json(part)}) AS j
        WHERE true ${ADD}`,
    );
  }
}

/** What the titles of some plays count in the stats now (only titles already counted are listed). */
export type CountedTitles = {
  movies: Map<number, { runtime: number | null; genres: string | null }>;
  /** A show's genres. */
  shows: Map<number, string | null>;
  /** `<show trakt id>:<season>` → the season's runtimes per episode (JSON). */
  seasons: Map<string, string | null>;
};
/** What a writer of plays reads once before composing its batch: the titles' counted data and the local grid. */
export type RollupContext = { counted: CountedTitles; grid: LocalGrid | null };

/**
 * Reads what the titles of `plays` count now (one read per stored title, none for a title not stored yet).
 * Call it under the user's sync lease, which every writer of plays and every recount holds: what it reads
 * cannot change before the writer's batch commits.
 */
export async function readCountedTitles(d1: D1Database, userId: number, rows: readonly RollupPlay[]) {
  const movieIds = [
    ...new Set(rows.flatMap((p) => (p.mediaType === 'movie' && p.movieTraktId !== null ? [p.movieTraktId] : []))),
  ];
  const showIds = [
    ...new Set(rows.flatMap((p) => (p.mediaType === 'episode' && p.showTraktId !== null ? [p.showTraktId] : []))),
  ];
  const seasonKeys = [
    ...new Map(
      rows.flatMap((p) =>
        p.mediaType === 'episode' && p.showTraktId !== null && p.seasonNumber !== null
          ? [[`${p.showTraktId}:${p.seasonNumber}`, [p.showTraktId, p.seasonNumber]] as const]
          : [],
      ),
    ).values(),
  ];
  const counted: CountedTitles = { movies: new Map(), shows: new Map(), seasons: new Map() };
  const statements: D1PreparedStatement[] = [];
  for (const ids of chunk(movieIds))
    statements.push(
      d1
        .prepare(`SELECT 'm' AS k, m.trakt_id AS id, m.stats_runtime AS runtime, m.stats_genres AS genres
          FROM json_each(?1) AS j CROSS JOIN movies m ON m.user_id = ?2 AND m.trakt_id = j.value
          WHERE m.stats_genres IS NOT NULL`)
        .bind(json(ids), userId),
    );
  for (const ids of chunk(showIds))
    statements.push(
      d1
        .prepare(`SELECT 's' AS k, s.trakt_id AS id, NULL AS runtime, s.stats_genres AS genres
          FROM json_each(?1) AS j CROSS JOIN shows s ON s.user_id = ?2 AND s.trakt_id = j.value
          WHERE s.stats_genres IS NOT NULL`)
        .bind(json(ids), userId),
    );
  for (const keys of chunk(seasonKeys))
    statements.push(
      d1
        .prepare(`SELECT 'e' AS k, s.trakt_id || ':' || se.season_number AS id, NULL AS runtime, se.stats_runtimes AS genres
          FROM json_each(?1) AS j CROSS JOIN shows s ON s.user_id = ?2 AND s.trakt_id = json_extract(j.value, '$[0]')
          CROSS JOIN seasons se ON se.show_id = s.id AND se.season_number = json_extract(j.value, '$[1]')
          WHERE se.stats_runtimes IS NOT NULL`)
        .bind(json(keys), userId),
    );
  if (statements.length === 0) return counted;
  for (const result of await d1.batch(statements))
    for (const row of result.results as Array<{
      k: string;
      id: number | string;
      runtime: number | null;
      genres: string | null;
    }>) {
      if (row.k === 'm') counted.movies.set(Number(row.id), { runtime: row.runtime, genres: row.genres });
      else if (row.k === 's') counted.shows.set(Number(row.id), row.genres);
      else counted.seasons.set(String(row.id), row.genres);
    }
  return counted;
}

/**
 * Statements that add (`sign` 1) or take out (-1) plays from the rollups, for the batch that inserts or
 * deletes them: every figure summed in JS from the plays and what their titles count (`context`, read by
 * the writer under its lease), then one upsert of the buckets they touch, plus the local grid.
 */
export function playsCountedStatements(
  userId: number,
  rows: readonly RollupPlay[],
  sign: 1 | -1,
  context: RollupContext,
): SQL[] {
  if (rows.length === 0) return [];
  const buckets = new Buckets();
  const seasonRuntimes = new Map<string, Record<string, number>>();
  for (const play of rows) {
    const month = play.watchedAt.slice(0, 7);
    let minutes = 0;
    let genres: string[] = [];
    if (play.mediaType === 'movie') {
      const movie = play.movieTraktId === null ? undefined : context.counted.movies.get(play.movieTraktId);
      minutes = minutesOf(movie?.runtime);
      genres = movie ? parseList(movie.genres) : [];
    } else {
      genres = play.showTraktId === null ? [] : parseList(context.counted.shows.get(play.showTraktId) ?? null);
      const key = `${play.showTraktId}:${play.seasonNumber}`;
      let runtimes = seasonRuntimes.get(key);
      if (!runtimes) {
        runtimes = parseRuntimes(context.counted.seasons.get(key) ?? null);
        seasonRuntimes.set(key, runtimes);
      }
      minutes = minutesOf(runtimes[String(play.episodeNumber)]);
    }
    const unknown = minutes > 0 ? 0 : sign;
    buckets.add('total', play.mediaType, sign, sign * minutes, unknown);
    buckets.add('month', month, sign, sign * minutes, unknown);
    buckets.add('weekday_hour', weekdayHourBucket(Date.parse(play.watchedAt)), sign, 0, 0);
    buckets.add('day', play.watchedAt.slice(0, 10), sign, 0, 0);
    for (const genre of genres) buckets.add('genre', genre, sign, 0, 0);
  }
  return [...buckets.statements(userId), ...localGridStatements(userId, rows, sign, context.grid)];
}

// ---------------------------------------------------------------------------------------------
// Recounting titles whose TMDB data arrived or changed (src/tmdb/recount.ts reads what is needed).

/** What a title counted (as read under the sync lease, with its play count), and what it counts from now on. */
export type MovieRecount = {
  traktId: number;
  plays: number;
  old: { runtime: number | null; genres: string | null };
  next: { runtime: number; genres: string };
};
export type ShowRecount = { traktId: number; plays: number; old: string | null; next: string };
/** `old` / `next`: runtimes per episode, JSON `{"<episode>": minutes}` (NULL: not counted). */
export type SeasonRecount = {
  seasonId: number;
  showTraktId: number;
  seasonNumber: number;
  old: string | null;
  next: string;
};
export type Recount = { movies: MovieRecount[]; shows: ShowRecount[]; seasons: SeasonRecount[] };
/** The plays of the recounted movies, and of the shows whose seasons are recounted (read under the same lease). */
export type RecountPlays = {
  movies: Array<{ movieTraktId: number; watchedAt: string }>;
  episodes: Array<{ showTraktId: number; seasonNumber: number; episodeNumber: number; watchedAt: string }>;
};

const minutesOf = (runtime: number | null | undefined) => (runtime && runtime > 0 ? runtime : 0);
const unknownOf = (runtime: number | null | undefined) => (runtime && runtime > 0 ? 0 : 1);

function parseList(text: string | null): string[] {
  if (!text) return [];
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}

function parseRuntimes(text: string | null): Record<string, number> {
  if (!text) return {};
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, number>) : {};
  } catch {
    return {};
  }
}

/** Genre moves of a title: -1 for each genre it counted and no longer does, +1 for each new one. */
function genreMoves(old: string | null, next: string): Array<[string, number]> {
  const before = new Set(parseList(old));
  const after = new Set(parseList(next));
  return [
    ...[...before].filter((g) => !after.has(g)).map((g): [string, number] => [g, -1]),
    ...[...after].filter((g) => !before.has(g)).map((g): [string, number] => [g, 1]),
  ];
}

/**
 * Statements that move the recounted titles' plays from what they counted to what they count now (the
 * deltas summed in JS from the plays read, one upsert of the buckets they touch), and record the new
 * values on the titles. Run under the user's sync lease, in one batch with nothing else between the
 * reads and it (src/tmdb/recount.ts).
 */
export function recountStatements(userId: number, recount: Recount, plays: RecountPlays): SQL[] {
  const buckets = new Buckets();
  const movieDelta = new Map<number, [number, number]>();
  for (const m of recount.movies) {
    const minutes = minutesOf(m.next.runtime) - minutesOf(m.old.runtime);
    const unknown = unknownOf(m.next.runtime) - unknownOf(m.old.runtime);
    if (minutes !== 0 || unknown !== 0) movieDelta.set(m.traktId, [minutes, unknown]);
    for (const [genre, sign] of genreMoves(m.old.genres, m.next.genres))
      buckets.add('genre', genre, sign * m.plays, 0, 0);
  }
  for (const s of recount.shows)
    for (const [genre, sign] of genreMoves(s.old, s.next)) buckets.add('genre', genre, sign * s.plays, 0, 0);
  for (const play of plays.movies) {
    const delta = movieDelta.get(play.movieTraktId);
    if (!delta) continue;
    buckets.add('month', play.watchedAt.slice(0, 7), 0, delta[0], delta[1]);
    buckets.add('total', 'movie', 0, delta[0], delta[1]);
  }
  const episodeDelta = new Map<string, [number, number]>();
  for (const season of recount.seasons) {
    const old = season.old === null ? null : parseRuntimes(season.old);
    const next = parseRuntimes(season.next);
    for (const episode of new Set([...Object.keys(old ?? {}), ...Object.keys(next)])) {
      const minutes = minutesOf(next[episode]) - minutesOf(old?.[episode]);
      const unknown = unknownOf(next[episode]) - unknownOf(old?.[episode]);
      if (minutes !== 0 || unknown !== 0)
        episodeDelta.set(`${season.showTraktId}:${season.seasonNumber}:${episode}`, [minutes, unknown]);
    }
  }
  for (const play of plays.episodes) {
    const delta = episodeDelta.get(`${play.showTraktId}:${play.seasonNumber}:${play.episodeNumber}`);
    if (!delta) continue;
    buckets.add('month', play.watchedAt.slice(0, 7), 0, delta[0], delta[1]);
    buckets.add('total', 'episode', 0, delta[0], delta[1]);
  }
  const statements = buckets.statements(userId);
  // The new values, on the titles (upserts over the rows: the keys outside, one seek each).
  for (const part of chunk(recount.movies.map((m) => [m.traktId, m.next.runtime, m.next.genres])))
    statements.push(sql`INSERT INTO movies (user_id, trakt_id, title, plays, last_watched_at, stats_runtime, stats_genres)
      SELECT m.user_id, m.trakt_id, m.title, m.plays, m.last_watched_at, ${at(1)}, ${at(2)}
      FROM json_each(${json(part)}) AS j CROSS JOIN movies m ON m.user_id = ${userId} AND m.trakt_id = ${at(0)}
      WHERE true ON CONFLICT (user_id, trakt_id) DO UPDATE SET stats_runtime = excluded.stats_runtime,
        stats_genres = excluded.stats_genres`);
  for (const part of chunk(recount.shows.map((s) => [s.traktId, s.next])))
    statements.push(sql`INSERT INTO shows (user_id, trakt_id, title, plays, last_watched_at, stats_genres)
      SELECT s.user_id, s.trakt_id, s.title, s.plays, s.last_watched_at, ${at(1)}
      FROM json_each(${json(part)}) AS j CROSS JOIN shows s ON s.user_id = ${userId} AND s.trakt_id = ${at(0)}
      WHERE true ON CONFLICT (user_id, trakt_id) DO UPDATE SET stats_genres = excluded.stats_genres`);
  for (const part of chunk(recount.seasons.map((s) => [s.seasonId, s.next])))
    statements.push(sql`INSERT INTO seasons (show_id, season_number, stats_runtimes)
      SELECT se.show_id, se.season_number, ${at(1)}
      FROM json_each(${json(part)}) AS j CROSS JOIN seasons se ON se.id = ${at(0)}
      WHERE true ON CONFLICT (show_id, season_number) DO UPDATE SET stats_runtimes = excluded.stats_runtimes`);
  return statements;
}

/** Movies and shows whose plays a recount reads (their runtimes change the months their plays fall in). */
export function playsToRead(recount: Recount): { movies: number[]; shows: number[] } {
  const moves = (m: MovieRecount) =>
    minutesOf(m.next.runtime) !== minutesOf(m.old.runtime) || unknownOf(m.next.runtime) !== unknownOf(m.old.runtime);
  return {
    movies: recount.movies.filter(moves).map((m) => m.traktId),
    shows: [...new Set(recount.seasons.map((s) => s.showTraktId))],
  };
}

// ---------------------------------------------------------------------------------------------
// Reading.

const ROLLUP_COLUMNS = {
  dimension: playStats.dimension,
  bucket: playStats.bucket,
  plays: playStats.plays,
  minutes: playStats.minutes,
  minutesUnknownPlays: playStats.minutesUnknownPlays,
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

/**
 * The first and last play, each from the two ends of the `(user_id, media_type, watched_at)` index
 * (one seek per type and end), read with the freshness row.
 */
export function playSpanColumns(userId: number) {
  const end = (fn: 'min' | 'max', type: 'movie' | 'episode') =>
    sql`(SELECT ${sql.raw(fn)}(${plays.watchedAt}) FROM ${plays} WHERE ${plays.userId} = ${userId}
      AND ${plays.mediaType} = ${type})`;
  return {
    firstPlayAt: sql<string | null>`(SELECT min(v) FROM (SELECT ${end('min', 'movie')} AS v
      UNION ALL SELECT ${end('min', 'episode')}))`.as('first_play_at'),
    lastPlayAt: sql<string | null>`(SELECT max(v) FROM (SELECT ${end('max', 'movie')} AS v
      UNION ALL SELECT ${end('max', 'episode')}))`.as('last_play_at'),
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

/** Distinct movies, episodes and shows with a play: the totals the sync keeps (src/sync/state.ts). */
export type WatchedCounts = { movieCount: number | null; episodeCount: number | null; showCount: number | null };

/** Shapes the rollup rows into the answer (pure). */
export function statsFromRollups(
  rows: RollupRow[],
  span: ({ firstPlayAt: string | null; lastPlayAt: string | null } & Partial<WatchedCounts>) | undefined,
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
    movies: { watched: span?.movieCount ?? 0, plays: movies?.plays ?? 0, minutes: movies?.minutes ?? 0 },
    episodes: { watched: span?.episodeCount ?? 0, plays: episodes?.plays ?? 0, minutes: episodes?.minutes ?? 0 },
    shows: { watched: span?.showCount ?? 0 },
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
