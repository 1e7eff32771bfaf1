/** Simulator: TMDB auth, lookups consistent with the Trakt dataset, /find, 404 and 429. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CatalogInfo, installSimulator, SIM_TMDB_API_URL, type Simulator } from '../support/harness';

let sim: Simulator;
let catalog: CatalogInfo;

beforeEach(async () => {
  // A frozen clock (moved only by advanceClock): the per-second rate limit must not see a real second pass.
  const frozen = Date.parse('2026-09-01T12:00:00.000Z');
  sim = installSimulator({ now: () => frozen });
  await sim.createAccount({
    username: 'alice',
    seed: 'tmdb',
    movies: 60,
    shows: 30,
    seasons_per_show: 2,
    episodes_per_season: 4,
    null_tmdb_fraction: 0.1,
    missing_on_tmdb_fraction: 0.1,
  });
  catalog = await sim.catalog('alice');
});
afterEach(() => {
  vi.restoreAllMocks();
});

interface TmdbError {
  status_code: number;
  status_message: string;
  success: boolean;
}

describe('auth', () => {
  it('401 status_code 7 without a valid key; accepts api_key, Bearer and the default key', async () => {
    const none = await fetch(`${SIM_TMDB_API_URL}/configuration`);
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({
      status_code: 7,
      status_message: 'Invalid API key: You must be granted a valid key.',
      success: false,
    });
    expect((await fetch(`${SIM_TMDB_API_URL}/configuration?api_key=mine`)).status).toBe(401);
    expect((await sim.tmdb('/configuration', 'my-v4-token')).status).toBe(401);

    await sim.registerTmdbKey('mine');
    await sim.registerTmdbKey('my-v4-token');
    expect((await fetch(`${SIM_TMDB_API_URL}/configuration?api_key=mine`)).status).toBe(200);
    expect((await sim.tmdb('/configuration', 'my-v4-token')).status).toBe(200);
    expect((await sim.tmdb('/configuration')).status).toBe(200);

    await sim.config({ tmdb_default_key: null });
    expect((await sim.tmdb('/configuration')).status).toBe(401);
  });

  it('configuration has image base URL and sizes', async () => {
    const config = await (await sim.tmdb('/configuration')).json<{
      images: { secure_base_url: string; poster_sizes: string[]; still_sizes: string[] };
    }>();
    expect(config.images.secure_base_url).toBe('https://image.tmdb.org/t/p/');
    expect(config.images.poster_sizes).toContain('w500');
    expect(config.images.still_sizes).toContain('w300');
  });
});

describe('lookups', () => {
  it('the dataset has a deterministic few null-tmdb and missing titles of each kind', () => {
    for (const list of [catalog.movies, catalog.shows]) {
      const statuses = list.map((i) => i.tmdb_status);
      expect(statuses.filter((s) => s === 'null_tmdb').length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 'missing').length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 'ok').length).toBeGreaterThan(list.length / 2);
    }
  });

  it('movies with a tmdb id resolve with details', async () => {
    const movie = catalog.movies.find((m) => m.tmdb_status === 'ok');
    if (!movie) throw new Error('expected a movie on TMDB');
    const response = await sim.tmdb(`/movie/${movie.tmdb}`);
    expect(response.status).toBe(200);
    const body = await response.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      id: movie.tmdb,
      title: movie.title,
      imdb_id: movie.imdb,
      runtime: expect.any(Number),
      vote_average: expect.any(Number),
    });
    expect(body.poster_path).toMatch(/^\/\w+\.jpg$/);
    expect(body.backdrop_path).toMatch(/^\/\w+\.jpg$/);
    expect(body.genres).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: expect.any(Number), name: expect.any(String) })]),
    );
  });

  it('shows and seasons resolve with all episodes in one call', async () => {
    const show = catalog.shows.find((s) => s.tmdb_status === 'ok');
    if (!show) throw new Error('expected a show on TMDB');
    const tv = await (await sim.tmdb(`/tv/${show.tmdb}`)).json<{
      id: number;
      name: string;
      number_of_seasons: number;
      seasons: Array<{ season_number: number; episode_count: number }>;
    }>();
    expect(tv).toMatchObject({ id: show.tmdb, name: show.title, number_of_seasons: 2 });
    expect(tv.seasons.map((s) => s.episode_count)).toEqual([4, 4]);

    const season = await sim.tmdb(`/tv/${show.tmdb}/season/2`);
    expect(season.status).toBe(200);
    const body = await season.json<{ episodes: Array<Record<string, unknown>> }>();
    expect(body.episodes).toHaveLength(4);
    expect(body.episodes[0]).toMatchObject({
      season_number: 2,
      episode_number: 1,
      name: expect.any(String),
      still_path: expect.any(String),
      vote_average: expect.any(Number),
      air_date: expect.any(String),
    });
    expect(body.episodes[0]?.id).toEqual(expect.any(Number));
    expect(body.episodes[0]?.id).toBe(show.seasons[1]?.episodes[0]?.tmdb);

    expect((await sim.tmdb(`/tv/${show.tmdb}/season/9`)).status).toBe(404);
  });

  it('null-tmdb movies are findable by imdb id and null-tmdb shows by tvdb id', async () => {
    const movie = catalog.movies.find((m) => m.tmdb_status === 'null_tmdb');
    if (!movie) throw new Error('expected a null-tmdb movie');
    expect(movie.tmdb).toBeNull();
    const found = await (await sim.tmdb(`/find/${movie.imdb}?external_source=imdb_id`)).json<{
      movie_results: Array<{ id: number; title: string }>;
      tv_results: unknown[];
      tv_episode_results: unknown[];
    }>();
    expect(found.movie_results).toEqual([expect.objectContaining({ id: movie.tmdb_record_id, title: movie.title })]);
    expect(found.tv_results).toEqual([]);
    expect(found.tv_episode_results).toEqual([]);
    expect((await sim.tmdb(`/movie/${movie.tmdb_record_id}`)).status).toBe(200);

    const show = catalog.shows.find((s) => s.tmdb_status === 'null_tmdb');
    if (!show) throw new Error('expected a null-tmdb show');
    expect(show.tmdb).toBeNull();
    const foundShow = await (await sim.tmdb(`/find/${show.tvdb}?external_source=tvdb_id`)).json<{
      movie_results: unknown[];
      tv_results: Array<{ id: number; name: string }>;
    }>();
    expect(foundShow.tv_results).toEqual([expect.objectContaining({ id: show.tmdb_record_id, name: show.title })]);
    expect(foundShow.movie_results).toEqual([]);
  });

  it('missing titles 404 with status_code 34 and are not findable', async () => {
    const movie = catalog.movies.find((m) => m.tmdb_status === 'missing');
    if (!movie) throw new Error('expected a movie missing on TMDB');
    expect(movie.tmdb).toEqual(expect.any(Number));
    const response = await sim.tmdb(`/movie/${movie.tmdb}`);
    expect(response.status).toBe(404);
    expect(await response.json<TmdbError>()).toEqual({
      status_code: 34,
      status_message: 'The resource you requested could not be found.',
      success: false,
    });
    const found = await (await sim.tmdb(`/find/${movie.imdb}?external_source=imdb_id`)).json<{
      movie_results: unknown[];
    }>();
    expect(found.movie_results).toEqual([]);

    const show = catalog.shows.find((s) => s.tmdb_status === 'missing');
    if (!show) throw new Error('expected a show missing on TMDB');
    expect((await sim.tmdb(`/tv/${show.tmdb}`)).status).toBe(404);
    expect((await sim.tmdb(`/tv/${show.tmdb}/season/1`)).status).toBe(404);
    expect((await sim.tmdb('/movie/1')).status).toBe(404);
    expect((await sim.tmdb('/nonsense')).status).toBe(404);
  });

  it('Trakt and TMDB agree on ids for the same titles', async () => {
    const app = await sim.createApp();
    const token = (await sim.issueTokens({ username: 'alice', client_id: app.client_id })).access_token;
    const watched = await (
      await sim.trakt('/sync/watched/movies?limit=250', { accessToken: token, clientId: app.client_id })
    ).json<Array<{ movie: { title: string; ids: { tmdb: number | null } } }>>();
    const withTmdb = watched.filter((w) => w.movie.ids.tmdb !== null).slice(0, 5);
    expect(withTmdb).toHaveLength(5);
    for (const item of withTmdb) {
      const response = await sim.tmdb(`/movie/${item.movie.ids.tmdb}`);
      if (response.status === 200) expect((await response.json<{ title: string }>()).title).toBe(item.movie.title);
      else expect(catalog.movies.find((m) => m.tmdb === item.movie.ids.tmdb)?.tmdb_status).toBe('missing');
    }
  });
});

describe('rate limit', () => {
  it('429 with Retry-After beyond the configured requests per second', async () => {
    await sim.config({ tmdb_rps: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await sim.tmdb('/configuration')).status);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses[5]).toBe(429);
    const limited = await sim.tmdb('/configuration');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await limited.json()).toMatchObject({ status_code: 25, success: false });
    await sim.advanceClock(1);
    expect((await sim.tmdb('/configuration')).status).toBe(200);
  });
});
