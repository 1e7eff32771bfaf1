/** Simulator: Trakt API headers, pagination, rate limit and sync endpoints derived from one list of plays. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AppCredentials, installSimulator, type Simulator } from '../support/harness';

interface HistoryItem {
  id: number;
  watched_at: string;
  action: string;
  type: 'movie' | 'episode';
  movie?: { title: string; year: number; ids: { trakt: number; slug: string; imdb: string; tmdb: number | null } };
  episode?: { season: number; number: number; title: string; ids: Record<string, unknown> };
  show?: { title: string; year: number; ids: Record<string, unknown> };
}
interface WatchedMovie {
  plays: number;
  last_watched_at: string;
  last_updated_at: string;
  movie: { ids: { trakt: number } };
}
interface WatchedShow {
  plays: number;
  last_watched_at: string;
  last_updated_at: string;
  reset_at: string | null;
  show: { aired_episodes: number; ids: { trakt: number } };
  seasons?: Array<{ number: number; episodes: Array<{ number: number; plays: number; last_watched_at: string }> }>;
}
type Activities = Record<string, Record<string, string>> & { all: string };

let sim: Simulator;
let app: AppCredentials;
let token: string;
/** The simulator's clock is frozen here (advanced only by `advanceClock`), so times are exact. */
const NOW_MS = Date.parse('2026-09-01T12:00:00.000Z');

beforeEach(async () => {
  sim = installSimulator({ now: () => NOW_MS });
  app = await sim.createApp();
  await sim.createAccount({
    username: 'alice',
    seed: 'sync',
    movies: 30,
    shows: 4,
    seasons_per_show: 2,
    episodes_per_season: 5,
  });
  token = (await sim.issueTokens({ username: 'alice', client_id: app.client_id })).access_token;
});
afterEach(() => {
  vi.restoreAllMocks();
});

const get = (path: string) => sim.trakt(path, { accessToken: token, clientId: app.client_id });
async function getJson<T>(path: string): Promise<T> {
  const response = await get(path);
  expect(response.status).toBe(200);
  return response.json<T>();
}
async function all<T>(path: string, limit: number): Promise<T[]> {
  const items: T[] = [];
  const sep = path.includes('?') ? '&' : '?';
  for (let page = 1; ; page++) {
    const response = await get(`${path}${sep}page=${page}&limit=${limit}`);
    items.push(...(await response.json<T[]>()));
    if (page >= Number(response.headers.get('x-pagination-page-count'))) return items;
  }
}

describe('header enforcement', () => {
  it('403 without or with an unknown trakt-api-key', async () => {
    expect((await sim.trakt('/sync/last_activities', { accessToken: token })).status).toBe(403);
    expect((await sim.trakt('/sync/last_activities', { accessToken: token, clientId: 'unknown' })).status).toBe(403);
  });
  it('400 when trakt-api-version is missing or not 2', async () => {
    expect(
      (await sim.trakt('/sync/last_activities', { accessToken: token, clientId: app.client_id, version: null })).status,
    ).toBe(400);
    expect(
      (await sim.trakt('/sync/last_activities', { accessToken: token, clientId: app.client_id, version: '1' })).status,
    ).toBe(400);
  });
  it('401 without, with an unknown or with an expired bearer token', async () => {
    expect((await sim.trakt('/sync/last_activities', { clientId: app.client_id })).status).toBe(401);
    expect((await sim.trakt('/sync/last_activities', { clientId: app.client_id, accessToken: 'nope' })).status).toBe(
      401,
    );
    const old = await sim.issueTokens({
      username: 'alice',
      client_id: app.client_id,
      created_at: 1_600_000_000,
      expires_in: 86400,
    });
    expect(
      (await sim.trakt('/sync/last_activities', { clientId: app.client_id, accessToken: old.access_token })).status,
    ).toBe(401);
    expect((await get('/sync/last_activities')).status).toBe(200);
  });
  it('401 for a bearer token issued to another app than the trakt-api-key names', async () => {
    const other = await sim.createApp();
    const response = await sim.trakt('/sync/last_activities', { accessToken: token, clientId: other.client_id });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_token' });
    const own = await sim.issueTokens({ username: 'alice', client_id: other.client_id });
    expect(
      (await sim.trakt('/sync/last_activities', { accessToken: own.access_token, clientId: other.client_id })).status,
    ).toBe(200);
  });
  it('each token belongs to one account', async () => {
    await sim.createAccount({ username: 'bob', seed: 'sync', movies: 2, shows: 0 });
    const bob = await sim.issueTokens({ username: 'bob', client_id: app.client_id });
    const response = await sim.trakt('/sync/history/movies?limit=250', {
      accessToken: bob.access_token,
      clientId: app.client_id,
    });
    expect(response.headers.get('x-pagination-item-count')).toBe(String((await sim.summary('bob')).movie_plays));
    expect((await sim.summary('bob')).movie_plays).not.toBe((await sim.summary('alice')).movie_plays);
  });
});

describe('pagination', () => {
  it('history defaults to 10 per page and sends X-Pagination-* headers', async () => {
    const summary = await sim.summary('alice');
    const response = await get('/sync/history/movies');
    expect(response.headers.get('x-pagination-page')).toBe('1');
    expect(response.headers.get('x-pagination-limit')).toBe('10');
    expect(response.headers.get('x-pagination-item-count')).toBe(String(summary.movie_plays));
    expect(response.headers.get('x-pagination-page-count')).toBe(String(Math.ceil(summary.movie_plays / 10)));
    expect(await response.json<unknown[]>()).toHaveLength(10);
  });
  it('clamps limit to 250, and to 100 for watched shows with extended=progress', async () => {
    await sim.createAccount({ username: 'big', movies: 300, shows: 120, seasons_per_show: 1, episodes_per_season: 2 });
    const bigToken = (await sim.issueTokens({ username: 'big', client_id: app.client_id })).access_token;
    const bigGet = (path: string) => sim.trakt(path, { accessToken: bigToken, clientId: app.client_id });

    const movies = await bigGet('/sync/watched/movies?limit=1000');
    expect(movies.headers.get('x-pagination-limit')).toBe('250');
    expect(await movies.json<unknown[]>()).toHaveLength(250);
    expect(movies.headers.get('x-pagination-page-count')).toBe('2');

    const defaultWatched = await bigGet('/sync/watched/movies');
    expect(defaultWatched.headers.get('x-pagination-limit')).toBe('100');

    const shows = await bigGet('/sync/watched/shows?extended=progress&limit=250');
    expect(shows.headers.get('x-pagination-limit')).toBe('100');
    const body = await shows.json<WatchedShow[]>();
    expect(body).toHaveLength(100);
    expect(body[0]?.seasons).toBeDefined();

    const plain = await bigGet('/sync/watched/shows?limit=250');
    expect(plain.headers.get('x-pagination-limit')).toBe('250');
    const plainBody = await plain.json<WatchedShow[]>();
    expect(plainBody).toHaveLength(120);
    expect(plainBody[0]).not.toHaveProperty('seasons');

    const history = await bigGet('/sync/history/movies?limit=500&page=2');
    expect(history.headers.get('x-pagination-limit')).toBe('250');
    expect(history.headers.get('x-pagination-page')).toBe('2');
  });
  it('pages are disjoint, newest first, and cover the whole history', async () => {
    const items = await all<HistoryItem>('/sync/history/episodes', 7);
    const summary = await sim.summary('alice');
    expect(items).toHaveLength(summary.episode_plays);
    expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
    const times = items.map((i) => Date.parse(i.watched_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });
});

describe('response shapes', () => {
  it('history items match Trakt: ids, actions, timestamps, episode + show', async () => {
    const [movie] = await getJson<HistoryItem[]>('/sync/history/movies?limit=1');
    if (!movie) throw new Error('expected a movie play');
    expect(movie).toMatchObject({
      type: 'movie',
      movie: { ids: { trakt: expect.any(Number), slug: expect.any(String), imdb: expect.stringMatching(/^tt\d+$/) } },
    });
    expect(movie.watched_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    expect(['scrobble', 'checkin', 'watch']).toContain(movie.action);
    expect(movie.id).toBeLessThan(2 ** 53);

    const [episode] = await getJson<HistoryItem[]>('/sync/history/episodes?limit=1&extended=full');
    if (!episode?.episode || !episode.show) throw new Error('expected an episode play with its show');
    expect(Object.keys(episode.episode.ids).sort()).toEqual(['imdb', 'tmdb', 'trakt', 'tvdb']);
    expect(Object.keys(episode.show.ids).sort()).toEqual(['imdb', 'slug', 'tmdb', 'trakt', 'tvdb']);
    expect(episode.episode).toHaveProperty('overview');
    expect(episode.show).toHaveProperty('overview');
  });
  it('last_activities has the full key set', async () => {
    const activities = await getJson<Activities>('/sync/last_activities');
    expect(Object.keys(activities).sort()).toEqual(
      [
        'account',
        'all',
        'comments',
        'episodes',
        'favorites',
        'lists',
        'movies',
        'notes',
        'saved_filters',
        'seasons',
        'shows',
        'watchlist',
      ].sort(),
    );
    expect(activities.movies).toBeDefined();
    expect(Object.keys(activities.movies ?? {}).sort()).toEqual(
      [
        'collected_at',
        'commented_at',
        'favorited_at',
        'hidden_at',
        'paused_at',
        'rated_at',
        'watched_at',
        'watchlisted_at',
      ].sort(),
    );
    const latest = Math.max(
      ...Object.values(activities).flatMap((g) =>
        typeof g === 'string' ? [] : Object.values(g).map((v) => Date.parse(v)),
      ),
    );
    expect(Date.parse(activities.all)).toBe(latest);
  });
  it('history start_at/end_at filter inclusively', async () => {
    const items = await all<HistoryItem>('/sync/history/movies', 250);
    const middle = items[Math.floor(items.length / 2)];
    if (!middle) throw new Error('expected movie plays');
    const from = middle.watched_at;
    const filtered = await all<HistoryItem>(`/sync/history/movies?start_at=${encodeURIComponent(from)}`, 250);
    expect(filtered.length).toBe(items.filter((i) => Date.parse(i.watched_at) >= Date.parse(from)).length);
    const upTo = await all<HistoryItem>(`/sync/history/movies?end_at=${encodeURIComponent(from)}`, 250);
    expect(filtered.length).toBeGreaterThan(0);
    expect(upTo.length).toBeGreaterThan(0);
    expect(upTo.every((i) => Date.parse(i.watched_at) <= Date.parse(from))).toBe(true);
  });
});

describe('consistency between history, watched and last_activities', () => {
  it('watched plays and last_watched_at are derived from history', async () => {
    const history = await all<HistoryItem>('/sync/history/movies', 250);
    const watched = await all<WatchedMovie>('/sync/watched/movies', 250);
    expect(watched.length).toBeGreaterThan(0);
    for (const item of watched) {
      const plays = history.filter((h) => h.movie?.ids.trakt === item.movie.ids.trakt);
      expect(plays.length).toBeGreaterThan(0);
      expect(item.plays).toBe(plays.length);
      expect(item.last_watched_at).toBe(plays[0]!.watched_at);
    }
    expect(watched.reduce((n, w) => n + w.plays, 0)).toBe(history.length);
    const summary = await sim.summary('alice');
    expect(summary.movies_watched).toBe(watched.length);
  });

  it('adding a backdated play moves watched_at to the time of the change and shows up everywhere', async () => {
    const before = await getJson<Activities>('/sync/last_activities');
    const catalog = await sim.catalog('alice');
    const movie = catalog.movies[0];
    if (!movie) throw new Error('no movie');
    const watchedBefore = (await all<WatchedMovie>('/sync/watched/movies', 250)).find(
      (w) => w.movie.ids.trakt === movie.trakt,
    );

    const play = await sim.addPlay('alice', {
      type: 'movie',
      trakt_id: movie.trakt,
      watched_at: '2019-03-04T05:06:07.000Z',
    });
    const after = await getJson<Activities>('/sync/last_activities');
    expect(after.movies?.watched_at).toBe(new Date(NOW_MS).toISOString()); // the time of the change
    expect(Date.parse(after.movies!.watched_at!)).toBeGreaterThan(Date.parse(before.movies!.watched_at!));
    expect(before.episodes?.watched_at).toEqual(expect.any(String));
    expect(after.episodes?.watched_at).toBe(before.episodes?.watched_at);

    const history = await all<HistoryItem>('/sync/history/movies', 250);
    expect(history.at(-1)).toMatchObject({ id: play.id, watched_at: '2019-03-04T05:06:07.000Z' });
    const watchedAfter = (await all<WatchedMovie>('/sync/watched/movies', 250)).find(
      (w) => w.movie.ids.trakt === movie.trakt,
    );
    if (!watchedBefore || !watchedAfter) throw new Error('expected the movie in watched before and after');
    expect(watchedAfter.plays).toBe(watchedBefore.plays + 1);
    expect(watchedAfter.last_watched_at).toBe(watchedBefore.last_watched_at);
    expect(Date.parse(watchedAfter.last_updated_at)).toBeGreaterThan(Date.parse(watchedBefore.last_updated_at));

    await sim.advanceClock(10);
    await sim.removePlay('alice', play.id);
    const afterRemove = await getJson<Activities>('/sync/last_activities');
    expect(Date.parse(afterRemove.movies?.watched_at ?? '')).toBeGreaterThan(
      Date.parse(after.movies?.watched_at ?? ''),
    );
    expect((await all<HistoryItem>('/sync/history/movies', 250)).some((h) => h.id === play.id)).toBe(false);
    expect((await sim.summary('alice')).movie_plays).toBe(history.length - 1);
  });

  it('removing the only play of a movie removes it from watched', async () => {
    const [single] = (await all<WatchedMovie>('/sync/watched/movies', 250)).filter((w) => w.plays === 1);
    if (!single) throw new Error('expected a movie with one play');
    const play = (await sim.plays('alice')).find((p) => p.type === 'movie' && p.trakt_id === single.movie.ids.trakt);
    if (!play) throw new Error('expected the play of that movie');
    await sim.removePlay('alice', play.id);
    const watched = await all<WatchedMovie>('/sync/watched/movies', 250);
    expect(watched.some((w) => w.movie.ids.trakt === single.movie.ids.trakt)).toBe(false);
  });

  it('episode plays and resets are reflected in watched shows and progress', async () => {
    const catalog = await sim.catalog('alice');
    const show = catalog.shows[0];
    const episode = show?.seasons[1]?.episodes[2];
    if (!show || !episode) throw new Error('no show');
    const find = async () =>
      (await all<WatchedShow>('/sync/watched/shows?extended=progress', 100)).find(
        (w) => w.show.ids.trakt === show.trakt,
      );
    const before = await find();
    if (!before) throw new Error('expected the show in watched');
    expect(before.show.aired_episodes).toBe(10);
    const progressPlays = (w: WatchedShow | undefined) =>
      (w?.seasons ?? []).flatMap((s) => s.episodes).reduce((n, e) => n + e.plays, 0);

    const activitiesBefore = await getJson<Activities>('/sync/last_activities');
    await sim.advanceClock(5);
    await sim.resetShow('alice', { show_trakt_id: show.trakt });
    const reset = await find();
    if (!reset) throw new Error('expected the show in watched after the reset');
    expect(reset.reset_at).toEqual(expect.any(String));
    expect(reset.plays).toBe(before.plays);
    expect(progressPlays(reset)).toBe(0);
    const activitiesAfter = await getJson<Activities>('/sync/last_activities');
    expect(Date.parse(activitiesAfter.episodes?.watched_at ?? '')).toBeGreaterThan(
      Date.parse(activitiesBefore.episodes?.watched_at ?? ''),
    );

    await sim.advanceClock(5);
    await sim.addPlay('alice', { type: 'episode', trakt_id: episode.trakt });
    const rewatch = await find();
    if (!rewatch) throw new Error('expected the show in watched after the rewatch');
    expect(rewatch.plays).toBe(before.plays + 1);
    expect(rewatch.last_watched_at).toEqual(expect.any(String));
    expect(rewatch.seasons).toEqual([
      { number: 2, episodes: [{ number: 3, plays: 1, last_watched_at: rewatch.last_watched_at }] },
    ]);
    const [latest] = await getJson<HistoryItem[]>('/sync/history/episodes?limit=1');
    expect(latest?.episode).toMatchObject({ season: 2, number: 3 });
    expect(latest?.show?.ids.trakt).toBe(show.trakt);
  });

  it('seeded resets: plays before reset_at are not counted in seasons progress', async () => {
    await sim.createAccount({
      username: 'rewatcher',
      seed: 'rw',
      movies: 0,
      shows: 6,
      rewatch_fraction: 1,
      seasons_per_show: 1,
      episodes_per_season: 6,
    });
    const t = (await sim.issueTokens({ username: 'rewatcher', client_id: app.client_id })).access_token;
    const response = await sim.trakt('/sync/watched/shows?extended=progress', {
      accessToken: t,
      clientId: app.client_id,
    });
    const shows = await response.json<WatchedShow[]>();
    expect(shows).toHaveLength(6);
    for (const show of shows) {
      expect(show.reset_at).not.toBeNull();
      const progress = (show.seasons ?? []).flatMap((s) => s.episodes);
      const progressPlays = progress.reduce((n, e) => n + e.plays, 0);
      expect(progressPlays).toBeGreaterThan(0);
      expect(progressPlays).toBeLessThan(show.plays);
      expect(progress.every((e) => Date.parse(e.last_watched_at) > Date.parse(show.reset_at ?? ''))).toBe(true);
    }
  });
});

describe('playback and watching', () => {
  it('playback lists progress and moves paused_at', async () => {
    const before = await getJson<Activities>('/sync/last_activities');
    const movies =
      await getJson<Array<{ id: number; progress: number; paused_at: string; type: string; movie: unknown }>>(
        '/sync/playback/movies',
      );
    expect(movies.length).toBeGreaterThan(0);
    expect(movies[0]).toMatchObject({ type: 'movie', id: expect.any(Number), progress: expect.any(Number) });

    const catalog = await sim.catalog('alice');
    const episode = catalog.shows[0]?.seasons[0]?.episodes[0];
    if (!episode) throw new Error('expected an episode');
    await sim.advanceClock(3);
    const entry = await sim.setPlayback('alice', { type: 'episode', trakt_id: episode.trakt, progress: 42.5 });
    const after = await getJson<Activities>('/sync/last_activities');
    expect(Date.parse(after.episodes?.paused_at ?? '')).toBeGreaterThan(Date.parse(before.episodes?.paused_at ?? ''));
    expect(before.movies?.paused_at).toEqual(expect.any(String));
    expect(after.movies?.paused_at).toBe(before.movies?.paused_at);
    const episodes =
      await getJson<Array<{ id: number; progress: number; episode: { ids: { trakt: number } }; show: unknown }>>(
        '/sync/playback/episodes',
      );
    expect(episodes[0]).toMatchObject({ id: entry.id, progress: 42.5, episode: { ids: { trakt: episode.trakt } } });
    expect(episodes[0]?.show).toBeDefined();
  });

  it('users/me/watching is 204 when idle, 200 while watching', async () => {
    expect((await get('/users/me/watching')).status).toBe(204);
    const movie = (await sim.catalog('alice')).movies[1];
    if (!movie) throw new Error('expected a movie');
    await sim.startWatching('alice', { type: 'movie', trakt_id: movie.trakt });
    const watching = await get('/users/me/watching');
    expect(watching.status).toBe(200);
    expect(await watching.json()).toMatchObject({
      action: 'scrobble',
      type: 'movie',
      movie: { ids: { trakt: movie.trakt } },
      expires_at: expect.any(String),
    });
    const plays = (await sim.summary('alice')).movie_plays;
    await sim.stopWatching('alice', { scrobble: true });
    expect((await get('/users/me/watching')).status).toBe(204);
    expect((await sim.summary('alice')).movie_plays).toBe(plays + 1);
  });
});

describe('rate limit', () => {
  it('defaults to 500 GETs per 5 minutes per user', async () => {
    const config = await sim.config({});
    expect(config).toMatchObject({ trakt_get_limit: 500, trakt_window_seconds: 300 });
  });

  it('every GET says where the window stands; 429 with Retry-After after the limit, per user', async () => {
    await sim.config({ trakt_get_limit: 3, trakt_window_seconds: 60 });
    for (let i = 0; i < 3; i++) {
      const res = await get('/sync/last_activities');
      expect(res.status).toBe(200);
      expect(JSON.parse(res.headers.get('x-ratelimit') ?? '{}')).toEqual({
        name: 'AUTHED_API_GET_LIMIT',
        period: 60,
        limit: 3,
        remaining: 2 - i,
        until: new Date(NOW_MS + 60_000).toISOString(),
      });
    }
    const limited = await get('/sync/last_activities');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60'); // the window started at the frozen clock
    const info = JSON.parse(limited.headers.get('x-ratelimit') ?? '{}');
    expect(info).toMatchObject({ name: 'AUTHED_API_GET_LIMIT', period: 60, limit: 3, remaining: 0 });
    expect(info.until).toBe(new Date(NOW_MS + 60_000).toISOString());

    // Another token of the same user (even of another app) shares the user's window; another user has their own.
    const sameUser = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    expect(
      (await sim.trakt('/sync/last_activities', { accessToken: sameUser.access_token, clientId: app.client_id }))
        .status,
    ).toBe(429);
    await sim.createAccount({ username: 'bob', movies: 1, shows: 0 });
    const otherUser = await sim.issueTokens({ username: 'bob', client_id: app.client_id });
    expect(
      (await sim.trakt('/sync/last_activities', { accessToken: otherUser.access_token, clientId: app.client_id }))
        .status,
    ).toBe(200);

    await sim.advanceClock(61);
    expect((await get('/sync/last_activities')).status).toBe(200);
  });
});
