/**
 * @module
 * Queue consumers. `trakt-sync`: one message = one chunk of one user's sync (movies + shows, or the
 * kinds a continuation names), under the same D1 sync lease as the fetch endpoints; an unfinished
 * sync queues its own continuation, and a continuation whose chunk already committed is dropped.
 * Every message is settled on its own, so one user's failure never affects the others in the batch.
 * `trakt-sync-dlq`: messages that exhausted their retries; the failure is recorded for the user
 * (visible in /trakt/sync-status/). `trakt-enrich`: TMDB enrichment runs (jobs/enrichment.ts).
 * After a sync chunk, the titles it touched are queued for enrichment (src/tmdb/runner.ts).
 * A `{"task": "reseal"}` message on `trakt-sync` is one step of the key rotation's re-encryption
 * (src/rotation/reseal.ts), sent by the cron, in an invocation of its own.
 * `trakt-import`: one history file of an uploaded Trakt export per message (jobs/imports.ts).
 * `webhook-deliveries` and its dead-letter queue: webhook delivery attempts (jobs/webhooks.ts).
 */
import { backgroundBudget, PAUSED_REASON } from '../budget/budget';
import { pagesPerRun } from '../config';
import { database } from '../db/client';
import { ApiError, type ErrorCode } from '../http/errors';
import { observeQueueMessage } from '../observability/hooks';
import { recordDeadLetter } from '../observability/records';
import { handleResealMessage, isResealMessage } from '../rotation/reseal';
import { pauseBackgroundWork } from '../sync/pause';
import {
  type ContinuationMessage,
  runSync,
  SYNC_CHUNK_ROWS,
  SYNC_PAGE_ROWS,
  type SyncKind,
  type SyncOptions,
} from '../sync/service';
import { recordSyncGaveUp, recordSyncRequest } from '../sync/state';
import { enrichAfterSync } from '../tmdb/runner';
import { deferMessage, retryDelaySeconds } from './deferral';
import { ENRICH_QUEUE_NAME, handleEnrichMessage } from './enrichment';
import { handleImportMessage, IMPORT_QUEUE_NAME } from './imports';
import type { SyncMessage } from './scheduled';
import { handleWebhookDeadLetter, handleWebhookMessage, WEBHOOK_DLQ_NAME, WEBHOOK_QUEUE_NAME } from './webhooks';

export { retryDelaySeconds } from './deferral';

export const DEAD_LETTER_QUEUE_NAME = 'trakt-sync-dlq';

export type MessageOutcome =
  | 'synced'
  | 'paused'
  | 'continues'
  | 'skipped_stale'
  | 'skipped_in_progress'
  | 'requested'
  | 'skipped_not_connected'
  | 'skipped_encryption_key_missing'
  | 'skipped_needs_action'
  | 'deferred'
  | 'retry'
  | 'invalid';

const KINDS: readonly SyncKind[] = ['movies', 'shows'];

/** What one `trakt-sync` message runs: a background chunk, then the titles it touched queued for TMDB. */
export async function runBackgroundChunk(env: Env, userId: number, options: Omit<SyncOptions, 'background'>) {
  const outcome = await runSync(env, userId, { ...options, background: true });
  await enrichAfterSync(env, outcome, { background: true });
  return outcome;
}

/**
 * Failures a retry cannot fix: rejected client credentials (a wrong secret), a rejected app (its client id
 * answers 403), a VIP-only request (426) and an account limit (420). They are acknowledged, not retried
 * through 6 deliveries into the dead-letter queue; `last_error` and auth-status say what to do. A rejected
 * app's next background sync is a day later (src/trakt/token-policy.ts).
 */
const NEEDS_USER_ACTION: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'client_credentials_rejected',
  'trakt_app_rejected',
  'trakt_vip_required',
  'trakt_account_limit',
]);

function isSyncMessage(body: unknown): body is SyncMessage {
  return typeof body === 'object' && body !== null && Number.isSafeInteger((body as SyncMessage).user_id);
}

export async function handleSyncMessage(
  env: Env,
  message: Message<unknown>,
  waitUntil?: (p: Promise<unknown>) => void,
): Promise<MessageOutcome> {
  if (!isSyncMessage(message.body)) {
    message.ack(); // malformed: retrying cannot help
    return 'invalid';
  }
  try {
    // The daily D1 budget: stop before it (the cursor stays; the next sync is due at 00:00 UTC), no retry spent.
    const budget = await backgroundBudget(env, Date.now());
    const pages = budget.fits(SYNC_PAGE_ROWS, SYNC_CHUNK_ROWS);
    if (pages < 1) {
      await pauseBackgroundWork(env, message.body.user_id, budget.resetsAt, PAUSED_REASON);
      message.ack();
      return 'paused';
    }
    // A continuation (sent by an unfinished chunk) names its kinds and the chunk it continues.
    const continuation = message.body as Partial<ContinuationMessage>;
    const kinds = Array.isArray(continuation.kinds) ? continuation.kinds.filter((k) => KINDS.includes(k)) : [...KINDS];
    const outcome = await runBackgroundChunk(env, message.body.user_id, {
      kinds: kinds.length > 0 ? kinds : [...KINDS],
      waitUntil,
      expect: continuation.expect,
      // A chunk sized to end before the budget.
      pagesPerRun: Math.min(pagesPerRun(env), pages),
    });
    message.ack();
    return outcome.stale ? 'skipped_stale' : outcome.complete ? 'synced' : 'continues';
  } catch (error) {
    if (error instanceof ApiError) {
      if (error.code === 'sync_in_progress') {
        // Another holder runs under the lease (the other kind's chunk, a manual fetch): this message's kinds are
        // recorded and handed back to the queue when the lease frees (src/sync/requests.ts), not dropped.
        const body = message.body as Partial<ContinuationMessage>;
        const kinds = Array.isArray(body.kinds) ? body.kinds.filter((k) => KINDS.includes(k)) : [...KINDS];
        const userId = message.body.user_id;
        if (await recordSyncRequest(database(env.DB), userId, kinds.length > 0 ? kinds : [...KINDS], Date.now())) {
          message.ack();
          return 'requested';
        }
        // The lease freed meanwhile: come back in a moment, no retry spent.
        if (await deferMessage(env.SYNC_QUEUE, message, 5)) return 'deferred';
        message.retry({ delaySeconds: 5 });
        return 'retry';
      }
      if (error.code === 'not_connected' || error.code === 'reauthorization_required') {
        message.ack(); // nothing to do until the user connects again
        return 'skipped_not_connected';
      }
      if (error.code === 'encryption_key_missing') {
        // A stored secret needs a key ENCRYPTION_KEYS lost: retrying cannot help until the operator puts it
        // back (or the user saves or authorizes again). The sync recorded the error for /trakt/sync-status/.
        message.ack();
        return 'skipped_encryption_key_missing';
      }
      if (error.code !== undefined && NEEDS_USER_ACTION.has(error.code)) {
        // Retrying cannot help until the user (or Trakt) changes something; the sync recorded the error.
        message.ack();
        return 'skipped_needs_action';
      }
      // A rate limit (ours or Trakt's) is not a failure: come back later without spending a retry.
      if ((error.code === 'rate_limited' || error.code === 'user_rate_limited') && error.retryAfter !== undefined) {
        if (await deferMessage(env.SYNC_QUEUE, message, error.retryAfter)) return 'deferred';
        message.retry({ delaySeconds: error.retryAfter });
        return 'retry';
      }
    }
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    return 'retry';
  }
}

export async function handleDeadLetter(env: Env, message: Message<unknown>): Promise<void> {
  if (isSyncMessage(message.body)) {
    const userId = message.body.user_id;
    await recordSyncGaveUp(database(env.DB), userId);
    await recordDeadLetter(env.DB, userId, message.attempts, Date.now());
  }
  message.ack();
}

export async function handleQueueBatch(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const waitUntil = (p: Promise<unknown>) => ctx.waitUntil(p);
  if (batch.queue === DEAD_LETTER_QUEUE_NAME) {
    for (const message of batch.messages) {
      await handleDeadLetter(env, message);
      observeQueueMessage(batch.queue, message, 'dead_lettered');
    }
    return;
  }
  if (batch.queue === IMPORT_QUEUE_NAME) {
    for (const message of batch.messages)
      observeQueueMessage(batch.queue, message, await handleImportMessage(env, message));
    return;
  }
  if (batch.queue === WEBHOOK_QUEUE_NAME) {
    for (const message of batch.messages)
      observeQueueMessage(batch.queue, message, await handleWebhookMessage(env, message));
    return;
  }
  if (batch.queue === WEBHOOK_DLQ_NAME) {
    for (const message of batch.messages)
      observeQueueMessage(batch.queue, message, await handleWebhookDeadLetter(env, message));
    return;
  }
  if (batch.queue === ENRICH_QUEUE_NAME) {
    for (const message of batch.messages)
      observeQueueMessage(batch.queue, message, await handleEnrichMessage(env, message));
    return;
  }
  // Sequential. wrangler.toml sets max_batch_size = 1 so each sync has the invocation's whole
  // subrequest budget; a larger batch still works, its messages just share that budget.
  for (const message of batch.messages) {
    const outcome = isResealMessage(message.body)
      ? await handleResealMessage(env, message)
      : await handleSyncMessage(env, message, waitUntil);
    observeQueueMessage(batch.queue, message, outcome);
  }
}
