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
 * - from then on, triggers on `plays` (migration 0011) keep the grid exact in the same transaction
 *   as each insert and delete: one seek of `time_zone_offsets` finds the offset at `watched_at`;
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
 * The user's plays per local [weekday (Monday = 0), hour] in the zone of `intervals`: every play,
 * once, through the `(user_id, watched_at)` index, one range per interval.
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
      // json_each outside, the plays index (user_id, watched_at) inside: CROSS JOIN pins that order.
      sql`(SELECT unixepoch(p.watched_at) / 60 + z.offset_minutes AS local_minutes
          FROM (SELECT json_extract(value, '$[0]') AS start_at, json_extract(value, '$[1]') AS end_at,
            json_extract(value, '$[2]') AS offset_minutes
                FROM json_each(${JSON.stringify(intervals)})) AS z
          CROSS JOIN plays p ON p.user_id = ${userId} AND p.watched_at >= z.start_at AND p.watched_at < z.end_at) AS m`,
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
