/**
 * @module
 * /trakt/* history endpoints (seed contract): run the caller's sync now, and serve stored
 * movies, shows and a show's seasons/episodes from D1. Beyond the seed: clear the stored history.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { requireUser } from '../auth/middleware';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { clearStoredHistory } from '../sync/reset';
import { runSync } from '../sync/service';
import { storedMovies, storedShows, syncStatus, watchedSeasonsEpisodes } from './queries';
import { pageQuery, seasonsEpisodesQuery } from './schemas';

const counts = (r: { added: number; updated: number; removed: number; unchanged: number }) => ({
  added: r.added,
  updated: r.updated,
  removed: r.removed,
  unchanged: r.unchanged,
});

export const historyRoutes = new Hono<AppEnv>()
  .on(['GET', 'POST'], '/fetch-latest-movies', requireUser, async (c) => {
    const result = await runSync(c.env, c.var.userId, {
      kinds: ['movies'],
      waitUntil: (p) => c.executionCtx.waitUntil(p),
    });
    const movies = result.movies!;
    return c.json({
      result: 'Movies fetched and stored successfully' as const,
      ...counts(movies),
      plays_added: movies.plays_added,
      plays_removed: movies.plays_removed,
    });
  })
  .on(['GET', 'POST'], '/fetch-latest-shows', requireUser, async (c) => {
    const result = await runSync(c.env, c.var.userId, {
      kinds: ['shows'],
      waitUntil: (p) => c.executionCtx.waitUntil(p),
    });
    const shows = result.shows!;
    return c.json({
      result: 'Shows and episodes fetched and stored successfully' as const,
      ...counts(shows),
      plays_added: shows.plays_added,
      plays_removed: shows.plays_removed,
      episodes: shows.episodes ?? { added: 0, updated: 0, removed: 0, unchanged: 0 },
    });
  })
  .get('/get-stored-movies', requireUser, validate('query', pageQuery), async (c) => {
    return c.json(await storedMovies(c.var.db, c.var.userId, c.req.valid('query'), c.env.TMDB_IMAGE_BASE_URL));
  })
  .get('/get-stored-shows', requireUser, validate('query', pageQuery), async (c) => {
    return c.json(await storedShows(c.var.db, c.var.userId, c.req.valid('query'), c.env.TMDB_IMAGE_BASE_URL));
  })
  .get('/get-watched-seasons-episodes', requireUser, validate('query', seasonsEpisodesQuery), async (c) => {
    const { trakt_id } = c.req.valid('query');
    const result = await watchedSeasonsEpisodes(c.var.db, c.var.userId, trakt_id, c.env.TMDB_IMAGE_BASE_URL);
    if (!result) throw new ApiError(404, `No watched show with trakt_id ${trakt_id}`);
    return c.json(result);
  })
  .get('/sync-status', requireUser, async (c) => {
    return c.json(await syncStatus(c.var.db, c.var.userId));
  })
  .delete('/history', requireUser, async (c) => {
    // Keeps the account and the Trakt connection; the next sync of each kind is a full one.
    await clearStoredHistory(c.env.DB, c.var.db, c.var.userId);
    return c.body(null, 204);
  });
