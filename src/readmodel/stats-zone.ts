/**
 * @module
 * The weekday × hour grid in a user's own time zone. Owns `stats_time_zones` (the user's stats zone
 * and the rules their grid was counted with), `time_zone_offsets` (rules as UTC-offset intervals,
 * shared) and the `local_weekday_hour` rows of `play_stats`.
 *
 * An exact local grid cannot be summed from UTC rollups: DST moves an hour's plays between cells,
 * and half-hour zones split UTC hours. So:
 * - a user picks a stats zone (`PATCH /users/me`); that counts the grid once from every play, with
 *   the zone's rules stored in `time_zone_offsets`;
 * - from then on, the writers of plays keep the grid exact in the batch that inserts or deletes them
 *   (`localGridStatements`, through src/readmodel/stats.ts): the writer reads the user's zone once
 *   (`readLocalGrid`) and sums the plays' local cells in JS with the zone's rules, guarded by the rules
 *   id in SQL; if the stored rules are no longer current, or the zone changed meanwhile, one seek of
 *   `time_zone_offsets` per play finds the offset at `watched_at` instead;
 * - `?tz=` in that zone reads the grid (168 rows at most). Any other zone, or a grid counted with
 *   rules that are no longer current (new year, new zone data in the runtime), is computed exactly
 *   from the plays instead; the stale grid is counted again in the same round trip.
 */
import { type SQL, sql } from 'drizzle-orm';
import { type Database, isoNow, runBatch } from '../db/client';
import { playStats, statsTimeZones } from '../db/schema';
import { isUtc, type OffsetInterval, type ZoneRules, zoneRules } from './time-zones';

const LOCAL = 'local_weekday_hour';

/**
 * The user's stats zone as a writer of plays found it: the rules id stored with the grid, and that
 * zone's intervals when those rules are still the current ones (null: count through the stored rules).
 */
export type LocalGrid = { rulesId: string; intervals: OffsetInterval[] | null };

/** The user's grid for a writer's batch (one PK read), or null: no stats zone. */
export async function readLocalGrid(db: Database, userId: number, now: number): Promise<LocalGrid | null> {
  const [row] = await db
    .select({ timeZone: statsTimeZones.timeZone, rules: statsTimeZones.rules })
    .from(statsTimeZones)
    .where(sql`${statsTimeZones.userId} = ${userId}`);
  if (!row) return null;
  let current: ZoneRules | undefined;
  try {
    current = zoneRules(row.timeZone, now);
  } catch {
    current = undefined; // a zone this runtime no longer knows: the stored rules still count
  }
  return { rulesId: row.rules, intervals: current?.id === row.rules ? current.intervals : null };
}

/** The UTC offset (minutes) at an instant, from sorted intervals (binary search). */
function offsetAt(intervals: OffsetInterval[], iso: string): number {
  let low = 0;
  let high = intervals.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (intervals[middle]![0] <= iso) low = middle;
    else high = middle - 1;
  }
  return intervals[low]?.[2] ?? 0;
}

/** `<weekday, Monday = 0>-<hour>` of an instant (UTC, or shifted by a zone's offset). */
export function weekdayHourBucket(ms: number): string {
  const at = new Date(ms);
  return `${(at.getUTCDay() + 6) % 7}-${at.getUTCHours()}`;
}

/**
 * Statements that add (`sign` 1) or take out (-1) plays from the user's local grid, for the writer's
 * batch: the cells summed in JS with `grid`'s rules (only if those rules are still the user's when the
 * batch runs), and otherwise, per play, the offset looked up in the rules the user has then.
 */
export function localGridStatements(
  userId: number,
  plays: ReadonlyArray<{ watchedAt: string }>,
  sign: 1 | -1,
  grid: LocalGrid | null,
): SQL[] {
  if (plays.length === 0) return [];
  const statements: SQL[] = [];
  const computed = grid?.intervals ? grid.rulesId : null;
  if (grid?.intervals) {
    const cells = new Map<string, number>();
    for (const play of plays) {
      const bucket = weekdayHourBucket(Date.parse(play.watchedAt) + offsetAt(grid.intervals, play.watchedAt) * 60_000);
      cells.set(bucket, (cells.get(bucket) ?? 0) + sign);
    }
    statements.push(sql`INSERT INTO play_stats (user_id, dimension, bucket, plays, minutes, minutes_unknown_plays)
      SELECT ${userId}, ${LOCAL}, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), 0, 0
      FROM stats_time_zones z CROSS JOIN json_each(${JSON.stringify([...cells])}) AS j
      WHERE z.user_id = ${userId} AND z.rules = ${grid.rulesId}
      ON CONFLICT (user_id, dimension, bucket) DO UPDATE SET plays = play_stats.plays + excluded.plays`);
  }
  // The zone (or its rules) is not the one summed above: look each play's offset up in the stored rules.
  statements.push(sql`INSERT INTO play_stats (user_id, dimension, bucket, plays, minutes, minutes_unknown_plays)
    SELECT ${userId}, ${LOCAL}, ((CAST(strftime('%w', l.at) AS INTEGER) + 6) % 7) || '-' || CAST(strftime('%H', l.at)
      AS INTEGER), sum(${sign}), 0, 0
    FROM (SELECT datetime(j.value, coalesce((SELECT o.offset_minutes FROM time_zone_offsets o
        WHERE o.rules = z.rules AND o.start_at <= j.value ORDER BY o.start_at DESC LIMIT 1), 0) || ' minutes') AS at
      FROM stats_time_zones z CROSS JOIN json_each(${JSON.stringify(plays.map((p) => p.watchedAt))}) AS j
      WHERE z.user_id = ${userId} AND z.rules IS NOT ${computed}) AS l
    WHERE true GROUP BY 3
    ON CONFLICT (user_id, dimension, bucket) DO UPDATE SET plays = play_stats.plays + excluded.plays`);
  return statements;
}

/**
 * The user's plays per local [weekday (Monday = 0), hour] in the zone of `intervals`: every play,
 * once, through the `(user_id, media_type, watched_at)` index, one range per interval and type.
 */
export function weekdayHourInZoneQuery(db: Database, userId: number, intervals: OffsetInterval[]) {
  // Local minutes since 1970 as integers (unixepoch() is about twice as fast as strftime with a
  // modifier); floor division keeps instants before 1970 in the right cell.
  const minuteOfDay = sql`((m.local_minutes % 1440 + 1440) % 1440)`;
  return db
    .select({
      weekday: sql<number>`((((m.local_minutes - ${minuteOfDay}) / 1440 + 3) % 7) + 7) % 7`.as('weekday'),
      hour: sql<number>`${minuteOfDay} / 60`.as('hour'),
      plays: sql<number>`count(*)`.as('plays'),
    })
    .from(
      // json_each outside, the plays index (user_id, media_type, watched_at) inside: CROSS JOIN pins that order.
      sql`(SELECT unixepoch(p.watched_at) / 60 + z.offset_minutes AS local_minutes
          FROM (SELECT json_extract(value, '$[0]') AS start_at, json_extract(value, '$[1]') AS end_at,
            json_extract(value, '$[2]') AS offset_minutes
                FROM json_each(${JSON.stringify(intervals)})) AS z
          CROSS JOIN plays p ON p.user_id = ${userId} AND p.media_type IN ('movie', 'episode')
            AND p.watched_at >= z.start_at AND p.watched_at < z.end_at) AS m`,
    )
    .groupBy(sql`1, 2`);
}

/** The stored grid: what `?tz=` in the user's stats zone reads (with the rules it was counted with). */
export function storedGridQuery(db: Database, userId: number) {
  return db
    .select({ bucket: playStats.bucket, plays: playStats.plays })
    .from(playStats)
    .where(sql`${playStats.userId} = ${userId} AND ${playStats.dimension} = ${LOCAL} AND ${playStats.plays} > 0`);
}

/** The user's stats zone and the rules their grid was counted with: columns for the stats read's freshness row. */
export function gridColumns(userId: number) {
  const ofUser = sql`FROM ${statsTimeZones} WHERE ${statsTimeZones.userId} = ${userId}`;
  return {
    gridZone: sql<string | null>`(SELECT ${statsTimeZones.timeZone} ${ofUser})`.as('grid_zone'),
    gridRules: sql<string | null>`(SELECT ${statsTimeZones.rules} ${ofUser})`.as('grid_rules'),
  };
}

/** Stores a set of rules (immutable: a set already stored is left as it is). */
function storeRules(rules: ZoneRules): SQL {
  return sql`INSERT OR IGNORE INTO time_zone_offsets (rules, start_at, end_at, offset_minutes)
    SELECT ${rules.id}, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
    FROM json_each(${JSON.stringify(rules.intervals)})`;
}

/**
 * Counts the user's grid again from every play, if their row (still) names `rules`: a concurrent
 * change to another zone wins, whichever transaction runs first.
 */
function recountGrid(db: Database, userId: number, rules: ZoneRules): SQL[] {
  const current = sql`EXISTS (SELECT 1 FROM stats_time_zones WHERE user_id = ${userId} AND rules = ${rules.id})`;
  return [
    storeRules(rules),
    sql`DELETE FROM play_stats WHERE user_id = ${userId} AND dimension = ${LOCAL} AND ${current}`,
    sql`INSERT INTO play_stats (user_id, dimension, bucket, plays, minutes, minutes_unknown_plays)
      SELECT ${userId}, ${LOCAL}, c.weekday || '-' || c.hour, c.plays, 0, 0
      FROM (${weekdayHourInZoneQuery(db, userId, rules.intervals)}) AS c WHERE ${current}`,
  ];
}

/** Deletes the user's stats zone (account deletion; the grid rows go with `deletePlayStats`). */
export function deleteStatsTimeZone(userId: number): SQL {
  return sql`DELETE FROM stats_time_zones WHERE user_id = ${userId}`;
}

/** The user's stats zone (canonical IANA name), or null: UTC only. */
export async function readStatsTimeZone(db: Database, userId: number): Promise<string | null> {
  const [row] = await db
    .select({ timeZone: statsTimeZones.timeZone })
    .from(statsTimeZones)
    .where(sql`${statsTimeZones.userId} = ${userId}`);
  return row?.timeZone ?? null;
}

/**
 * Sets the user's stats zone and counts its grid from every play (one pass over the user's plays,
 * in the same transaction; nothing when the zone and its rules are already the user's), or with null
 * or a UTC name, drops it. Returns the zone as stored.
 */
export async function setStatsTimeZone(
  db: Database,
  userId: number,
  zone: string | null,
  now: number,
): Promise<string | null> {
  if (zone === null || isUtc(zone)) {
    await runBatch(db.$client, [
      deleteStatsTimeZone(userId),
      sql`DELETE FROM play_stats WHERE user_id = ${userId} AND dimension = ${LOCAL}`,
    ]);
    return null;
  }
  const rules = zoneRules(zone, now);
  const [current] = await db
    .select({ rules: statsTimeZones.rules })
    .from(statsTimeZones)
    .where(sql`${statsTimeZones.userId} = ${userId}`);
  if (current?.rules === rules.id) return rules.zone; // the grid is already counted with these rules
  await runBatch(db.$client, [
    sql`INSERT INTO stats_time_zones (user_id, time_zone, rules, updated_at)
      VALUES (${userId}, ${rules.zone}, ${rules.id}, ${isoNow(now)})
      ON CONFLICT (user_id) DO UPDATE SET time_zone = excluded.time_zone, rules = excluded.rules,
        updated_at = excluded.updated_at`,
    ...recountGrid(db, userId, rules),
  ]);
  return rules.zone;
}

/**
 * Statements that bring a grid counted with older rules of the same zone up to `rules` (run with the
 * exact read that replaces it this once). A user who meanwhile picked another zone is left alone.
 */
export function regridStatements(db: Database, userId: number, rules: ZoneRules, now: number): SQL[] {
  return [
    sql`UPDATE stats_time_zones SET rules = ${rules.id}, updated_at = ${isoNow(now)}
      WHERE user_id = ${userId} AND time_zone = ${rules.zone} AND rules <> ${rules.id}`,
    ...recountGrid(db, userId, rules),
  ];
}
