/**
 * TMDB enrichment on its own queue (src/jobs/enrichment.ts): background syncs make no TMDB call and
 * queue what they touched; one run per user at a time; a 429 defers without spending a retry; a
 * failure keeps the work; a run's TMDB calls and limiter round trips fit one invocation's budget;
 * and Miniflare really delivers the queue to the Worker's consumer (wrangler.toml).
 *
 * Each test stores a TMDB key of its own, so its app-wide TMDB limiter (keyed by the key) and any
 * 429 pause on it are its own.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { LEASE_BUSY_DELAY_SECONDS } from '../src/jobs/enrichment';
import { runBackgroundChunk } from '../src/jobs/queue';
import { limiterRoundTrips, upstreamCallsWithin } from '../src/pacing/gate';
import { enrichmentCallBudget, MAX_IDS_PER_KIND, requestEnrichment, runEnrichment } from '../src/tmdb/runner';
import { api, ok, read } from './support/client';
import { deliverEnrichMessage, drainEnrichQueue, enrichQueue } from './support/enrich-queue';
import { installVirtualPacingClock } from './support/pacing-clock';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  sim.restore();
  vi.restoreAllMocks();
});

const ACCOUNT = {
  movies: 4,
  shows: 1,
  seasons_per_show: 2,
  episodes_per_season: 2,
  null_tmdb_fraction: 0,
  missing_on_tmdb_fraction: 0,
};

/** A connected user with a TMDB key of their own (registered with the simulator). */
async function userWithTmdbKey(account: Record<string, unknown> = ACCOUNT) {
  const user = await connectedUser(sim, { seed: `enrich-${crypto.randomUUID().slice(0, 8)}`, ...account });
  const apiKey = `tmdb-${crypto.randomUUID()}`;
  await sim.registerTmdbKey(apiKey);
  await ok(api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: apiKey } }), 201);
  return user;
}

const tmdbCalls = (counters: Record<string, number>) =>
  Object.entries(counters)
    .filter(([route]) => route.includes(' /3/'))
    .reduce((n, [, count]) => n + count, 0);

async function syncState(userId: number) {
  return (await env.DB.prepare('SELECT tmdb_backlog, enrich_lease_until, last_result FROM sync_state WHERE user_id = ?')
    .bind(userId)
    .first<{ tmdb_backlog: number; enrich_lease_until: string | null; last_result: string | null }>())!;
}

describe('a background sync', () => {
  it('makes no TMDB call: it queues the titles it touched, and the enrich run fetches exactly those', async () => {
    const user = await userWithTmdbKey();
    await sim.clearRequests();
    const outcome = await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
    expect(outcome.complete).toBe(true);
    expect(tmdbCalls(await sim.counters())).toBe(0);
    const catalog = await sim.catalog(user.traktUsername);
    expect(enrichQueue.map((m) => m.body)).toEqual([
      {
        user_id: user.id,
        enqueued_at: expect.any(String),
        movies: expect.arrayContaining(catalog.movies.map((m) => m.trakt)),
        shows: [catalog.shows[0]!.trakt],
      },
    ]);
    const before = await ok(api(user.access).trakt['get-stored-movies'].$get({ query: {} }));
    expect(before.body.movies.every((m) => m.movie.image_url === null)).toBe(true);

    await sim.clearRequests();
    const [delivery, ...more] = await drainEnrichQueue();
    expect(delivery).toMatchObject({ acked: true, retried: false });
    expect(more).toEqual([]);
    const counters = await sim.counters();
    expect(counters['GET /3/movie/:id']).toBe(4);
    expect(counters['GET /3/tv/:id']).toBe(1);
    expect(counters['GET /3/tv/:id/season/:n']).toBe(2);
    expect(Object.keys(counters).filter((route) => !route.includes(' /3/'))).toEqual([]);

    // The reads change (new ETag, posters), the figures land in last_result, the lease is free.
    const after = await ok(api(user.access).trakt['get-stored-movies'].$get({ query: {} }));
    expect(after.headers.get('ETag')).not.toBe(before.headers.get('ETag'));
    expect(after.body.movies.every((m) => m.movie.image_url !== null)).toBe(true);
    const state = await syncState(user.id);
    expect(state.tmdb_backlog).toBe(0);
    expect(state.enrich_lease_until).toBeNull();
    expect(JSON.parse(state.last_result!).enrichment).toMatchObject({ calls: 7, titles: 5, seasons: 2 });
    const status = await ok(api(user.access).trakt['sync-status'].$get());
    expect(status.body.last_result).toMatchObject({ enrichment: { calls: 7 } });
  });

  it('without a TMDB key queues nothing and flags the backlog; once a key is stored, the next one asks', async () => {
    const user = await connectedUser(sim, { seed: `enrich-nokey-${crypto.randomUUID().slice(0, 8)}`, ...ACCOUNT });
    await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
    expect(enrichQueue).toEqual([]);
    expect((await syncState(user.id)).tmdb_backlog).toBe(1);

    const apiKey = `tmdb-${crypto.randomUUID()}`;
    await sim.registerTmdbKey(apiKey);
    await ok(api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: apiKey } }), 201);
    await sim.clearRequests();
    await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] }); // nothing new at Trakt
    expect(await sim.counters()).toEqual({ 'GET /sync/last_activities': 1 });
    expect(enrichQueue.map((m) => m.body)).toEqual([
      { user_id: user.id, enqueued_at: expect.any(String), backlog: true },
    ]);
    await drainEnrichQueue();
    expect((await syncState(user.id)).tmdb_backlog).toBe(0);
    const movies = await ok(api(user.access).trakt['get-stored-movies'].$get({ query: {} }));
    expect(movies.body.movies.every((m) => m.movie.image_url !== null)).toBe(true);
  });

  it('names at most MAX_IDS_PER_KIND titles per kind; a bigger chunk asks for the backlog instead', async () => {
    const many = Array.from({ length: MAX_IDS_PER_KIND + 1 }, (_, i) => i + 1);
    await requestEnrichment(env, 1, { movies: many, shows: [7], backlog: false }, Date.now());
    await requestEnrichment(env, 2, { movies: [1, 2], shows: [], backlog: false }, Date.now());
    await requestEnrichment(env, 3, { movies: [], shows: [], backlog: false }, Date.now());
    expect(enrichQueue.map((m) => m.body)).toEqual([
      // Too many to name: a walk over the library is due.
      { user_id: 1, enqueued_at: expect.any(String), backlog: true, walk: true },
      { user_id: 2, enqueued_at: expect.any(String), movies: [1, 2] },
    ]);
    // Well under Queues' 128 KB per message.
    expect(JSON.stringify({ user_id: 1, movies: many.slice(1).map((i) => 9_999_999 - i) }).length).toBeLessThan(
      64 * 1024,
    );
  });
});

describe('the enrich consumer', () => {
  it('runs one enrichment per user: a named message meeting the lease is deferred, a backlog-only one dropped', async () => {
    const user = await userWithTmdbKey();
    await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
    const [named] = enrichQueue.splice(0);
    // The first run is parked inside its first TMDB call, holding the lease.
    await sim.addFault({ match: { path_prefix: '/3/' }, times: 1, kind: 'hold' });
    await sim.clearRequests();
    const first = deliverEnrichMessage(named!.body);
    await sim.whenHeld();
    expect((await syncState(user.id)).enrich_lease_until).not.toBeNull();

    const second = await deliverEnrichMessage(named!.body);
    expect(second).toMatchObject({ acked: true, retried: false });
    expect(enrichQueue).toEqual([{ body: { ...named!.body, deferrals: 1 }, delaySeconds: expect.any(Number) }]);
    expect(enrichQueue[0]!.delaySeconds).toBeGreaterThanOrEqual(LEASE_BUSY_DELAY_SECONDS);
    enrichQueue.length = 0;
    const backlogOnly = await deliverEnrichMessage({
      user_id: user.id,
      enqueued_at: new Date().toISOString(),
      backlog: true,
    });
    expect(backlogOnly).toMatchObject({ acked: true, retried: false });
    expect(enrichQueue).toEqual([]);

    await sim.releaseHeld();
    expect(await first).toMatchObject({ acked: true, retried: false });
    // Only the first run called TMDB: once per title and season.
    const counters = await sim.counters();
    expect(counters['GET /3/movie/:id']).toBe(4);
    expect(counters['GET /3/tv/:id/season/:n']).toBe(2);
    expect((await syncState(user.id)).enrich_lease_until).toBeNull();
  });

  it('TMDB 429: the run stops, the message comes back after Retry-After plus jitter, no retry spent', async () => {
    const clock = installVirtualPacingClock();
    try {
      const user = await userWithTmdbKey({ ...ACCOUNT, movies: 12 });
      await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
      const [named] = enrichQueue.splice(0);
      await sim.addFault({ match: { path_prefix: '/3/movie/' }, times: 1, kind: '429', retry_after: 120 });
      await sim.clearRequests();
      const delivery = await deliverEnrichMessage(named!.body);
      expect(delivery).toMatchObject({ acked: true, retried: false });
      // Everything after the 429 waited: the app-wide pause holds every TMDB call of this key.
      expect(tmdbCalls(await sim.counters())).toBeLessThan(12 + 1 + 2);
      // What is left comes back after Retry-After: the same message deferred (no retry spent) when the run got
      // nothing done, or (here: the run settled what it could) a fresh one naming the titles left.
      expect(enrichQueue).toHaveLength(1);
      const next = enrichQueue[0]!.body;
      expect(next.user_id).toBe(user.id);
      expect(next.movies!.length).toBeGreaterThan(0);
      expect(next.movies!.every((id) => named!.body.movies!.includes(id))).toBe(true);
      expect(enrichQueue[0]!.delaySeconds).toBeGreaterThanOrEqual(120);
      expect(enrichQueue[0]!.delaySeconds).toBeLessThanOrEqual(120 + 24 + 30);
      const state = await syncState(user.id);
      expect(state.tmdb_backlog).toBe(1);
      expect(state.enrich_lease_until).toBeNull();

      // After the pause, the deferred message finishes the job.
      clock.advanceBy(200_000);
      await drainEnrichQueue();
      expect((await syncState(user.id)).tmdb_backlog).toBe(0);
      const movies = await ok(api(user.access).trakt['get-stored-movies'].$get({ query: { page_size: '20' } }));
      expect(movies.body.movies.every((m) => m.movie.image_url !== null)).toBe(true);
    } finally {
      clock.restore();
    }
  });

  it('a failing run keeps the work (backlog flag), frees the lease and retries the counted way', async () => {
    const user = await userWithTmdbKey();
    await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
    const [named] = enrichQueue.splice(0);
    // A D1 failure inside the run: every batch (its writes) is refused; single statements still work.
    const db = new Proxy(env.DB, {
      get(target, property) {
        if (property === 'batch') return async () => Promise.reject(new Error('D1 batch refused'));
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const delivery = await deliverEnrichMessage(named!.body, { env: { ...env, DB: db }, attempts: 2 });
    expect(delivery).toMatchObject({ acked: false, retried: true });
    const state = await syncState(user.id);
    expect(state.tmdb_backlog).toBe(1);
    expect(state.enrich_lease_until).toBeNull();
    // The next background sync (nothing new at Trakt) asks for the backlog, and that run completes it.
    await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
    expect(enrichQueue.map((m) => m.body)).toEqual([expect.objectContaining({ user_id: user.id, backlog: true })]);
    await drainEnrichQueue();
    expect((await syncState(user.id)).tmdb_backlog).toBe(0);
  });

  it('TMDB down: retries spend the same budget, so a run never sends more requests than it may', async () => {
    const user = await userWithTmdbKey({ ...ACCOUNT, movies: 20 });
    await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
    const [named] = enrichQueue.splice(0);
    await sim.addFault({ match: { path_prefix: '/3/' }, times: 1_000, kind: '503' });
    await sim.clearRequests();
    const delivery = await deliverEnrichMessage(named!.body);
    expect(delivery).toMatchObject({ acked: true, retried: false });
    // 23 calls, each tried 3 times, would be 69 requests: the run stops at its budget.
    const sent = tmdbCalls(await sim.counters());
    expect(sent).toBe(enrichmentCallBudget(env));
    expect(sent + limiterRoundTrips(sent)).toBeLessThanOrEqual(45 - 2);
    expect((await syncState(user.id)).tmdb_backlog).toBe(1);
    expect(enrichQueue).toEqual([]); // nothing stored, so no continuation: the next sync asks again
  });

  it('acks malformed messages and users that are gone without calling anyone', async () => {
    await sim.clearRequests();
    const malformed = await deliverEnrichMessage({ user_id: 'x' } as never);
    expect(malformed).toMatchObject({ acked: true, retried: false });
    const gone = await deliverEnrichMessage({
      user_id: 987_654_321,
      enqueued_at: new Date().toISOString(),
      movies: [1],
    });
    expect(gone).toMatchObject({ acked: true, retried: false });
    expect(enrichQueue).toEqual([]);
    expect(await sim.counters()).toEqual({});
  });

  it("a run's TMDB calls plus its limiter round trips fit one invocation's subrequest budget", () => {
    for (const subrequests of [10, 43, 45, 100, 998]) {
      const calls = upstreamCallsWithin(subrequests);
      expect(calls + limiterRoundTrips(calls)).toBeLessThanOrEqual(subrequests);
      expect(calls + 1 + limiterRoundTrips(calls + 1)).toBeGreaterThan(subrequests);
    }
    expect(limiterRoundTrips(0)).toBe(0);
    expect(limiterRoundTrips(1)).toBe(2); // one batch of 1, plus one stale refill
    expect(limiterRoundTrips(15)).toBe(5); // 1 + 2 + 4 + 8
    expect(enrichmentCallBudget(env)).toBe(upstreamCallsWithin(45 - 2));
  });
});

describe("a fetch endpoint's inline run", () => {
  const holdLease = (userId: number) =>
    env.DB.prepare('INSERT INTO sync_state (user_id, enrich_lease_until) VALUES (?, ?)')
      .bind(userId, new Date(Date.now() + 120_000).toISOString())
      .run();
  const freeLease = (userId: number) =>
    env.DB.prepare('UPDATE sync_state SET enrich_lease_until = NULL WHERE user_id = ?').bind(userId).run();

  it('takes the same per-user lease: it waits for a queued run to end, then enriches its own titles', async () => {
    const user = await userWithTmdbKey();
    await holdLease(user.id); // a queued run is working on this user's library
    await sim.clearRequests();
    const released = new Promise((resolve) => setTimeout(() => resolve(freeLease(user.id)), 600));
    const res = await read(api(user.access).trakt['fetch-latest-movies'].$get());
    await released;
    expect(res.status).toBe(200);
    expect(tmdbCalls(await sim.counters())).toBeGreaterThan(0); // in this request, once the lease was free
    expect(enrichQueue).toEqual([]);
    const movies = await ok(api(user.access).trakt['get-stored-movies'].$get({ query: {} }));
    expect(movies.body.movies.every((m) => m.movie.image_url !== null)).toBe(true);
    expect((await syncState(user.id)).enrich_lease_until).toBeNull(); // released with the result
  });

  it('hands its titles to the queue when the lease stays busy, fetching nothing itself', async () => {
    const user = await userWithTmdbKey();
    await holdLease(user.id);
    await sim.clearRequests();
    const run = await runEnrichment(env, user.id, {
      mode: 'inline',
      targets: { movies: [1, 2], shows: [], backlog: false },
      budget: 10,
      leaseWaitsMs: [10, 10],
      now: Date.now,
    });
    expect(run).toEqual({ status: 'busy' });
    expect(tmdbCalls(await sim.counters())).toBe(0);
    expect((await syncState(user.id)).enrich_lease_until).not.toBeNull(); // still the queued run's
  });
});

describe('Miniflare', () => {
  // The in-process simulator cannot serve an invocation Miniflare starts on its own, so this run has
  // no TMDB key: its observable effect is the result it records in D1.
  it('delivers trakt-enrich messages to the Worker, whose consumer runs them (wrangler.toml)', async () => {
    const user = await connectedUser(sim, { seed: `enrich-real-${crypto.randomUUID().slice(0, 8)}`, ...ACCOUNT });
    await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
    expect((await syncState(user.id)).tmdb_backlog).toBe(1);
    vi.restoreAllMocks(); // the real queue from here on
    await env.ENRICH_QUEUE.send({ user_id: user.id, enqueued_at: new Date().toISOString(), backlog: true });
    await vi.waitFor(
      async () => {
        const state = await syncState(user.id);
        expect(JSON.parse(state.last_result ?? '{}').enrichment).toMatchObject({ skipped: 'no_tmdb_key' });
        expect(state.enrich_lease_until).toBeNull();
      },
      { timeout: 25_000, interval: 250 },
    );
    expect((await syncState(user.id)).tmdb_backlog).toBe(1); // still waiting for a key
  }, 30_000);
});
