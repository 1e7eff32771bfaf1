/**
 * @module
 * The Cron Trigger. It stays small whatever the number of users; per-user work goes to the queue.
 * 1. Refresh tokens that would be inside their refresh margin by the next cron run, through the
 *    same single-flight refresh requests use (one code path, one lease).
 * 2. Claim the connections due before the next run with ONE conditional UPDATE … RETURNING that
 *    moves their next_sync_at forward, so overlapping runs can never claim (and enqueue) the same
 *    user twice; then send one message per user with sendBatch in chunks of at most 100, each
 *    delayed to the user's phase within the cron period (jobs/fan-out.ts).
 * 3. Delete consumed OAuth states, expired sessions and login-throttle counters that can no longer matter,
 *    and the daily D1 counter's days past a month (src/budget/usage.ts).
 * 4. After a key rotation, ask for one step of the re-encryption (src/rotation/reseal.ts), which runs in
 *    a queue invocation of its own; deciding costs this run one D1 call.
 * Each step is capped per run; the rest is picked up by the next run.
 */
import { pruneLoginThrottle } from '../auth/login-throttle';
import { pruneExpiredSessions } from '../auth/sessions';
import { pruneUsage } from '../budget/usage';
import { database, isoNow } from '../db/client';
import { describeError, log } from '../observability/log';
import { requestReseal } from '../rotation/reseal';
import { syncIntervalMs } from '../sync/schedule';
import { claimDueConnections as claimConnections, listConnectionsToRefresh, releaseClaims } from '../trakt/connections';
import { traktUserContext } from '../trakt/context';
import { deleteSpentOAuthStates as deleteSpentStates } from '../trakt/oauth-state';
import { getAccessToken } from '../trakt/tokens';
import { overdueDeliveries } from '../webhooks/deliveries';
import { dispatchStaleOutboxes, enqueueDeliveries } from '../webhooks/outbox';
import { fanOutDelaySeconds } from './fan-out';

/** The cron in wrangler.toml runs every 15 minutes. */
export const CRON_PERIOD_MS = 15 * 60 * 1000;
/** The largest refresh margin (token-policy caps it at 1 h): tokens expiring later can wait. */
const MAX_REFRESH_MARGIN_MS = 60 * 60 * 1000;
export const MAX_REFRESHES_PER_RUN = 100;
const REFRESH_CONCURRENCY = 6;
/**
 * Users claimed per run. Spread over the 15-minute period, 30,000 messages start about 33 syncs a
 * second, and the app-wide limiters hold the upstream rates whatever that number; this is
 * 100,000 users per hour (25,000 per run) with room for the phases' unevenness (BENCHMARKS.md, "Fleet pacing").
 */
export const MAX_ENQUEUES_PER_RUN = 30_000;
/** Queues' sendBatch limit. */
export const QUEUE_BATCH_LIMIT = 100;

/** `deferrals`: how often the message was put back for a rate limit (src/jobs/deferral.ts). */
export type SyncMessage = { user_id: number; enqueued_at: string; deferrals?: number };

export type ScheduledReport = {
  refreshed: number;
  refresh_failures: number;
  claimed: number;
  enqueued: number;
  states_deleted: number;
  sessions_deleted: number;
  throttle_rows_deleted: number;
  /** Whether a step of the key rotation's re-encryption was queued. */
  reseal_requested: boolean;
};

export async function refreshExpiringTokens(env: Env, now: number, waitUntil?: (p: Promise<unknown>) => void) {
  const rows = await listConnectionsToRefresh(
    database(env.DB),
    now + CRON_PERIOD_MS + MAX_REFRESH_MARGIN_MS,
    MAX_REFRESHES_PER_RUN,
    now,
  );
  let refreshed = 0;
  let failures = 0;
  for (let i = 0; i < rows.length; i += REFRESH_CONCURRENCY) {
    const results = await Promise.allSettled(
      rows.slice(i, i + REFRESH_CONCURRENCY).map(async ({ userId, tokenVersion }) => {
        const token = await getAccessToken(await traktUserContext(env, userId, waitUntil), {
          horizonMs: CRON_PERIOD_MS,
        });
        return token.version !== tokenVersion;
      }),
    );
    for (const result of results) {
      if (result.status === 'fulfilled') refreshed += Number(result.value);
      else failures += 1; // the token store recorded the outcome (rejection or backoff); a later run tries again
    }
  }
  return { refreshed, failures };
}

/**
 * Claims up to `limit` connections due before the next run (next_sync_at < now + period) atomically and returns
 * their user ids; each is delivered at its phase within the period (enqueueSyncs).
 */
export async function claimDueConnections(env: Env, now: number, limit = MAX_ENQUEUES_PER_RUN): Promise<number[]> {
  const dueBy = now + CRON_PERIOD_MS - 1;
  return claimConnections(database(env.DB), dueBy, dueBy + syncIntervalMs(env), limit);
}

export async function enqueueSyncs(env: Env, userIds: number[], now: number): Promise<number> {
  let sent = 0;
  for (let i = 0; i < userIds.length; i += QUEUE_BATCH_LIMIT) {
    const chunk = userIds.slice(i, i + QUEUE_BATCH_LIMIT);
    try {
      await env.SYNC_QUEUE.sendBatch(
        chunk.map((userId) => ({
          body: { user_id: userId, enqueued_at: isoNow(now) } satisfies SyncMessage,
          contentType: 'json' as const,
          delaySeconds: fanOutDelaySeconds(env, userId, now, CRON_PERIOD_MS),
        })),
      );
      sent += chunk.length;
    } catch (error) {
      // Give back the claim of everyone not sent, so the next run picks them up instead of waiting an interval.
      const unsent = userIds.slice(i);
      await releaseClaims(database(env.DB), unsent, now);
      log.error('enqueue_failed', { unsent: unsent.length, ...describeError(error) });
      break;
    }
  }
  return sent;
}

export async function deleteSpentOAuthStates(env: Env, now: number): Promise<number> {
  return deleteSpentStates(database(env.DB), now);
}

/** Dispatches outboxes left behind and re-queues overdue webhook deliveries (src/webhooks/). */
export async function sweepWebhooks(env: Env, now: number): Promise<void> {
  await dispatchStaleOutboxes(env, now);
  await enqueueDeliveries(env, await overdueDeliveries(database(env.DB), now));
}

export async function runScheduled(
  env: Env,
  now: number,
  waitUntil?: (p: Promise<unknown>) => void,
): Promise<ScheduledReport> {
  const refresh = await refreshExpiringTokens(env, now, waitUntil);
  const claimed = await claimDueConnections(env, now);
  const enqueued = await enqueueSyncs(env, claimed, now);
  const statesDeleted = await deleteSpentOAuthStates(env, now);
  const db = database(env.DB);
  const report: ScheduledReport = {
    refreshed: refresh.refreshed,
    refresh_failures: refresh.failures,
    claimed: claimed.length,
    enqueued,
    states_deleted: statesDeleted,
    sessions_deleted: await pruneExpiredSessions(db, now),
    throttle_rows_deleted: await pruneLoginThrottle(db, now),
    reseal_requested: await requestReseal(env, now),
  };
  await pruneUsage(env.DB, now);
  // Webhooks: outboxes a writer left undispatched, and deliveries whose queue message was lost.
  await sweepWebhooks(env, now).catch((error: unknown) => log.warn('webhook_sweep_failed', describeError(error)));
  return report; // logged, measured and recorded by observability/cron.ts
}
