import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import worker from '../src/index';
import { handleSyncMessage, retryDelaySeconds } from '../src/jobs/queue';
import { registerAndLogin } from './support/api';
import { api, ok, read } from './support/client';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const iso = (ms: number) => new Date(ms).toISOString();

/** Connections written straight to D1 (the cron only reads rows; these users have no tokens). */
async function fakeConnections(count: number, options: { nextSyncAt: string; status?: string }) {
  const ids: number[] = [];
  for (let i = 0; i < count; i += 50) {
    const statements = [];
    for (let j = i; j < Math.min(count, i + 50); j++) {
      statements.push(
        env.DB.prepare("INSERT INTO users (username, password_hash, created_at) VALUES (?, 'x', ?) RETURNING id").bind(
          `cron_${crypto.randomUUID().slice(0, 12)}`,
          iso(Date.now()),
        ),
      );
    }
    for (const result of await env.DB.batch<{ id: number }>(statements)) ids.push(result.results[0]!.id);
  }
  const far = iso(Date.now() + 30 * 86400_000);
  await env.DB.batch(
    ids.map((id) =>
      env.DB.prepare(
        `INSERT INTO trakt_connections (user_id, status, token_version, token_set_id, expires_at,
           token_lifetime_seconds, connected_at, updated_at, next_sync_at)
         VALUES (?, ?, 1, 'none', ?, 604800, ?, ?, ?)`,
      ).bind(id, options.status ?? 'active', far, far, far, options.nextSyncAt),
    ),
  );
  return ids;
}

function sentUserIds(spy: { mock: { calls: unknown[][] } }) {
  return spy.mock.calls.flatMap((args) => (args[0] as Array<{ body: { user_id: number } }>).map((m) => m.body.user_id));
}

describe('scheduled handler', () => {
  it('enqueues 250 due users in batches of ≤ 100, none twice in overlapping runs; skips not-due', async () => {
    const due = await fakeConnections(250, { nextSyncAt: iso(Date.now() - 60_000) });
    const notDue = await fakeConnections(5, { nextSyncAt: iso(Date.now() + 3600_000) });
    const reauth = await fakeConnections(5, {
      nextSyncAt: iso(Date.now() - 60_000),
      status: 'reauthorization_required',
    });
    const send = vi.spyOn(env.SYNC_QUEUE, 'sendBatch');
    const now = Date.now();
    await Promise.all([
      worker.scheduled(
        createScheduledController({ scheduledTime: now, cron: '*/15 * * * *' }),
        env,
        createExecutionContext(),
      ),
      worker.scheduled(
        createScheduledController({ scheduledTime: now, cron: '*/15 * * * *' }),
        env,
        createExecutionContext(),
      ),
    ]);
    const sent = sentUserIds(send);
    for (const args of send.mock.calls) expect((args[0] as unknown[]).length).toBeLessThanOrEqual(100);
    const dueSent = sent.filter((id) => due.includes(id));
    expect(dueSent).toHaveLength(250);
    expect(new Set(dueSent).size).toBe(250);
    expect(sent.some((id) => notDue.includes(id) || reauth.includes(id))).toBe(false);

    // Claimed users moved forward; a third run right after enqueues none of them again.
    send.mockClear();
    await worker.scheduled(createScheduledController({ scheduledTime: now + 1000 }), env, createExecutionContext());
    expect(sentUserIds(send).filter((id) => due.includes(id))).toEqual([]);
  });

  it('a newly connected account is due at once', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    const send = vi.spyOn(env.SYNC_QUEUE, 'sendBatch');
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now() }), env, createExecutionContext());
    expect(sentUserIds(send)).toContain(user.id);
  });

  it('a manual fetch moves next_sync_at forward like a background run', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await ok(api(user.access).trakt['fetch-latest-movies'].$get());
    const status = await ok(api(user.access).trakt['sync-status'].$get());
    // At least half an interval ahead, on the user's phase: past the next cron run's look-ahead.
    expect(Date.parse(status.body.next_sync_at ?? '')).toBeGreaterThan(Date.now() + 29 * 60_000);
    const send = vi.spyOn(env.SYNC_QUEUE, 'sendBatch');
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now() }), env, createExecutionContext());
    expect(sentUserIds(send)).not.toContain(user.id);
  });

  it('refreshes tokens that expire before the next run through the single-flight path, one refresh each', async () => {
    await sim.config({ expires_in: 900 }); // expires within this cron period
    const soon = [await connectedUser(sim, { movies: 1, shows: 0 }), await connectedUser(sim, { movies: 1, shows: 0 })];
    await sim.config({ expires_in: 604800 });
    const later = await connectedUser(sim, { movies: 1, shows: 0 });
    const versions = async (id: number) =>
      (await env.DB.prepare('SELECT token_version AS v FROM trakt_connections WHERE user_id = ?')
        .bind(id)
        .first<{ v: number }>())!.v;
    const before = await Promise.all([...soon, later].map((u) => versions(u.id)));
    await sim.clearRequests();
    vi.spyOn(env.SYNC_QUEUE, 'sendBatch').mockResolvedValue(undefined as never); // keep this test about refreshes
    await Promise.all([
      worker.scheduled(createScheduledController({ scheduledTime: Date.now() }), env, createExecutionContext()),
      worker.scheduled(createScheduledController({ scheduledTime: Date.now() }), env, createExecutionContext()),
    ]);
    expect((await sim.counters())['POST /oauth/token']).toBe(2);
    const after = await Promise.all([...soon, later].map((u) => versions(u.id)));
    expect(after).toEqual([before[0]! + 1, before[1]! + 1, before[2]]);
    for (const u of soon)
      expect((await ok(api(u.access).trakt['auth-status'].$get())).body).toMatchObject({ token_expired: false });
  });
});

describe('queue consumer', () => {
  function batchFor(userIds: number[], attempts = 1, queue = 'trakt-sync') {
    return createMessageBatch(
      queue,
      userIds.map((id, i) => ({
        id: `msg-${i}-${id}`,
        timestamp: Date.now(),
        attempts,
        body: { user_id: id, enqueued_at: iso(Date.now()) },
      })),
    );
  }

  it('syncs the user and acks', async () => {
    const user = await connectedUser(sim, { movies: 4, shows: 1 });
    const batch = batchFor([user.id]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([`msg-0-${user.id}`]);
    expect(result.retryMessages).toEqual([]);
    const status = await ok(api(user.access).trakt['sync-status'].$get());
    expect(status.body).toMatchObject({
      connected: true,
      status: 'active',
      last_error: null,
      in_progress: false,
      counts: { movies: 4, shows: 1 },
    });
    expect(status.body.last_sync_at).toBeTruthy();
  });

  it('defers on an upstream 429 without spending a retry, and retries transient errors with backoff', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 1, kind: '429', retry_after: 120 });
    // getQueueResult() does not report delaySeconds in this plugin version, so the delay is read off the call itself.
    let batch = batchFor([user.id]);
    let retry = vi.spyOn(batch.messages[0]!, 'retry');
    const send = vi.spyOn(env.SYNC_QUEUE, 'send');
    send.mockClear(); // the new connections' first syncs, queued at once (test/support/sync-queue.ts captures them)
    let ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    let result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([`msg-0-${user.id}`]);
    expect(result.retryMessages).toEqual([]);
    expect(retry).not.toHaveBeenCalled();
    expect(send).toHaveBeenCalledTimes(1);
    const [body, options] = send.mock.calls[0]!;
    expect(body).toMatchObject({ user_id: user.id, deferrals: 1 });
    expect(options!.delaySeconds).toBeGreaterThanOrEqual(120);

    // Another user (its own Trakt app, so its own limiter): a 503 outage is a real failure, retried with backoff.
    const other = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 10, kind: '503' });
    batch = batchFor([other.id], 3);
    retry = vi.spyOn(batch.messages[0]!, 'retry');
    ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    result = await getQueueResult(batch, ctx);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual([`msg-0-${other.id}`]);
    expect(retry).toHaveBeenCalledWith({ delaySeconds: retryDelaySeconds(3) });
    expect(retryDelaySeconds(1)).toBe(30);
    expect(retryDelaySeconds(3)).toBe(120);
    expect(retryDelaySeconds(20)).toBe(3600);
    const status = await ok(api(other.access).trakt['sync-status'].$get());
    expect(status.body.last_error).toMatch(/unavailable/);
  });

  it('records the failure when a message reaches the dead-letter queue', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 10, kind: '503' });
    const first = batchFor([user.id], 5);
    await worker.queue(first, env, createExecutionContext());
    const dead = batchFor([user.id], 6, 'trakt-sync-dlq');
    const ctx = createExecutionContext();
    await worker.queue(dead, env, ctx);
    expect((await getQueueResult(dead, ctx)).explicitAcks).toEqual([`msg-0-${user.id}`]);
    const status = await ok(api(user.access).trakt['sync-status'].$get());
    expect(status.body.last_error).toMatch(/^Background sync gave up after repeated failures: Trakt is unavailable/);
  });

  it('while a manual fetch holds the lease, records the message and queues it again when the lease frees', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    const sent: unknown[] = [];
    const send = vi.spyOn(env.SYNC_QUEUE, 'send').mockImplementation(async (body) => {
      sent.push(body);
      return undefined as never;
    });
    try {
      await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 1, kind: 'hold' });
      const manual = read(api(user.access).trakt['fetch-latest-movies'].$get());
      await sim.whenHeld(1); // the manual run holds the sync lease and waits at Trakt (no sleep)
      const batch = batchFor([user.id]);
      const ctx = createExecutionContext();
      // Never two syncs at once, and nothing dropped: acked, no retry spent, recorded on the user's row.
      expect(await handleSyncMessage(env, batch.messages[0]!)).toBe('requested');
      const result = await getQueueResult(batch, ctx);
      expect(result.explicitAcks).toEqual([`msg-0-${user.id}`]);
      expect(result.retryMessages).toEqual([]);
      expect(sent).toEqual([]);
      await sim.releaseHeld();
      expect((await manual).status).toBe(200); // the manual run completes once Trakt answers
      // Its release handed the recorded kinds back to the queue, once.
      expect(sent).toEqual([{ user_id: user.id, enqueued_at: expect.any(String), kinds: ['movies', 'shows'] }]);
      const row = await env.DB.prepare('SELECT requested_kinds AS bits FROM sync_state WHERE user_id = ?')
        .bind(user.id)
        .first<{ bits: number }>();
      expect(row!.bits).toBe(0);
    } finally {
      send.mockRestore();
    }
  });

  it("one user's failure does not affect the others in the batch", async () => {
    const ok1 = await connectedUser(sim, { movies: 2, shows: 0 });
    const broken = await connectedUser(sim, { movies: 2, shows: 0 });
    const ok2 = await connectedUser(sim, { movies: 3, shows: 0 });
    // The broken user's Trakt credentials are gone: its sync cannot even build a client.
    await ok(api(broken.access).users['api-keys'][':service_name'].$delete({ param: { service_name: 'trakt' } }), 204);
    const notConnected = await registerAndLogin();
    const batch = batchFor([ok1.id, broken.id, ok2.id, notConnected.id]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(
      [`msg-0-${ok1.id}`, `msg-2-${ok2.id}`, `msg-3-${notConnected.id}`].sort(),
    );
    expect(result.retryMessages.map((m) => m.msgId)).toEqual([`msg-1-${broken.id}`]);
    expect((await ok(api(ok2.access).trakt['sync-status'].$get())).body.counts.movies).toBe(3);
    // The failed run released its lease: the user can sync again as soon as the problem is fixed.
    const brokenStatus = await ok(api(broken.access).trakt['sync-status'].$get());
    expect(brokenStatus.body).toMatchObject({ in_progress: false, last_error: 'No Trakt client credentials' });
  });

  it('acks malformed messages instead of retrying them forever', async () => {
    const batch = createMessageBatch('trakt-sync', [
      { id: 'junk', timestamp: Date.now(), attempts: 1, body: { nope: true } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['junk']);
  });
});
