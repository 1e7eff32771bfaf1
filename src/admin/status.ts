/**
 * @module
 * The figures of `GET /admin/status`. Read-only: the tables belong to their owners (users,
 * trakt/tokens, sync/*, observability/records); this module only reads them, and every query is
 * answered from an index or a trigger-kept counter, never by scanning a large table:
 *
 * | figure                       | read through                                                           |
 * | ---------------------------- | ---------------------------------------------------------------------- |
 * | users, connections by status | `ops_counters` (kept by triggers, migration 0008)                      |
 * | syncs in progress            | partial index `sync_state_lease_idx` (rows holding a lease only)       |
 * | oldest due sync              | `trakt_connections_due_idx (status, next_sync_at)`: one index seek     |
 * | dead letters in 24 h         | `sync_dead_letters_dead_at_idx`: a range of the last day               |
 * | TMDB backlog                 | partial index `sync_state_tmdb_backlog_idx` (`tmdb_backlog = 1` only)  |
 * | last cron run                | `cron_runs` primary key, newest first                                  |
 * | D1 rows today (`d1_today`)   | `d1_usage` primary key: today's row of the daily budget's counter      |
 * | envelopes per key id         | `ops_counters` `envelopes:<kid>` (triggers, migration 0015): same read |
 */
import { type DailyBudget, DEFAULT_DAILY_ROWS_READ_BUDGET, DEFAULT_DAILY_ROWS_WRITTEN_BUDGET } from '../budget/budget';
import { nextUtcMidnight, readDayUsage } from '../budget/usage';
import type { KeyRing } from '../crypto/envelope';
import { isoNow } from '../db/client';
import { countDeadLettersSince, lastCronRun } from '../observability/records';
import { encryptionView, envelopeCountsFrom, missingKeyIds } from '../rotation/envelope-counts';
import { SYNC_STATE_FIGURES } from '../sync/state';

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_BUDGET: DailyBudget = {
  rowsRead: DEFAULT_DAILY_ROWS_READ_BUDGET,
  rowsWritten: DEFAULT_DAILY_ROWS_WRITTEN_BUDGET,
};

/** The statements behind each figure, exported so a test can EXPLAIN them. `?1` is now (ISO). */
export const STATUS_QUERIES = {
  counters: 'SELECT name, value FROM ops_counters',
  syncsInProgress: SYNC_STATE_FIGURES.syncsInProgress,
  oldestDue: "SELECT min(next_sync_at) AS oldest FROM trakt_connections WHERE status = 'active'",
  tmdbBacklog: SYNC_STATE_FIGURES.tmdbBacklogUsers,
} as const;

export type OperatorStatus = Awaited<ReturnType<typeof operatorStatus>>;

/** `ring`: ENCRYPTION_KEYS parsed (undefined when it does not parse: every key id counts as missing then). */
export async function operatorStatus(
  d1: D1Database,
  now: number,
  ring: KeyRing | undefined,
  budget: DailyBudget = DEFAULT_BUDGET,
) {
  const nowIso = isoNow(now);
  const [counters, inProgress, oldest, backlog] = await d1.batch([
    d1.prepare(STATUS_QUERIES.counters),
    d1.prepare(STATUS_QUERIES.syncsInProgress).bind(nowIso),
    d1.prepare(STATUS_QUERIES.oldestDue),
    d1.prepare(STATUS_QUERIES.tmdbBacklog),
  ]);
  const deadLettered = await countDeadLettersSince(d1, now - DAY_MS);
  const cron = await lastCronRun(d1);
  const today = await readDayUsage(d1, now);

  let users = 0;
  const connections: Record<string, number> = {};
  const counterRows = (counters?.results ?? []) as Array<{ name: string; value: number }>;
  const envelopes = envelopeCountsFrom(counterRows);
  for (const row of counterRows) {
    if (row.name === 'users') users = row.value;
    else if (row.name.startsWith('connections:') && row.value !== 0) {
      connections[row.name.slice('connections:'.length)] = row.value;
    }
  }
  const oldestDue = (oldest?.results[0] as { oldest: string | null } | undefined)?.oldest ?? null;
  return {
    generated_at: nowIso,
    users,
    connections,
    syncs_in_progress: (inProgress?.results[0] as { count: number } | undefined)?.count ?? 0,
    sync_lag: {
      oldest_next_sync_at: oldestDue,
      /** How long the most overdue active connection has been waiting (0 when nothing is overdue). */
      seconds: oldestDue ? Math.max(0, Math.floor((now - Date.parse(oldestDue)) / 1000)) : 0,
    },
    dead_lettered_last_24h: deadLettered,
    tmdb_backlog_users: (backlog?.results[0] as { count: number } | undefined)?.count ?? 0,
    d1_today: {
      rows_read: today.rowsRead,
      rows_written: today.rowsWritten,
      budget_rows_read: budget.rowsRead,
      budget_rows_written: budget.rowsWritten,
      resets_at: nextUtcMidnight(now),
    },
    encryption: encryptionView(envelopes, ring),
    encryption_missing_keys: missingKeyIds(envelopes, ring),
    last_cron_run: cron
      ? {
          started_at: cron.startedAt,
          finished_at: cron.finishedAt,
          duration_ms: cron.durationMs,
          outcome: cron.outcome,
          refreshed: cron.refreshed,
          refresh_failures: cron.refreshFailures,
          claimed: cron.claimed,
          enqueued: cron.enqueued,
          states_deleted: cron.statesDeleted,
          error: cron.error,
        }
      : null,
  };
}
