/**
 * @module
 * The observation scope of one invocation: an HTTP request, one queue message or one cron run.
 * It carries the deployment's logging level, the metrics binding, the fields every log line of
 * the invocation repeats (`request_id`, …) and running counters (upstream calls, D1 rows) that
 * the sync's log line reports as differences.
 *
 * It travels with AsyncLocalStorage (the `nodejs_als` compatibility flag), so the one-line hooks
 * in the upstream client, the token store, the sync and the jobs need no extra parameters, and
 * concurrent requests in one isolate never see each other's scope. Outside a scope (unit tests
 * calling a service directly) every hook still works: it logs at the default level and writes
 * no metric.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type Counters = {
  traktCalls: number;
  tmdbCalls: number;
  d1RowsRead: number;
  d1RowsWritten: number;
  d1Queries: number;
};

export type Scope = {
  /** LOG_LEVEL as configured (parsed by the logger). */
  logLevel: string | undefined;
  metrics: AnalyticsEngineDataset | undefined;
  fields: Record<string, unknown>;
  counters: Counters;
};

const storage = new AsyncLocalStorage<Scope>();

export const zeroCounters = (): Counters => ({
  traktCalls: 0,
  tmdbCalls: 0,
  d1RowsRead: 0,
  d1RowsWritten: 0,
  d1Queries: 0,
});

export function newScope(env: Partial<Env>, fields: Record<string, unknown> = {}): Scope {
  return {
    logLevel: env.LOG_LEVEL,
    // Optional in practice: absent in local setups without it, or on accounts without Analytics Engine.
    metrics: (env as { METRICS?: AnalyticsEngineDataset }).METRICS,
    fields,
    counters: zeroCounters(),
  };
}

export function runInScope<T>(scope: Scope, run: () => T): T {
  return storage.run(scope, run);
}

export function currentScope(): Scope | undefined {
  return storage.getStore();
}

/** A copy of the current counters, to report the work of one part of an invocation as a difference. */
export function snapshotCounters(): Counters {
  return { ...(currentScope()?.counters ?? zeroCounters()) };
}

export function countersSince(start: Counters): Counters {
  const now = currentScope()?.counters ?? zeroCounters();
  return {
    traktCalls: now.traktCalls - start.traktCalls,
    tmdbCalls: now.tmdbCalls - start.tmdbCalls,
    d1RowsRead: now.d1RowsRead - start.d1RowsRead,
    d1RowsWritten: now.d1RowsWritten - start.d1RowsWritten,
    d1Queries: now.d1Queries - start.d1Queries,
  };
}
