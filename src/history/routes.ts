/**
 * @module
 * /trakt/* history endpoints (the API reference's contract): run the caller's sync now (its first
 * chunk inline; 202 when it continues in the background), and serve stored
 * movies, shows and a show's seasons/episodes from D1.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { requireUser } from '../auth/middleware';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { runSync, SYNC_CONTINUES, type SyncOutcome } from '../sync/service';
import { storedMovies, storedShows, syncStatus, watchedSeasonsEpisodes } from './queries';
import { pageQuery, seasonsEpisodesQuery } from './schemas';

const counts = (r: { added: number; updated: number; removed: number; unchanged: number }) => ({
  added: r.added,
  updated: r.updated,
  removed: r.removed,
  unchanged: r.unchanged,
});

/** 202 while a sync continues in the background through the queue (the first chunk ran inline). */
const continuing = (outcome: SyncOutcome) => ({ result: SYNC_CONTINUES, progress: outcome.progress });

export const historyRoutes = new Hono<AppEnv>()
  .on(['GET', 'POST'], '/fetch-latest-movies', requireUser, async (c) => {
    const outcome = await runSync(c.env, c.var.userId, {
      kinds: ['movies'],
      waitUntil: (p) => c.executionCtx.waitUntil(p),
    });
    if (!outcome.complete) return c.json(continuing(outcome), 202);
    const movies = outcome.result.movies!;
    return c.json({
      result: 'Movies fetched and stored successfully' as const,
      ...counts(movies),
      plays_added: movies.plays_added,
      plays_removed: movies.plays_removed,
    });
  })
  .on(['GET', 'POST'], '/fetch-latest-shows', requireUser, async (c) => {
    const outcome = await runSync(c.env, c.var.userId, {
      kinds: ['shows'],
      waitUntil: (p) => c.executionCtx.waitUntil(p),
    });
    if (!outcome.complete) return c.json(continuing(outcome), 202);
    const shows = outcome.result.shows!;
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
  });
