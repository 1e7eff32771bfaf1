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
 * TMDB enrichment of what the chunk touched never fails or rolls back the sync: a background chunk
 * queues it on `trakt-enrich` (jobs/enrichment.ts); a fetch endpoint's chunk runs it inline within
 * what is left of its budget and queues the rest (enrichAfterChunk).
 */
import { pagesPerRun, SUBREQUEST_RESERVE, subrequestBudget } from '../config';
import { keyRing } from '../crypto/envelope';
import { type BatchItem, type Database, database, isoNow, runBatch } from '../db/client';
import { historyWritten, tmdbDataWritten } from '../history/write-hooks';
import { ApiError } from '../http/errors';
import { requestEnrichment } from '../jobs/enrichment';
import { observeSync } from '../observability/hooks';
import { describeError, log } from '../observability/log';
import { limiterRoundTrips, upstreamCallsWithin } from '../pacing/gate';
import { tmdbKeyOf } from '../tmdb/client';
import { type EnrichmentResult, enrichUser } from '../tmdb/enrich';
import { readConnectionState, scheduleNextSync, USABLE_STATUSES } from '../trakt/connections';
import { traktUserContext } from '../trakt/context';
import { TRAKT_KEY_SERVICES, traktCredentialsFrom } from '../trakt/credentials';
import { NOT_CONNECTED, REAUTHORIZE } from '../trakt/tokens';
import { readApiKeys } from '../users/api-keys';
import { type Chunk, commit, type KindResult, runKind } from './passes';
import { nextSyncAt } from './schedule';
import {
  acquireSyncLease,
  markTmdbBacklog,
  readPass,
  readSyncState,
  recordFailure,
  releaseUnused,
  type SyncKind,
  type SyncPass,
  type SyncStateRow,
  writeLastResult,
} from './state';

export type { KindResult } from './passes';
export type { SyncKind } from './state';

export const SYNC_CONTINUES = 'Sync started; it continues in the background';

export type SyncResult = {
  movies?: KindResult;
  shows?: KindResult;
  upstream_calls: number;
  enrichment?: EnrichmentResult;
};
export type KindProgress = {
  mode: SyncPass['mode'];
  reason: SyncPass['reason'];
  phase: SyncPass['phase'];
  chunks: number;
  pages_done: number;
  pages_known: number | null;
  plays_stored: number;
};
export type SyncProgress = Partial<Record<SyncKind, KindProgress>>;
export type SyncOutcome = {
  /** True when no pass of the requested kinds is left unfinished. */
  complete: boolean;
  /** A queued continuation whose chunk had already committed: nothing was done. */
  stale: boolean;
  result: SyncResult;
  progress: SyncProgress;
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
  /** false: no TMDB work at all, neither inline nor queued (tests and benchmarks of the sync alone). */
  enrich?: boolean;
  /** Background runs may start the weekly reconcile, and ask for a TMDB backlog run when Trakt had nothing new. */
  background?: boolean;
  /** Set by a queued continuation: run only if these passes are still at these chunks. */
  expect?: ChunkExpectation;
  /** Overrides of SYNC_PAGES_PER_RUN / SYNC_SUBREQUEST_BUDGET (tests, benchmarks). */
  pagesPerRun?: number;
  subrequestBudget?: number;
  /** Sends the continuation; defaults to SYNC_QUEUE. */
  enqueue?: (message: ContinuationMessage) => Promise<void>;
};

/** Progress of the unfinished passes stored for a user (for /trakt/sync-status/). */
export function syncProgressOf(state: SyncStateRow | undefined): SyncProgress {
  const progress: SyncProgress = {};
  for (const kind of ['movies', 'shows'] as const) {
    const pass = readPass(state, kind);
    if (pass) progress[kind] = progressOf(pass);
  }
  return progress;
}

function progressOf(pass: SyncPass): KindProgress {
  return {
    mode: pass.mode,
    reason: pass.reason,
    phase: pass.phase,
    chunks: pass.chunks,
    pages_done: pass.pagesDone,
    pages_known: pass.pagesKnown,
    plays_stored: pass.playsStored,
  };
}

/** Reads every API key the sync needs once: the Trakt app's credentials and the TMDB key. */
async function readSyncKeys(env: Env, userId: number) {
  const db = database(env.DB);
  const ring = await keyRing(env);
  const keys = await readApiKeys(db, ring, userId, [...TRAKT_KEY_SERVICES, 'tmdb'], ['tmdb']);
  return { keys, tmdbKey: tmdbKeyOf(env, keys) };
}

/**
 * Runs one chunk of the user's sync (see the module comment). Throws ApiError on failure after
 * committing the pages already fetched and recording the error.
 */
export async function runSync(env: Env, userId: number, options: SyncOptions): Promise<SyncOutcome> {
  const now = options.now ?? Date.now;
  const keysRead = readSyncKeys(env, userId);
  keysRead.catch(() => undefined);
  const ctx = await traktUserContext(env, userId, options.waitUntil, async () =>
    traktCredentialsFrom(env, (await keysRead).keys),
  );
  const connection = await readConnectionState(ctx.db, userId);
  if (!connection || connection.status === 'disconnecting') {
    throw new ApiError(401, NOT_CONNECTED, { code: 'not_connected' });
  }
  if (!USABLE_STATUSES.includes(connection.status)) {
    throw new ApiError(401, REAUTHORIZE, { code: 'reauthorization_required' });
  }

  const leaseId = await acquireSyncLease(ctx.db, userId, now());
  const state = await readSyncState(ctx.db, userId);
  const passes: Partial<Record<SyncKind, SyncPass | null>> = {};
  for (const kind of options.kinds) passes[kind] = readPass(state, kind);
  const empty = (): SyncOutcome => ({ complete: true, stale: true, result: { upstream_calls: 0 }, progress: {} });
  if (options.expect) {
    const matches = Object.entries(options.expect).every(
      ([kind, expected]) =>
        passes[kind as SyncKind]?.id === expected.pass && passes[kind as SyncKind]?.chunks === expected.chunk,
    );
    if (!matches) {
      await releaseUnused(ctx.db, userId, leaseId);
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
    pagesLeft: Math.min(options.pagesPerRun ?? pagesPerRun(env), upstreamCallsWithin(budget - SUBREQUEST_RESERVE)),
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
  if (failure) {
    const message = failure instanceof ApiError ? failure.message : 'Internal error during sync';
    try {
      // Keep what was fetched before the failure, with the cursor that points past it.
      Object.assign(chunk.finished, { lastError: message, lastErrorAt: isoNow(finishedAt) });
      await commit(chunk, readSide(), true);
    } catch {
      await recordFailure(ctx.db, userId, leaseId, message, finishedAt);
    }
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
  });
  const extra: BatchItem[] = [
    ...(complete ? [scheduleNextSync(ctx.db, userId, nextSyncAt(env, userId, finishedAt))] : []),
    ...readSide(),
  ];
  try {
    await commit(chunk, extra, true);
  } catch (error) {
    await recordFailure(ctx.db, userId, leaseId, 'Internal error during sync', now());
    observed.failed(error);
    throw error;
  }

  const progress: SyncProgress = {};
  for (const kind of unfinished) progress[kind] = progressOf(chunk.passes[kind]!);
  if (options.enrich !== false) await enrichAfterChunk(env, ctx.db, chunk, options, result, complete, keysRead);

  // Continue an unfinished pass (TMDB work continues itself on its own queue).
  if (!complete) {
    const expect: ChunkExpectation = {};
    for (const kind of unfinished) expect[kind] = { pass: chunk.passes[kind]!.id, chunk: chunk.passes[kind]!.chunks };
    // Only the unfinished kinds continue (a finished one would cost a last_activities call per chunk).
    const message: ContinuationMessage = {
      user_id: userId,
      enqueued_at: isoNow(finishedAt),
      kinds: unfinished,
      expect,
    };
    const enqueue =
      options.enqueue ?? ((body: ContinuationMessage) => env.SYNC_QUEUE.send(body, { contentType: 'json' }));
    try {
      await enqueue(message);
    } catch (error) {
      // The cron's next claim of this user continues the pass from its stored cursor.
      log.error('sync_continuation_enqueue_failed', { user_id: userId, ...describeError(error) });
    }
  }
  observed.succeeded(result);
  return { complete, stale: false, result, progress };
}

/**
 * TMDB work for what a chunk touched. A background chunk only queues it (jobs/enrichment.ts): its
 * subrequests are for Trakt, and the enrichment queue's low concurrency keeps a big backlog from
 * starving syncs. A fetch endpoint's chunk enriches its own titles before answering, within what
 * is left of its budget, and queues the rest. Never fails the sync: titles stay unenriched and the
 * backlog flag brings them back.
 */
async function enrichAfterChunk(
  env: Env,
  db: Database,
  chunk: Chunk,
  options: SyncOptions,
  result: SyncResult,
  complete: boolean,
  keysRead: ReturnType<typeof readSyncKeys>,
): Promise<void> {
  const { userId } = chunk;
  const touched = { movies: [...chunk.touched.movies], shows: [...chunk.touched.shows] };
  const touchedAny = touched.movies.length > 0 || touched.shows.length > 0;
  const backlog = (chunk.state?.tmdbBacklog ?? 0) > 0;
  if (!touchedAny && !(backlog && options.background && complete)) return;
  const now = chunk.now();
  try {
    const { tmdbKey } = await keysRead;
    if (!tmdbKey) {
      // Nothing can be fetched now; a TMDB key stored later finds the work through the flag.
      if (touchedAny) await runBatch(env.DB, [markTmdbBacklog(userId)]);
      return;
    }
    if (options.background) {
      await requestEnrichment(env, userId, { ...touched, backlog: !touchedAny }, now);
      return;
    }
    const budget = options.subrequestBudget ?? subrequestBudget(env);
    const spent = chunk.traktRequests + limiterRoundTrips(chunk.traktRequests);
    const enrichment = await enrichUser(env, db, userId, tmdbKey, {
      targets: { ...touched, backlog: false },
      budget: upstreamCallsWithin(budget - SUBREQUEST_RESERVE - spent),
      now,
    });
    result.enrichment = enrichment.result;
    const left = enrichment.backlog || backlog;
    await writeLastResult(db, userId, JSON.stringify(result), left);
    // New posters, runtimes and genres change what the reads return (and the stats' minutes and genres).
    if (enrichment.result.calls > 0)
      await runBatch(env.DB, tmdbDataWritten(userId, enrichment.fetched, { sweep: false, now: chunk.now() }));
    if (left) await requestEnrichment(env, userId, { movies: [], shows: [], backlog: true }, chunk.now());
  } catch (error) {
    log.warn('tmdb_enrichment_failed', { user_id: userId, ...describeError(error) });
    await runBatch(env.DB, [markTmdbBacklog(userId)]).catch(() => undefined);
  }
}

function parseResult(lastResult: string | null | undefined): SyncResult | undefined {
  try {
    return lastResult ? (JSON.parse(lastResult) as SyncResult) : undefined;
  } catch {
    return undefined;
  }
}
