/**
 * @module
 * The sync of one user's watch history, in bounded, checkpointed chunks. One call of `runSync`
 * is one chunk: what one Worker invocation may do (SYNC_PAGES_PER_RUN Trakt pages, and Trakt +
 * TMDB calls together under SYNC_SUBREQUEST_BUDGET), for the fetch endpoints and the queue
 * consumer alike. Per kind (movies, shows) a sync is a *pass* with phases:
 *
 * 1. Start (no pass stored): `GET /sync/last_activities`. Nothing moved and no reconcile due → a
 *    no-op of one upstream call. Otherwise a pass: `full` for a first sync or the weekly reconcile,
 *    else `incremental` from the history high-water mark (minus an overlap).
 * 2. `history`: pages of `/sync/history` walked newest first with an `end_at` cursor (see
 *    plan.advanceCursor). New plays are inserted; a full pass also deletes stored plays that the
 *    pages prove gone (plan.sweepWindow). The touched movies, shows and episodes get their totals
 *    recomputed in SQL from `plays`. An incremental pass then compares `GET /users/me/stats` with
 *    the stored totals: if they disagree (a removed or backdated play), it restarts as a full pass.
 * 3. `watched` (full passes): `/sync/watched` pages for what history lacks (last_updated_at, reset_at).
 * 4. `playback`: `/sync/playback` (when `paused_at` moved, and in full passes).
 *
 * Every chunk writes its pages, the totals and its cursor (`sync_state.<kind>_pass`) in ONE D1
 * batch. A failure commits the pages already fetched with the cursor before them, so the next run
 * resumes there. Every write is idempotent (plays are unique by Trakt id, totals are recomputed),
 * so a re-run chunk is harmless; a queued continuation also names the chunk it expects and is
 * dropped when that chunk already committed. An unfinished sync enqueues its own continuation.
 *
 * A chunk talks to Trakt and D1 only. TMDB enrichment of what it touched is its caller's next step
 * (src/tmdb/runner.ts `enrichAfterSync`, given the outcome: the titles touched, the requests spent,
 * the keys already read), so it never fails or rolls back the sync.
 */
import { backgroundBudget, type RowCost } from '../budget/budget';
import { pagesPerRun, SUBREQUEST_RESERVE, subrequestBudget } from '../config';
import { keyRing } from '../crypto/envelope';
import { type BatchItem, database, isoNow } from '../db/client';
import { ApiError } from '../http/errors';
import { observeSync } from '../observability/hooks';
import { describeError, log } from '../observability/log';
import { upstreamCallsWithin } from '../pacing/gate';
import { historyWritten } from '../readmodel/write-hooks';
import { connectionView, readConnectionState, scheduleNextSync } from '../trakt/connections';
import { traktUserContext } from '../trakt/context';
import { traktCredentialsFrom } from '../trakt/credentials';
import { NOT_CONNECTED, REAUTHORIZE } from '../trakt/tokens';
import { readAllApiKeys, type StoredApiKeys } from '../users/api-keys';
import { announceEvent, newPlaysCommitted } from '../webhooks/outbox';
import { type Chunk, commit, type KindResult, runKind } from './passes';
import { enqueueSync, handOffRequests } from './requests';
import { nextSyncAt } from './schedule';
import {
  acquireSyncLease,
  progressOf,
  readPass,
  readSyncState,
  recordFailure,
  releaseUnused,
  requestedKindsOf,
  type SyncKind,
  type SyncPass,
  type SyncProgress,
  takeRequestedKinds,
} from './state';

export type { KindResult } from './passes';
export type { SyncKind, SyncProgress } from './state';

export const SYNC_CONTINUES = 'Sync started; it continues in the background';
export const SYNC_REQUESTED = 'Sync requested; it starts when the sync in progress ends';

/**
 * The most D1 rows one page of history (250 plays) costs a chunk, and a chunk besides its pages: the
 * daily budget sizes background chunks with them (src/budget/budget.ts). Measured: a first sync writes
 * about 5.5 rows per play (a movie page with a new movie per play, about 8), reads about 5 (BENCHMARKS.md).
 */
export const SYNC_PAGE_ROWS: RowCost = { rowsRead: 2_500, rowsWritten: 2_000 };
export const SYNC_CHUNK_ROWS: RowCost = { rowsRead: 5_000, rowsWritten: 200 };

/**
 * Pages a fetch endpoint's chunk may take: SYNC_PAGES_PER_RUN while the day's budget allows, at least one
 * (a manual fetch of a small delta keeps working when background work is paused for the day: interactive
 * work spends the headroom the budget leaves, a page at a time).
 */
export async function interactivePagesPerRun(env: Env, now: number): Promise<number> {
  const budget = await backgroundBudget(env, now);
  return Math.max(1, Math.min(pagesPerRun(env), budget.fits(SYNC_PAGE_ROWS, SYNC_CHUNK_ROWS)));
}

export type SyncResult = {
  movies?: KindResult;
  shows?: KindResult;
  upstream_calls: number;
  /** The last enrichment run's figures, kept from the stored result (src/tmdb/runner.ts writes them). */
  enrichment?: unknown;
};
export type SyncOutcome = {
  userId: number;
  /** True when no pass of the requested kinds is left unfinished. */
  complete: boolean;
  /** A queued continuation whose chunk had already committed: nothing was done. */
  stale: boolean;
  result: SyncResult;
  progress: SyncProgress;
  /** Titles (trakt ids) whose plays this chunk wrote: what TMDB should look at next. */
  touched: { movies: number[]; shows: number[] };
  /** Trakt requests the chunk sent (retries and refreshes included): what its invocation has left. */
  traktRequests: number;
  /** Whether the user's library was already waiting for TMDB when the chunk started (`tmdb_backlog`). */
  tmdbBacklog: boolean;
  /** The user's API keys, read once for the chunk (Trakt app) and its enrichment (TMDB key). */
  keys: Promise<StoredApiKeys>;
};

/** Which chunk a queued continuation continues (pass id + committed chunks when it was sent). */
export type ChunkExpectation = Partial<Record<SyncKind, { pass: string; chunk: number }>>;
/** The queue message a chunk sends when its sync is unfinished. */
export type ContinuationMessage = {
  user_id: number;
  enqueued_at: string;
  kinds: SyncKind[];
  expect: ChunkExpectation;
};

export type SyncOptions = {
  kinds: SyncKind[];
  now?: () => number;
  waitUntil?: (promise: Promise<unknown>) => void;
  /** Background runs (the queue consumer) may start the weekly reconcile. */
  background?: boolean;
  /** Set by a queued continuation: run only if these passes are still at these chunks. */
  expect?: ChunkExpectation;
  /** Overrides of SYNC_PAGES_PER_RUN / SYNC_SUBREQUEST_BUDGET (tests, benchmarks). */
  pagesPerRun?: number;
  subrequestBudget?: number;
  /** Sends the continuation (after `delaySeconds`); defaults to SYNC_QUEUE. */
  enqueue?: (message: ContinuationMessage, delaySeconds: number) => Promise<void>;
};

/** Reads every API key the chunk and its enrichment need, once (the Trakt app's credentials, the TMDB key). */
async function readKeys(env: Env, userId: number): Promise<StoredApiKeys> {
  return readAllApiKeys(database(env.DB), await keyRing(env), userId);
}

/**
 * Runs one chunk of the user's sync (see the module comment). Throws ApiError on failure after
 * committing the pages already fetched and recording the error.
 */
export async function runSync(env: Env, userId: number, options: SyncOptions): Promise<SyncOutcome> {
  const now = options.now ?? Date.now;
  const keys = readKeys(env, userId);
  keys.catch(() => undefined);
  const ctx = await traktUserContext(env, userId, options.waitUntil, async () => traktCredentialsFrom(env, await keys));
  const connection = connectionView(await readConnectionState(ctx.db, userId), now());
  if (connection.state === 'not_connected') throw new ApiError(401, NOT_CONNECTED, { code: 'not_connected' });
  if (!connection.tokenUsable) throw new ApiError(401, REAUTHORIZE, { code: 'reauthorization_required' });

  const leaseId = await acquireSyncLease(ctx.db, userId, now(), options.kinds);
  const state = await readSyncState(ctx.db, userId);
  const passes: Partial<Record<SyncKind, SyncPass | null>> = {};
  for (const kind of options.kinds) passes[kind] = readPass(state, kind);
  const empty = (): SyncOutcome => ({
    userId,
    complete: true,
    stale: true,
    result: { upstream_calls: 0 },
    progress: {},
    touched: { movies: [], shows: [] },
    traktRequests: 0,
    tmdbBacklog: false,
    keys,
  });
  if (options.expect) {
    const matches = Object.entries(options.expect).every(
      ([kind, expected]) =>
        passes[kind as SyncKind]?.id === expected.pass && passes[kind as SyncKind]?.chunks === expected.chunk,
    );
    if (!matches) {
      await releaseUnused(ctx.db, userId, leaseId);
      await handOffRequests(env, userId, now());
      // Kinds a continuation carried as requests (no expectation) still run.
      const expectation = options.expect;
      await enqueueSync(
        env,
        userId,
        options.kinds.filter((kind) => !(kind in expectation)),
        now(),
      );
      return empty();
    }
  }
  const observed = observeSync(userId, {
    kinds: options.kinds,
    background: options.background,
    chunk: Math.max(0, ...options.kinds.map((kind) => passes[kind]?.chunks ?? 0)),
  });
  const budget = options.subrequestBudget ?? subrequestBudget(env);
  const chunk: Chunk = {
    env,
    ctx,
    userId,
    leaseId,
    now,
    background: options.background === true,
    traktCalls: 0,
    traktRequests: 0,
    // Each Trakt call may also cost a limiter round trip (a Durable Object call) now and then.
    requestsLeft: Math.min(options.pagesPerRun ?? pagesPerRun(env), upstreamCallsWithin(budget - SUBREQUEST_RESERVE)),
    session: {},
    state,
    pending: [],
    playDelta: { movie: 0, episode: 0 },
    passes,
    finished: {},
    touched: { movies: new Set(), shows: new Set() },
    results: {},
  };
  const totals = {
    current: {
      movieCount: state?.movieCount ?? 0,
      showCount: state?.showCount ?? 0,
      episodeCount: state?.episodeCount ?? 0,
      moviePlayCount: state?.moviePlayCount ?? 0,
      episodePlayCount: state?.episodePlayCount ?? 0,
    },
  };

  let failure: unknown;
  try {
    for (const kind of options.kinds) {
      failure = await runKind(chunk, kind, totals);
      if (failure) break;
    }
  } catch (error) {
    failure = error;
  }

  // Read side (ETags, stats rollups): rebuilt in the chunk's last batch when it changed any data.
  const readSide = (): BatchItem[] =>
    Object.values(chunk.results).some((result) => result && !result.skipped) ? historyWritten(userId, now()) : [];
  const unfinished = options.kinds.filter((kind) => chunk.passes[kind]);
  for (const kind of unfinished) if (!failure) chunk.passes[kind]!.chunks += 1;
  const result: SyncResult = { upstream_calls: chunk.traktCalls, ...chunk.results };
  const finishedAt = now();
  const complete = unfinished.length === 0;
  // Syncs requested while this chunk held the lease, taken in the batch that releases it.
  const [requestedQuery, clearRequested] = takeRequestedKinds(userId);
  const requested = () => requestedKindsOf(chunk.committed?.results[chunk.committed.items.indexOf(requestedQuery)]);
  // Webhooks: the plays this chunk's batch inserted, once committed (src/webhooks/outbox.ts).
  const announcePlays = () =>
    Object.values(chunk.results).some((r) => (r?.plays_added ?? 0) > 0) ? newPlaysCommitted(env, userId) : undefined;
  if (failure) {
    const message = failure instanceof ApiError ? failure.message : 'Internal error during sync';
    try {
      // Keep what was fetched before the failure, with the cursor that points past it.
      Object.assign(chunk.finished, { lastError: message, lastErrorAt: isoNow(finishedAt) });
      await commit(chunk, [...readSide(), requestedQuery, clearRequested], true);
      await announcePlays();
      await enqueueSync(env, userId, requested(), finishedAt);
    } catch {
      await recordFailure(ctx.db, userId, leaseId, message, finishedAt);
      await handOffRequests(env, userId, now());
    }
    // One sync.failed per failure streak (the first failure after a success), not one per retry.
    if (!state?.lastError)
      await announceEvent(env, userId, 'sync.failed', { error: message, failed_at: isoNow(finishedAt) }, finishedAt);
    observed.failed(failure);
    throw failure;
  }
  const previous = parseResult(state?.lastResult);
  if (previous?.enrichment) result.enrichment = previous.enrichment;
  Object.assign(chunk.finished, {
    lastSyncAt: isoNow(finishedAt),
    lastResult: JSON.stringify(result),
    lastError: null,
    lastErrorAt: null,
    // A chunk that ran ends any pause for the daily budget.
    pausedUntil: null,
    pausedReason: null,
  });
  const extra: BatchItem[] = [
    ...(complete ? [scheduleNextSync(ctx.db, userId, nextSyncAt(env, userId, finishedAt))] : []),
    ...readSide(),
    requestedQuery,
    clearRequested,
  ];
  try {
    await commit(chunk, extra, true);
  } catch (error) {
    await recordFailure(ctx.db, userId, leaseId, 'Internal error during sync', now());
    await handOffRequests(env, userId, now());
    observed.failed(error);
    throw error;
  }
  // Kinds requested meanwhile that this chunk does not continue run next, in their own message.
  const requestedKinds = requested().filter((kind) => !unfinished.includes(kind));
  await announcePlays();

  const progress: SyncProgress = {};
  for (const kind of unfinished) progress[kind] = progressOf(chunk.passes[kind]!);

  // Continue an unfinished pass (TMDB work continues itself on its own queue), with the kinds requested meanwhile.
  if (!complete) {
    const expect: ChunkExpectation = {};
    for (const kind of unfinished) expect[kind] = { pass: chunk.passes[kind]!.id, chunk: chunk.passes[kind]!.chunks };
    // Only the unfinished kinds continue (a finished one would cost a last_activities call per chunk), and those
    // requested meanwhile (no expectation: they start or continue whatever pass they have).
    const message: ContinuationMessage = {
      user_id: userId,
      enqueued_at: isoNow(finishedAt),
      kinds: [...unfinished, ...requestedKinds],
      expect,
    };
    // Stopped to keep the user's Trakt window (X-Ratelimit) from running out: continue when it resets.
    const delaySeconds = (await ctx.client()).userBudgetWaitSeconds(now());
    const enqueue =
      options.enqueue ??
      ((body: ContinuationMessage, delay: number) =>
        env.SYNC_QUEUE.send(body, { contentType: 'json', ...(delay > 0 ? { delaySeconds: delay } : {}) }));
    try {
      await enqueue(message, delaySeconds);
    } catch (error) {
      // The cron's next claim of this user continues the pass from its stored cursor.
      log.error('sync_continuation_enqueue_failed', { user_id: userId, ...describeError(error) });
    }
  } else await enqueueSync(env, userId, requestedKinds, finishedAt);
  observed.succeeded(result);
  return {
    userId,
    complete,
    stale: false,
    result,
    progress,
    touched: { movies: [...chunk.touched.movies], shows: [...chunk.touched.shows] },
    traktRequests: chunk.traktRequests,
    tmdbBacklog: (state?.tmdbBacklog ?? 0) > 0,
    keys,
  };
}

function parseResult(lastResult: string | null | undefined): SyncResult | undefined {
  try {
    return lastResult ? (JSON.parse(lastResult) as SyncResult) : undefined;
  } catch {
    return undefined;
  }
}
