/**
 * @module
 * TMDB enrichment on its own queue (`trakt-enrich`), so that a library's TMDB backlog never takes a
 * sync's subrequests or a sync consumer's slot. wrangler.toml gives the consumer a low
 * `max_concurrency`, and every TMDB call also waits for the app-wide TMDB limiter (pacing/gate.ts).
 * One message is one run for one user: `{user_id, movies?, shows?, backlog?, enqueued_at, deferrals?}`.
 *
 * - A sync chunk names the titles it touched (requestEnrichment). More than MAX_IDS_PER_KIND and
 *   the message says `backlog` instead: the backlog slice finds every unenriched title, newest first.
 * - One run per user at a time (`sync_state.enrich_lease_until`). A message naming titles that
 *   finds the lease taken is deferred; a backlog-only one is dropped (the running run carries on
 *   with the backlog itself).
 * - A run that used its budget and made progress queues its continuation (backlog only).
 * - Refused for rate (TMDB's 429, or no limiter slot soon): deferred by Retry-After plus jitter,
 *   no retry spent (jobs/deferral.ts).
 * - A failure sets the backlog flag, so the user's next background sync asks again, then retries
 *   the counted way. After max_retries the message is dropped: the flag keeps the work, and
 *   enrichment is best effort, so there is no dead-letter queue.
 */
import { SUBREQUEST_RESERVE, subrequestBudget } from '../config';
import { keyRing } from '../crypto/envelope';
import { database, isoNow, runBatch } from '../db/client';
import { tmdbDataWritten } from '../history/write-hooks';
import { describeError, log } from '../observability/log';
import { upstreamCallsWithin } from '../pacing/gate';
import { acquireEnrichLease, finishEnrichment, hasSyncState, markTmdbBacklog, readSyncState } from '../sync/state';
import { tmdbKeyOf } from '../tmdb/client';
import { type EnrichTargets, enrichUser } from '../tmdb/enrich';
import { readApiKeys } from '../users/api-keys';
import { deferMessage, retryDelaySeconds } from './deferral';

export const ENRICH_QUEUE_NAME = 'trakt-enrich';
/** Ids per kind one message names; a bigger chunk sends `backlog` instead (Queues' messages are ≤ 128 KB). */
export const MAX_IDS_PER_KIND = 2_000;
/** When another run holds the user's lease, a message naming titles comes back after this. */
export const LEASE_BUSY_DELAY_SECONDS = 60;

export type EnrichMessage = {
  user_id: number;
  enqueued_at: string;
  movies?: number[];
  shows?: number[];
  backlog?: boolean;
  /** How often the message was put back for a rate limit or a busy lease (jobs/deferral.ts). */
  deferrals?: number;
};

export type EnrichOutcome =
  | 'enriched'
  | 'continues'
  | 'deferred'
  | 'skipped_in_progress'
  | 'skipped_no_user'
  | 'retry'
  | 'invalid';

const ids = (value: unknown): value is number[] =>
  Array.isArray(value) && value.length <= MAX_IDS_PER_KIND && value.every((id) => Number.isSafeInteger(id));

function isEnrichMessage(body: unknown): body is EnrichMessage {
  if (typeof body !== 'object' || body === null) return false;
  const message = body as EnrichMessage;
  return (
    Number.isSafeInteger(message.user_id) &&
    (message.movies === undefined || ids(message.movies)) &&
    (message.shows === undefined || ids(message.shows))
  );
}

/** The TMDB calls one enrichment invocation may make: SYNC_SUBREQUEST_BUDGET less the limiter's round trips. */
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

async function readTmdbKey(env: Env, userId: number): Promise<string | undefined> {
  const keys = await readApiKeys(database(env.DB), await keyRing(env), userId, ['tmdb'], ['tmdb']);
  return tmdbKeyOf(env, keys);
}

export async function handleEnrichMessage(
  env: Env,
  message: Message<unknown>,
  now: () => number = Date.now,
): Promise<EnrichOutcome> {
  if (!isEnrichMessage(message.body)) {
    message.ack(); // malformed: retrying cannot help
    return 'invalid';
  }
  const body = message.body;
  const userId = body.user_id;
  const db = database(env.DB);
  const named = (body.movies?.length ?? 0) + (body.shows?.length ?? 0) > 0;
  let leased = false;
  try {
    if (!(await acquireEnrichLease(db, userId, now()))) {
      if (!(await hasSyncState(db, userId))) {
        message.ack(); // the account is gone (or never synced): nothing to enrich
        return 'skipped_no_user';
      }
      if (named && (await deferMessage(env.ENRICH_QUEUE, message, LEASE_BUSY_DELAY_SECONDS))) return 'deferred';
      message.ack(); // backlog only: the run holding the lease continues the backlog itself
      return 'skipped_in_progress';
    }
    leased = true;
    const state = await readSyncState(db, userId);
    const outcome = await enrichUser(env, db, userId, await readTmdbKey(env, userId), {
      targets: {
        movies: body.movies ?? [],
        shows: body.shows ?? [],
        backlog: body.backlog === true || (state?.tmdbBacklog ?? 0) > 0,
      },
      budget: enrichmentCallBudget(env),
      now: now(),
    });
    // New posters, runtimes and genres change what the reads return: the fetched titles' plays are
    // counted again into the stats (with a slice of those still waiting), and the data version moves.
    await runBatch(env.DB, [
      finishEnrichment(userId, outcome.backlog, outcome.result),
      // The sweep once the backlog is done: plays whose titles another user's run cached meanwhile.
      ...tmdbDataWritten(userId, outcome.fetched, { sweep: !outcome.backlog, now: now() }),
    ]);
    leased = false;
    if (outcome.retryAfter !== undefined) {
      if (await deferMessage(env.ENRICH_QUEUE, message, outcome.retryAfter)) return 'deferred';
      message.retry({ delaySeconds: outcome.retryAfter });
      return 'retry';
    }
    const { titles, seasons, lookups } = outcome.result;
    // Only a run that stored something continues: a title TMDB keeps failing waits for the next sync's request.
    if (outcome.backlog && titles + seasons + lookups > 0) {
      await requestEnrichment(env, userId, { movies: [], shows: [], backlog: true }, now());
      message.ack();
      return 'continues';
    }
    message.ack();
    return 'enriched';
  } catch (error) {
    log.warn('tmdb_enrichment_failed', { user_id: userId, ...describeError(error) });
    // Keep the work findable (and free the lease) whatever happens to this message.
    const keep = leased ? finishEnrichment(userId, true) : markTmdbBacklog(userId);
    await db.run(keep).catch(() => undefined);
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    return 'retry';
  }
}
