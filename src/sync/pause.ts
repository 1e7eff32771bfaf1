/**
 * @module
 * Pausing a user's background work for the daily D1 budget (src/budget/budget.ts). A job that finds the
 * budget spent stops before doing anything, acknowledges its message (no queue retry is spent) and calls
 * `pauseBackgroundWork`: the user's sync-status then says why and until when (`paused_until`,
 * `paused_reason`), and the user's next background sync is due at the reset (00:00 UTC), when the cron
 * claims it and the work continues from its checkpoint: the sync from its pass cursor, enrichment from
 * its walk (a background sync asks for it while the backlog flag is set), an import from its committed files.
 * The next job that runs clears the pause.
 */
import { type BatchItem, database, runBatch } from '../db/client';
import { scheduleNextSync } from '../trakt/connections';
import { recordPause } from './state';

/** The sync chunk or enrichment run that finds the budget spent: one batch, two rows. */
export async function pauseBackgroundWork(
  env: Env,
  userId: number,
  until: string,
  reason: string,
  extra: BatchItem[] = [],
): Promise<void> {
  const db = database(env.DB);
  await runBatch(env.DB, [
    recordPause(userId, until, reason),
    scheduleNextSync(db, userId, Date.parse(until)),
    ...extra,
  ]);
}
