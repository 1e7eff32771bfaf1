/**
 * @module
 * The per-user data version (table `user_data_versions`, owned here): a counter that moves with
 * every change of what a user's reads return.
 *
 * Every write of a user's history (a sync that changed something, enrichment that added metadata,
 * a deletion) adds `bumpDataVersion()` to the SAME `db.batch()` as its data (through ./write-hooks.ts),
 * so a reader can never see new data under an old version. Readers read the version with their data
 * (`dataVersionColumn` over `dataVersionJoin`, composed in src/history/freshness.ts) and derive their
 * ETags from it, so a conditional GET costs one indexed D1 read, never the data itself.
 */
import { eq, type SQL, sql } from 'drizzle-orm';
import type { AnySQLiteColumn } from 'drizzle-orm/sqlite-core';
import { isoNow } from '../db/client';
import { userDataVersions } from '../db/schema';

/** The statement that bumps the user's data version; run it in the batch that writes the data. */
export function bumpDataVersion(userId: number, now: number = Date.now()): SQL {
  return sql`INSERT INTO user_data_versions (user_id, version, updated_at) VALUES (${userId}, 1, ${isoNow(now)})
    ON CONFLICT (user_id) DO UPDATE SET version = user_data_versions.version + 1, updated_at = excluded.updated_at`;
}

/** The data version a reader reads with its data (NULL: never written). */
export const dataVersionColumn = userDataVersions.version;

/** The join that brings the data version onto a per-user row (`userIdColumn`: the row's user id). */
export function dataVersionJoin(userIdColumn: AnySQLiteColumn) {
  return [userDataVersions, eq(userDataVersions.userId, userIdColumn)] as const;
}
