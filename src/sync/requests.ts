/**
 * @module
 * Requested syncs are never dropped (issue 25):
 * - A new connection (OAuth callback, device flow) that has never completed a sync is queued at once,
 *   instead of waiting for its phase of the cron's fan-out (up to 15 minutes); the queue consumer and the
 *   app-wide limiter pace it like any other sync.
 * - A sync of one kind requested while the user's lease is held (by the other kind's chunk, a recount, a
 *   history deletion) is recorded on the user's row (`sync_state.requested_kinds`, src/sync/state.ts) and
 *   answered with 202; whoever releases the lease hands the recorded kinds to the queue in the same batch
 *   (src/sync/service.ts), or right after its release (`handOffRequests`), so the request runs as soon as
 *   the lease frees, with no further request from the user.
 */
import { database, isoNow, runBatch } from '../db/client';
import { describeError, log } from '../observability/log';
import { readSyncState, requestedKindsOf, type SyncKind, takeRequestedKinds } from './state';

/** A queued sync of one user: the cron's fan-out, a continuation (with `expect`), a request or a new connection. */
export type SyncRequestMessage = { user_id: number; enqueued_at: string; kinds?: SyncKind[] };

/** Queues a sync of `kinds` for the user (never throws: the cron's next claim covers a failed send). */
export async function enqueueSync(env: Env, userId: number, kinds: readonly SyncKind[], now: number): Promise<void> {
  if (kinds.length === 0) return;
  const body: SyncRequestMessage = { user_id: userId, enqueued_at: isoNow(now), kinds: [...kinds] };
  try {
    await env.SYNC_QUEUE.send(body, { contentType: 'json' });
  } catch (error) {
    log.error('sync_request_enqueue_failed', { user_id: userId, ...describeError(error) });
  }
}

/**
 * After a lease holder released the lease in a statement of its own: hands the kinds requested meanwhile to
 * the queue (one batch of two statements; nothing written when there were none).
 */
export async function handOffRequests(env: Env, userId: number, now: number): Promise<void> {
  try {
    const [read] = await runBatch(env.DB, takeRequestedKinds(userId, { unlessHeldAt: now }));
    await enqueueSync(env, userId, requestedKindsOf(read), now);
  } catch (error) {
    // The requests stay recorded: the next holder's release hands them over.
    log.warn('sync_request_handoff_failed', { user_id: userId, ...describeError(error) });
  }
}

/**
 * A connection was just made (OAuth callback or device flow): when the user has never completed a sync of
 * both kinds, their sync is queued now. Never throws (the cron's fan-out still finds the connection).
 */
export async function syncNewConnection(env: Env, userId: number, now: number): Promise<void> {
  try {
    const state = await readSyncState(database(env.DB), userId);
    if (state?.moviesSyncedAt && state.showsSyncedAt) return;
    await enqueueSync(env, userId, ['movies', 'shows'], now);
  } catch (error) {
    log.warn('sync_new_connection_failed', { user_id: userId, ...describeError(error) });
  }
}
