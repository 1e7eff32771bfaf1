/**
 * @module
 * The operational records in D1, and their only writer: one row per cron run (`cron_runs`) and
 * one per dead-lettered background sync (`sync_dead_letters`). Both stay small: each write also
 * prunes what is past its retention, through the primary key or the time index.
 */
import { desc, sql } from 'drizzle-orm';
import { database, isoNow } from '../db/client';
import { cronRuns, syncDeadLetters } from '../db/schema';

/** Cron runs kept (the cron runs every 15 minutes: about 10 days). */
export const CRON_RUNS_KEPT = 1_000;
/** Dead letters kept, for the runbook's replay and the operator view. */
export const DEAD_LETTER_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
const PRUNE_BATCH = 500;

export type CronRunRecord = {
  startedAt: number;
  finishedAt: number;
  outcome: 'ok' | 'failed';
  refreshed?: number;
  refreshFailures?: number;
  claimed?: number;
  enqueued?: number;
  statesDeleted?: number;
  error?: string;
};

export async function recordCronRun(d1: D1Database, run: CronRunRecord): Promise<void> {
  const db = database(d1);
  const [row] = await db
    .insert(cronRuns)
    .values({
      startedAt: isoNow(run.startedAt),
      finishedAt: isoNow(run.finishedAt),
      durationMs: run.finishedAt - run.startedAt,
      outcome: run.outcome,
      refreshed: run.refreshed ?? 0,
      refreshFailures: run.refreshFailures ?? 0,
      claimed: run.claimed ?? 0,
      enqueued: run.enqueued ?? 0,
      statesDeleted: run.statesDeleted ?? 0,
      error: run.error ?? null,
    })
    .returning({ id: cronRuns.id });
  if (row && row.id > CRON_RUNS_KEPT) {
    await db.run(
      sql`DELETE FROM cron_runs WHERE id IN (SELECT id FROM cron_runs
          WHERE id <= ${row.id - CRON_RUNS_KEPT} ORDER BY id LIMIT ${PRUNE_BATCH})`,
    );
  }
}

export async function lastCronRun(d1: D1Database) {
  const [row] = await database(d1).select().from(cronRuns).orderBy(desc(cronRuns.id)).limit(1);
  return row;
}

export async function recordDeadLetter(d1: D1Database, userId: number, attempts: number, now: number): Promise<void> {
  const db = database(d1);
  await db.batch([
    db.insert(syncDeadLetters).values({ userId, attempts, deadAt: isoNow(now) }),
    db.delete(syncDeadLetters).where(
      sql`${syncDeadLetters.id} IN (SELECT id FROM sync_dead_letters
            WHERE dead_at < ${isoNow(now - DEAD_LETTER_RETENTION_MS)} ORDER BY dead_at LIMIT ${PRUNE_BATCH})`,
    ),
  ]);
}

export async function countDeadLettersSince(d1: D1Database, since: number): Promise<number> {
  const [row] = await database(d1)
    .select({ count: sql<number>`count(*)` })
    .from(syncDeadLetters)
    .where(sql`${syncDeadLetters.deadAt} >= ${isoNow(since)}`);
  return row?.count ?? 0;
}
