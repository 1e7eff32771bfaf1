/**
 * @module
 * The `trakt-import` queue consumer: one message imports one history file of an uploaded export
 * (src/import/service.ts). Settled like the other consumers:
 * - done, already done (a re-delivery), or the import ended: ack;
 * - the user's sync lease is taken (a sync chunk, or a batch import, is writing this account):
 *   deferred without spending a retry (jobs/deferral.ts);
 * - any other failure (D1, R2): retried with backoff; the last attempt (IMPORT_MAX_ATTEMPTS, which
 *   wrangler.toml's max_retries matches) marks the import failed, so it never stays "running".
 */
import { ApiError } from '../http/errors';
import { giveUpQueuedFile, IMPORT_MAX_ATTEMPTS, importQueuedFile, isImportMessage } from '../import/service';
import { describeError, log } from '../observability/log';
import { deferMessage, retryDelaySeconds } from './deferral';

export { IMPORT_QUEUE_NAME } from '../import/service';

export type ImportOutcome = 'imported' | 'finished' | 'stale' | 'failed' | 'deferred' | 'retry' | 'gave_up' | 'invalid';

export async function handleImportMessage(env: Env, message: Message<unknown>): Promise<ImportOutcome> {
  const body = message.body;
  if (!isImportMessage(body)) {
    message.ack(); // malformed: retrying cannot help
    return 'invalid';
  }
  try {
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
