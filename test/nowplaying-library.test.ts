/**
 * The NowPlaying layer's Movies & TV endpoints (src/nowplaying/library.routes.ts) against the simulator:
 * fact 5 of issue 27 (every episode of each watched season, unwatched ones with `last_watched_at: null`
 * and TMDB's title, overview and still, from stored data with no upstream call; a season never fetched is
 * said so; a show with no known episode list is never complete; watch-history episode items carry the
 * show's trakt_id), page_size capped at 100, the other pages' reads, and the API's own shapes unchanged.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { unwatchedEpisodeId } from '../src/nowplaying/seasons';
import { call, expectError, registerAndLogin } from './support/api';
import { drainEnrichQueue } from './support/enrich-queue';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

/**
 * A connected user whose one show (4 seasons of 4 episodes) is watched through season 1 and half of
 * season 2, season 3 not at all, and season 4 only started (the simulator's playback on its last
 * episode), synced, with TMDB's data stored (unless `tmdb: false`). `seed`: titles of their own, so no
 * other test's enrichment has cached their TMDB data.
 */
async function halfWatchedShow(options: { tmdb?: boolean; seed?: string } = {}) {
  const user = await connectedUser(sim, {
    movies: 3,
    shows: 1,
    seasons_per_show: 4,
    episodes_per_season: 4,
    rewatch_fraction: 0,
    null_tmdb_fraction: 0,
    missing_on_tmdb_fraction: 0,
    ...(options.seed ? { seed: options.seed } : {}),
  });
  const show = (await sim.catalog(user.traktUsername)).shows[0]!;
  const unwatched = new Set([
    ...show.seasons[1]!.episodes.slice(2).map((e) => e.trakt),
    ...show.seasons[2]!.episodes.map((e) => e.trakt),
    ...show.seasons[3]!.episodes.map((e) => e.trakt),
  ]);
  const plays = await sim.plays(user.traktUsername);
  for (const play of plays.filter((p) => p.type === 'episode' && unwatched.has(p.trakt_id)))
    await sim.removePlay(user.traktUsername, play.id);
  expect(plays.filter((p) => p.type === 'episode' && !unwatched.has(p.trakt_id))).toHaveLength(6);
  if (options.tmdb !== false) {
    const key = { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY };
    expect((await call('POST', '/users/api-keys/', { token: user.access, json: key })).status).toBe(201);
  }
  expect((await call('GET', '/api/trakt/fetch-latest-movies/', { token: user.access })).status).toBe(200);
  expect((await call('GET', '/api/trakt/fetch-latest-shows/', { token: user.access })).status).toBe(200);
  await drainEnrichQueue();
  return { user, show };
}

type Episode = { id: number; season__season_number: number; episode_number: number; last_watched_at: string | null };

/** Completion as NowPlaying's show page computes it: watched (truthy last_watched_at) over listed. */
function completion(episodes: Episode[], season?: number) {
  const listed = episodes.filter((e) => season === undefined || e.season__season_number === season);
  const watched = listed.filter((e) => e.last_watched_at).length;
  return { watched, total: listed.length, percent: listed.length ? Math.round((100 * watched) / listed.length) : 0 };
}

describe('get-watched-seasons-episodes: every episode of each watched season (fact 5)', () => {
  it('lists unwatched episodes with null last_watched_at and TMDB title, overview and still', async () => {
    const { user, show } = await halfWatchedShow();
    const res = await call('GET', `/api/trakt/get-watched-seasons-episodes/?trakt_id=${show.trakt}`, {
      token: user.access,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const { seasons, episodes, show_metadata, episode_list } = res.body;
    // Seasons with a stored episode: 1 and 2 (watched), 4 (started); season 3 was never touched.
    expect(seasons.map((s: { season_number: number }) => s.season_number)).toEqual([1, 2, 4]);
    for (const season of seasons) expect(season).toMatchObject({ episodes_known: true, episode_count: 4 });
    expect(episodes.map((e: Episode) => `${e.season__season_number}x${e.episode_number}`)).toEqual(
      [1, 2, 4].flatMap((season) => [1, 2, 3, 4].map((episode) => `${season}x${episode}`)),
    );
    // The show page's figures: 6 of 12 listed (50%); season 1 complete, season 2 half-way, season 4 started.
    expect(completion(episodes)).toEqual({ watched: 6, total: 12, percent: 50 });
    expect(completion(episodes, 1).percent).toBe(100);
    expect(completion(episodes, 2)).toEqual({ watched: 2, total: 4, percent: 50 });
    expect(completion(episodes, 4)).toEqual({ watched: 0, total: 4, percent: 0 });

    const unwatched = episodes.filter((e: Episode & { progress: number }) => !e.last_watched_at && e.progress === 0);
    expect(unwatched).toHaveLength(5); // 2x3, 2x4, 4x1, 4x2, 4x3 (4x4 is stored, started)
    for (const e of unwatched) {
      expect(e).toMatchObject({
        id: unwatchedEpisodeId(e.season__season_number, e.episode_number),
        last_watched_at: null,
        watched_at: null,
        plays: 0,
        progress: 0,
        title: expect.stringMatching(new RegExp(`^Episode ${e.episode_number}: `)),
        overview: expect.stringContaining(`Season ${e.season__season_number}, episode ${e.episode_number}`),
        image_url: expect.stringMatching(/\/w300\/.+/),
        season__id: seasons.find((s: { season_number: number }) => s.season_number === e.season__season_number).id,
        show__trakt_id: show.trakt,
      });
    }
    const started = episodes.find((e: Episode) => e.season__season_number === 4 && e.episode_number === 4);
    expect(started).toMatchObject({ last_watched_at: null, plays: 0, progress: expect.any(Number) });
    expect(started.id).toBeGreaterThan(0);
    const ids = episodes.map((e: Episode) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Season 3 was never watched: Trakt's aired count says its 4 aired episodes are not listed.
    expect(show_metadata.aired_episodes).toBe(16);
    expect(show_metadata.genres.length).toBeGreaterThan(0);
    expect(episode_list).toMatchObject({
      complete: false,
      seasons_not_fetched: [],
      seasons_unknown_to_tmdb: [],
      unlisted_aired_episodes: 4,
      note: expect.stringContaining('4 aired episode(s)'),
    });
  });

  it('reads D1 only: no Trakt or TMDB request on the read path', async () => {
    const { user, show } = await halfWatchedShow();
    await sim.clearRequests();
    for (let i = 0; i < 3; i++) {
      const res = await call('GET', `/api/trakt/get-watched-seasons-episodes/?trakt_id=${show.trakt}`, {
        token: user.access,
      });
      expect(res.status).toBe(200);
    }
    expect(await sim.requests()).toEqual([]);
  });

  it('a season whose TMDB data was never fetched lists only its stored episodes, and says so', async () => {
    const { user, show } = await halfWatchedShow({ tmdb: false, seed: 'nowplaying-no-tmdb' });
    const res = await call('GET', `/api/trakt/get-watched-seasons-episodes/?trakt_id=${show.trakt}`, {
      token: user.access,
    });
    expect(res.status).toBe(200);
    expect(res.body.episodes).toHaveLength(7); // the 6 watched and the started one
    expect(res.body.episodes.filter((e: Episode) => e.last_watched_at)).toHaveLength(6);
    expect(
      res.body.seasons.map((s: { episodes_known: boolean; episode_count: number | null }) => [
        s.episodes_known,
        s.episode_count,
      ]),
    ).toEqual([
      [false, null],
      [false, null],
      [false, null],
    ]);
    expect(res.body.episode_list).toMatchObject({
      complete: false,
      seasons_not_fetched: [1, 2, 4],
      unlisted_aired_episodes: 9,
      note: expect.stringContaining('has not been fetched'),
    });
  });

  it("the API's own route keeps its shape: watched episodes only, no extra keys", async () => {
    const { user, show } = await halfWatchedShow();
    const native = await call('GET', `/trakt/get-watched-seasons-episodes/?trakt_id=${show.trakt}`, {
      token: user.access,
    });
    expect(native.status).toBe(200);
    expect(Object.keys(native.body).sort()).toEqual(['episodes', 'seasons']);
    expect(native.body.episodes).toHaveLength(7); // the 6 watched and the started one
    expect(Object.keys(native.body.seasons[0]).sort()).toEqual([
      'id',
      'season_number',
      'show__id',
      'show__title',
      'show__trakt_id',
    ]);
  });

  it('no trakt_id: 400 with detail; a show that is not yours: 404', async () => {
    const { user, show } = await halfWatchedShow();
    const missing = await call('GET', '/api/trakt/get-watched-seasons-episodes/', { token: user.access });
    expectError(missing, 400, "The 'trakt_id' parameter is required.");
    expect(missing.body.detail).toBe("The 'trakt_id' parameter is required.");
    const other = await registerAndLogin();
    expectError(
      await call('GET', `/api/trakt/get-watched-seasons-episodes/?trakt_id=${show.trakt}`, { token: other.access }),
      404,
    );
  });
});

describe('completed-media (fact 5: a show with no known episode list is never complete)', () => {
  it('lists a show watched to the end; not a half-watched one, nor one whose aired count is unknown', async () => {
    const { user, show } = await halfWatchedShow();
    const before = await call('GET', '/api/trakt/completed-media/', { token: user.access });
    expect(before.status).toBe(200);
    expect(before.body.completed_shows).toEqual([]);
    expect(before.body.trakt_auth_required).toBe(false);
    expect(before.body.completed_movies.length).toBe(3);
    expect(before.body.completed_movies[0]).toEqual({
      id: expect.any(Number),
      title: expect.any(String),
      year: expect.any(Number),
      image_url: expect.any(String),
      trakt_id: expect.any(Number),
      tmdb_id: expect.any(Number),
      last_watched_at: expect.any(String),
    });

    // Watch the rest: now complete. (A second later: Trakt's activity times have whole seconds.)
    await sim.advanceClock(2);
    for (const episode of [
      ...show.seasons[1]!.episodes.slice(2),
      ...show.seasons[2]!.episodes,
      ...show.seasons[3]!.episodes,
    ])
      await sim.addPlay(user.traktUsername, { type: 'episode', trakt_id: episode.trakt });
    const synced = await call('GET', '/api/trakt/fetch-latest-shows/', { token: user.access });
    expect(synced.status).toBe(200);
    const after = await call('GET', '/api/trakt/completed-media/', { token: user.access });
    const rows = await env.DB.prepare(
      'SELECT s.aired_episodes, (SELECT count(*) FROM seasons se JOIN episodes e ON e.season_id = se.id WHERE se.show_id = s.id AND e.plays > 0) AS watched FROM shows s WHERE s.trakt_id = ? AND s.user_id = ?',
    )
      .bind(show.trakt, user.id)
      .all();
    expect(rows.results, JSON.stringify(synced.body)).toEqual([{ aired_episodes: 16, watched: 16 }]);
    expect(after.body.completed_shows).toEqual([
      {
        id: expect.any(Number),
        title: show.title,
        year: expect.any(Number),
        image_url: expect.any(String),
        trakt_id: show.trakt,
        tmdb_id: show.tmdb,
        last_watched_at: expect.any(String),
      },
    ]);

    // Trakt's count unknown: the show is never complete, however much is watched.
    await env.DB.prepare('UPDATE shows SET aired_episodes = NULL WHERE trakt_id = ?').bind(show.trakt).run();
    expect((await call('GET', '/api/trakt/completed-media/', { token: user.access })).body.completed_shows).toEqual([]);
    const page = await call('GET', `/api/trakt/get-watched-seasons-episodes/?trakt_id=${show.trakt}`, {
      token: user.access,
    });
    expect(page.body.episode_list).toMatchObject({ complete: false, unlisted_aired_episodes: null });
  });

  it('not connected: 200 with trakt_auth_required, never a 401', async () => {
    const user = await registerAndLogin();
    const res = await call('GET', '/api/trakt/completed-media/', { token: user.access });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ completed_shows: [], completed_movies: [], trakt_auth_required: true });
  });
});

describe('watch-history, heatmap and top genres', () => {
  it('episode items carry the show’s trakt_id and title; pages, sort and days work', async () => {
    const { user, show } = await halfWatchedShow();
    const res = await call('GET', '/api/trakt/watch-history/?type=all&page=1&page_size=20&sort=newest', {
      token: user.access,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ page: 1, page_size: 20, total_items: 9, total_pages: 1 });
    const episodes = res.body.history.filter((h: { type: string }) => h.type === 'episode');
    expect(episodes).toHaveLength(6);
    for (const item of episodes) {
      expect(item).toMatchObject({
        trakt_id: show.trakt,
        title: show.title,
        tmdb_id: show.tmdb,
        image_url: expect.any(String),
        runtime: expect.any(Number),
        episode_info: {
          season_number: expect.any(Number),
          episode_number: expect.any(Number),
          episode_title: expect.any(String),
        },
      });
    }
    const movies = res.body.history.filter((h: { type: string }) => h.type === 'movie');
    expect(movies[0]).toMatchObject({ trakt_id: expect.any(Number), episode_info: null, runtime: expect.any(Number) });
    const times = res.body.history.map((h: { watched_at: string }) => h.watched_at);
    expect(times).toEqual([...times].sort().reverse());

    const oldest = await call('GET', '/api/trakt/watch-history/?type=shows&page=2&page_size=4&sort=oldest', {
      token: user.access,
    });
    expect(oldest.body).toMatchObject({ page: 2, page_size: 4, total_items: 6, total_pages: 2 });
    expect(oldest.body.history).toHaveLength(2);
    expect(oldest.body.history.map((h: { watched_at: string }) => h.watched_at)).toEqual(
      episodes
        .map((h: { watched_at: string }) => h.watched_at)
        .slice(0, 2)
        .reverse(),
    );

    // days counts back from now: add a play now, ask for the last day.
    const movie = (await sim.catalog(user.traktUsername)).movies[0]!;
    await sim.advanceClock(2);
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: movie.trakt });
    await call('GET', '/api/trakt/fetch-latest-movies/', { token: user.access });
    const recent = await call('GET', '/api/trakt/watch-history/?type=movies&days=1', { token: user.access });
    expect(recent.body).toMatchObject({ total_items: 1, page_size: 20 });
    expect(recent.body.history[0].trakt_id).toBe(movie.trakt);
    for (const bad of ['type=books', 'sort=random', 'days=0', 'days=366', 'page=x']) {
      const reply = await call('GET', `/api/trakt/watch-history/?${bad}`, { token: user.access });
      expectError(reply, 400);
      expect(reply.body.detail).toEqual(expect.any(String));
      expect(reply.body.error).toContain(reply.body.detail);
    }
  });

  it('activity-heatmap counts plays per UTC day in the last 180 days; top-genres the top 3 with shares', async () => {
    const { user } = await halfWatchedShow();
    const movie = (await sim.catalog(user.traktUsername)).movies[0]!;
    await sim.advanceClock(2);
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: movie.trakt });
    await sim.addPlay(user.traktUsername, {
      type: 'movie',
      trakt_id: movie.trakt,
      watched_at: new Date(Date.now() - 400 * 86_400_000).toISOString(),
    });
    await call('GET', '/api/trakt/fetch-latest-movies/', { token: user.access });
    const heatmap = await call('GET', '/api/trakt/activity-heatmap/', { token: user.access });
    expect(heatmap.status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    expect(heatmap.body.activity).toContainEqual({ date: today, count: expect.any(Number) });
    const since = new Date(Date.now() - 180 * 86_400_000).toISOString().slice(0, 10);
    expect(heatmap.body.activity.every((d: { date: string; count: number }) => d.date >= since && d.count > 0)).toBe(
      true,
    );

    const genres = await call('GET', '/api/trakt/top-genres/', { token: user.access });
    expect(genres.status).toBe(200);
    expect(Array.isArray(genres.body.genres)).toBe(true);
    expect(genres.body.genres.length).toBeGreaterThan(0);
    expect(genres.body.genres.length).toBeLessThanOrEqual(3);
    const { total_items } = genres.body;
    for (const genre of genres.body.genres) {
      expect(genre.percentage).toBeCloseTo((100 * genre.count) / total_items, 1);
    }
  });
});

describe('lists, detail, search, movie stats and the sync buttons', () => {
  it('page_size above 100 is capped at 100 here; the API’s own list still refuses it', async () => {
    const { user } = await halfWatchedShow();
    const capped = await call('GET', '/api/trakt/get-stored-movies/?page=1&page_size=500', { token: user.access });
    expect(capped.status).toBe(200);
    expect(capped.body).toMatchObject({ page: 1, page_size: 100, total_items: 3, total_pages: 1 });
    expectError(await call('GET', '/trakt/get-stored-movies/?page_size=500', { token: user.access }), 400);
    const notInteger = await call('GET', '/api/trakt/get-stored-shows/?page=x', { token: user.access });
    expectError(notInteger, 400);
    expect(notInteger.body.page).toEqual(['Must be an integer.']);
    const zero = await call('GET', '/api/trakt/get-stored-shows/?page=0', { token: user.access });
    expect(zero.body.page).toEqual(['Must be at least 1.']);
    const shows = await call('GET', '/api/trakt/get-stored-shows/?page=1&page_size=10', { token: user.access });
    expect(shows.body.shows[0]).toMatchObject({
      last_watched_at: expect.any(String),
      show: { id: expect.any(Number), title: expect.any(String), ids: { trakt: expect.any(Number) } },
    });
  });

  it('detail finds your movie or show by TMDB id; search finds your titles and episodes', async () => {
    const { user, show } = await halfWatchedShow();
    const movie = (await sim.catalog(user.traktUsername)).movies[0]!;
    const detail = await call('GET', `/api/trakt/detail/?type=movie&tmdb_id=${movie.tmdb}`, { token: user.access });
    expect(detail.status).toBe(200);
    expect(detail.body.result).toMatchObject({
      plays: 1,
      last_watched_at: expect.any(String),
      movie: { title: movie.title },
    });
    const showDetail = await call('GET', `/api/trakt/detail/?type=show&tmdb_id=${show.tmdb}`, { token: user.access });
    expect(showDetail.body.result.show).toMatchObject({ title: show.title, ids: { trakt: show.trakt } });
    expectError(
      await call('GET', '/api/trakt/detail/?type=movie&tmdb_id=999999999', { token: user.access }),
      404,
      'Movie not found.',
    );
    expectError(await call('GET', '/api/trakt/detail/?type=film&tmdb_id=1', { token: user.access }), 400);
    expectError(
      await call('GET', '/api/trakt/detail/?type=movie', { token: user.access }),
      400,
      'tmdb_id is required.',
    );

    expect((await call('GET', '/api/trakt/search/?q=a', { token: user.access })).body).toEqual({ results: [] });
    const word = movie.title.split(' ').at(-1)!.toLowerCase();
    const found = await call('GET', `/api/trakt/search/?q=${encodeURIComponent(word)}`, { token: user.access });
    expect(found.body.results).toContainEqual(
      expect.objectContaining({ type: 'movie', id: movie.trakt, title: movie.title, tmdb_id: movie.tmdb }),
    );
    const episodes = await call('GET', `/api/trakt/search/?q=${encodeURIComponent(show.title.toUpperCase())}`, {
      token: user.access,
    });
    const hits = episodes.body.results.filter((r: { type: string }) => r.type === 'episode');
    expect(hits).toHaveLength(7);
    expect(hits[0]).toMatchObject({
      show_title: show.title,
      show_id: show.trakt,
      show_trakt_id: show.trakt,
      season_number: expect.any(Number),
      episode_number: expect.any(Number),
    });
    expect(episodes.body.results.some((r: { type: string }) => r.type === 'show')).toBe(true);
  });

  it('movie-stats asks Trakt for the six counts; update-movie and update-show run the sync', async () => {
    const { user, show } = await halfWatchedShow();
    const movie = (await sim.catalog(user.traktUsername)).movies[0]!;
    const stats = await call('GET', `/api/trakt/movie-stats/?trakt_id=${movie.trakt}`, { token: user.access });
    expect(stats.status, JSON.stringify(stats.body)).toBe(200);
    expect(stats.body).toEqual({
      watchers: 1,
      plays: 1,
      collectors: 0,
      comments: 0,
      lists: 0,
      votes: expect.any(Number),
    });
    expectError(
      await call('GET', '/api/trakt/movie-stats/', { token: user.access }),
      400,
      'trakt_id parameter is required',
    );

    await sim.advanceClock(2);
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: movie.trakt });
    const update = await call('GET', `/api/trakt/update-movie/?trakt_id=${movie.trakt}`, { token: user.access });
    expect(update.status).toBe(200);
    expect(update.body).toMatchObject({ message: expect.any(String), status: 'completed' });
    const detail = await call('GET', `/api/trakt/detail/?type=movie&tmdb_id=${movie.tmdb}`, { token: user.access });
    expect(detail.body.result.plays).toBe(2);
    expect((await call('GET', `/api/trakt/update-show/?trakt_id=${show.trakt}`, { token: user.access })).status).toBe(
      200,
    );
    expectError(
      await call('GET', '/api/trakt/update-show/?trakt_id=42424242', { token: user.access }),
      404,
      'Show not found.',
    );
    expectError(
      await call('GET', '/api/trakt/update-movie/', { token: user.access }),
      400,
      'trakt_id parameter is required',
    );
  });
});
