/**
 * @module
 * Key rotation that keeps data: a background re-encryption of every stored envelope that is not
 * sealed with the primary key of ENCRYPTION_KEYS (API keys and token-set journals in D1, and the KV
 * copies of those token sets), so an operator can remove an old key once `/admin/status` counts 0
 * envelopes for it (src/rotation/envelope-counts.ts).
 *
 * - Where it runs: the Cron Trigger only decides (`requestReseal`: one D1 call reading the counters and
 *   the progress). While envelopes wait and a pass can still change something, it sends one message
 *   `{"task": "reseal"}` on the `trakt-sync` queue, and the consumer runs one step (`resealStep`) in its
 *   own invocation, with its own subrequest, query and CPU allowance.
 * - Paced: one step per cron run (every 15 minutes), each bounded by SYNC_SUBREQUEST_BUDGET: 5 D1 queries,
 *   and at most two KV operations per token set (read the copy, delete it when it is sealed with an old
 *   key), so a step of the default budget (45, Workers Free) re-seals 20 token sets and 20 API keys.
 *   KV deletes happen only for copies that exist with an old key (Free allows 1,000 a day).
 * - Resumable: `reseal_progress` (src/rotation/progress.ts) keeps the last row id handled per table,
 *   written in the same D1 batch as the step's re-sealed envelopes. Rows are read by primary-key range
 *   from there, so a whole pass reads each row once. Another key list (a new primary key, a key put
 *   back) starts a new pass.
 * - No race with a refresh or a save: each envelope is replaced with a conditional write that requires
 *   the row to still hold exactly the envelope that was re-sealed (and, for a token set, the same token
 *   version), so a newer token set or a newly saved key always wins. The KV copy is deleted, never
 *   rewritten, before the journal is re-sealed; a reader that misses falls back to the journal and puts
 *   back only a set sealed with the primary key (src/trakt/tokens.ts), so no old-key copy can reappear.
 * - Envelopes that do not open (their key is missing from ENCRYPTION_KEYS, or they were tampered with)
 *   are skipped and logged (`reseal_skipped`), never dropped; a complete pass counts them, and the cron
 *   stops asking for passes while nothing else is left (until a key is put back or new work appears).
 */
import { subrequestBudget } from '../config';
import { EnvelopeError, type KeyRing, keyRing } from '../crypto/envelope';
import { type Database, database, isoNow } from '../db/client';
import { describeError, log } from '../observability/log';
import { connectionsToReseal, replaceSealedTokens, type SealedConnection } from '../trakt/connections';
import { dropStaleTokenCopy, resealTokenSet } from '../trakt/tokens';
import { apiKeysToReseal, replaceApiKeyEnvelope, resealApiKey, type SealedApiKey } from '../users/api-keys';
import { ENVELOPE_COUNTS_QUERY, envelopeCountsFrom, notPrimary } from './envelope-counts';
import {
  advance,
  completed,
  type Progress,
  passFor,
  progressByTarget,
  progressQuery,
  RESEAL_TARGETS,
  type ResealTarget,
  ringKeyIds,
  saveProgress,
  settled,
} from './progress';

/** The queue message that asks for one step (sent on `trakt-sync`, beside the sync messages). */
export type ResealMessage = { task: 'reseal'; enqueued_at: string };

export function isResealMessage(body: unknown): body is ResealMessage {
  return typeof body === 'object' && body !== null && (body as ResealMessage).task === 'reseal';
}

/** D1 queries one step makes: the progress, and one read plus one batch per table. */
export const STEP_D1_QUERIES = 5;
/**
 * How much one step may do: token sets from the subrequest budget (2 KV operations each), and as many
 * API keys (D1 work and CPU only). At the default budget that is 20 + 20 envelopes: about 40 AES-GCM
 * decryptions and as many encryptions, a few ms of CPU (BENCHMARKS.md, "Key rotation"), under Free's 10 ms.
 */
export function stepLimits(env: Env): { tokenSets: number; apiKeys: number } {
  const tokenSets = Math.max(1, Math.floor((subrequestBudget(env) - STEP_D1_QUERIES) / 2));
  return { tokenSets, apiKeys: tokenSets };
}

export type StepReport = Record<ResealTarget, { resealed: number; skipped: number; complete: boolean }> & {
  kv_copies_dropped: number;
};

/** Re-seals one row's envelope, or says why it cannot (logged, never thrown). */
async function resealed<T>(target: ResealTarget, id: number, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof EnvelopeError)) throw error;
    log.warn('reseal_skipped', { target, id, reason: error.reason, kid: error.kid });
    return undefined;
  }
}

async function resealApiKeys(db: Database, ring: KeyRing, pass: Progress, limit: number, now: number) {
  const rows = await apiKeysToReseal(db, ring.primaryKid, pass.afterId, limit);
  const writes: Array<{ row: SealedApiKey; envelope: string }> = [];
  for (const row of rows) {
    const envelope = await resealed('api_keys', row.id, () => resealApiKey(ring, row));
    if (envelope !== undefined) writes.push({ row, envelope });
  }
  const next = advance(pass, {
    found: rows.length,
    lastId: rows.at(-1)?.id ?? pass.afterId,
    skipped: rows.length - writes.length,
    complete: rows.length < limit,
  });
  const results = await db.batch([
    saveProgress(db, next, now),
    ...writes.map(({ row, envelope }) => replaceApiKeyEnvelope(db, row, envelope)),
  ]);
  return {
    resealed: results.slice(1).filter((rows) => (rows as unknown[]).length > 0).length,
    skipped: rows.length - writes.length,
    complete: rows.length < limit,
  };
}

async function resealTokenSets(env: Env, db: Database, ring: KeyRing, pass: Progress, limit: number, now: number) {
  const rows = await connectionsToReseal(db, ring.primaryKid, pass.afterId, limit);
  const writes: Array<{ row: SealedConnection; envelope: string }> = [];
  for (const row of rows) {
    const envelope = await resealed('trakt_connections', row.userId, () =>
      resealTokenSet(ring, row.userId, row.sealedTokens),
    );
    if (envelope !== undefined) writes.push({ row, envelope });
  }
  // The KV copies first: a copy deleted before its journal is re-sealed can only be put back from the
  // journal once that is sealed with the primary key (src/trakt/tokens.ts), whatever runs meanwhile.
  const dropped = await Promise.all(
    writes.map(({ row }) => dropStaleTokenCopy(env.KV, ring, row.userId, row.tokenSetId)),
  );
  const next = advance(pass, {
    found: rows.length,
    lastId: rows.at(-1)?.userId ?? pass.afterId,
    skipped: rows.length - writes.length,
    complete: rows.length < limit,
  });
  const results = await db.batch([
    saveProgress(db, next, now),
    ...writes.map(({ row, envelope }) => replaceSealedTokens(db, row, envelope)),
  ]);
  return {
    resealed: results.slice(1).filter((rows) => (rows as unknown[]).length > 0).length,
    skipped: rows.length - writes.length,
    complete: rows.length < limit,
    dropped: dropped.filter(Boolean).length,
  };
}

/**
 * One step of the re-encryption: the next slice of each table, from where the last step stopped.
 * Each table's re-sealed envelopes and its new position are written in one D1 batch.
 */
export async function resealStep(env: Env, now: number, limits = stepLimits(env)): Promise<StepReport> {
  const ring = await keyRing(env);
  const db = database(env.DB);
  const keyIds = ringKeyIds(ring.keys.keys());
  const stored = progressByTarget(await progressQuery(db));
  const apiKeysPass = passFor(stored.api_keys, 'api_keys', keyIds);
  const tokenSetsPass = passFor(stored.trakt_connections, 'trakt_connections', keyIds);
  // A table whose pass is complete waits for the other one: starting it over at every step would read it
  // whole each time. Once both are complete, a requested step starts both again (new work appeared).
  const waiting = !completed(apiKeysPass) || !completed(tokenSetsPass);
  const idle = { resealed: 0, skipped: 0, complete: true };
  const apiKeys =
    waiting && completed(apiKeysPass) ? idle : await resealApiKeys(db, ring, apiKeysPass, limits.apiKeys, now);
  const { dropped, ...tokenSets } =
    waiting && completed(tokenSetsPass)
      ? { ...idle, dropped: 0 }
      : await resealTokenSets(env, db, ring, tokenSetsPass, limits.tokenSets, now);
  return { api_keys: apiKeys, trakt_connections: tokenSets, kv_copies_dropped: dropped };
}

/**
 * The consumer of a `{"task": "reseal"}` message: one step, then acknowledged whatever happened (the
 * next cron run asks again if work remains, so a failed step costs at most one period).
 */
export async function handleResealMessage(env: Env, message: Message<unknown>): Promise<'resealed' | 'reseal_failed'> {
  try {
    const report = await resealStep(env, Date.now());
    log.info('reseal_step', report);
    message.ack();
    return 'resealed';
  } catch (error) {
    log.error('reseal_step_failed', describeError(error));
    message.ack();
    return 'reseal_failed';
  }
}

/**
 * The cron's part: whether envelopes wait for the primary key and a pass can still change something
 * (one D1 call: the counters and the progress). If so, sends one step's message. Never throws: the
 * re-encryption must not fail the cron run; the next run asks again.
 */
export async function requestReseal(env: Env, now: number): Promise<boolean> {
  try {
    const ring = await keyRing(env);
    const db = database(env.DB);
    const [counters, progress] = await db.batch([
      db.all<{ name: string; value: number }>(ENVELOPE_COUNTS_QUERY),
      progressQuery(db),
    ]);
    const pending = notPrimary(envelopeCountsFrom(counters), ring);
    const passes = progressByTarget(progress);
    if (
      pending === 0 ||
      settled(
        RESEAL_TARGETS.map((t) => passes[t]),
        ringKeyIds(ring.keys.keys()),
        pending,
      )
    ) {
      return false;
    }
    await env.SYNC_QUEUE.send({ task: 'reseal', enqueued_at: isoNow(now) } satisfies ResealMessage, {
      contentType: 'json',
    });
    return true;
  } catch (error) {
    log.error('reseal_request_failed', describeError(error));
    return false;
  }
}
