/**
 * @module
 * "Sync now", as every fetch button runs it: one chunk of the user's sync inline (a larger sync continues
 * through the queue), then the TMDB work for what it touched, inline within the invocation's budget
 * (the rest is queued). Shared by the API's `fetch-latest-*` (./routes.ts) and NowPlaying's sync buttons
 * (src/nowplaying/library.routes.ts), so both run the same steps.
 *
 * A request that finds the user's sync lease held (the other kind's sync continuing in the background, a
 * queued chunk) is never dropped: it is recorded (`sync_state.requested_kinds`) and runs when the lease
 * frees (issue 25); the answer is then `undefined` and the caller says so (202 with the state). The chunk
 * takes the pages the daily D1 budget leaves, at least one: a manual fetch of a small delta keeps working
 * while background work is paused for the day.
 */
import { database } from '../db/client';
import { ApiError } from '../http/errors';
import { interactivePagesPerRun, runSync, type SyncKind, type SyncOutcome } from '../sync/service';
import { recordSyncRequest } from '../sync/state';
import { enrichAfterSync } from '../tmdb/runner';

/** The chunk's outcome, or undefined when the sync was recorded to run once the sync in progress ends. */
export async function syncNow(
  env: Env,
  userId: number,
  kinds: SyncKind[],
  waitUntil: (promise: Promise<unknown>) => void,
): Promise<SyncOutcome | undefined> {
  for (let attempt = 0; ; attempt++) {
    let outcome: SyncOutcome;
    try {
      outcome = await runSync(env, userId, {
        kinds,
        waitUntil,
        pagesPerRun: await interactivePagesPerRun(env, Date.now()),
      });
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'sync_in_progress') || attempt > 0) throw error;
      // Recorded: it runs when the lease frees. Not recorded: the lease just freed, so try once more.
      if (await recordSyncRequest(database(env.DB), userId, kinds, Date.now())) return undefined;
      continue;
    }
    await enrichAfterSync(env, outcome, { background: false });
    return outcome;
  }
}
