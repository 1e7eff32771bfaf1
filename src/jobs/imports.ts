/**
 * @module
 * The `trakt-import` queue consumer: one message imports one history file of an uploaded export
 * (src/import/service.ts). Settled like the other consumers:
 * - done, already done (a re-delivery), or the import ended: ack;
 * - the user's sync lease is taken (a sync chunk, or a batch import, is writing this account):
 *   deferred without spending a retry (jobs/deferral.ts);
 * - the day's D1 budget for background work cannot take a file (src/budget/budget.ts): nothing is read or
 *   written, the user's sync-status says so (`paused_until`), and the same message comes back after 00:00 UTC
 *   (sent again with a delay, at most Queues' 12 hours at a time): no retry or deferral is spent, and the
 *   import continues from its committed files;
 * - any other failure (D1, R2): retried with backoff; the last attempt (IMPORT_MAX_ATTEMPTS, which
 *   wrangler.toml's max_retries matches) marks the import failed, so it never stays "running".
 */
import { backgroundBudget, PAUSED_REASON, type RowCost } from '../budget/budget';
import { ApiError } from '../http/errors';
import {
  giveUpQueuedFile,
  IMPORT_MAX_ATTEMPTS,
  type ImportMessage,
  importQueuedFile,
  isImportMessage,
} from '../import/service';
import { describeError, log } from '../observability/log';
import { pauseBackgroundWork } from '../sync/pause';
import { SYNC_PAGE_ROWS } from '../sync/service';
import { deferMessage, MAX_QUEUE_DELAY_SECONDS, retryDelaySeconds } from './deferral';

export { IMPORT_QUEUE_NAME } from '../import/service';

export type ImportOutcome =
  | 'imported'
  | 'finished'
  | 'stale'
  | 'failed'
  | 'deferred'
  | 'paused'
  | 'retry'
  | 'gave_up'
  | 'invalid';

/** The most D1 rows one history file (at most 1,000 plays, four pages of a sync's history) costs. */
export const IMPORT_FILE_ROWS: RowCost = {
  rowsRead: 4 * SYNC_PAGE_ROWS.rowsRead,
  rowsWritten: 4 * SYNC_PAGE_ROWS.rowsWritten,
};

/**
 * The day's budget cannot take this file: the user's background work is paused until 00:00 UTC and the
 * same message (its deferral count unchanged) is sent again for then. False when the send fails.
 */
async function pauseForBudget(env: Env, message: Message<unknown>, body: ImportMessage, resetsAt: string, now: number) {
  const delaySeconds = Math.min(
    MAX_QUEUE_DELAY_SECONDS,
    Math.max(1, Math.ceil((Date.parse(resetsAt) - now) / 1000) + 60),
  );
  try {
    await env.IMPORT_QUEUE.send(body, { contentType: 'json', delaySeconds });
  } catch {
    return false;
  }
  await pauseBackgroundWork(env, body.user_id, resetsAt, PAUSED_REASON).catch(() => undefined);
  message.ack();
  return true;
}

export async function handleImportMessage(env: Env, message: Message<unknown>): Promise<ImportOutcome> {
  const body = message.body;
  if (!isImportMessage(body)) {
    message.ack(); // malformed: retrying cannot help
    return 'invalid';
  }
  try {
    const now = Date.now();
    const budget = await backgroundBudget(env, now);
    if (budget.fits(IMPORT_FILE_ROWS) < 1 && (await pauseForBudget(env, message, body, budget.resetsAt, now)))
      return 'paused';
    const outcome = await importQueuedFile(env, body);
    message.ack();
    return outcome;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'sync_in_progress') {
      if (await deferMessage(env.IMPORT_QUEUE, message, error.retryAfter ?? 30)) return 'deferred';
    }
    log.warn('import_file_failed', { user_id: body.user_id, attempts: message.attempts, ...describeError(error) });
    if (message.attempts >= IMPORT_MAX_ATTEMPTS) {
      const reason = error instanceof ApiError ? error.message : 'a storage error';
      await giveUpQueuedFile(env, body, reason).catch(() => undefined);
      message.ack();
      return 'gave_up';
    }
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    return 'retry';
  }
}
