/**
 * @module
 * The `trakt-enrich` queue consumer: one message is one enrichment run for one user
 * (`EnrichMessage`, src/tmdb/runner.ts, which also does the run, its lease, result and continuation).
 * This module only settles the message. wrangler.toml gives the consumer a low `max_concurrency`, and
 * every TMDB call also waits for the app-wide TMDB limiter (pacing/gate.ts), so a library's TMDB
 * backlog never takes a sync's subrequests or a sync consumer's slot.
 *
 * - A message naming titles that finds the user's lease taken is deferred; a backlog-only one is
 *   dropped (the running run carries on with the backlog itself).
 * - Refused for rate (TMDB's 429, or no limiter slot soon): deferred by Retry-After plus jitter,
 *   no retry spent (jobs/deferral.ts).
 * - A failure leaves the backlog flag set (so the user's next background sync asks again), then
 *   retries the counted way. After max_retries the message is dropped: the flag keeps the work, and
 *   enrichment is best effort, so there is no dead-letter queue.
 */
import { backgroundBudget, PAUSED_REASON } from '../budget/budget';
import { database } from '../db/client';
import { describeError, log } from '../observability/log';
import { pauseBackgroundWork } from '../sync/pause';
import { markTmdbBacklog } from '../sync/state';
import {
  ENRICH_CALL_ROWS,
  ENRICH_RUN_ROWS,
  enrichmentCallBudget,
  isEnrichMessage,
  runEnrichment,
} from '../tmdb/runner';
import { deferMessage, retryDelaySeconds } from './deferral';

export const ENRICH_QUEUE_NAME = 'trakt-enrich';
/** When another run holds the user's lease, a message naming titles comes back after this. */
export const LEASE_BUSY_DELAY_SECONDS = 60;

export type EnrichOutcome =
  | 'enriched'
  | 'paused'
  | 'continues'
  | 'deferred'
  | 'skipped_in_progress'
  | 'skipped_no_user'
  | 'retry'
  | 'invalid';

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
  const named = (body.movies?.length ?? 0) + (body.shows?.length ?? 0) > 0;
  let run: Awaited<ReturnType<typeof runEnrichment>>;
  try {
    // The daily D1 budget: stop before it. The titles stay behind the backlog flag (a walk finds them), the
    // user's next background sync is due at 00:00 UTC and asks for the run again; no retry is spent.
    const budget = await backgroundBudget(env, now());
    const calls = budget.fits(ENRICH_CALL_ROWS, ENRICH_RUN_ROWS);
    if (calls < 1) {
      await pauseBackgroundWork(env, userId, budget.resetsAt, PAUSED_REASON, [markTmdbBacklog(userId)]);
      message.ack();
      return 'paused';
    }
    run = await runEnrichment(env, userId, {
      mode: 'queued',
      targets: { movies: body.movies ?? [], shows: body.shows ?? [], backlog: body.backlog === true },
      walk: body.walk === true,
      budget: Math.min(enrichmentCallBudget(env), calls),
      now,
    });
  } catch (error) {
    // The lease itself could not be taken: keep the work findable.
    log.warn('tmdb_enrichment_failed', { user_id: userId, ...describeError(error) });
    await database(env.DB)
      .run(markTmdbBacklog(userId))
      .catch(() => undefined);
    run = { status: 'failed' };
  }
  switch (run.status) {
    case 'no_user':
      message.ack(); // the account is gone (or never synced): nothing to enrich
      return 'skipped_no_user';
    case 'busy':
      if (named && (await deferMessage(env.ENRICH_QUEUE, message, LEASE_BUSY_DELAY_SECONDS))) return 'deferred';
      message.ack(); // backlog only: the run holding the lease continues the backlog itself
      return 'skipped_in_progress';
    case 'failed':
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      return 'retry';
    case 'done': {
      const { retryAfter } = run.outcome;
      // A run that made progress queued its own continuation (after Retry-After when refused for rate).
      if (retryAfter !== undefined && !run.continues) {
        if (await deferMessage(env.ENRICH_QUEUE, message, retryAfter)) return 'deferred';
        message.retry({ delaySeconds: retryAfter });
        return 'retry';
      }
      message.ack();
      return run.continues ? 'continues' : 'enriched';
    }
  }
}
