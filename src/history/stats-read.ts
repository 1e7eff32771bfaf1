/**
 * @module
 * The `GET /trakt/stats/` read: one D1 round trip of the freshness row with the play span and the
 * watched counts the sync keeps (src/sync/state.ts), the rollups (src/readmodel/stats.ts), and for a
 * zone other than UTC the stored local grid (src/readmodel/stats-zone.ts).
 */
import type { Database } from '../db/client';
import { runBatch } from '../db/client';
import { describeError, log } from '../observability/log';
import { type Cell, cellsOf, playSpanColumns, rollupQuery, statsFromRollups, TOP_GENRES } from '../readmodel/stats';
import { gridColumns, regridStatements, storedGridQuery, weekdayHourInZoneQuery } from '../readmodel/stats-zone';
import { isUtc, zoneRules } from '../readmodel/time-zones';
import { watchedCountColumns } from '../sync/state';
import { freshnessQuery } from './freshness';

/**
 * One D1 round trip: the freshness row with the play span (ETag, first/last play), the rollups, and
 * for a zone other than UTC the stored local grid with the zone and rules it was counted with. When
 * that grid is not the one asked for (another zone, or rules no longer current), a second round trip
 * computes the grid from the plays, and recounts a stale grid of the same zone on the way.
 */
export async function readStats(
  db: Database,
  userId: number,
  timeZone: string,
  now: number,
  /** `allGenres`: every genre in `top_genres`, not only the TOP_GENRES most played (their shares need the whole). */
  options: { allGenres?: boolean } = {},
) {
  const topGenres = options.allGenres ? Number.POSITIVE_INFINITY : TOP_GENRES;
  if (isUtc(timeZone)) {
    const [freshness, rows] = await db.batch([
      freshnessQuery(db, userId, { ...playSpanColumns(userId), ...watchedCountColumns }),
      rollupQuery(db, userId, now),
    ]);
    return { freshness: freshness[0], body: statsFromRollups(rows, freshness[0], timeZone, undefined, topGenres) };
  }
  const rules = zoneRules(timeZone, now);
  const [freshness, rows, grid] = await db.batch([
    freshnessQuery(db, userId, { ...playSpanColumns(userId), ...watchedCountColumns, ...gridColumns(userId) }),
    rollupQuery(db, userId, now),
    storedGridQuery(db, userId),
  ]);
  const stored = freshness[0];
  let cells: Cell[];
  if (stored?.gridRules === rules.id) {
    cells = cellsOf(grid);
  } else if (stored?.gridZone === rules.zone) {
    // The answer never waits on the recount succeeding: a failed one leaves the stale grid for the next read.
    const regrid = runBatch(db.$client, regridStatements(db, userId, rules, now)).catch((error: unknown) =>
      log.warn('stats_zone_regrid_failed', { user_id: userId, ...describeError(error) }),
    );
    [cells] = await Promise.all([weekdayHourInZoneQuery(db, userId, rules.intervals), regrid]);
  } else {
    cells = await weekdayHourInZoneQuery(db, userId, rules.intervals);
  }
  return { freshness: stored, body: statsFromRollups(rows, stored, timeZone, cells, topGenres) };
}
