/**
 * @module
 * The call-site hooks: one log line and one metric per event, with the event's outcome. Each is
 * a single call placed where the outcome is known (the upstream client, the token store, the
 * sync, the queue consumer, the Worker's cron entry), so the modules that own the work carry no
 * logging logic. Field names never hold secrets; the logger redacts defensively anyway.
 */
import { describeError, log } from './log';
import { writeMetric } from './metrics';
import { countersSince, currentScope, snapshotCounters } from './scope';

// ---------------------------------------------------------------------------------------------
// Upstream responses (upstream/policy.ts, once per attempt).

export function observeUpstream(service: string, url: string, status: number | 'timeout' | 'network_error'): void {
  const counters = currentScope()?.counters;
  if (counters) {
    if (service === 'Trakt') counters.traktCalls += 1;
    else if (service === 'TMDB') counters.tmdbCalls += 1;
  }
  let host = 'unknown';
  try {
    host = new URL(url).host;
  } catch {
    // keep "unknown": the URL itself (path, query) is never logged
  }
  writeMetric('upstream', [service, host, String(status)], [1]);
  const fields = { service, host, status };
  if (status === 429 || typeof status !== 'number' || status >= 500) log.warn('upstream_response', fields);
  else log.debug('upstream_response', fields);
}

// ---------------------------------------------------------------------------------------------
// Syncs (sync/service.ts).

export type SyncObservation = {
  succeeded(result: unknown): void;
  failed(error: unknown): void;
};

/**
 * The machine reason of a failure, for logs and metrics: the project's error type (`ApiError`,
 * src/http/errors.ts, recognised by its name so this lowest layer imports nothing above it) gives
 * its code, or its status; anything else is a coarse class.
 */
export function failureReason(error: unknown): string {
  if (error instanceof Error && error.name === 'ApiError') {
    const { code, status } = error as Error & { code?: string; status?: number };
    return code ?? `http_${status}`;
  }
  return 'internal_error';
}

/** Per-kind change counts of a sync result, without anything else it may carry. */
function changes(result: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!result || typeof result !== 'object') return out;
  for (const [kind, value] of Object.entries(result)) {
    if (!value || typeof value !== 'object' || !('added' in value)) continue;
    const { added, updated, removed, plays_added, plays_removed, skipped } = value as Record<string, unknown>;
    out[kind] = { added, updated, removed, plays_added, plays_removed, skipped };
  }
  return out;
}

export function observeSync(
  userId: number,
  options: { kinds: readonly string[]; background?: boolean; chunk?: number },
): SyncObservation {
  const started = Date.now();
  const before = snapshotCounters();
  const base = {
    user_id: userId,
    kinds: options.kinds.join('+'),
    trigger: options.background ? 'queue' : 'request',
    ...(options.chunk === undefined ? {} : { chunk: options.chunk }),
  };
  const finish = (outcome: 'ok' | 'failed', reason: string, extra: Record<string, unknown>) => {
    const used = countersSince(before);
    const duration = Date.now() - started;
    writeMetric(
      'sync',
      [outcome, reason, base.kinds, base.trigger],
      [duration, used.traktCalls, used.tmdbCalls, used.d1RowsRead, used.d1RowsWritten],
    );
    const fields = {
      ...base,
      outcome,
      reason,
      trakt_calls: used.traktCalls,
      tmdb_calls: used.tmdbCalls,
      d1_queries: used.d1Queries,
      d1_rows_read: used.d1RowsRead,
      d1_rows_written: used.d1RowsWritten,
      duration_ms: duration,
      ...extra,
    };
    if (outcome === 'ok') log.info('sync', fields);
    else log.warn('sync', fields);
  };
  return {
    succeeded: (result) => {
      const chunk = (result as { chunk?: unknown } | undefined)?.chunk;
      finish('ok', 'none', { ...(typeof chunk === 'number' ? { chunk } : {}), changes: changes(result) });
    },
    failed: (error) => finish('failed', failureReason(error), { message: describeError(error).message }),
  };
}

// ---------------------------------------------------------------------------------------------
// Token refreshes (trakt/tokens.ts).

export type RefreshOutcome =
  | 'refreshed'
  | 'adopted_pending'
  | 'invalid_grant'
  | 'transient_failure'
  | 'unreadable'
  | 'lease_lost'
  | (string & {});

export function observeRefresh(userId: number, outcome: RefreshOutcome, error?: unknown): void {
  writeMetric('refresh', [outcome], [1]);
  const fields = {
    user_id: userId,
    outcome,
    ...(error === undefined ? {} : { reason: failureReason(error), message: describeError(error).message }),
  };
  if (outcome === 'refreshed' || outcome === 'adopted_pending') log.info('token_refresh', fields);
  else log.warn('token_refresh', fields);
}

// ---------------------------------------------------------------------------------------------
// Queue messages (jobs/queue.ts).

export function observeQueueMessage(queue: string, message: Message<unknown>, outcome: string): void {
  const body = message.body as { user_id?: unknown } | null;
  const userId = typeof body?.user_id === 'number' ? body.user_id : null;
  writeMetric('queue', [queue, outcome], [message.attempts]);
  const fields = { queue, message_id: message.id, user_id: userId, attempts: message.attempts, outcome };
  if (outcome === 'retry' || outcome === 'invalid' || outcome === 'dead_lettered') log.warn('queue_message', fields);
  else log.info('queue_message', fields);
}
