/**
 * The Cron Trigger's guarantees, tested through the scheduled handler only: a failed enqueue
 * gives its claims back, spent OAuth states are cleaned up, and one run claims at most
 * MAX_ENQUEUES_PER_RUN users (the rest go to the next run). The queue's sendBatch is spied on,
 * so the messages themselves never run a sync here (test/jobs.test.ts covers the consumer).
 */
import { createExecutionContext, createScheduledController } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import worker from '../src/index';
import { MAX_ENQUEUES_PER_RUN } from '../src/jobs/scheduled';
import { api, ok } from './support/client';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const iso = (ms: number) => new Date(ms).toISOString();
/** Before anything any other test makes due, so these users are claimed first (oldest next_sync_at first). */
const LONG_AGO = Date.parse('2001-01-01T00:00:00.000Z');

let batchCounter = 0;

/**
 * `count` connected users, due since LONG_AGO (one second apart, in id order), written straight to
 * D1 in two statements. They have no token sets: the cron only reads their rows and enqueues them.
 */
async function dueConnections(count: number): Promise<number[]> {
  batchCounter += 1;
  const prefix = `cron${batchCounter}_${crypto.randomUUID().slice(0, 8)}_`;
  const far = iso(Date.now() + 30 * 86400_000);
  await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     INSERT INTO users (username, password_hash, created_at) SELECT ? || i, 'x', ? FROM n`,
  )
    .bind(count, prefix, iso(Date.now()))
    .run();
  await env.DB.prepare(
    `INSERT INTO trakt_connections (user_id, status, token_version, token_set_id, expires_at,
       token_lifetime_seconds, connected_at, updated_at, next_sync_at)
     SELECT id, 'active', 1, 'none', ?1, 604800, ?1, ?1,
            strftime('%Y-%m-%dT%H:%M:%fZ', ?2, '+' || CAST(substr(username, length(?3) + 1) AS INTEGER) || ' seconds')
     FROM users WHERE username LIKE ?3 || '%'`,
  )
    .bind(far, iso(LONG_AGO), prefix)
    .run();
  const rows = await env.DB.prepare('SELECT id FROM users WHERE username LIKE ? ORDER BY id')
    .bind(`${prefix}%`)
    .all<{ id: number }>();
  expect(rows.results).toHaveLength(count);
  return rows.results.map((r) => r.id);
}

function runCron(scheduledTime: number) {
  return worker.scheduled(createScheduledController({ scheduledTime }), env, createExecutionContext());
}

type SentBatch = Array<{ body: { user_id: number } }>;
const idsOf = (batch: unknown) => (batch as SentBatch).map((m) => m.body.user_id);
const sentIds = (spy: { mock: { calls: unknown[][] } }) => spy.mock.calls.flatMap((args) => idsOf(args[0]));

describe('cron', () => {
  it('gives back the claims of users whose enqueue failed; the next run enqueues exactly those', async () => {
    const mine = await dueConnections(150);
    const send = vi
      .spyOn(env.SYNC_QUEUE, 'sendBatch')
      .mockResolvedValueOnce(undefined as never)
      .mockRejectedValueOnce(new Error('queue unavailable'))
      .mockResolvedValue(undefined as never);
    const now = Date.now();
    await runCron(now);
    expect(send).toHaveBeenCalledTimes(2);
    const sent = idsOf(send.mock.calls[0]![0]);
    const failed = idsOf(send.mock.calls[1]![0]);
    expect(sent).toHaveLength(100);
    expect(failed.length).toBeGreaterThanOrEqual(50);
    expect(mine.filter((id) => !sent.includes(id)).every((id) => failed.includes(id))).toBe(true);

    const nextSync = async (ids: number[]) =>
      (
        await env.DB.prepare(
          'SELECT DISTINCT next_sync_at AS at FROM trakt_connections WHERE user_id IN (SELECT value FROM json_each(?))',
        )
          .bind(JSON.stringify(ids))
          .all<{ at: string }>()
      ).results.map((r) => r.at);
    expect(await nextSync(failed)).toEqual([iso(now)]); // due again at once
    const sentNext = await nextSync(sent);
    expect(sentNext).toHaveLength(1);
    expect(Date.parse(sentNext[0]!)).toBeGreaterThan(now); // moved forward by the claim

    send.mockClear();
    await runCron(now + 1000);
    const resent = sentIds(send);
    expect(resent.filter((id) => mine.includes(id)).sort()).toEqual(mine.filter((id) => !sent.includes(id)).sort());
    expect(resent.some((id) => sent.includes(id))).toBe(false);
  });

  it(`claims at most ${MAX_ENQUEUES_PER_RUN} users per run; the next run takes the rest`, async () => {
    const mine = await dueConnections(MAX_ENQUEUES_PER_RUN + 1);
    const send = vi.spyOn(env.SYNC_QUEUE, 'sendBatch').mockResolvedValue(undefined as never);
    const now = Date.now();
    await runCron(now);
    const first = sentIds(send);
    expect(first).toHaveLength(MAX_ENQUEUES_PER_RUN);
    expect(first.every((id) => mine.includes(id))).toBe(true); // the oldest due first
    const left = mine.filter((id) => !first.includes(id));
    expect(left).toEqual([mine.at(-1)]); // the one due last waits for the next run

    send.mockClear();
    await runCron(now + 1000);
    const second = sentIds(send);
    expect(second.filter((id) => mine.includes(id))).toEqual(left);
  }, 120_000);

  it('deletes spent OAuth states once they can no longer matter (after twice their 10-minute lifetime)', async () => {
    vi.spyOn(env.SYNC_QUEUE, 'sendBatch').mockResolvedValue(undefined as never);
    const before = Date.now();
    const user = await connectedUser(sim, { movies: 1, shows: 0 }); // spends one state in its callback
    const spent = async () =>
      (await env.DB.prepare('SELECT count(*) AS n FROM oauth_state_uses WHERE user_id = ?')
        .bind(user.id)
        .first<{ n: number }>())!.n;
    expect(await spent()).toBe(1);
    await runCron(before + 19 * 60_000);
    expect(await spent()).toBe(1); // a replay inside the window must still be recognised as spent
    await runCron(Date.now() + 21 * 60_000);
    expect(await spent()).toBe(0);
    // The connection itself is untouched.
    expect((await ok(api(user.access).trakt['auth-status'].$get())).body.authenticated).toBe(true);
  });
});
