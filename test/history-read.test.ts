import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { call, expectError, registerAndLogin } from './support/api';
import { api, ok, read } from './support/client';
import { meterD1 } from './support/d1-meter';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

const ISO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function syncedUser(account: Parameters<typeof connectedUser>[1]) {
  const user = await connectedUser(sim, account);
  await ok(
    api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }),
    201,
  );
  await ok(api(user.access).trakt['fetch-latest-movies'].$get());
  await ok(api(user.access).trakt['fetch-latest-shows'].$get());
  return user;
}

describe('read endpoints', () => {
  it('get-stored-movies: the API reference shape, default page size 5, most recently watched first', async () => {
    const user = await syncedUser({ movies: 12, shows: 0, null_tmdb_fraction: 0, missing_on_tmdb_fraction: 0 });
    const res = await read(api(user.access).trakt['get-stored-movies'].$get({ query: {} }));
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['page', 'page_size', 'total_items', 'total_pages', 'movies']);
    expect(res.body).toMatchObject({ page: 1, page_size: 5, total_items: 12, total_pages: 3 });
    expect(res.body.movies).toHaveLength(5);
    const [first] = res.body.movies;
    expect(first).toEqual({
      plays: expect.any(Number),
      last_watched_at: expect.stringMatching(ISO_Z),
      last_updated_at: expect.stringMatching(ISO_Z),
      movie: {
        title: expect.any(String),
        year: expect.any(Number),
        image_url: expect.stringMatching(/^https:\/\/image\.tmdb\.org\/t\/p\/w500\//),
        ids: {
          trakt: expect.any(Number),
          slug: expect.any(String),
          imdb: expect.stringMatching(/^tt/),
          tmdb: expect.any(Number),
        },
        overview: expect.any(String),
        backdrop_url: expect.stringMatching(/^https:\/\/image\.tmdb\.org\/t\/p\/w1280\//),
        genres: expect.arrayContaining([expect.any(String)]),
        runtime: expect.any(Number),
        rating: expect.any(Number),
      },
    });
    const times = [
      ...res.body.movies,
      ...(await ok(api(user.access).trakt['get-stored-movies'].$get({ query: { page: '2' } }))).body.movies,
    ].map((m) => m.last_watched_at);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('get-stored-shows and get-watched-seasons-episodes: reference shapes, by season then episode', async () => {
    const user = await syncedUser({
      movies: 0,
      shows: 2,
      seasons_per_show: 2,
      episodes_per_season: 3,
      null_tmdb_fraction: 0,
      missing_on_tmdb_fraction: 0,
      rewatch_fraction: 0,
    });
    const shows = await read(api(user.access).trakt['get-stored-shows'].$get({ query: { page: '1', page_size: '5' } }));
    expect(shows.body).toMatchObject({ page: 1, page_size: 5, total_items: 2, total_pages: 1 });
    const entry = shows.body.shows[0]!;
    expect(entry).toEqual({
      last_watched_at: expect.stringMatching(ISO_Z),
      plays: expect.any(Number),
      reset_at: null,
      show: {
        id: expect.any(Number),
        title: expect.any(String),
        year: expect.any(Number),
        image_url: expect.stringMatching(/w500/),
        ids: { trakt: expect.any(Number), tmdb: expect.any(Number) },
        overview: expect.any(String),
        backdrop_url: expect.stringMatching(/w1280/),
        genres: expect.arrayContaining([expect.any(String)]),
        runtime: expect.any(Number),
        rating: expect.any(Number),
      },
    });
    const detail = await read(
      api(user.access).trakt['get-watched-seasons-episodes'].$get({
        query: { trakt_id: String(entry.show.ids.trakt) },
      }),
    );
    expect(detail.status).toBe(200);
    expect(detail.body.seasons.map((s) => s.season_number)).toEqual([1, 2]);
    expect(detail.body.seasons[0]).toEqual({
      id: expect.any(Number),
      season_number: 1,
      show__id: entry.show.id,
      show__title: entry.show.title,
      show__trakt_id: entry.show.ids.trakt,
    });
    expect(detail.body.episodes.map((e) => `${e.season__season_number}x${e.episode_number}`)).toEqual([
      '1x1',
      '1x2',
      '1x3',
      '2x1',
      '2x2',
      '2x3',
    ]);
    expect(detail.body.episodes[0]).toEqual({
      id: expect.any(Number),
      episode_number: 1,
      title: expect.any(String),
      image_url: expect.stringMatching(/w300/),
      rating: expect.any(Number),
      overview: expect.any(String),
      season__id: detail.body.seasons[0]?.id,
      season__season_number: 1,
      show__id: entry.show.id,
      show__title: entry.show.title,
      show__trakt_id: entry.show.ids.trakt,
      last_watched_at: expect.stringMatching(ISO_Z),
      progress: 100,
      plays: expect.any(Number),
    });
  });

  it("validates trakt_id with the API reference's exact message, and 404s a show the caller lacks", async () => {
    const user = await registerAndLogin();
    const missing = await call('GET', '/trakt/get-watched-seasons-episodes/', { token: user.access });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error: "The 'trakt_id' parameter is required" });
    expectError(
      await call('GET', '/trakt/get-watched-seasons-episodes/?trakt_id=', { token: user.access }),
      400,
      "The 'trakt_id' parameter is required",
    );
    expectError(
      await call('GET', '/trakt/get-watched-seasons-episodes/?trakt_id=abc', { token: user.access }),
      400,
      /positive integer/,
    );
    expectError(
      await call('GET', '/trakt/get-watched-seasons-episodes/?trakt_id=1.5', { token: user.access }),
      400,
      /positive integer/,
    );
    expectError(
      await call('GET', '/trakt/get-watched-seasons-episodes/?trakt_id=123456', { token: user.access }),
      404,
      /No watched show/,
    );
  });

  it.each([
    ['page=0', /page must be an integer between 1 and 1000000/],
    ['page=-1', /page must be an integer between 1 and 1000000/],
    ['page=abc', /page must be an integer between 1 and 1000000/],
    ['page=1.5', /page must be an integer between 1 and 1000000/],
    ['page=9007199254740991', /page must be an integer between 1 and 1000000/],
    ['page_size=0', /page_size must be an integer between 1 and 100/],
    ['page_size=101', /page_size must be an integer between 1 and 100/],
    ['page_size=ten', /page_size must be an integer between 1 and 100/],
  ])('rejects %s with 400', async (query, message) => {
    const user = await registerAndLogin();
    const res = await call('GET', `/trakt/get-stored-movies/?${query}`, { token: user.access });
    expectError(res, 400, message);
    expect(res.body.details).toBeInstanceOf(Array);
    expectError(await call('GET', `/trakt/get-stored-shows/?${query}`, { token: user.access }), 400, message);
  });

  it('a page past the end is empty with correct totals; a user who never synced gets an empty first page', async () => {
    const user = await syncedUser({ movies: 7, shows: 0 });
    const past = await read(api(user.access).trakt['get-stored-movies'].$get({ query: { page: '9', page_size: '5' } }));
    expect(past.body).toEqual({ page: 9, page_size: 5, total_items: 7, total_pages: 2, movies: [] });
    const fresh = await registerAndLogin();
    expect((await read(api(fresh.access).trakt['get-stored-shows'].$get({ query: {} }))).body).toEqual({
      page: 1,
      page_size: 5,
      total_items: 0,
      total_pages: 0,
      shows: [],
    });
  });

  it("keeps users apart: A never sees B's movies, shows or episodes", async () => {
    const a = await syncedUser({ seed: 'iso-a', movies: 3, shows: 1 });
    const b = await syncedUser({ seed: 'iso-b', movies: 4, shows: 1 });
    const aMovies = (await ok(api(a.access).trakt['get-stored-movies'].$get({ query: { page_size: '100' } }))).body;
    const bMovies = (await ok(api(b.access).trakt['get-stored-movies'].$get({ query: { page_size: '100' } }))).body;
    expect(aMovies.total_items).toBe(3);
    expect(bMovies.total_items).toBe(4);
    const bShow = (await ok(api(b.access).trakt['get-stored-shows'].$get({ query: {} }))).body.shows[0]!;
    expectError(
      await read(
        api(a.access).trakt['get-watched-seasons-episodes'].$get({ query: { trakt_id: String(bShow.show.ids.trakt) } }),
      ),
      404,
    );
    const aIds = new Set(aMovies.movies.map((m) => m.movie.ids.trakt));
    expect(bMovies.movies.some((m) => aIds.has(m.movie.ids.trakt))).toBe(false);
  });

  it('reads only a page worth of rows from a 3,000-movie collection (no upstream call)', async () => {
    const user = await syncedUser({ movies: 3000, shows: 0 });
    await sim.clearRequests();
    const { result, meter } = await meterD1(() =>
      read(api(user.access).trakt['get-stored-movies'].$get({ query: { page: '1', page_size: '10' } })),
    );
    expect(result.body.total_items).toBe(3000);
    expect(result.body.movies).toHaveLength(10);
    // Positive control: the meter saw the page query and at least the 10 movie rows it returned.
    expect(meter.statements.some((q) => /^select/i.test(q) && /\bmovies\b/i.test(q))).toBe(true);
    expect(meter.rowsRead).toBeGreaterThanOrEqual(10);
    // Each movie row + its TMDB cache row, + users/state lookups.
    expect(meter.rowsRead).toBeLessThanOrEqual(10 * 2 + 5);
    expect(meter.rowsWritten).toBe(0);
    expect(await sim.requests()).toEqual([]);
  });
});
