/** Simulator: seeded dataset determinism and scale, plus the pure pagination and rate-limit cores. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BASE_DATE_MS, generateHistory, generateMovie, generateShow } from '../src/dataset';
import { pageParams, paginate } from '../src/pagination';
import { takeFromWindow, type WindowState } from '../src/rate-limit';
import { installSimulator, type Simulator } from '../support/harness';

afterEach(() => {
  vi.restoreAllMocks();
});

const fractions = { nullTmdb: 0.05, missingOnTmdb: 0.03 };

async function snapshot(sim: Simulator, username: string, extra: Record<string, number | string> = {}) {
  const app = await sim.createApp({ client_id: 'fixed', client_secret: 'fixed' });
  await sim.createAccount({ username, seed: 'same-seed', movies: 40, shows: 5, ...extra });
  const token = (await sim.issueTokens({ username, client_id: app.client_id })).access_token;
  const get = async (path: string) => (await sim.trakt(path, { accessToken: token, clientId: app.client_id })).json();
  return {
    history: await get('/sync/history?limit=250'),
    watchedMovies: await get('/sync/watched/movies?limit=250'),
    watchedShows: await get('/sync/watched/shows?extended=progress&limit=100'),
    activities: await get('/sync/last_activities'),
    playback: await get('/sync/playback'),
  };
}

describe('determinism', () => {
  it('same seed and sizes give identical data on independent simulators (ids and timestamps)', async () => {
    const first = await snapshot(installSimulator(), 'alice');
    vi.restoreAllMocks();
    expect(vi.isMockFunction(globalThis.fetch)).toBe(false);
    const second = await snapshot(installSimulator(), 'alice');
    expect(second).toEqual(first);
    expect(first.history).not.toEqual([]);
  });

  it('does not depend on the wall clock', async () => {
    const first = await snapshot(installSimulator({ now: () => Date.parse('2026-08-01T00:00:00Z') }), 'alice');
    vi.restoreAllMocks();
    const second = await snapshot(installSimulator({ now: () => Date.parse('2027-01-15T00:00:00Z') }), 'alice');
    expect(second).toEqual(first);
    const latest = Math.max(...(first.history as Array<{ watched_at: string }>).map((h) => Date.parse(h.watched_at)));
    expect(latest).toBeLessThan(BASE_DATE_MS);
  });

  it('a different seed gives different titles', async () => {
    const sim = installSimulator();
    await sim.createAccount({ username: 'a', seed: 'one', movies: 5, shows: 1 });
    await sim.createAccount({ username: 'b', seed: 'two', movies: 5, shows: 1 });
    const a = (await sim.catalog('a')).movies.map((m) => m.trakt);
    const b = (await sim.catalog('b')).movies.map((m) => m.trakt);
    expect(a.filter((id) => b.includes(id))).toEqual([]);
  });

  it('accounts with the same seed share titles but have distinct history ids', async () => {
    const sim = installSimulator();
    await sim.createAccount({ username: 'alice', seed: 'shared', movies: 10, shows: 2 });
    await sim.createAccount({ username: 'bob', seed: 'shared', movies: 20, shows: 3 });
    const alice = await sim.catalog('alice');
    const bob = await sim.catalog('bob');
    expect(bob.movies.slice(0, 10)).toEqual(alice.movies);
    expect(bob.shows.slice(0, 2)).toEqual(alice.shows);
    const alicePlays = new Set((await sim.plays('alice')).map((p) => p.id));
    expect((await sim.plays('bob')).some((p) => alicePlays.has(p.id))).toBe(false);
  });

  it('catalog item i does not depend on the dataset size', () => {
    expect(generateMovie('s', 7, fractions)).toEqual(generateMovie('s', 7, fractions));
    expect(generateShow('s', 3, 2, 5, fractions).traktId).toBe(generateShow('s', 3, 4, 9, fractions).traktId);
    const movies = [0, 1, 2].map((i) => generateMovie('s', i, fractions));
    const options = {
      seed: 's',
      playsPerItem: 2,
      rewatchFraction: 0.5,
      historyStart: Date.parse('2022-01-01T00:00:00Z'),
      historyEnd: BASE_DATE_MS,
    };
    expect(generateHistory(options, movies, [])).toEqual(generateHistory(options, movies, []));
    expect(generateHistory(options, movies, []).plays.length).toBeGreaterThanOrEqual(6);
  });
});

describe('scale', () => {
  // How long this takes is measured in bench/simulator.bench.test.ts, not asserted here.
  it('creates 5,000 movies and 300 shows and serves them paginated', async () => {
    const sim = installSimulator();
    const app = await sim.createApp();
    const account = await sim.createAccount({
      username: 'big',
      movies: 5000,
      shows: 300,
      seasons_per_show: 3,
      episodes_per_season: 10,
    });
    expect(account.summary.movies_watched).toBe(5000);
    expect(account.summary.shows_watched).toBe(300);

    const token = (await sim.issueTokens({ username: 'big', client_id: app.client_id })).access_token;
    const response = await sim.trakt('/sync/watched/movies?limit=250&page=20', {
      accessToken: token,
      clientId: app.client_id,
    });
    expect(response.headers.get('x-pagination-page-count')).toBe('20');
    expect(await response.json<unknown[]>()).toHaveLength(250);
    const ids = (await sim.plays('big')).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Math.max(...ids)).toBeLessThan(2 ** 53);
  });
});

describe('pagination maths', () => {
  const rules = { defaultLimit: 10, maxLimit: 250 };
  it('defaults, clamps and ignores invalid values', () => {
    expect(pageParams({}, rules)).toEqual({ page: 1, limit: 10 });
    expect(pageParams({ page: '3', limit: '1000' }, rules)).toEqual({ page: 3, limit: 250 });
    expect(pageParams({ page: '0', limit: '-5' }, rules)).toEqual({ page: 1, limit: 10 });
    expect(pageParams({ page: 'x', limit: '2.5' }, rules)).toEqual({ page: 1, limit: 10 });
  });
  it('slices pages and reports counts', () => {
    const items = Array.from({ length: 23 }, (_, i) => i);
    const page = paginate(items, { page: '3', limit: '10' }, rules);
    expect(page.items).toEqual([20, 21, 22]);
    expect(page.headers).toEqual({
      'X-Pagination-Page': '3',
      'X-Pagination-Limit': '10',
      'X-Pagination-Page-Count': '3',
      'X-Pagination-Item-Count': '23',
    });
    expect(paginate(items, { page: '4', limit: '10' }, rules).items).toEqual([]);
    expect(paginate([], {}, rules).pageCount).toBe(1);
  });
});

describe('rate-limit window', () => {
  it('allows limit requests per window, then reports when it resets', () => {
    let state: WindowState | undefined;
    const decisions = [];
    for (let i = 0; i < 4; i++) {
      const decision = takeFromWindow(state, 1_000 + i, 3, 60_000);
      state = decision.state;
      decisions.push(decision);
    }
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(decisions[3]?.resetAt).toBe(61_000);
    expect(decisions[3]?.retryAfterSeconds).toBe(60);
    expect(takeFromWindow(state, 61_000, 3, 60_000).allowed).toBe(true);
  });
});
