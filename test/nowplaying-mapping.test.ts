/**
 * The NowPlaying layer's pure mapping rules: the error mapping (src/nowplaying/errors.ts: 401 only for a
 * JWT failure, `error` + `detail`, field arrays, `auth_url` when not connected) and the show page's list
 * (src/nowplaying/seasons.ts: unwatched episodes merged in order with unique ids, what the list covers).
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { unauthorized } from '../src/auth/jwt';
import { ApiError } from '../src/http/errors';
import { nowPlayingErrorResponse } from '../src/nowplaying/errors';
import { everyEpisodeAnswer, unwatchedEpisodeId } from '../src/nowplaying/seasons';

/** The mapped answer for an error thrown while handling GET /api/x (the context only gives the URL). */
async function mapped(error: Error) {
  const app = new Hono();
  app.get('/api/x', (c) => nowPlayingErrorResponse(c, error, new Response(null, { status: 500 })));
  const res = await app.request('https://api.example/api/x');
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe('error mapping', () => {
  it('keeps 401 for JWT failures (with code token_not_valid), turns other 401s into 400s', async () => {
    const jwt = await mapped(unauthorized('Token has expired'));
    expect(jwt.status).toBe(401);
    expect(jwt.headers.get('WWW-Authenticate')).toBe('Bearer');
    expect(jwt.body).toEqual({ error: 'Token has expired', detail: 'Token has expired', code: 'token_not_valid' });

    const notConnected = await mapped(new ApiError(401, 'No Trakt token found', { code: 'not_connected' }));
    expect(notConnected.status).toBe(400);
    expect(notConnected.headers.get('WWW-Authenticate')).toBeNull();
    expect(notConnected.body).toMatchObject({
      error: 'No Trakt token found',
      detail: 'No Trakt token found',
      auth_url: 'https://api.example/api/trakt/authenticate/',
      message: expect.any(String),
    });
    expect((await mapped(new ApiError(401, 'Trakt token expired', { code: 'upstream_unauthorized' }))).status).toBe(
      400,
    );
  });

  it('keeps other statuses and Retry-After; validation problems become field arrays and a readable detail', async () => {
    const limited = await mapped(new ApiError(429, 'Slow down', { retryAfter: 30 }));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('Retry-After')).toBe('30');
    const invalid = await mapped(
      new ApiError(400, 'Invalid request body: page: Too small', {
        details: [
          { path: 'page', message: 'Too small' },
          { path: 'code', message: 'a reserved key: never a field array' },
          { path: 'state', message: 'state is too long' },
          { path: 'a.b', message: 'nested: not a field of its own' },
          { path: 'error', message: 'never overrides error' },
        ],
      }),
    );
    expect(invalid.body).toEqual({
      error: 'Invalid request body: page: Too small',
      detail: 'page: Too small',
      details: expect.any(Array),
      page: ['Too small'],
      state: ['state is too long'],
    });
    const named = await mapped(
      new ApiError(400, 'x', { details: [{ path: 'password2', message: "Password fields didn't match." }] }),
    );
    expect(named.body.detail).toBe("Password fields didn't match.");
  });

  it('an unexpected error stays a 500 with a fixed text', async () => {
    const crash = await mapped(new TypeError('secret internals'));
    expect(crash.status).toBe(500);
    expect(crash.body).toEqual({ error: 'Internal server error', detail: 'Internal server error' });
  });
});

const showFields = { show__id: 9, show__title: 'Show', show__trakt_id: 900 };
const stored = (season: number, seasonId: number, episode: number, watched: boolean) => ({
  id: seasonId * 100 + episode,
  episode_number: episode,
  title: `S${season}E${episode}`,
  image_url: null,
  rating: null,
  overview: null,
  season__id: seasonId,
  season__season_number: season,
  ...showFields,
  last_watched_at: watched ? '2026-01-01T00:00:00.000Z' : null,
  progress: watched ? 100 : 40,
  plays: watched ? 1 : 0,
});
const tmdbOnly = (season: number, seasonId: number, episode: number) => ({
  season__id: seasonId,
  season__season_number: season,
  episode_number: episode,
  title: `TMDB S${season}E${episode}`,
  overview: 'o',
  image_url: 'https://img/w300/x.jpg',
  rating: 7,
});

describe('the show page list', () => {
  it('merges unwatched episodes in order with negative unique ids; reports seasons not fetched or unknown', () => {
    const answer = everyEpisodeAnswer(
      {
        seasons: [
          { id: 1, season_number: 0, ...showFields },
          { id: 2, season_number: 1, ...showFields },
          { id: 3, season_number: 2, ...showFields },
        ],
        episodes: [stored(0, 1, 1, true), stored(1, 2, 2, true), stored(2, 3, 1, false)],
      },
      {
        unwatched: [tmdbOnly(1, 2, 3), tmdbOnly(1, 2, 1)],
        seasons: [
          { seasonNumber: 0, tmdb: 'missing', episodeCount: null },
          { seasonNumber: 1, tmdb: 'found', episodeCount: 3 },
          { seasonNumber: 2, tmdb: 'not_fetched', episodeCount: null },
        ],
        airedEpisodes: 10,
        hasTmdbId: true,
        genres: ['Drama'],
      },
    );
    expect(answer.episodes.map((e) => [e.season__season_number, e.episode_number, e.last_watched_at !== null])).toEqual(
      [
        [0, 1, true],
        [1, 1, false],
        [1, 2, true],
        [1, 3, false],
        [2, 1, false],
      ],
    );
    expect(answer.episodes[1]).toMatchObject({
      id: unwatchedEpisodeId(1, 1),
      title: 'TMDB S1E1',
      watched_at: null,
      plays: 0,
      show__trakt_id: 900,
    });
    expect(new Set(answer.episodes.map((e) => e.id)).size).toBe(5);
    expect(answer.seasons.map((s) => [s.season_number, s.episodes_known, s.episode_count])).toEqual([
      [0, false, null],
      [1, true, 3],
      [2, false, null],
    ]);
    // 4 regular episodes listed of Trakt's 10 aired (specials aside).
    expect(answer.episode_list).toEqual({
      complete: false,
      seasons_not_fetched: [2],
      seasons_unknown_to_tmdb: [0],
      unlisted_aired_episodes: 6,
      note: expect.stringContaining('season(s) 2'),
    });
    expect(answer.show_metadata).toEqual({ genres: ['Drama'], aired_episodes: 10 });
  });

  it('complete only when every aired episode is listed and every season is known', () => {
    const body = { seasons: [{ id: 2, season_number: 1, ...showFields }], episodes: [stored(1, 2, 1, true)] };
    const catalogue = {
      unwatched: [tmdbOnly(1, 2, 2)],
      seasons: [{ seasonNumber: 1, tmdb: 'found' as const, episodeCount: 2 }],
      hasTmdbId: true,
      genres: null,
    };
    expect(everyEpisodeAnswer(body, { ...catalogue, airedEpisodes: 2 }).episode_list).toMatchObject({
      complete: true,
      unlisted_aired_episodes: 0,
      note: null,
    });
    // Trakt's count unknown: never complete.
    expect(everyEpisodeAnswer(body, { ...catalogue, airedEpisodes: null }).episode_list).toMatchObject({
      complete: false,
      unlisted_aired_episodes: null,
    });
    expect(everyEpisodeAnswer(body, { ...catalogue, airedEpisodes: 0 }).episode_list.complete).toBe(false);
  });

  it('unwatched ids never collide with each other across seasons', () => {
    const ids = new Set<number>();
    for (let season = 0; season < 40; season++)
      for (let episode = 0; episode < 300; episode++) ids.add(unwatchedEpisodeId(season, episode));
    expect(ids.size).toBe(40 * 300);
    expect([...ids].every((id) => id < 0)).toBe(true);
  });
});
