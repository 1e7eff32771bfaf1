/**
 * @module
 * The one enrichment runner: every TMDB enrichment of a user's library goes through here, whether a
 * fetch endpoint runs it inline before answering or the `trakt-enrich` queue consumer runs it in the
 * background (src/jobs/enrichment.ts only settles the message). It owns the whole flow:
 *
 * 1. the user's enrichment lease (`sync_state.enrich_lease_until`, through src/sync/state.ts): one run
 *    per user at a time, so two runs never fetch the same titles;
 * 2. the run itself (./enrich.ts) within a TMDB call budget;
 * 3. the result, in ONE batch with the lease release: the figures in `last_result.enrichment`, the
 *    backlog flag, and the write hooks (src/readmodel/write-hooks.ts: the fetched titles' plays are
 *    counted again into the stats, and the data version moves);
 * 4. the continuation: what is left goes back on the queue (`requestEnrichment`).
 *
 * The two modes differ only where their callers differ:
 * - `inline` (a fetch endpoint): the titles its sync chunk touched, within what is left of the
 *   invocation's budget; never the backlog, never the sweep (it answers a waiting client). A queued
 *   run holding the lease is waited for a few seconds; what is left, and a lease still busy after
 *   that, hand the work to the queue.
 * - `queued` (the consumer): the titles the message names, plus a slice of the backlog when the
 *   message or the user's flag says there is one. It continues itself only while it makes progress,
 *   so a title TMDB keeps failing waits for the next sync's request instead of looping.
 *
 * Never throws for TMDB's sake: a failed run keeps the work behind the backlog flag.
 */
import { SUBREQUEST_RESERVE, subrequestBudget } from '../config';
import { keyRing } from '../crypto/envelope';
import { database, isoNow, runBatch } from '../db/client';
import { describeError, log } from '../observability/log';
import { limiterRoundTrips, upstreamCallsWithin } from '../pacing/gate';
import { tmdbDataWritten } from '../readmodel/write-hooks';
import type { SyncOutcome } from '../sync/service';
import {
  acquireEnrichLease,
  finishEnrichment,
  hasSyncState,
  markTmdbBacklog,
  readSyncState,
  recordEnrichmentSkipped,
} from '../sync/state';
import { readApiKeys } from '../users/api-keys';
import { type TmdbKey, tmdbKeyOf, UNREADABLE_TMDB_KEY } from './client';
import { type EnrichmentOutcome, type EnrichTargets, enrichUser } from './enrich';

/** Ids per kind one message names; a bigger chunk sends `backlog` instead (Queues' messages are ≤ 128 KB). */
export const MAX_IDS_PER_KIND = 2_000;

/** One enrichment run for one user: `{user_id, movies?, shows?, backlog?, enqueued_at, deferrals?}`. */
export type EnrichMessage = {
  user_id: number;
  enqueued_at: string;
  movies?: number[];
  shows?: number[];
  backlog?: boolean;
  /** How often the message was put back for a rate limit or a busy lease (jobs/deferral.ts). */
  deferrals?: number;
};

const ids = (value: unknown): value is number[] =>
  Array.isArray(value) && value.length <= MAX_IDS_PER_KIND && value.every((id) => Number.isSafeInteger(id));

export function isEnrichMessage(body: unknown): body is EnrichMessage {
  if (typeof body !== 'object' || body === null) return false;
  const message = body as EnrichMessage;
  return (
    Number.isSafeInteger(message.user_id) &&
    (message.movies === undefined || ids(message.movies)) &&
    (message.shows === undefined || ids(message.shows))
  );
}

/** The TMDB calls one queued run may make: SYNC_SUBREQUEST_BUDGET less the limiter's round trips. */
export function enrichmentCallBudget(env: Env): number {
  return upstreamCallsWithin(subrequestBudget(env) - SUBREQUEST_RESERVE);
}

/**
 * Queues an enrichment run for the titles a sync chunk touched (and/or the user's backlog). Never
 * throws: when the send fails, the backlog flag is set, so the next background sync asks again.
 */
export async function requestEnrichment(env: Env, userId: number, targets: EnrichTargets, now: number) {
  if (!targets.backlog && targets.movies.length === 0 && targets.shows.length === 0) return;
  const tooMany = targets.movies.length > MAX_IDS_PER_KIND || targets.shows.length > MAX_IDS_PER_KIND;
  const body: EnrichMessage = { user_id: userId, enqueued_at: isoNow(now) };
  if (tooMany || targets.backlog) body.backlog = true;
  if (!tooMany && targets.movies.length > 0) body.movies = targets.movies;
  if (!tooMany && targets.shows.length > 0) body.shows = targets.shows;
  try {
    await env.ENRICH_QUEUE.send(body, { contentType: 'json' });
  } catch (error) {
    log.error('enrichment_enqueue_failed', { user_id: userId, ...describeError(error) });
    await runBatch(env.DB, [markTmdbBacklog(userId)]).catch(() => undefined);
  }
}

export type EnrichmentRun =
  /** Another run holds the user's lease. */
  | { status: 'busy' }
  /** No sync state: the account is gone, or never synced (nothing to enrich). */
  | { status: 'no_user' }
  /** The run finished (possibly early, refused for rate: `outcome.retryAfter`); `continues`: it queued more. */
  | { status: 'done'; outcome: EnrichmentOutcome; continues: boolean }
  /** Something failed; the backlog flag keeps the work and the lease is free. */
  | { status: 'failed' };

export type RunOptions = {
  mode: 'inline' | 'queued';
  targets: EnrichTargets;
  /** TMDB calls this run may make (retries included). */
  budget: number;
  /** The user's TMDB key when the caller already read it (inline); a queued run reads it itself. */
  tmdbKey?: TmdbKey;
  /** Whether the library was waiting for TMDB before this run (inline: the chunk read it). */
  backlogBefore?: boolean;
  now: () => number;
  /** Inline: how long to wait for a queued run to free the lease (default INLINE_LEASE_WAITS_MS). */
  leaseWaitsMs?: readonly number[];
};

/**
 * When a fetch endpoint's inline run finds a queued run holding the user's lease, it tries again after
 * each of these pauses (7.75 s in all, 6 D1 statements at most) before handing its titles to the queue:
 * a queued run spends at most one invocation's TMDB budget, so it usually ends within them, and the
 * caller's answer then carries its own titles' artwork.
 */
export const INLINE_LEASE_WAITS_MS = [250, 500, 1_000, 2_000, 4_000] as const;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Takes the user's enrichment lease; an inline run waits for a queued one to end (see INLINE_LEASE_WAITS_MS). */
async function takeLease(db: ReturnType<typeof database>, userId: number, options: RunOptions): Promise<boolean> {
  const waits = options.mode === 'inline' ? (options.leaseWaitsMs ?? INLINE_LEASE_WAITS_MS) : [];
  for (let attempt = 0; ; attempt++) {
    if (await acquireEnrichLease(db, userId, options.now())) return true;
    const wait = waits[attempt];
    if (wait === undefined) return false;
    await sleep(wait);
  }
}

async function readTmdbKey(env: Env, userId: number): Promise<TmdbKey> {
  const keys = await readApiKeys(database(env.DB), await keyRing(env), userId, ['tmdb'], ['tmdb']);
  return tmdbKeyOf(env, keys);
}

/** One run under the user's lease (see the module comment). */
export async function runEnrichment(env: Env, userId: number, options: RunOptions): Promise<EnrichmentRun> {
  const db = database(env.DB);
  const { mode, now } = options;
  if (!(await takeLease(db, userId, options))) {
    return (await hasSyncState(db, userId)) ? { status: 'busy' } : { status: 'no_user' };
  }
  try {
    let { targets } = options;
    let backlogBefore = options.backlogBefore ?? false;
    if (mode === 'queued') {
      backlogBefore = ((await readSyncState(db, userId))?.tmdbBacklog ?? 0) > 0;
      targets = { ...targets, backlog: targets.backlog || backlogBefore };
    }
    const tmdbKey = mode === 'inline' ? options.tmdbKey : await readTmdbKey(env, userId);
    const outcome = await enrichUser(env, db, userId, tmdbKey, { targets, budget: options.budget, now: now() });
    // A run that did not look at the backlog cannot tell it is gone.
    const backlog = outcome.backlog || (!targets.backlog && backlogBefore);
    // Once the backlog is done, a queued run also sweeps plays whose titles another user's run cached meanwhile.
    const sweep = mode === 'queued' && !backlog;
    const { titles, seasons, lookups } = outcome.result;
    const progressed = titles + seasons + lookups > 0;
    // New posters, runtimes and genres change what the reads return: the fetched titles' plays are
    // counted again into the stats, and the data version moves, with the result and the lease release.
    await runBatch(env.DB, [
      finishEnrichment(userId, backlog, outcome.result),
      ...(outcome.result.calls > 0 || sweep ? tmdbDataWritten(userId, outcome.fetched, { sweep, now: now() }) : []),
    ]);
    // The queue takes what is left: an inline run always hands it over; a queued run only while it makes
    // progress, and not when TMDB refused it for rate (its own message comes back after Retry-After).
    const continues = backlog && (mode === 'inline' || (outcome.retryAfter === undefined && progressed));
    if (continues) await requestEnrichment(env, userId, { movies: [], shows: [], backlog: true }, now());
    return { status: 'done', outcome, continues };
  } catch (error) {
    log.warn('tmdb_enrichment_failed', { user_id: userId, ...describeError(error) });
    // Keep the work findable and free the lease, whatever happens next (one statement, not a batch).
    await db.run(finishEnrichment(userId, true)).catch(() => undefined);
    return { status: 'failed' };
  }
}

/**
 * TMDB work after a sync chunk (the fetch endpoints and the sync queue consumer call it with the
 * chunk's outcome). A background chunk only queues it: its subrequests are for Trakt, and the
 * enrichment queue's low concurrency keeps a big backlog from starving syncs; after a no-op it asks
 * for a backlog run when the library still waits. A fetch endpoint's chunk enriches its own titles
 * inline before answering, within what is left of the invocation's budget, and queues the rest.
 * Without a TMDB key nothing can be fetched: the backlog flag finds the work once a key is stored. A
 * stored key that cannot be opened (its encryption key is gone) is said as such (`tmdb_key_unreadable`).
 */
export async function enrichAfterSync(
  env: Env,
  outcome: SyncOutcome,
  options: { background: boolean; subrequestBudget?: number; now?: () => number },
): Promise<void> {
  const { userId, touched } = outcome;
  const now = options.now ?? Date.now;
  const touchedAny = touched.movies.length > 0 || touched.shows.length > 0;
  if (outcome.stale || (!touchedAny && !(outcome.tmdbBacklog && options.background && outcome.complete))) return;
  try {
    const tmdbKey = tmdbKeyOf(env, await outcome.keys);
    if (tmdbKey === UNREADABLE_TMDB_KEY) {
      // Not "no key": the stored key needs an encryption key the server lost. Said in sync-status; the work waits.
      const skipped = { calls: 0, titles: 0, seasons: 0, lookups: 0, skipped: 'tmdb_key_unreadable' as const };
      await runBatch(env.DB, [recordEnrichmentSkipped(userId, skipped)]);
      return;
    }
    if (!tmdbKey) {
      if (touchedAny) await runBatch(env.DB, [markTmdbBacklog(userId)]);
      return;
    }
    if (options.background) {
      await requestEnrichment(env, userId, { ...touched, backlog: !touchedAny }, now());
      return;
    }
    const budget = options.subrequestBudget ?? subrequestBudget(env);
    const spent = outcome.traktRequests + limiterRoundTrips(outcome.traktRequests);
    const run = await runEnrichment(env, userId, {
      mode: 'inline',
      targets: { ...touched, backlog: false },
      budget: upstreamCallsWithin(budget - SUBREQUEST_RESERVE - spent),
      tmdbKey,
      backlogBefore: outcome.tmdbBacklog,
      now,
    });
    // A queued run holds the lease: it takes these titles once it is done (the message waits for the lease).
    if (run.status === 'busy') await requestEnrichment(env, userId, { ...touched, backlog: false }, now());
  } catch (error) {
    log.warn('tmdb_enrichment_failed', { user_id: userId, ...describeError(error) });
    await runBatch(env.DB, [markTmdbBacklog(userId)]).catch(() => undefined);
  }
}
