/**
 * Fleet-wide pacing (src/pacing, src/jobs/fan-out.ts, src/jobs/deferral.ts): the app-wide
 * limiter's maths, the cron's spread, a Trakt 429 pausing every sync of the app without spending
 * retries, and 30 users synced by the cron under TRAKT_APP_MAX_RPS=5 / TMDB_MAX_RPS=8.
 *
 * Time: the limiter (a Durable Object in this isolate), the callers and the simulator share a
 * virtual pacing clock, so a paced minute runs in milliseconds and the simulator's request log
 * carries exactly the send times the limiter granted. Waiting for a slot advances the clock; nothing
 * here sleeps for real or asserts on wall-clock time.
 */
import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AppCredentials,
  installSimulator,
  type RequestLogEntry,
  SIM_DEFAULT_TMDB_KEY,
  type Simulator,
} from '../simulator/support/harness';
import worker from '../src/index';
import { deferralDelaySeconds, MAX_DEFERRALS } from '../src/jobs/deferral';
import { fanOutDelaySeconds } from '../src/jobs/fan-out';
import { CRON_PERIOD_MS, type SyncMessage } from '../src/jobs/scheduled';
import { EMPTY_BUCKET, pauseUntil, RETURN_SLOTS, reserveSlots, slotSpacingMs } from '../src/pacing/token-bucket';
import { nextSyncAt } from '../src/sync/schedule';
import { api, ok } from './support/client';
import { drainEnrichQueue, enrichQueue } from './support/enrich-queue';
import { installVirtualPacingClock, type VirtualClock } from './support/pacing-clock';
import { connectedUser, createTraktApp } from './support/trakt';

const PACED = { TRAKT_APP_MAX_RPS: '5', TMDB_MAX_RPS: '8' } as const;
const pacedEnv = { ...env, ...PACED } as Env;

let clock: VirtualClock;
let sim: Simulator;
beforeEach(() => {
  // Aligned to a cron tick, like a real scheduledTime.
  clock = installVirtualPacingClock(Math.ceil(Date.now() / CRON_PERIOD_MS) * CRON_PERIOD_MS);
  sim = installSimulator({ now: clock.now });
});
afterEach(() => {
  clock.restore();
  vi.restoreAllMocks();
});

const isTrakt = (r: RequestLogEntry) => r.host.endsWith('trakt.sim.test');
const isTmdb = (r: RequestLogEntry) => r.host.startsWith('api.tmdb.');

/** The most requests in any half-open one-second window [t, t + 1000). */
function busiestSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= 1000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

function queueBatch(bodies: SyncMessage[], attempts = 1) {
  return createMessageBatch(
    'trakt-sync',
    bodies.map((body, i) => ({ id: `m${i}-${body.user_id}`, timestamp: Date.now(), attempts, body })),
  );
}

async function storeTmdbKey(access: string) {
  await ok(api(access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }), 201);
}

describe('limiter maths', () => {
  it('grants slots at least 1000/rate ms apart, never more than `rate` in a second, and no saved-up burst', () => {
    const first = reserveSlots(EMPTY_BUCKET, 10_000, { count: 8, ratePerSecond: 5, maxWaitMs: 5_000 });
    expect(first.granted).toBe(true);
    if (!first.granted) return;
    expect(first.slots).toEqual([10_000, 10_200, 10_400, 10_600, 10_800, 11_000, 11_200, 11_400]);
    expect(busiestSecond(first.slots)).toBe(5);
    // The next caller continues the schedule, whatever isolate it runs in.
    const second = reserveSlots(first.state, 10_050, { count: 2, ratePerSecond: 5, maxWaitMs: 5_000 });
    expect(second.granted && second.slots).toEqual([11_600, 11_800]);
    // Idle for a minute: the next slot is now, not a burst of saved-up tokens.
    const idle = reserveSlots(second.state, 80_000, { count: 3, ratePerSecond: 5, maxWaitMs: 5_000 });
    expect(idle.granted && idle.slots).toEqual([80_000, 80_200, 80_400]);
    expect(slotSpacingMs(15)).toBe(67); // rounded up: 14.9 per second, never 15.00…1
  });

  it('never reserves beyond the accepted wait; refuses with Retry-After when the first slot is too far', () => {
    const busy = { ...EMPTY_BUCKET, nextSlotAt: 10_000 };
    const partial = reserveSlots(busy, 9_000, { count: 8, ratePerSecond: 1, maxWaitMs: 3_000 });
    expect(partial.granted && partial.slots).toEqual([10_000, 11_000, 12_000]);
    const refused = reserveSlots(busy, 4_000, { count: 1, ratePerSecond: 1, maxWaitMs: 3_000 });
    expect(refused).toMatchObject({ granted: false, retryAfterMs: 6_000 });
    expect(refused.state.nextSlotAt).toBe(10_000); // a refusal reserves no slot…
    // …but the next refused caller is sent back RETURN_SLOTS slots later, so deferred work returns spread out.
    const refusedAgain = reserveSlots(refused.state, 4_000, { count: 1, ratePerSecond: 1, maxWaitMs: 3_000 });
    expect(refusedAgain).toMatchObject({ granted: false, retryAfterMs: 6_000 + RETURN_SLOTS * 1_000 });
    const paused = pauseUntil(EMPTY_BUCKET, 120_000, 3_000);
    expect(pauseUntil(paused, 60_000, 0)).toEqual(paused); // a shorter pause never cuts a longer one
    expect(reserveSlots(paused, 0, { count: 1, ratePerSecond: 5, maxWaitMs: 5_000 })).toMatchObject({
      granted: false,
      retryAfterMs: 123_000,
    });
  });

  it('defers by Retry-After plus bounded jitter, and spreads fan-out delays over the cron period', () => {
    expect(deferralDelaySeconds(120, 0)).toBe(120);
    expect(deferralDelaySeconds(120, 0.999)).toBe(143);
    expect(deferralDelaySeconds(1, 0.999)).toBe(5);
    expect(deferralDelaySeconds(10 ** 9, 0)).toBe(43_200);
    const runTime = 1_800_000_000_000 - (1_800_000_000_000 % CRON_PERIOD_MS);
    const delays = Array.from({ length: 400 }, (_, i) => fanOutDelaySeconds(env, i + 1, runTime, CRON_PERIOD_MS));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(900);
    // Evenly spread: each of the period's 5-minute thirds gets a fair share of 400 users.
    for (let third = 0; third < 3; third++) {
      const inThird = delays.filter((d) => Math.floor(d / 300) === third).length;
      expect(inThird).toBeGreaterThan(100);
    }
  });
});

// A 429 from Trakt itself is one user's limit and holds only that user (test/trakt-user-rate-limit.test.ts).
describe("Cloudflare's 429 in front of Trakt (it limits the deployment's address) pauses the whole app", () => {
  it('defers every sync of the 429ed Trakt app, spending no retry; both finish after the pause', async () => {
    const app = await createTraktApp(sim);
    const first = await connectedUser(sim, { movies: 2, shows: 0 }, { app });
    const second = await connectedUser(sim, { movies: 3, shows: 0 }, { app });
    await sim.clearRequests();
    await sim.addFault({
      match: { path_prefix: '/sync/last_activities' },
      times: 1,
      kind: 'html_error',
      status: 429,
      retry_after: 120,
    });
    const send = vi.spyOn(env.SYNC_QUEUE, 'send');
    send.mockClear(); // the new connections' first syncs, queued at once (test/support/sync-queue.ts captures them)
    const start = clock.now();

    const batch = queueBatch(
      [first.id, second.id].map((id) => ({ user_id: id, enqueued_at: new Date().toISOString() })),
    );
    const retries = batch.messages.map((m) => vi.spyOn(m, 'retry'));
    const ctx = createExecutionContext();
    await worker.queue(batch, pacedEnv, ctx);
    const result = await getQueueResult(batch, ctx);

    // Both were acked and re-sent with a delay past Retry-After; neither used retry().
    expect(result.explicitAcks.sort()).toEqual(batch.messages.map((m) => m.id).sort());
    expect(result.retryMessages).toEqual([]);
    for (const retry of retries) expect(retry).not.toHaveBeenCalled();
    expect(send).toHaveBeenCalledTimes(2);
    const deferred = send.mock.calls.map(([body, options]) => ({
      body: body as SyncMessage,
      delaySeconds: options!.delaySeconds!,
    }));
    expect(deferred.map((d) => d.body.user_id).sort()).toEqual([first.id, second.id].sort());
    for (const d of deferred) {
      expect(d.body.deferrals).toBe(1);
      expect(d.delaySeconds).toBeGreaterThanOrEqual(120);
      expect(d.delaySeconds).toBeLessThanOrEqual(132 + 27); // pause jitter (≤ 10%) + deferral jitter (≤ 20%)
    }
    // The second user's sync never reached Trakt: the limiter held it back, not a second 429.
    const during = await sim.requests();
    expect(during.map((r) => `${r.status} ${r.path}`)).toEqual(['429 /sync/last_activities']);

    // After the deferral delays, both sync; nothing reaches Trakt before the pause ends.
    for (const d of deferred.sort((a, b) => a.delaySeconds - b.delaySeconds)) {
      clock.advanceTo(start + d.delaySeconds * 1000);
      const later = queueBatch([d.body]);
      const laterCtx = createExecutionContext();
      await worker.queue(later, pacedEnv, laterCtx);
      expect((await getQueueResult(later, laterCtx)).explicitAcks).toEqual([later.messages[0]!.id]);
    }
    const after = (await sim.requests()).slice(1);
    expect(after.length).toBeGreaterThanOrEqual(4);
    for (const r of after) expect(Date.parse(r.time)).toBeGreaterThanOrEqual(start + 120_000);
    expect(send).toHaveBeenCalledTimes(2); // no further deferral
    for (const user of [first, second]) {
      const status = await ok(api(user.access).trakt['sync-status'].$get());
      expect(status.body).toMatchObject({ last_error: null, counts: { movies: user === first ? 2 : 3 } });
    }
  });

  it('a message deferred MAX_DEFERRALS times falls back to a counted retry, so nothing defers forever', async () => {
    const app = await createTraktApp(sim);
    const user = await connectedUser(sim, { movies: 1, shows: 0 }, { app });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 1, kind: '429', retry_after: 60 });
    const batch = queueBatch([{ user_id: user.id, enqueued_at: new Date().toISOString(), deferrals: MAX_DEFERRALS }]);
    const retry = vi.spyOn(batch.messages[0]!, 'retry');
    const ctx = createExecutionContext();
    await worker.queue(batch, pacedEnv, ctx);
    expect((await getQueueResult(batch, ctx)).retryMessages.map((m) => m.msgId)).toEqual([batch.messages[0]!.id]);
    expect(retry).toHaveBeenCalledTimes(1);
    const delay = retry.mock.calls[0]![0]!.delaySeconds!;
    expect(delay).toBeGreaterThanOrEqual(60);
    expect(delay).toBeLessThanOrEqual(66); // Retry-After plus the pause's jitter
  });
});

describe('30 users synced by the cron under TRAKT_APP_MAX_RPS=5 and TMDB_MAX_RPS=8', () => {
  it('spreads messages over the period; Trakt sees ≤ 5 and TMDB ≤ 8 requests a second; all synced', async () => {
    const app: AppCredentials = await createTraktApp(sim);
    const users = [];
    for (let i = 0; i < 30; i++) {
      const account = { seed: `fleet-${i}`, movies: 3, shows: 2, seasons_per_show: 2, episodes_per_season: 2 };
      const user = await connectedUser(sim, account, { app });
      await storeTmdbKey(user.access);
      users.push({ ...user, expected: account });
    }
    await sim.clearRequests();

    // Captured, not sent: this test delivers each message itself at its virtual time. Sent for real, Miniflare would
    // also deliver the ones whose delay is shorter than the test's wall-clock run, alongside these deliveries.
    const sendBatch = vi.spyOn(env.SYNC_QUEUE, 'sendBatch').mockResolvedValue(undefined as never);
    const runTime = clock.now();
    await worker.scheduled(createScheduledController({ scheduledTime: runTime }), pacedEnv, createExecutionContext());
    const ids = new Set(users.map((u) => u.id));
    const messages = sendBatch.mock.calls
      .flatMap(([batch]) => batch as Array<{ body: SyncMessage; delaySeconds: number }>)
      .filter((m) => ids.has(m.body.user_id));
    expect(messages).toHaveLength(30);
    expect(new Set(messages.map((m) => m.body.user_id))).toEqual(ids);
    // Spread: each message carries its user's phase within the 15-minute period.
    for (const m of messages) {
      expect(m.delaySeconds).toBe(fanOutDelaySeconds(pacedEnv, m.body.user_id, runTime, CRON_PERIOD_MS));
      expect(m.delaySeconds).toBeGreaterThanOrEqual(0);
      expect(m.delaySeconds).toBeLessThan(900);
    }
    expect(new Set(messages.map((m) => Math.floor(m.delaySeconds / 300))).size).toBe(3);

    // The queue delivers each message at its delay; the consumer syncs it under the app-wide limits.
    for (const m of [...messages].sort((a, b) => a.delaySeconds - b.delaySeconds)) {
      clock.advanceTo(runTime + m.delaySeconds * 1000);
      const batch = queueBatch([m.body]);
      const ctx = createExecutionContext();
      await worker.queue(batch, pacedEnv, ctx);
      expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual([batch.messages[0]!.id]);
      // The sync made no TMDB call: it queued the titles it touched on trakt-enrich, delivered next.
      expect(enrichQueue.map((e) => e.body.user_id)).toEqual([m.body.user_id]);
      const deliveries = await drainEnrichQueue({ env: pacedEnv });
      expect(deliveries.map((d) => d.acked)).toEqual([true]);
    }

    // This app's requests: its limiter key is its client id. A message an earlier test deferred through the real
    // queue (Miniflare delivers it a minute later) may run meanwhile for an app this simulator no longer knows.
    const appKey = `${app.client_id.slice(0, 4)}…`;
    const log = (await sim.requests()).filter((r) => !isTrakt(r) || r.trakt_api_key === appKey);
    const trakt = log.filter(isTrakt).map((r) => Date.parse(r.time));
    const tmdb = log.filter(isTmdb).map((r) => Date.parse(r.time));
    // Positive controls: the traffic happened, dense enough to reach each limit.
    expect(trakt.length).toBeGreaterThanOrEqual(30 * 5);
    expect(tmdb.length).toBeGreaterThanOrEqual(30 * 4);
    const traktLog = log.filter(isTrakt);
    const windowOf = (r: RequestLogEntry) =>
      traktLog.filter(
        (o) => Date.parse(o.time) >= Date.parse(r.time) && Date.parse(o.time) < Date.parse(r.time) + 1000,
      );
    const dense = traktLog.find((r) => windowOf(r).length > 5);
    expect(dense ? windowOf(dense).map((r) => `${r.time} ${r.method} ${r.path} ${r.status} ${r.auth}`) : []).toEqual(
      [],
    );
    expect(busiestSecond(trakt)).toBe(5);
    expect(busiestSecond(tmdb)).toBe(8);
    expect(log.filter((r) => r.status === 429)).toEqual([]);

    for (const user of users) {
      const status = await ok(api(user.access).trakt['sync-status'].$get());
      expect(status.body).toMatchObject({
        last_error: null,
        in_progress: false,
        counts: { movies: user.expected.movies, shows: user.expected.shows },
      });
      expect(status.body.last_result).toMatchObject({ enrichment: { calls: expect.any(Number) } });
      // The contract leaves last_result open (z.unknown()): its shape is checked just above.
      const result = status.body.last_result as { enrichment: { calls: number } };
      expect(result.enrichment.calls).toBeGreaterThan(0);
    }
  }, 180_000);
});

/** Connections written straight to D1 (the cron only reads and claims rows; these users never really sync). */
async function fakeConnections(count: number, nextSyncAtMs: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i += 50) {
    const statements = [];
    for (let j = i; j < Math.min(count, i + 50); j++) {
      statements.push(
        env.DB.prepare("INSERT INTO users (username, password_hash, created_at) VALUES (?, 'x', ?) RETURNING id").bind(
          `drift_${crypto.randomUUID().slice(0, 12)}`,
          new Date().toISOString(),
        ),
      );
    }
    for (const result of await env.DB.batch<{ id: number }>(statements)) ids.push(result.results[0]!.id);
  }
  const far = new Date(Date.now() + 30 * 86400_000).toISOString();
  await env.DB.batch(
    ids.map((id) =>
      env.DB.prepare(
        `INSERT INTO trakt_connections (user_id, status, token_version, token_set_id, expires_at,
           token_lifetime_seconds, connected_at, updated_at, next_sync_at)
         VALUES (?, 'active', 1, 'none', ?, 604800, ?, ?, ?)`,
      ).bind(id, far, far, far, new Date(nextSyncAtMs).toISOString()),
    ),
  );
  return ids;
}

describe('repeated cron runs', () => {
  it('keep every user on a 60-minute cycle at a stable, evenly spread phase: no drift to 75 minutes', async () => {
    const start = Math.ceil(Date.now() / CRON_PERIOD_MS) * CRON_PERIOD_MS;
    const ids = await fakeConnections(120, start - 60_000);
    const mine = new Set(ids);
    const sendBatch = vi.spyOn(env.SYNC_QUEUE, 'sendBatch').mockResolvedValue(undefined as never);
    const deliveries = new Map<number, number[]>();
    const RUNS = 16; // four hours of 15-minute runs
    for (let run = 0; run < RUNS; run++) {
      const runTime = start + run * CRON_PERIOD_MS;
      sendBatch.mockClear();
      await worker.scheduled(createScheduledController({ scheduledTime: runTime }), env, createExecutionContext());
      const sent = sendBatch.mock.calls
        .flatMap(([batch]) => batch as Array<{ body: SyncMessage; delaySeconds: number }>)
        .filter((m) => mine.has(m.body.user_id));
      // Each delivered sync finishes 40 s after delivery and writes next_sync_at exactly as the sync service does.
      const finished = sent.map((m) => {
        const deliveredAt = runTime + m.delaySeconds * 1000;
        deliveries.set(m.body.user_id, [...(deliveries.get(m.body.user_id) ?? []), deliveredAt]);
        return {
          id: m.body.user_id,
          next: new Date(nextSyncAt(env, m.body.user_id, deliveredAt + 40_000)).toISOString(),
        };
      });
      if (finished.length > 0) {
        await env.DB.prepare(
          `UPDATE trakt_connections SET next_sync_at = (SELECT json_extract(j.value, '$.next')
             FROM json_each(?1) j WHERE json_extract(j.value, '$.id') = user_id)
           WHERE user_id IN (SELECT json_extract(value, '$.id') FROM json_each(?1))`,
        )
          .bind(JSON.stringify(finished))
          .run();
      }
    }
    expect(deliveries.size).toBe(120);
    const cycles: number[] = [];
    for (const times of deliveries.values()) {
      // Overdue at the start: the first delivery is within the first period, then one per hour.
      expect(times.length).toBeGreaterThanOrEqual(4);
      expect(times[0]! - start).toBeLessThan(CRON_PERIOD_MS);
      for (let i = 2; i < times.length; i++) cycles.push(times[i]! - times[i - 1]!);
    }
    expect(cycles.length).toBeGreaterThanOrEqual(120 * 2);
    // Exactly one interval between syncs, never 75 minutes.
    expect(new Set(cycles)).toEqual(new Set([3600_000]));
    // Evenly spread over the hour: every quarter of it holds a fair share of the users' phases.
    const lastHour = [...deliveries.values()].map((times) => times[times.length - 1]! % 3600_000);
    for (let quarter = 0; quarter < 4; quarter++) {
      expect(lastHour.filter((t) => Math.floor(t / 900_000) === quarter).length).toBeGreaterThan(15);
    }
  });
});
