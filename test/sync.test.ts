import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { DEFAULT_SUBREQUEST_BUDGET } from '../src/config';
import { limiterRoundTrips } from '../src/pacing/gate';
import type { ContinuationMessage } from '../src/sync/service';
import { enrichmentCallBudget } from '../src/tmdb/runner';
import { expectError, registerAndLogin } from './support/api';
import { api, expectStatus, read } from './support/client';
import { meterD1 } from './support/d1-meter';
import { drainEnrichQueue, enrichQueue } from './support/enrich-queue';
import { installVirtualPacingClock } from './support/pacing-clock';
import { syncQueue } from './support/sync-queue';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

const HISTORY_TABLES = ['movies', 'shows', 'seasons', 'episodes', 'plays'];

async function storeTmdbKey(access: string) {
  expect(
    (await read(api(access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } })))
      .status,
  ).toBe(201);
}

async function syncAll(access: string) {
  const movies = await read(api(access).trakt['fetch-latest-movies'].$get());
  const shows = await read(api(access).trakt['fetch-latest-shows'].$get());
  return { movies, shows };
}

async function dbCounts(userId: number) {
  const one = async (sql: string) => (await env.DB.prepare(sql).bind(userId).first<{ n: number }>())!.n;
  return {
    movies: await one('SELECT count(*) AS n FROM movies WHERE user_id = ?'),
    movie_plays: await one("SELECT count(*) AS n FROM plays WHERE user_id = ? AND media_type = 'movie'"),
    shows: await one('SELECT count(*) AS n FROM shows WHERE user_id = ?'),
    watched_episodes: await one(
      'SELECT count(*) AS n FROM episodes e JOIN seasons se ON se.id = e.season_id JOIN shows s ON s.id = se.show_id WHERE s.user_id = ? AND e.plays > 0',
    ),
    episode_plays: await one("SELECT count(*) AS n FROM plays WHERE user_id = ? AND media_type = 'episode'"),
  };
}

async function expectMatchesTrakt(userId: number, traktUsername: string) {
  const truth = await sim.summary(traktUsername);
  expect(await dbCounts(userId)).toEqual({
    movies: truth.movies_watched,
    movie_plays: truth.history_items.movies,
    shows: truth.shows_watched,
    watched_episodes: truth.episodes_watched,
    episode_plays: truth.history_items.episodes,
  });
}

describe('first sync', () => {
  it('stores a multi-page account completely (>250 movies, >100 watched shows)', async () => {
    const user = await connectedUser(sim, {
      movies: 260,
      shows: 105,
      seasons_per_show: 1,
      episodes_per_season: 2,
      plays_per_item: 1,
      rewatch_fraction: 0.2,
    });
    await sim.clearRequests();
    const { movies, shows } = await syncAll(user.access);
    expect(movies.status).toBe(200);
    expect(movies.body).toMatchObject({
      result: 'Movies fetched and stored successfully',
      added: 260,
      updated: 0,
      removed: 0,
      unchanged: 0,
    });
    expect(shows.status).toBe(200);
    expect(shows.body).toMatchObject({
      result: 'Shows and episodes fetched and stored successfully',
      added: 105,
      removed: 0,
    });
    await expectMatchesTrakt(user.id, user.traktUsername);

    const counters = await sim.counters();
    expect(counters['GET /sync/watched/movies']).toBe(2); // 260 at 250 per page
    expect(counters['GET /sync/watched/shows']).toBe(1); // 105 at 250 per page (episodes come from history)
    const requests = await sim.requests();
    const history = requests.filter((r) => r.path === '/sync/history/movies');
    expect(history.length).toBeGreaterThanOrEqual(2);
    for (const r of history) expect(r.query).toMatchObject({ limit: '250' });
    const watchedShows = requests.filter((x) => x.path === '/sync/watched/shows');
    expect(watchedShows.length).toBeGreaterThan(0);
    for (const r of watchedShows) expect(r.query).toMatchObject({ limit: '250' });
    expect(counters['GET /users/:id/stats'] ?? 0).toBe(0); // a first sync is a full pass: nothing to check against
  });
});

describe('incremental sync', () => {
  it('a sync with no changes costs exactly 1 upstream request and writes no history rows', async () => {
    const user = await connectedUser(sim, { movies: 20, shows: 3 });
    await syncAll(user.access);
    await sim.clearRequests();
    const { result, meter } = await meterD1(() => read(api(user.access).trakt['fetch-latest-movies'].$get()));
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ added: 0, updated: 0, removed: 0, unchanged: 0, plays_added: 0 });
    expect(Object.values(await sim.counters()).reduce((a, b) => a + b, 0)).toBe(1);
    expect((await sim.counters())['GET /sync/last_activities']).toBe(1);
    // Positive control: the meter saw this request's statements (the lease on sync_state is taken and released).
    expect(meter.statements.some((q) => /^select/i.test(q) && /"sync_state"|\bsync_state\b/i.test(q))).toBe(true);
    expect(meter.writesByTable.get('sync_state')).toBeGreaterThan(0);
    for (const table of HISTORY_TABLES) expect(meter.writesByTable.get(table) ?? 0).toBe(0);
    // Besides the sync's own state: the request's per-user budget (src/budgets).
    const allowed = new Set(['sync_state', 'trakt_connections', 'user_budgets']);
    expect([...meter.writesByTable.keys()].filter((t) => !allowed.has(t))).toEqual([]);

    await sim.clearRequests();
    const shows = await meterD1(() => read(api(user.access).trakt['fetch-latest-shows'].$get()));
    expect(shows.result.status).toBe(200);
    expect(Object.values(await sim.counters()).reduce((a, b) => a + b, 0)).toBe(1);
    expect(shows.meter.writesByTable.get('sync_state')).toBeGreaterThan(0);
    for (const table of HISTORY_TABLES) expect(shows.meter.writesByTable.get(table) ?? 0).toBe(0);
  });

  it('reflects new, backdated and removed plays, a rewatch and playback progress, no duplicates', async () => {
    const user = await connectedUser(sim, { movies: 12, shows: 3, seasons_per_show: 2, episodes_per_season: 3 });
    await syncAll(user.access);
    const catalog = await sim.catalog(user.traktUsername);
    const movie = catalog.movies[0]!;
    const show = catalog.shows[0]!;
    const episode = show.seasons[0]!.episodes[0]!;

    // New play now, a backdated one from years ago, and a removed one.
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: movie.trakt });
    await sim.addPlay(user.traktUsername, {
      type: 'movie',
      trakt_id: catalog.movies[1]!.trakt,
      watched_at: '2015-01-01T00:00:00.000Z',
    });
    const plays = await sim.plays(user.traktUsername);
    const victim = plays.find((p) => p.type === 'movie' && p.trakt_id === catalog.movies[2]!.trakt)!;
    await sim.removePlay(user.traktUsername, victim.id);
    const movies = await read(api(user.access).trakt['fetch-latest-movies'].$post());
    expectStatus(movies, 200);
    expect(movies.body.plays_added).toBe(2);
    expect(movies.body.plays_removed).toBe(1);
    await expectMatchesTrakt(user.id, user.traktUsername);
    expect(
      await env.DB.prepare('SELECT 1 FROM plays WHERE user_id = ? AND history_id = ?').bind(user.id, victim.id).first(),
    ).toBeNull();

    // A rewatch (reset) alone: Trakt's watched_at moves with no new play, so the sync reconciles and stores reset_at.
    await sim.resetShow(user.traktUsername, { show_trakt_id: show.trakt });
    expect((await read(api(user.access).trakt['fetch-latest-shows'].$get())).status).toBe(200);
    const stored = await env.DB.prepare('SELECT reset_at FROM shows WHERE user_id = ? AND trakt_id = ?')
      .bind(user.id, show.trakt)
      .first<{ reset_at: string | null }>();
    expect(stored!.reset_at).toMatch(/Z$/);

    // An episode play and a paused episode (a second later: Trakt's activity times have second precision).
    await sim.advanceClock(2);
    await sim.addPlay(user.traktUsername, { type: 'episode', trakt_id: episode.trakt });
    const pausedEpisode = show.seasons[1]!.episodes[2]!;
    await sim.setPlayback(user.traktUsername, { type: 'episode', trakt_id: pausedEpisode.trakt, progress: 42.5 });
    await sim.clearRequests();
    const shows = await read(api(user.access).trakt['fetch-latest-shows'].$get());
    expect(shows.status).toBe(200);
    expect(shows.body, JSON.stringify(shows.body)).toMatchObject({ plays_added: 1 });
    await expectMatchesTrakt(user.id, user.traktUsername);
    const seasonsEpisodes = await read(
      api(user.access).trakt['get-watched-seasons-episodes'].$get({ query: { trakt_id: String(show.trakt) } }),
    );
    const paused = seasonsEpisodes.body.episodes.find((e) => e.season__season_number === 2 && e.episode_number === 3);
    expect(paused?.progress).toBe(42.5);

    // Running the same sync again changes nothing.
    await syncAll(user.access);
    await expectMatchesTrakt(user.id, user.traktUsername);
    const status = await read(api(user.access).trakt['sync-status'].$get());
    const truth = await sim.summary(user.traktUsername);
    expect(status.body.counts).toEqual({
      movies: truth.movies_watched,
      shows: truth.shows_watched,
      episodes: truth.episodes_watched,
      plays: truth.history_items.movies + truth.history_items.episodes,
    });
  });
});

describe('failures mid-sync', () => {
  it.each([
    ['500', { kind: '500' as const, times: 10 }, 502, /unavailable/],
    ['429', { kind: '429' as const, times: 1, retry_after: 120 }, 429, /rate limit/],
    ['timeout', { kind: 'hang' as const, times: 10 }, 504, /did not respond/],
    ['malformed JSON', { kind: 'malformed_json' as const, times: 1 }, 502, /invalid response/],
  ])(
    '%s on page 3 of 5: clear error, the 2 pages before it kept with their cursor, next sync resumes there',
    async (_name, fault, status, message) => {
      const pacing = installVirtualPacingClock();
      onTestFinished(pacing.restore);
      // 1,100 plays at the 250-per-page limit the sync sends: history has 5 pages, and page 3 fails.
      const big = await connectedUser(sim, { movies: 1100, shows: 0, plays_per_item: 1, rewatch_fraction: 0 });
      await sim.addFault({ match: { path_prefix: '/sync/history/movies' }, after: 2, ...fault });
      const failed = await read(api(big.access).trakt['fetch-latest-movies'].$get());
      expectError(failed, status, message);
      // Pages 1 and 2 share one boundary play (page 2 is asked for with end_at = the oldest play of page 1).
      expect(await dbCounts(big.id)).toMatchObject({ movie_plays: 499 });
      const state = await env.DB.prepare(
        'SELECT movies_synced_at, movies_watched_at, movies_pass, last_error, lease_id FROM sync_state WHERE ' +
          'user_id = ?',
      )
        .bind(big.id)
        .first<{ movies_pass: string; last_error: string }>();
      expect(state).toMatchObject({ movies_synced_at: null, movies_watched_at: null, lease_id: null });
      expect(state!.last_error).toMatch(message);
      const cursor = JSON.parse(state!.movies_pass).cursor as { endAt: string };
      const oldestStored = await env.DB.prepare('SELECT min(watched_at) AS at FROM plays WHERE user_id = ?')
        .bind(big.id)
        .first<{ at: string }>();
      expect(cursor.endAt).toBe(oldestStored!.at);

      await sim.clearFaults();
      // A 429 holds the user's calls until Retry-After: the test moves the limiter's clock and the API's past it.
      const waitMs = Number(failed.headers.get('Retry-After') ?? 0) * 1000;
      pacing.advanceBy(waitMs);
      await sim.clearRequests();
      const realNow = Date.now;
      Date.now = () => realNow() + waitMs;
      const retried = await read(api(big.access).trakt['fetch-latest-movies'].$get()).finally(() => {
        Date.now = realNow;
      });
      expect(retried.status).toBe(200);
      await expectMatchesTrakt(big.id, big.traktUsername);
      const history = (await sim.requests()).filter((r) => r.path === '/sync/history/movies');
      expect(history.length).toBeGreaterThanOrEqual(3);
      // Resumed at the cursor: no request reaches above it (pages 1–2 are not fetched again).
      for (const r of history) expect(Date.parse(r.query.end_at!)).toBeLessThanOrEqual(Date.parse(cursor.endAt));
      expect(history[0]!.query.end_at).toBe(cursor.endAt);
    },
  );
});

describe('TMDB enrichment', () => {
  it('one call per uncached title and season; a second user with the same titles costs 0 TMDB calls', async () => {
    const first = await connectedUser(sim, {
      seed: 'shared-titles',
      movies: 6,
      shows: 2,
      seasons_per_show: 2,
      episodes_per_season: 3,
      null_tmdb_fraction: 0,
      missing_on_tmdb_fraction: 0,
    });
    await storeTmdbKey(first.access);
    await sim.clearRequests();
    await syncAll(first.access);
    const counters = await sim.counters();
    expect(counters['GET /3/movie/:id']).toBe(6);
    expect(counters['GET /3/tv/:id']).toBe(2);
    expect(counters['GET /3/tv/:id/season/:n']).toBe(4);
    expect(counters['GET /3/tv/:id/season/:n/episode/:e'] ?? 0).toBe(0);

    const movies = await read(api(first.access).trakt['get-stored-movies'].$get({ query: { page_size: '100' } }));
    expect(movies.body.movies).toHaveLength(6);
    for (const m of movies.body.movies)
      expect(m.movie.image_url).toMatch(/^https:\/\/image\.tmdb\.org\/t\/p\/w500\/.+/);
    const show = (await read(api(first.access).trakt['get-stored-shows'].$get({ query: {} }))).body.shows[0]!;
    expect(show.show.image_url).toMatch(/\/w500\//);
    const detail = await read(
      api(first.access).trakt['get-watched-seasons-episodes'].$get({
        query: { trakt_id: String(show.show.ids.trakt) },
      }),
    );
    const ep = detail.body.episodes[0]!;
    expect(ep.image_url).toMatch(/\/w300\//);
    expect(typeof ep.title).toBe('string');
    expect(typeof ep.overview).toBe('string');
    expect(typeof ep.rating).toBe('number');

    const second = await connectedUser(sim, {
      seed: 'shared-titles',
      movies: 6,
      shows: 2,
      seasons_per_show: 2,
      episodes_per_season: 3,
      null_tmdb_fraction: 0,
      missing_on_tmdb_fraction: 0,
    });
    await storeTmdbKey(second.access);
    await sim.clearRequests();
    await syncAll(second.access);
    const again = await sim.counters();
    expect(Object.entries(again).filter(([k]) => k.includes(' /3/'))).toEqual([]);
    expect(
      (await read(api(second.access).trakt['get-stored-movies'].$get({ query: {} }))).body.movies[0]?.movie.image_url,
    ).toMatch(/w500/);
  });

  it('finds null-tmdb items by imdb/tvdb id, tolerates titles missing on TMDB, survives TMDB down', async () => {
    const user = await connectedUser(sim, {
      seed: 'odd-ids',
      movies: 30,
      shows: 4,
      null_tmdb_fraction: 0.2,
      missing_on_tmdb_fraction: 0.1,
    });
    await storeTmdbKey(user.access);
    await sim.clearRequests();
    await syncAll(user.access);
    // What the fetches had no budget for is enriched by the trakt-enrich queue: the titles left, by name.
    expect(enrichQueue.map((m) => m.body)).toContainEqual(
      expect.objectContaining({ user_id: user.id, movies: expect.any(Array) }),
    );
    await drainEnrichQueue();
    const catalog = await sim.catalog(user.traktUsername);
    const nullTmdb = catalog.movies.filter((m) => m.tmdb_status === 'null_tmdb');
    expect(nullTmdb.length).toBeGreaterThan(0);
    expect((await sim.counters())['GET /3/find/:external_id']).toBeGreaterThanOrEqual(nullTmdb.length);
    const stored = (await read(api(user.access).trakt['get-stored-movies'].$get({ query: { page_size: '100' } }))).body
      .movies;
    for (const m of nullTmdb) {
      const row = stored.find((s) => s.movie.ids.trakt === m.trakt)!;
      expect(row.movie.ids.tmdb).toBeNull();
      expect(row.movie.image_url).toMatch(/w500/);
    }
    const missing = catalog.movies.filter((x) => x.tmdb_status === 'missing');
    expect(missing.length).toBeGreaterThan(0);
    for (const m of missing) {
      expect(stored.find((s) => s.movie.ids.trakt === m.trakt)!.movie.image_url).toBeNull();
    }

    const other = await connectedUser(sim, { seed: 'tmdb-down', movies: 3, shows: 0 });
    await storeTmdbKey(other.access);
    await sim.addFault({ match: { path_prefix: '/3/' }, times: 100, kind: '503' });
    const res = await read(api(other.access).trakt['fetch-latest-movies'].$get());
    expectStatus(res, 200);
    expect(res.body.added).toBe(3);
    const page = await read(api(other.access).trakt['get-stored-movies'].$get({ query: {} }));
    expect(page.body.movies).toHaveLength(3);
    expect(page.body.movies.every((m) => m.movie.image_url === null)).toBe(true);
    // Enriched later, once TMDB is back.
    await sim.clearFaults();
    await sim.addPlay(other.traktUsername, {
      type: 'movie',
      trakt_id: (await sim.catalog(other.traktUsername)).movies[0]!.trakt,
    });
    await read(api(other.access).trakt['fetch-latest-movies'].$get());
    const later = await read(api(other.access).trakt['get-stored-movies'].$get({ query: {} }));
    expect(later.body.movies.some((m) => m.movie.image_url !== null)).toBe(true);
  });
});

describe('TMDB backlog', () => {
  it('a fetch enriches within its budget and queues the rest; the enrich queue drains it; manual no-op = 1 call', async () => {
    const user = await connectedUser(sim, {
      seed: 'backlog',
      movies: 305,
      shows: 0,
      null_tmdb_fraction: 0,
      missing_on_tmdb_fraction: 0,
    });
    await storeTmdbKey(user.access);
    const continuations: ContinuationMessage[] = [];
    const send = vi.spyOn(env.SYNC_QUEUE, 'send').mockImplementation(async (body) => {
      continuations.push(body as ContinuationMessage);
      return undefined as never;
    });
    await sim.clearRequests();
    expect((await read(api(user.access).trakt['fetch-latest-movies'].$get())).status).toBe(200);
    const withImages = async () =>
      (await env.DB.prepare(
        "SELECT count(*) AS n FROM movies m JOIN tmdb_titles t ON t.kind = 'movie' AND t.tmdb_id = m.tmdb_ref " +
          'WHERE m.user_id = ?',
      )
        .bind(user.id)
        .first<{ n: number }>())!.n;
    const backlogFlag = async () =>
      (await env.DB.prepare('SELECT tmdb_backlog AS n FROM sync_state WHERE user_id = ?')
        .bind(user.id)
        .first<{ n: number }>())!.n;
    const total = (counters: Record<string, number>) => Object.values(counters).reduce((n, v) => n + v, 0);
    const first = await sim.counters();
    const traktCalls = total(first) - (first['GET /3/movie/:id'] ?? 0);
    // Trakt + TMDB calls, plus the limiter round trips they may cost, within one invocation's budget.
    expect(
      total(first) + limiterRoundTrips(traktCalls) + limiterRoundTrips(first['GET /3/movie/:id'] ?? 0),
    ).toBeLessThanOrEqual(DEFAULT_SUBREQUEST_BUDGET);
    const enrichedFirst = await withImages();
    expect(enrichedFirst).toBe(first['GET /3/movie/:id']);
    expect(enrichedFirst).toBeGreaterThan(0);
    expect(enrichedFirst).toBeLessThan(305);
    expect(await backlogFlag()).toBe(1);
    expect(continuations).toHaveLength(0);
    // The titles it had no budget for go to the queue by name (no walk over the library is needed).
    expect(enrichQueue.map((m) => m.body)).toEqual([expect.objectContaining({ user_id: user.id })]);
    expect(enrichQueue[0]!.body.movies).toHaveLength(305 - enrichedFirst);

    // A manual no-op costs one Trakt call and queues nothing.
    const named = enrichQueue.splice(0);
    await sim.clearRequests();
    expect((await read(api(user.access).trakt['fetch-latest-movies'].$get())).status).toBe(200);
    expect(await sim.counters()).toEqual({ 'GET /sync/last_activities': 1 });
    expect(enrichQueue).toHaveLength(0);

    // The queue: the named titles' message, delivered now; each run stays within its budget, calls no Trakt,
    // and queues its own continuation.
    enrichQueue.push(...named);
    let runs = 0;
    while (enrichQueue.length > 0 && runs < 20) {
      runs += 1;
      await sim.clearRequests();
      const [delivery] = await drainEnrichQueue({ maxRuns: 1 });
      expect(delivery!.acked).toBe(true);
      const counters = await sim.counters();
      expect(Object.keys(counters).filter((k) => !k.includes(' /3/'))).toEqual([]);
      expect(total(counters)).toBeLessThanOrEqual(enrichmentCallBudget(env));
      expect(total(counters) + limiterRoundTrips(total(counters))).toBeLessThanOrEqual(DEFAULT_SUBREQUEST_BUDGET);
    }
    expect(runs).toBeGreaterThan(1);
    expect(await withImages()).toBe(305);
    expect(await backlogFlag()).toBe(0);
    send.mockRestore();
  }, 60_000);
});

describe('errors and concurrency', () => {
  it('without a connection: 401 No Trakt token found', async () => {
    const user = await registerAndLogin();
    expectError(await read(api(user.access).trakt['fetch-latest-movies'].$get()), 401, 'No Trakt token found');
    expectError(await read(api(user.access).trakt['fetch-latest-shows'].$post()), 401, 'No Trakt token found');
  });

  it('a second sync while one runs is recorded (202) and queued when it ends; exactly one sync runs meanwhile', async () => {
    const user = await connectedUser(sim, { movies: 3, shows: 0 });
    syncQueue.length = 0; // the new connection's first sync, queued at once
    await sim.clearRequests();
    // The first sync holds the lease while its first Trakt call is parked in the simulator.
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 1, kind: 'hold' });
    const first = read(api(user.access).trakt['fetch-latest-movies'].$get());
    await sim.whenHeld();
    const second = await read(api(user.access).trakt['fetch-latest-movies'].$get());
    expectStatus(second, 202);
    expect(second.body).toMatchObject({ result: 'Sync requested; it starts when the sync in progress ends' });
    expect(syncQueue).toEqual([]); // not run, not queued yet: recorded on the user's row
    await sim.releaseHeld();
    const done = await first;
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ result: 'Movies fetched and stored successfully', added: 3 });
    // One sync's worth of Trakt calls: one answered activities check (the held call, or its retry if the
    // API's upstream timeout gave up on it first) and one watched list.
    const answered = (path: string) =>
      sim.requests().then((log) => log.filter((r) => r.path === path && r.status === 200));
    expect(await answered('/sync/last_activities')).toHaveLength(1);
    expect(await answered('/sync/watched/movies')).toHaveLength(1);
    await expectMatchesTrakt(user.id, user.traktUsername);
    const status = await read(api(user.access).trakt['sync-status'].$get());
    expect(status.body).toMatchObject({ in_progress: false, last_error: null, counts: { movies: 3 } });
    // The first sync's release handed the recorded request to the queue, once: it is never dropped.
    expect(syncQueue.map((m) => m.body)).toEqual([
      { user_id: user.id, enqueued_at: expect.any(String), kinds: ['movies'] },
    ]);
  });

  it('token and API keys read once per sync; a token rejected mid-sync is refreshed once, sync completes', async () => {
    const user = await connectedUser(sim, { movies: 600, shows: 0, plays_per_item: 1 });
    // A TMDB key of the user's own, so the fetch also enriches inline (the runner must not read the keys again).
    const tmdbKey = { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } as const;
    expect((await read(api(user.access).users['api-keys'].$post({ json: tmdbKey }))).status).toBe(201);
    // Trakt now answers 401 although our expiry says the token is valid.
    expect(await sim.expireAccountTokens(user.traktUsername)).toBe(1);
    await sim.clearRequests();
    const { result, meter } = await meterD1(() => read(api(user.access).trakt['fetch-latest-movies'].$get()));
    expectStatus(result, 200);
    expect(result.body.added).toBe(600);
    const counters = await sim.counters();
    expect(counters['POST /oauth/token']).toBe(1);
    // Positive control: TMDB enrichment ran inside this request, with the keys the sync had read.
    const tmdbRequests = Object.entries(counters).filter(([route]) => route.includes(' /3/'));
    expect(tmdbRequests.reduce((n, [, count]) => n + count, 0)).toBeGreaterThan(0);
    const connectionReads = meter.statements.filter(
      (q) => /from "trakt_connections"/i.test(q) && /^select/i.test(q),
    ).length;
    expect(connectionReads).toBeGreaterThanOrEqual(1); // positive control: the meter saw the lookup
    expect(connectionReads).toBeLessThanOrEqual(4); // not one per page (this sync fetches 10 pages)
    // The user's API keys (Trakt app and TMDB) are read and decrypted once per sync, refresh included.
    const keyReads = meter.statements.filter((q) => /from "api_keys"/i.test(q) && /^select/i.test(q));
    expect(keyReads).toHaveLength(1);
  });

  it('upstream 429 surfaces as 429 with Retry-After', async () => {
    const user = await connectedUser(sim, { movies: 3, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 1, kind: '429', retry_after: 90 });
    const res = await read(api(user.access).trakt['fetch-latest-movies'].$get());
    expectError(res, 429, /rate limit/);
    // Trakt's Retry-After plus the jitter of the app-wide pause it started (at most 10%).
    const retryAfter = Number(res.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThanOrEqual(90);
    expect(retryAfter).toBeLessThanOrEqual(99);
  });
});
