/**
 * Key rotation that keeps data (src/rotation/): the envelope counts per key id (trigger-kept, shown by
 * /admin/status), the background re-encryption (paced, resumable steps asked for by the cron and run on
 * the queue; conditional writes that never overwrite a newer token set; old-key KV copies dropped and
 * never put back), and what a key missing from ENCRYPTION_KEYS does (a clear error state, never a
 * silent skip, repaired by putting the key back).
 *
 * The suite's deployment has ENCRYPTION_KEYS = k2,k1, so everything the helpers create is sealed with
 * k2. "The rotation" here makes k1 the new primary (k1,k2), and "after it" keeps k1 only.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { aadFor, keyRing, open } from '../src/crypto/envelope';
import { forgetReadiness } from '../src/health/readiness';
import worker from '../src/index';
import { runScheduled } from '../src/jobs/scheduled';
import { advance, passFor, settled } from '../src/rotation/progress';
import { requestReseal, resealStep, stepLimits } from '../src/rotation/reseal';
import { expectError } from './support/api';
import { api, apiWith, expectStatus, ok, read } from './support/client';
import { connectedUser } from './support/trakt';
import { envWith } from './support/worker';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  sim.restore();
  vi.restoreAllMocks();
});

const [K2, K1] = env.ENCRYPTION_KEYS.split(',') as [string, string];
/** The deployment after the operator put a new key first: k1 encrypts, k2 still decrypts. */
const ROTATED = { ENCRYPTION_KEYS: `${K1},${K2}` };
/** k2 removed: after a complete re-encryption, or too early. */
const K1_ONLY = { ENCRYPTION_KEYS: K1 };
const ADMIN_TOKEN = 'operator-token-0123456789-abcdefghijklmnop';

const admin = (overrides: Record<string, string> = {}) =>
  read(apiWith({ ADMIN_TOKEN, ...overrides }, ADMIN_TOKEN).admin.status.$get());
/** A sync's `last_result`, which the contract leaves open (z.unknown()): the enrichment figures these tests read. */
type SyncResult = { enrichment: { titles?: number; calls?: number; skipped?: string } };

/** Envelopes per key id by brute force (a scan of both tables), the ground truth for the counters. */
async function scannedCounts(): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare(
    `SELECT kid, count(*) AS n FROM (
       SELECT substr(encrypted_key, 4, instr(substr(encrypted_key, 4), '.') - 1) AS kid FROM api_keys
       UNION ALL SELECT substr(sealed_tokens, 4, instr(substr(sealed_tokens, 4), '.') - 1) FROM trakt_connections
         WHERE sealed_tokens IS NOT NULL) GROUP BY kid`,
  ).all<{ kid: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.kid, r.n]));
}

async function connection(userId: number) {
  return (await env.DB.prepare(
    'SELECT status, token_version, token_set_id, sealed_tokens FROM trakt_connections WHERE user_id = ?',
  )
    .bind(userId)
    .first<{ status: string; token_version: number; token_set_id: string; sealed_tokens: string }>())!;
}

const kvCopy = async (userId: number) =>
  env.KV.get(`trakt_tokens:${userId}:${(await connection(userId)).token_set_id}`);

/** A connected user (Trakt app and TMDB key stored, token set in D1 and KV), all sealed with k2. */
async function userWithSecrets() {
  const user = await connectedUser(sim, { movies: 3, shows: 1, seed: `rotation-${crypto.randomUUID().slice(0, 8)}` });
  const tmdbKey = `tmdb-${crypto.randomUUID()}`;
  await sim.registerTmdbKey(tmdbKey);
  await ok(api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: tmdbKey } }), 201);
  return { ...user, tmdbKey };
}

/** Runs re-encryption steps under `overrides` until nothing sealed with k2 is left that can be re-sealed. */
async function resealAll(overrides = ROTATED, limits?: { tokenSets: number; apiKeys: number }) {
  const steps = [];
  for (let i = 0; i < 500; i++) {
    const report = await resealStep(envWith(overrides), Date.now(), limits);
    steps.push(report);
    if (
      report.api_keys.complete &&
      report.trakt_connections.complete &&
      !(await requestReseal(envWith(overrides), Date.now()))
    ) {
      return steps;
    }
  }
  throw new Error('the re-encryption did not finish');
}

describe('envelope counts per key id', () => {
  it('are kept exact by triggers (saves, refreshes, re-seals, disconnects, deletions) and shown by /admin/status', async () => {
    vi.spyOn(env.SYNC_QUEUE, 'send').mockResolvedValue(undefined as never);
    const expectCounts = async (overrides: Record<string, string> = {}) => {
      const truth = await scannedCounts();
      const status = await admin(overrides);
      expect(status.status).toBe(200);
      const shown = Object.fromEntries(Object.entries(status.body.encryption).filter(([, n]) => n !== 0));
      expect(shown).toEqual(Object.fromEntries(Object.entries(truth).filter(([, n]) => n !== 0)));
      return status.body;
    };
    const a = await userWithSecrets();
    const b = await userWithSecrets();
    let body = await expectCounts();
    // Every key of ENCRYPTION_KEYS is listed, in its order, 0 when it seals nothing.
    expect(Object.keys(body.encryption).slice(0, 2)).toEqual(['k2', 'k1']);
    expect(body.encryption_missing_keys).toEqual([]);

    // A refresh rewrites the journal with the same key id: the counters do not move.
    const before = await scannedCounts();
    expect((await read(api(a.access).trakt['refresh-token'].$get())).status).toBe(200);
    expect(await scannedCounts()).toEqual(before);
    await expectCounts();

    // Under the rotated configuration, a saved key and a refresh move one envelope each from k2 to k1.
    await ok(
      apiWith(ROTATED, a.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: a.tmdbKey } }),
    );
    expect((await read(apiWith(ROTATED, a.access).trakt['refresh-token'].$get())).status).toBe(200);
    body = await expectCounts(ROTATED);
    expect(Object.keys(body.encryption).slice(0, 2)).toEqual(['k1', 'k2']);
    expect(body.encryption.k1! - (before.k1 ?? 0)).toBe(2);
    expect((before.k2 ?? 0) - body.encryption.k2!).toBe(2);

    // Deleting a key, disconnecting and deleting an account take theirs away.
    expect(
      (await read(api(b.access).users['api-keys'][':service_name'].$delete({ param: { service_name: 'tmdb' } })))
        .status,
    ).toBe(204);
    expect((await read(api(b.access).trakt.auth.$delete())).status).toBe(200);
    await expectCounts();
    expect((await read(api(a.access).users.me.$delete({ json: { password: a.password } }))).status).toBe(204);
    await expectCounts();
  });
});

describe('the background re-encryption', () => {
  it('re-seals every envelope in paced, resumable steps the cron asks for; then the old key can go and nothing is lost', async () => {
    const users = [await userWithSecrets(), await userWithSecrets(), await userWithSecrets()];
    const rotated = envWith(ROTATED);
    const k2Before = (await scannedCounts()).k2 ?? 0;
    expect(k2Before).toBeGreaterThanOrEqual(9);
    expect((await admin(ROTATED)).body.encryption).toMatchObject({ k1: expect.any(Number), k2: k2Before });

    // The cron decides in one D1 call and queues one step on trakt-sync.
    const send = vi.spyOn(env.SYNC_QUEUE, 'send').mockResolvedValue(undefined as never);
    vi.spyOn(env.SYNC_QUEUE, 'sendBatch').mockResolvedValue(undefined as never);
    const report = await runScheduled(rotated, Date.now());
    expect(report.reseal_requested).toBe(true);
    const [body] = send.mock.calls.find(([message]) => (message as { task?: string }).task === 'reseal')!;
    expect(body).toEqual({ task: 'reseal', enqueued_at: expect.any(String) });

    // Small steps: each resumes where the last one stopped (the progress row moves forward), and a
    // pass reads each row once.
    const positions: number[] = [];
    const position = async () =>
      (await env.DB.prepare("SELECT after_id FROM reseal_progress WHERE target = 'trakt_connections'").first<{
        after_id: number;
      }>())!.after_id;
    let steps = 0;
    for (; steps < 500; steps++) {
      const step = await resealStep(rotated, Date.now(), { tokenSets: 1, apiKeys: 1 });
      if (step.trakt_connections.complete) break;
      positions.push(await position());
    }
    expect(positions.length).toBeGreaterThanOrEqual(users.length - 1);
    expect(positions).toEqual([...positions].sort((x, y) => x - y));
    expect(new Set(positions).size).toBe(positions.length);
    // The queue consumer runs one step in its own invocation and acknowledges it.
    const beforeQueued = (await scannedCounts()).k2 ?? 0;
    expect(beforeQueued).toBeGreaterThan(0);
    const batch = createMessageBatch('trakt-sync', [{ id: 'reseal-1', timestamp: new Date(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, rotated, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['reseal-1']);
    expect((await scannedCounts()).k2 ?? 0).toBeLessThan(beforeQueued);

    await resealAll(ROTATED, { tokenSets: 1, apiKeys: 1 });
    expect((await scannedCounts()).k2 ?? 0).toBe(0);
    expect((await admin(ROTATED)).body.encryption.k2).toBe(0);

    // Everything is sealed with k1 now, and no KV copy of a token set is left sealed with k2.
    for (const user of users) {
      expect((await connection(user.id)).sealed_tokens).toMatch(/^v1\.k1\./);
      const copy = await kvCopy(user.id);
      if (copy !== null) expect(copy).toMatch(/^v1\.k1\./);
    }
    const { results } = await env.DB.prepare('SELECT encrypted_key FROM api_keys').all<{ encrypted_key: string }>();
    expect(results.every((r) => r.encrypted_key.startsWith('v1.k1.'))).toBe(true);
    send.mockClear();
    expect((await runScheduled(rotated, Date.now())).reseal_requested).toBe(false);

    // The operator removes k2: everything still works, with nothing to authorize or save again.
    forgetReadiness();
    expect((await read(apiWith(K1_ONLY).health.ready.$get())).status).toBe(200);
    expect((await admin(K1_ONLY)).body).toMatchObject({
      encryption: { k1: expect.any(Number) },
      encryption_missing_keys: [],
    });
    for (const user of users) {
      const synced = await read(apiWith(K1_ONLY, user.access).trakt['fetch-latest-movies'].$get());
      expect(synced.status).toBe(200);
      const status = await read(apiWith(K1_ONLY, user.access).trakt['sync-status'].$get());
      expect(status.body.last_result).toMatchObject({ enrichment: { titles: expect.any(Number) } });
      expect((status.body.last_result as SyncResult).enrichment.skipped).toBeUndefined();
      expect((await read(apiWith(K1_ONLY, user.access).trakt['refresh-token'].$get())).status).toBe(200);
      expect((await connection(user.id)).status).toBe('active');
    }
  });

  it('never overwrites a newer token set: a refresh that lands during a step wins', async () => {
    const user = await userWithSecrets();
    const before = await connection(user.id);
    const rotated = envWith(ROTATED);
    // The step reads the set's KV copy just before its D1 write: a refresh happens right then.
    const key = `trakt_tokens:${user.id}:${before.token_set_id}`;
    const get = env.KV.get.bind(env.KV);
    let refreshed: { access_token: string } | undefined;
    const kvGet = vi.spyOn(env.KV, 'get').mockImplementation((async (name: string, ...rest: unknown[]) => {
      if (name === key && !refreshed) {
        refreshed = { access_token: '' };
        const res = await read(apiWith(ROTATED, user.access).trakt['refresh-token'].$get());
        expect(res.status).toBe(200);
        refreshed = res.body;
      }
      return (get as (...args: unknown[]) => unknown)(name, ...rest);
    }) as never);
    await resealAll(ROTATED);
    kvGet.mockRestore();
    expect(refreshed?.access_token).toBeTruthy();

    const after = await connection(user.id);
    expect(after.token_version).toBe(before.token_version + 1);
    expect(after.token_set_id).not.toBe(before.token_set_id);
    // The journal holds the refreshed set (the one Trakt honours), not the re-sealed older one.
    const journal = JSON.parse(
      await open(await keyRing(rotated), after.sealed_tokens, aadFor(user.id, 'trakt_tokens')),
    );
    expect(journal.access_token).toBe(refreshed!.access_token);
    expect(await sim.tokenActive(journal.access_token)).toBe(true);
    expect(await kvCopy(user.id)).toMatch(/^v1\.k1\./);
    expect((await read(apiWith(K1_ONLY, user.access).trakt.watching.$get())).status).toBe(200);
  });

  it('a reader never puts a copy sealed with an old key back into KV; once re-sealed, it does', async () => {
    const user = await userWithSecrets();
    const { token_set_id } = await connection(user.id);
    const key = `trakt_tokens:${user.id}:${token_set_id}`;
    await env.KV.delete(key);
    // Before the rotation (k2 is the primary key) a miss is refilled from the journal.
    expect((await read(api(user.access).trakt.watching.$get())).status).toBe(200);
    expect(await env.KV.get(key)).toMatch(/^v1\.k2\./);
    await env.KV.delete(key);
    // After it, a journal still sealed with k2 is read from D1 but not copied to KV.
    expect((await read(apiWith(ROTATED, user.access).trakt.watching.$get())).status).toBe(200);
    expect(await env.KV.get(key)).toBeNull();
    await resealAll(ROTATED);
    expect((await read(apiWith(ROTATED, user.access).trakt.watching.$get())).status).toBe(200);
    expect(await env.KV.get(key)).toMatch(/^v1\.k1\./);
  });

  it('skips envelopes that do not open, and the cron stops asking until something changes', async () => {
    vi.spyOn(env.SYNC_QUEUE, 'send').mockResolvedValue(undefined as never);
    const a = await userWithSecrets();
    const b = await userWithSecrets();
    // b's TMDB key holds a's envelope (moved): sealed with k2, but it opens for nobody.
    const moved = await env.DB.prepare("SELECT encrypted_key FROM api_keys WHERE user_id = ? AND service_name = 'tmdb'")
      .bind(a.id)
      .first<{ encrypted_key: string }>();
    await env.DB.prepare("UPDATE api_keys SET encrypted_key = ? WHERE user_id = ? AND service_name = 'tmdb'")
      .bind(moved!.encrypted_key, b.id)
      .run();
    const rotated = envWith(ROTATED);
    await resealAll(ROTATED);
    expect(await scannedCounts()).toMatchObject({ k2: 1 });
    expect(await requestReseal(rotated, Date.now())).toBe(false);
    // A new envelope sealed with k2 (an isolate still on the old configuration) starts another pass.
    await ok(api(a.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: a.tmdbKey } }));
    expect(await scannedCounts()).toMatchObject({ k2: 2 });
    expect(await requestReseal(rotated, Date.now())).toBe(true);
    const steps = await resealAll(ROTATED);
    expect(steps.reduce((n, s) => n + s.api_keys.resealed, 0)).toBe(1);
    expect(await scannedCounts()).toMatchObject({ k2: 1 });
    expect(await requestReseal(rotated, Date.now())).toBe(false);
    // The moved value was never dropped: it is b's to save again.
    expect(
      (await env.DB.prepare("SELECT encrypted_key FROM api_keys WHERE user_id = ? AND service_name = 'tmdb'")
        .bind(b.id)
        .first())!,
    ).toEqual({ encrypted_key: moved!.encrypted_key });
    await ok(api(b.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: b.tmdbKey } }));
    await resealAll(ROTATED);
    expect((await scannedCounts()).k2 ?? 0).toBe(0);
  });

  it('the pass rules: resumes, completes, restarts under other key ids, settles', () => {
    const start = passFor(undefined, 'api_keys', 'k1,k2');
    expect(start).toEqual({ target: 'api_keys', keyIds: 'k1,k2', afterId: 0, skipped: 0, unresealable: null });
    const mid = advance(start, { found: 10, lastId: 40, skipped: 1, complete: false });
    expect(mid).toMatchObject({ afterId: 40, skipped: 1, unresealable: null });
    expect(passFor(mid, 'api_keys', 'k1,k2')).toBe(mid);
    expect(passFor(mid, 'api_keys', 'k1')).toEqual({ ...start, keyIds: 'k1' });
    const done = advance(mid, { found: 3, lastId: 90, skipped: 2, complete: true });
    expect(done).toMatchObject({ afterId: 0, skipped: 0, unresealable: 3 });
    const other = { ...done, target: 'trakt_connections' as const, unresealable: 0 };
    expect(settled([done, other], 'k1,k2', 3)).toBe(true);
    expect(settled([done, other], 'k1,k2', 4)).toBe(false);
    expect(settled([done, other], 'k1', 3)).toBe(false);
    expect(settled([done, undefined], 'k1,k2', 0)).toBe(false);
    expect(settled([mid, other], 'k1,k2', 0)).toBe(false);
  });

  it('a step fits one Workers Free invocation: 5 D1 queries and 2 KV operations per token set within the budget', () => {
    expect(stepLimits(env)).toEqual({ tokenSets: 20, apiKeys: 20 });
    expect(5 + 2 * stepLimits(env).tokenSets).toBeLessThanOrEqual(45);
    expect(stepLimits(envWith({ SYNC_SUBREQUEST_BUDGET: '900' })).tokenSets).toBe(447);
  });
});

describe('a key missing from ENCRYPTION_KEYS', () => {
  it('is a clear error state, never a silent skip, and putting the key back repairs everything', async () => {
    vi.spyOn(env.SYNC_QUEUE, 'send').mockResolvedValue(undefined as never);
    const a = await userWithSecrets();
    const b = await userWithSecrets();
    // b's Trakt app and token set move to k1; b's TMDB key stays sealed with k2.
    await ok(
      apiWith(ROTATED, b.access).users['api-keys'].$post({
        json: { service_name: 'trakt', service_user_id: b.app.client_id, api_key: b.app.client_secret },
      }),
    );
    expect((await read(apiWith(ROTATED, b.access).trakt['refresh-token'].$get())).status).toBe(200);
    expect((await connection(b.id)).sealed_tokens).toMatch(/^v1\.k1\./);

    // The operator removes k2 too early (and the deployment has a TMDB key of its own).
    const removed = { ...K1_ONLY, TMDB_API_KEY: SIM_DEFAULT_TMDB_KEY };
    forgetReadiness();
    const ready = await read(apiWith(removed).health.ready.$get());
    expectStatus(ready, 503);
    expect(ready.body.checks).toMatchObject({ configuration: 'ok', encryption: 'failed' });
    expect(ready.body.problems).toEqual({
      encryption: 'stored secrets need an encryption key that ENCRYPTION_KEYS does not have',
    });
    const view = (await admin(removed)).body;
    expect(view.encryption_missing_keys).toEqual(['k2']);
    expect(view.encryption.k2).toBe((await scannedCounts()).k2);

    // a: the stored Trakt app needs k2. A 503 naming the key, not a 422 or a 500.
    expectError(
      await read(apiWith(removed, a.access).trakt['fetch-latest-movies'].$get()),
      503,
      'Stored API key for "trakt" needs encryption key "k2", which this server no longer has; the operator can ' +
        'put it back into ENCRYPTION_KEYS, or save the key again with POST /users/api-keys/',
    );
    // a saves the app again; now the token set needs k2: the connection keeps its status (no verdict on the tokens).
    await ok(
      apiWith(removed, a.access).users['api-keys'].$post({
        json: { service_name: 'trakt', service_user_id: a.app.client_id, api_key: a.app.client_secret },
      }),
    );
    const tokenMessage =
      'The stored Trakt token set needs encryption key "k2", which this server no longer has; the operator can ' +
      'put it back into ENCRYPTION_KEYS, or authorize again at /trakt/authenticate/';
    expectError(await read(apiWith(removed, a.access).trakt['fetch-latest-movies'].$get()), 503, tokenMessage);
    expectError(await read(apiWith(removed, a.access).trakt['refresh-token'].$get()), 503, tokenMessage);
    expect((await connection(a.id)).status).toBe('active');
    // A background sync records it and is acknowledged (retrying cannot help), not dead-lettered.
    const batch = createMessageBatch('trakt-sync', [
      {
        id: 'sync-a',
        timestamp: new Date(),
        attempts: 1,
        body: { user_id: a.id, enqueued_at: new Date().toISOString() },
      },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, envWith(removed), ctx);
    const settledBatch = await getQueueResult(batch, ctx);
    expect(settledBatch.explicitAcks).toEqual(['sync-a']);
    expect(settledBatch.retryMessages).toEqual([]);
    expect((await read(api(a.access).trakt['sync-status'].$get())).body.last_error).toBe(tokenMessage);

    // b: the sync works, and TMDB says its key is unreadable rather than "no key" (or the deployment's key).
    await sim.clearRequests();
    const synced = await read(apiWith(removed, b.access).trakt['fetch-latest-movies'].$get());
    expect(synced.status).toBe(200);
    const tmdbRequests = (await sim.requests()).filter((r) => r.host.includes('tmdb'));
    expect(tmdbRequests).toEqual([]);
    const status = await read(api(b.access).trakt['sync-status'].$get());
    expect(status.body.last_result).toMatchObject({ enrichment: { skipped: 'tmdb_key_unreadable', calls: 0 } });
    const backlog = await env.DB.prepare('SELECT tmdb_backlog FROM sync_state WHERE user_id = ?').bind(b.id).first();
    expect(backlog).toEqual({ tmdb_backlog: 1 });

    // The operator puts k2 back: both users work again, as they were.
    forgetReadiness();
    expect((await read(apiWith(ROTATED).health.ready.$get())).status).toBe(200);
    expect((await read(apiWith(ROTATED, a.access).trakt['fetch-latest-movies'].$get())).status).toBe(200);
    expect((await connection(a.id)).status).toBe('active');
    expect((await read(apiWith(ROTATED, b.access).trakt['fetch-latest-shows'].$get())).status).toBe(200);
    const enriched = await read(api(b.access).trakt['sync-status'].$get());
    const result = enriched.body.last_result as SyncResult;
    expect(result.enrichment.skipped).toBeUndefined();
    expect(result.enrichment.calls).toBeGreaterThan(0);
  });

  it('a token set that does not open with the key it names (tampered, moved) still means authorizing again', async () => {
    const a = await userWithSecrets();
    const b = await userWithSecrets();
    // b's journal holds a's set: k2 is there, but the AAD names another user.
    await env.DB.prepare('UPDATE trakt_connections SET sealed_tokens = ? WHERE user_id = ?')
      .bind((await connection(a.id)).sealed_tokens, b.id)
      .run();
    await env.KV.delete(`trakt_tokens:${b.id}:${(await connection(b.id)).token_set_id}`);
    expectError(await read(api(b.access).trakt.watching.$get()), 401, /authorize again/);
    expect((await connection(b.id)).status).toBe('reauthorization_required');
    // And authorizing again works: the status moves back to active (the counters' triggers allow it, migration 0015).
    await sim.setSession(b.traktUsername);
    const auth = await read(api(b.access).trakt.authenticate.$get());
    const redirect = await sim.authorize(auth.body.auth_url);
    const callback = await read(
      api(b.access).trakt['oauth-callback'].$post({ json: { code: redirect.code ?? '', state: redirect.state ?? '' } }),
    );
    expect(callback.status).toBe(200);
    expect((await connection(b.id)).status).toBe('active');
    expect((await read(api(b.access).trakt.watching.$get())).status).toBe(200);
    expect((await admin()).body.connections).toEqual(
      Object.fromEntries(
        (
          await env.DB.prepare('SELECT status, count(*) AS n FROM trakt_connections GROUP BY status').all<{
            status: string;
            n: number;
          }>()
        ).results.map((r) => [r.status, r.n]),
      ),
    );
  });
});
