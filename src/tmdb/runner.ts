/**
 * @module
 * The one enrichment runner: every TMDB enrichment of a user's library goes through here, whether a
 * fetch endpoint runs it inline before answering or the `trakt-enrich` queue consumer runs it in the
 * background (src/jobs/enrichment.ts only settles the message). It owns the whole flow:
 *
 * 1. the user's enrichment lease (`sync_state.enrich_lease_until`, through src/sync/state.ts): one run
 *    per user at a time, so two runs never fetch the same titles;
 * 2. the run itself (./enrich.ts) within a TMDB call budget;
 * 3. the count: the titles whose TMDB data is settled move their plays to it in the stats, under the
 *    user's sync lease (./recount.ts; when a sync holds it, they wait in the walk's state for the next run);
 * 4. the result, in one statement with the lease release: the figures in `last_result.enrichment`, the
 *    backlog flag, the walk's position (`enrich_cursor`, ./walk.ts) and `enriched_at`;
 * 5. the continuation: what is left goes back on the queue (`requestEnrichment`).
 *
 * The two modes differ only where their callers differ:
 * - `inline` (a fetch endpoint): the titles its sync chunk touched, within what is left of the
 *   invocation's budget; never the backlog, never the sweep (it answers a waiting client). A queued
 *   run holding the lease is waited for a few seconds; what is left, and a lease still busy after
 *   that, hand the work to the queue.
 * - `queued` (the consumer): the titles the message names, plus the next stretch of the walk over the
 *   library when the message or the user's flag says there is a backlog (./enrich.ts). It continues itself
 *   only while it makes progress, so a title TMDB keeps failing waits for a later walk instead of looping.
 *
 * Never throws for TMDB's sake: a failed run keeps the work behind the backlog flag.
 */
import { backgroundBudget, type RowCost } from '../budget/budget';
import { SUBREQUEST_RESERVE, subrequestBudget } from '../config';
import { keyRing } from '../crypto/envelope';
import { database, isoNow, runBatch } from '../db/client';
import { describeError, log } from '../observability/log';
import { limiterRoundTrips, upstreamCallsWithin } from '../pacing/gate';
import { deferralDelaySeconds } from '../pacing/retry-after';
import { historyWritten } from '../readmodel/write-hooks';
import type { SyncOutcome } from '../sync/service';
import {
  acquireEnrichLease,
  finishEnrichment,
  hasSyncState,
  markTmdbBacklog,
  readEnrichmentStart,
  recordEnrichmentSkipped,
} from '../sync/state';
import { readApiKeys } from '../users/api-keys';
import { type TmdbKey, tmdbKeyOf, UNREADABLE_TMDB_KEY } from './client';
import { type EnrichmentOutcome, type EnrichTargets, enrichUser } from './enrich';
import { countSettled, mergeSettled, NOTHING_SETTLED, type Settled, settledCount } from './recount';
import { type EnrichState, parseEnrichState } from './walk';

/** Ids per kind one message names; a bigger chunk sends `walk` instead (Queues' messages are ≤ 128 KB). */
export const MAX_IDS_PER_KIND = 2_000;
/** A run whose titles could not be counted (a sync held the lease) comes back after this. */
export const COUNT_RETRY_SECONDS = 30;
/** Settled titles counted into the stats together (one recount's buckets instead of one per run). */
export const COUNT_BATCH = 1_000;

/**
 * The most D1 rows one TMDB call of a run costs (its cache row, the title's walk and count), and a run besides
 * its calls (a count of up to COUNT_BATCH titles reads their plays): the daily budget sizes runs with them.
 */
export const ENRICH_CALL_ROWS: RowCost = { rowsRead: 150, rowsWritten: 10 };
export const ENRICH_RUN_ROWS: RowCost = { rowsRead: 30_000, rowsWritten: 4_000 };
/** A fetch endpoint's inline enrichment when background work is paused for the day: a few titles at most. */
export const INTERACTIVE_CALLS_WHEN_PAUSED = 8;

/** One enrichment run for one user: `{user_id, movies?, shows?, backlog?, walk?, enqueued_at, deferrals?}`. */
export type EnrichMessage = {
  user_id: number;
  enqueued_at: string;
  movies?: number[];
  shows?: number[];
  /** Work on the user's backlog (continue the walk over the library, or start one that is due). */
  backlog?: boolean;
  /** Titles were stored that no message names (more than MAX_IDS_PER_KIND): a walk is due now. */
  walk?: boolean;
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
 * throws: when the send fails, the backlog flag is set (with a walk due), so the next background sync asks again.
 */
export async function requestEnrichment(
  env: Env,
  userId: number,
  targets: EnrichTargets,
  now: number,
  options: { delaySeconds?: number } = {},
) {
  if (!targets.backlog && targets.movies.length === 0 && targets.shows.length === 0) return;
  const tooMany = targets.movies.length > MAX_IDS_PER_KIND || targets.shows.length > MAX_IDS_PER_KIND;
  const body: EnrichMessage = { user_id: userId, enqueued_at: isoNow(now) };
  if (tooMany || targets.backlog) body.backlog = true;
  if (tooMany) body.walk = true;
  if (!tooMany && targets.movies.length > 0) body.movies = targets.movies;
  if (!tooMany && targets.shows.length > 0) body.shows = targets.shows;
  try {
    await env.ENRICH_QUEUE.send(body, {
      contentType: 'json',
      ...(options.delaySeconds ? { delaySeconds: options.delaySeconds } : {}),
    });
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
  /** A walk over the library is due now (the message's `walk`). */
  walk?: boolean;
  /** TMDB calls this run may make (retries included). */
  budget: number;
  /** The user's TMDB key when the caller already read it (inline); a queued run reads it itself. */
  tmdbKey?: TmdbKey;
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

/** What the walk's state keeps of titles settled but not counted yet (a sync held the lease). */
type StoredState = EnrichState & { count?: Settled };

function waitingToBeCounted(cursor: string | null | undefined): Settled {
  try {
    const count = cursor ? (JSON.parse(cursor) as StoredState).count : undefined;
    return count && Array.isArray(count.movies) ? count : NOTHING_SETTLED;
  } catch {
    return NOTHING_SETTLED;
  }
}

/** One run under the user's lease (see the module comment). */
export async function runEnrichment(env: Env, userId: number, options: RunOptions): Promise<EnrichmentRun> {
  const db = database(env.DB);
  const { mode, now } = options;
  if (!(await takeLease(db, userId, options))) {
    return (await hasSyncState(db, userId)) ? { status: 'busy' } : { status: 'no_user' };
  }
  try {
    const start = await readEnrichmentStart(db, userId);
    let state: EnrichState = parseEnrichState(start?.enrichCursor);
    const carried = waitingToBeCounted(start?.enrichCursor);
    if (options.walk) state = { ...state, due: true, after: undefined };
    const flagged = (start?.tmdbBacklog ?? 0) > 0;
    const targets =
      mode === 'queued' ? { ...options.targets, backlog: options.targets.backlog || flagged } : options.targets;
    const tmdbKey = mode === 'inline' ? options.tmdbKey : await readTmdbKey(env, userId);
    const outcome = await enrichUser(env, db, userId, tmdbKey, {
      targets,
      budget: options.budget,
      now: now(),
      state,
    });
    // Settled titles are counted into the stats in bulk: when enough have gathered, when the backlog's chain
    // of runs ends, and always inline (a fetch shows its own titles' minutes at once). Until then they wait
    // in the walk's state (a few rows written per count instead of per run).
    const settled = mergeSettled(carried, outcome.settled);
    const chainEnds =
      outcome.state.walk === null && outcome.leftover.movies.length + outcome.leftover.shows.length === 0;
    const flush = mode === 'inline' || chainEnds || settledCount(settled) >= COUNT_BATCH;
    const counted = flush ? await countSettled(env.DB, db, userId, settled, now()) : 'deferred';
    const waiting = counted === 'counted' ? NOTHING_SETTLED : settled;
    // A run that did not look at the backlog cannot tell it is gone.
    const backlog = outcome.backlog || (!targets.backlog && flagged) || settledCount(waiting) > 0;
    const { titles, seasons, lookups } = outcome.result;
    const progressed = titles + seasons + lookups + settledCount(outcome.settled) > 0;
    const cursor: StoredState = { ...outcome.state, ...(settledCount(waiting) > 0 ? { count: waiting } : {}) };
    await runBatch(env.DB, [
      finishEnrichment(userId, backlog, outcome.result, { cursor: JSON.stringify(cursor), now: now() }),
      // New posters change what the reads return even before their titles are counted.
      ...(outcome.result.calls > 0 && counted !== 'counted' ? historyWritten(userId, now()) : []),
    ]);
    // The queue takes what is left: named titles by name, the walk as a backlog run, titles waiting to be
    // counted a little later. A queued run continues while it makes progress (after TMDB's Retry-After when
    // it was refused for rate: a fresh message, so a long backfill never runs out of deferrals); a run that
    // made none is the consumer's to defer or retry.
    const left = outcome.leftover;
    const namedLeft = left.movies.length + left.shows.length > 0;
    const busy = counted === 'busy';
    const more = outcome.state.walk !== null || namedLeft || busy;
    const continues = more && (mode === 'inline' || progressed || busy);
    if (continues) {
      const delaySeconds =
        outcome.retryAfter !== undefined
          ? deferralDelaySeconds(outcome.retryAfter, Math.random())
          : busy && !namedLeft && outcome.state.walk === null
            ? COUNT_RETRY_SECONDS
            : undefined;
      await requestEnrichment(
        env,
        userId,
        { movies: left.movies, shows: left.shows, backlog: outcome.state.walk !== null || busy },
        now(),
        { delaySeconds },
      );
    }
    return { status: 'done', outcome, continues };
  } catch (error) {
    log.warn('tmdb_enrichment_failed', { user_id: userId, ...describeError(error) });
    // Keep the work findable and free the lease, whatever happens next (one statement, not a batch).
    await db.run(finishEnrichment(userId, true)).catch(() => undefined);
    await db.run(markTmdbBacklog(userId)).catch(() => undefined);
    return { status: 'failed' };
  }
}

/**
 * TMDB work after a sync chunk (the fetch endpoints and the sync queue consumer call it with the
 * chunk's outcome). A background chunk only queues it: its subrequests are for Trakt, and the
 * enrichment queue's low concurrency keeps a big backlog from starving syncs; after a no-op it asks
 * for a backlog run when the library still waits. A fetch endpoint's chunk enriches its own titles
 * inline before answering, within what is left of the invocation's budget, and queues the rest.
 * Without a TMDB key nothing can be fetched: the backlog flag (and a walk due) finds the work once a
 * key is stored. A stored key that cannot be opened (its encryption key is gone) is said as such
 * (`tmdb_key_unreadable`).
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
    // Interactive work keeps working when background work is paused for the day, on a few titles only.
    const d1 = await backgroundBudget(env, now());
    const calls = upstreamCallsWithin(budget - SUBREQUEST_RESERVE - spent);
    const run = await runEnrichment(env, userId, {
      mode: 'inline',
      targets: { ...touched, backlog: false },
      budget:
        d1.fits(ENRICH_CALL_ROWS, ENRICH_RUN_ROWS) >= calls ? calls : Math.min(calls, INTERACTIVE_CALLS_WHEN_PAUSED),
      tmdbKey,
      now,
    });
    // A queued run holds the lease: it takes these titles once it is done (the message waits for the lease).
    if (run.status === 'busy') await requestEnrichment(env, userId, { ...touched, backlog: false }, now());
  } catch (error) {
    log.warn('tmdb_enrichment_failed', { user_id: userId, ...describeError(error) });
    await runBatch(env.DB, [markTmdbBacklog(userId)]).catch(() => undefined);
  }
}
