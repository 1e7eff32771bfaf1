/**
 * @module
 * "Sync now", as every fetch button runs it: one chunk of the user's sync inline (a larger sync continues
 * through the queue), then the TMDB work for what it touched, inline within the invocation's budget
 * (the rest is queued). Shared by the API's `fetch-latest-*` (./routes.ts) and NowPlaying's sync buttons
 * (src/nowplaying/library.routes.ts), so both run the same steps.
 */
import { runSync, type SyncKind, type SyncOutcome } from '../sync/service';
import { enrichAfterSync } from '../tmdb/runner';

export async function syncNow(
  env: Env,
  userId: number,
  kinds: SyncKind[],
  waitUntil: (promise: Promise<unknown>) => void,
): Promise<SyncOutcome> {
  const outcome = await runSync(env, userId, { kinds, waitUntil });
  await enrichAfterSync(env, outcome, { background: false });
  return outcome;
}
