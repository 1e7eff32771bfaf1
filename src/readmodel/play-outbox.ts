/**
 * @module
 * The owner of `webhook_new_plays`, the outbox of new plays for the webhooks (src/webhooks/outbox.ts
 * dispatches it). Every statement on the table is here; it lives in the read model because writers keep it
 * current through the write hooks, like the rollups. `stageNewPlays` is what the history write hook `playsInserted` appends to a
 * writer's batch: it stages the inserted plays, in the writer's own transaction, only while the user has
 * an enabled endpoint for `play.created` (else it writes nothing). It imports nothing above the database.
 */
import { type SQL, sql } from 'drizzle-orm';
import { type Database, isoNow } from '../db/client';

/** Statements for the writer's batch; nothing is written for users without a `play.created` endpoint. */
export function stageNewPlays(userId: number, historyIds: readonly number[], now: number = Date.now()): SQL[] {
  if (historyIds.length === 0) return [];
  return [
    sql`INSERT OR IGNORE INTO webhook_new_plays (user_id, history_id, staged_at)
      SELECT ${userId}, value, ${isoNow(now)} FROM json_each(${JSON.stringify(historyIds)})
      WHERE EXISTS (SELECT 1 FROM webhooks WHERE user_id = ${userId} AND disabled_at IS NULL
        AND events LIKE '%"play.created"%')`,
  ];
}

/** The user's staged plays (history ids, oldest id first). */
export async function readStaged(db: Database, userId: number, limit = 10_000): Promise<number[]> {
  const rows = await db.all<{ history_id: number }>(
    sql`SELECT history_id FROM webhook_new_plays WHERE user_id = ${userId} ORDER BY history_id LIMIT ${limit}`,
  );
  return rows.map((row) => row.history_id);
}

const inIds = (ids: readonly number[]) => sql`history_id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;

/** Unstages these plays (in the batch that wrote their deliveries). */
export function clearStaged(userId: number, ids: readonly number[]): SQL {
  return sql`DELETE FROM webhook_new_plays WHERE user_id = ${userId} AND ${inIds(ids)}`;
}

/** True (as SQL) while every one of these plays is still staged: only one dispatch of them can write deliveries. */
export function stillStaged(userId: number, ids: readonly number[]): SQL {
  return sql`(SELECT count(*) FROM webhook_new_plays WHERE user_id = ${userId} AND ${inIds(ids)}) = ${ids.length}`;
}

/** Users with plays staged before `before` (a writer that never dispatched): for the cron. */
export async function usersWithStaleStaging(db: Database, before: number, limit: number): Promise<number[]> {
  const rows = await db.all<{ user_id: number }>(sql`SELECT DISTINCT user_id FROM webhook_new_plays
    WHERE staged_at < ${isoNow(before)} LIMIT ${limit}`);
  return rows.map((row) => row.user_id);
}

/** Account deletion's statement for this table. */
export function deleteUserOutbox(userId: number): SQL {
  return sql`DELETE FROM webhook_new_plays WHERE user_id = ${userId}`;
}
