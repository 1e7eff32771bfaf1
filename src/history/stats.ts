/**
 * @module
 * `GET /trakt/stats/`: figures for a user's whole history, from ROLLUPS maintained at write time
 * (table `play_stats`, owned here).
 *
 * Why rollups and not aggregates at read time: any aggregate over `plays` reads every play
 * (60,000 rows for the XL account, even from a covering index), while the target is < 2,000 rows.
 * `rebuildPlayStats()` recomputes the user's rollup rows from `plays` joined to the TMDB runtimes
 * and genres, and records the data version it was built from (a `version` row). Every write of the
 * history bumps the data version (`historyWritten()`), and `readStats()` rebuilds the rollups only
 * when their version is not the current one: a sync costs what it changed (it never scans the
 * plays), the first stats read after a change pays one scan, and every read after it is one PK
 * range of a few hundred rows. A full rebuild (not deltas) stays correct whatever changed,
 * including runtimes that arrive after the plays.
 *
 * `by_weekday_hour` is kept in UTC. With `?tz=` it is computed exactly instead, from the plays'
 * `(user_id, watched_at)` index joined to the zone's UTC-offset intervals since 2000 (DST and
 * half-hour zones included): that variant reads every play once (see BENCHMARKS.md for its cost).
 */
import { eq, type SQL, sql } from 'drizzle-orm';
import { type Database, runBatch } from '../db/client';
import { playStats } from '../db/schema';
import { freshnessQuery } from './data-version';

export const TOP_GENRES = 10;
/** How far back `by_day` reaches from the last rebuild: a year for the calendar, plus slack between syncs. */
export const DAY_ROLLUP_DAYS = 400;
const DAYS = 7;
const HOURS = 24;

/** The statements that replace the user's rollup rows; run them in the batch that changed the data. */
export function rebuildPlayStats(userId: number, now: number): SQL[] {
  const dayFrom = new Date(now - DAY_ROLLUP_DAYS * 86_400_000).toISOString().slice(0, 10);
  return [
    sql`DELETE FROM play_stats WHERE user_id = ${userId}`,
    sql`WITH p AS MATERIALIZED (
      SELECT pl.watched_at, pl.media_type, pl.movie_trakt_id, pl.show_trakt_id, pl.season_number, pl.episode_number,
        CASE pl.media_type WHEN 'movie' THEN tm.runtime ELSE te.runtime END AS runtime,
        CASE pl.media_type WHEN 'movie' THEN tm.genres ELSE tv.genres END AS genres
      FROM plays pl
      LEFT JOIN movies m ON pl.media_type = 'movie' AND m.user_id = pl.user_id AND m.trakt_id = pl.movie_trakt_id
      LEFT JOIN tmdb_titles tm ON tm.kind = 'movie' AND tm.tmdb_id = m.tmdb_ref AND tm.status = 'found'
      LEFT JOIN shows s ON pl.media_type = 'episode' AND s.user_id = pl.user_id AND s.trakt_id = pl.show_trakt_id
      LEFT JOIN tmdb_titles tv ON tv.kind = 'tv' AND tv.tmdb_id = s.tmdb_ref AND tv.status = 'found'
      LEFT JOIN tmdb_episodes te ON te.tmdb_show_id = s.tmdb_ref AND te.season_number = pl.season_number
        AND te.episode_number = pl.episode_number
      WHERE pl.user_id = ${userId}
    )
    INSERT INTO play_stats (user_id, dimension, bucket, plays, minutes, minutes_unknown_plays, watched,
      first_play_at, last_play_at)
    SELECT ${userId}, 'total', media_type, count(*), coalesce(sum(runtime), 0), sum(runtime IS NULL),
      CASE media_type WHEN 'movie' THEN count(DISTINCT movie_trakt_id)
        ELSE count(DISTINCT show_trakt_id || ':' || season_number || ':' || episode_number) END,
      min(watched_at), max(watched_at)
    FROM p GROUP BY media_type
    UNION ALL
    SELECT ${userId}, 'total', 'show', count(*), coalesce(sum(runtime), 0), sum(runtime IS NULL),
      count(DISTINCT show_trakt_id),
      min(watched_at), max(watched_at)
    FROM p WHERE media_type = 'episode' HAVING count(*) > 0
    UNION ALL
    SELECT ${userId}, 'month', substr(watched_at, 1, 7), count(*), coalesce(sum(runtime), 0), sum(runtime IS NULL),
      NULL, NULL, NULL
    FROM p GROUP BY 3
    UNION ALL
    SELECT ${userId}, 'weekday_hour',
      ((CAST(strftime('%w', watched_at) AS INTEGER) + 6) % 7) || '-' || CAST(strftime('%H', watched_at) AS INTEGER),
      count(*), coalesce(sum(runtime), 0), sum(runtime IS NULL), NULL, NULL, NULL
    FROM p GROUP BY 3
    UNION ALL
    SELECT ${userId}, 'genre', g.value, count(*), coalesce(sum(p.runtime), 0), sum(p.runtime IS NULL), NULL, NULL, NULL
    FROM p, json_each(p.genres) AS g WHERE p.genres IS NOT NULL GROUP BY g.value`,
    // Plays per UTC day since DAY_ROLLUP_DAYS before `now` only (the dashboard's calendar): at most
    // DAY_ROLLUP_DAYS rows, read
    // through the (user_id, watched_at) index. A statement of its own: D1 caps a compound SELECT at 5 terms.
    sql`INSERT INTO play_stats (user_id, dimension, bucket, plays, minutes, minutes_unknown_plays)
    SELECT ${userId}, 'day', substr(watched_at, 1, 10), count(*), 0, 0
    FROM plays WHERE user_id = ${userId} AND watched_at >= ${dayFrom}
    GROUP BY 3`,
    // The data version these rollups describe, read in the same transaction as the rebuild.
    sql`INSERT INTO play_stats (user_id, dimension, bucket, plays, minutes, minutes_unknown_plays)
    SELECT ${userId}, 'version', '',
      coalesce((SELECT version FROM user_data_versions WHERE user_id = ${userId}), 0), 0, 0`,
  ];
}

function rollupQuery(db: Database, userId: number) {
  return db
    .select({
      dimension: playStats.dimension,
      bucket: playStats.bucket,
      plays: playStats.plays,
      minutes: playStats.minutes,
      minutesUnknownPlays: playStats.minutesUnknownPlays,
      watched: playStats.watched,
      firstPlayAt: playStats.firstPlayAt,
      lastPlayAt: playStats.lastPlayAt,
    })
    .from(playStats)
    .where(eq(playStats.userId, userId));
}

// ---------------------------------------------------------------------------------------------
// Time zones: UTC-offset intervals of a zone (pure, from Intl), for the exact ?tz= variant.

/** A span [from, to) of UTC instants (ISO strings, comparable with `watched_at`) with one UTC offset in minutes. */
export type OffsetInterval = [from: string, to: string, offsetMinutes: number];

/** Sampling step: shorter than any real gap between two DST transitions. */
const SAMPLE_STEP_MS = 28 * 24 * 60 * 60 * 1000;
/** Transitions are searched from here on; earlier plays take the zone's offset of this date. */
const EARLIEST = Date.UTC(2000, 0, 1);
/** Transitions happen on quarter hours (UTC); bisection stops at that precision. */
const TRANSITION_PRECISION_MS = 15 * 60 * 1000;
const ISO_MAX = '9999-12-31T23:59:59.999Z';
const ISO_MIN = '0000-01-01T00:00:00.000Z';

export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function offsetReader(zone: string): (ms: number) => number {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
  return (ms) => {
    const name = format.formatToParts(ms).find((part) => part.type === 'timeZoneName')?.value ?? 'GMT';
    const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
    if (!match) return 0;
    return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
  };
}

const intervalCache = new Map<string, { until: number; intervals: OffsetInterval[] }>();
const INTERVAL_CACHE_ZONES = 64;

/**
 * The zone's offset intervals from 2000 to `now` + one sampling step (the first interval reaches
 * back to the dawn of time, the last one forward). Transitions are found by sampling every 28
 * days and bisecting to the quarter hour (Intl is the only zone database in Workers, and each call
 * costs tens of microseconds). Cached per zone in the isolate (pure data).
 */
export function offsetIntervals(zone: string, now: number): OffsetInterval[] {
  const cached = intervalCache.get(zone);
  if (cached && cached.until >= now) return cached.intervals;
  const offsetAt = offsetReader(zone);
  const until = now + SAMPLE_STEP_MS;
  const transitions: Array<{ at: number; offset: number }> = [];
  let previousMs = EARLIEST;
  let previousOffset = offsetAt(EARLIEST);
  const firstOffset = previousOffset;
  for (let ms = EARLIEST + SAMPLE_STEP_MS; ms <= until + SAMPLE_STEP_MS; ms += SAMPLE_STEP_MS) {
    const offset = offsetAt(ms);
    if (offset !== previousOffset) {
      let low = previousMs;
      let high = ms;
      while (high - low > TRANSITION_PRECISION_MS) {
        const middle = low + Math.floor((high - low) / (2 * TRANSITION_PRECISION_MS)) * TRANSITION_PRECISION_MS;
        if (offsetAt(middle) === previousOffset) low = middle;
        else high = middle;
      }
      transitions.push({ at: high, offset });
      previousOffset = offset;
    }
    previousMs = ms;
  }
  const intervals: OffsetInterval[] = [];
  let from = ISO_MIN;
  let offset = firstOffset;
  for (const transition of transitions) {
    const at = new Date(transition.at).toISOString();
    intervals.push([from, at, offset]);
    from = at;
    offset = transition.offset;
  }
  intervals.push([from, ISO_MAX, offset]);
  if (intervalCache.size >= INTERVAL_CACHE_ZONES) intervalCache.delete(intervalCache.keys().next().value!);
  intervalCache.set(zone, { until, intervals });
  return intervals;
}

function weekdayHourInZoneQuery(db: Database, userId: number, intervals: OffsetInterval[]) {
  // Local minutes since 1970 as integers (unixepoch() is about twice as fast as strftime with a
  // modifier); floor division keeps instants before 1970 in the right cell.
  const minuteOfDay = sql`((m.local_minutes % 1440 + 1440) % 1440)`;
  return db
    .select({
      weekday: sql<number>`((((m.local_minutes - ${minuteOfDay}) / 1440 + 3) % 7) + 7) % 7`,
      hour: sql<number>`${minuteOfDay} / 60`,
      plays: sql<number>`count(*)`,
    })
    .from(
      // json_each outside, the plays index (user_id, watched_at) inside: CROSS JOIN pins that order.
      sql`(SELECT unixepoch(p.watched_at) / 60 + z.offset_minutes AS local_minutes
          FROM (SELECT json_extract(value, '$[0]') AS start_at, json_extract(value, '$[1]') AS end_at,
            json_extract(value, '$[2]') AS offset_minutes
                FROM json_each(${JSON.stringify(intervals)})) AS z
          CROSS JOIN plays p ON p.user_id = ${userId} AND p.watched_at >= z.start_at AND p.watched_at < z.end_at) AS m`,
    )
    .groupBy(sql`1, 2`);
}

// ---------------------------------------------------------------------------------------------
// The read: one D1 round trip (freshness + rollups [+ the zone query]).

type RollupRow = Awaited<ReturnType<typeof rollupQuery>>[number];

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
  timeZone: string,
  zoneWeekdayHours?: Array<{ weekday: number; hour: number; plays: number }>,
) {
  const total = (bucket: string) => rows.find((r) => r.dimension === 'total' && r.bucket === bucket);
  const of = (dimension: RollupRow['dimension']) =>
    rows.filter((r) => r.dimension === dimension).sort((a, b) => (a.bucket < b.bucket ? -1 : 1));
  const movies = total('movie');
  const episodes = total('episode');
  const byWeekdayHour = emptyWeekdayHours();
  const cells =
    zoneWeekdayHours ??
    of('weekday_hour').map((r) => {
      const [weekday, hour] = r.bucket.split('-').map(Number);
      return { weekday: weekday!, hour: hour!, plays: r.plays };
    });
  for (const cell of cells) {
    const row = byWeekdayHour[cell.weekday];
    if (row && cell.hour >= 0 && cell.hour < HOURS) row[cell.hour] = (row[cell.hour] ?? 0) + cell.plays;
  }
  const firsts = [movies?.firstPlayAt, episodes?.firstPlayAt].filter((v): v is string => !!v).sort();
  const lasts = [movies?.lastPlayAt, episodes?.lastPlayAt].filter((v): v is string => !!v).sort();
  return {
    movies: { watched: movies?.watched ?? 0, plays: movies?.plays ?? 0, minutes: movies?.minutes ?? 0 },
    episodes: { watched: episodes?.watched ?? 0, plays: episodes?.plays ?? 0, minutes: episodes?.minutes ?? 0 },
    shows: { watched: total('show')?.watched ?? 0 },
    minutes_unknown_plays: (movies?.minutesUnknownPlays ?? 0) + (episodes?.minutesUnknownPlays ?? 0),
    first_play_at: firsts[0] ?? null,
    last_play_at: lasts.at(-1) ?? null,
    by_year: byYear(of('month')),
    by_month: of('month').map((r) => ({ month: r.bucket, plays: r.plays, minutes: r.minutes })),
    by_day: of('day').map((r) => ({ date: r.bucket, plays: r.plays })),
    time_zone: timeZone,
    by_weekday_hour: byWeekdayHour,
    top_genres: of('genre')
      .sort((a, b) => b.plays - a.plays || (a.bucket < b.bucket ? -1 : 1))
      .slice(0, TOP_GENRES)
      .map((r) => ({ name: r.bucket, plays: r.plays })),
  };
}

const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT', 'Z']);

/** True when the rollups were built from the current data version (no `version` row: never built yet). */
function rollupsAreCurrent(rows: RollupRow[], freshness: { version: number | null } | undefined): boolean {
  if (!freshness) return true; // the user is gone: nothing to rebuild (the route answers 401)
  const built = rows.find((r) => r.dimension === 'version');
  return built !== undefined && built.plays === (freshness?.version ?? 0);
}

/** Rebuilds the user's rollups in one batch (one transaction) and reads them back. */
async function rebuiltRollups(db: Database, userId: number, now: number): Promise<RollupRow[]> {
  await runBatch(db.$client, rebuildPlayStats(userId, now));
  return rollupQuery(db, userId);
}

export async function readStats(db: Database, userId: number, timeZone: string, now: number) {
  if (UTC_ZONES.has(timeZone)) {
    const [freshness, rows] = await db.batch([freshnessQuery(db, userId), rollupQuery(db, userId)]);
    const current = rollupsAreCurrent(rows, freshness[0]) ? rows : await rebuiltRollups(db, userId, now);
    return { freshness: freshness[0], body: statsFromRollups(current, timeZone) };
  }
  const [freshness, rows, cells] = await db.batch([
    freshnessQuery(db, userId),
    rollupQuery(db, userId),
    weekdayHourInZoneQuery(db, userId, offsetIntervals(timeZone, now)),
  ]);
  const current = rollupsAreCurrent(rows, freshness[0]) ? rows : await rebuiltRollups(db, userId, now);
  return { freshness: freshness[0], body: statsFromRollups(current, timeZone, cells) };
}
