/**
 * @module
 * /trakt/* history endpoints (as in the API reference): run the caller's sync now (its first chunk
 * inline; 202 when it continues in the background), and serve stored movies, shows and a show's
 * seasons/episodes from D1. Beyond the reference: clear the stored history for a clean re-sync.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { requireUser } from '../auth/middleware';
import { describe, errorResponse, type RouteContract } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { clearStoredHistory } from '../sync/reset';
import { runSync, SYNC_CONTINUES, type SyncOutcome } from '../sync/service';
import { storedMovies, storedShows, syncStatus, watchedSeasonsEpisodes } from './queries';
import {
  type FetchContinuesOutput,
  type FetchMoviesOutput,
  type FetchShowsOutput,
  fetchContinuesOutput,
  fetchMoviesOutput,
  fetchShowsOutput,
  pageQuery,
  type SeasonsEpisodesOutput,
  type StoredMoviesOutput,
  type StoredShowsOutput,
  type SyncStatusOutput,
  seasonsEpisodesOutput,
  seasonsEpisodesQuery,
  storedMoviesOutput,
  storedShowsOutput,
  syncStatusOutput,
} from './schemas';

const counts = (r: { added: number; updated: number; removed: number; unchanged: number }) => ({
  added: r.added,
  updated: r.updated,
  removed: r.removed,
  unchanged: r.unchanged,
});

/** fetch-latest-* answer GET (as the API reference has it) and POST alike, with one contract. */
function fetchContract(kind: 'movies' | 'shows', schema: typeof fetchMoviesOutput | typeof fetchShowsOutput) {
  const scope = kind === 'shows' ? ' (shows, seasons and episodes)' : '';
  const contract: RouteContract = {
    summary: `Sync the latest watched ${kind} from Trakt now`,
    description: `Incremental: fetches only what changed at Trakt since the last sync${scope}, enriched from TMDB. A sync larger than one chunk (SYNC_PAGES_PER_RUN Trakt pages) answers 202 and continues through the queue.`,
    responses: {
      200: { description: 'Synced; counts of what changed', schema },
      202: {
        description: 'A large sync: its first chunk is stored and it continues in the background (see sync-status)',
        schema: fetchContinuesOutput,
      },
      401: errorResponse('Missing JWT, or No Trakt token found / re-authorization required'),
      409: errorResponse('A sync for this user is already running'),
      429: errorResponse('Trakt or TMDB rate limit; retry after the Retry-After header'),
    },
  };
  return describe(contract);
}

/** 202 while a sync continues in the background through the queue (the first chunk ran inline). */
const continuing = (outcome: SyncOutcome) =>
  ({ result: SYNC_CONTINUES, progress: outcome.progress }) satisfies FetchContinuesOutput;

export const historyRoutes = new Hono<AppEnv>()
  .on(['GET', 'POST'], '/fetch-latest-movies', fetchContract('movies', fetchMoviesOutput), requireUser, async (c) => {
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
    } satisfies FetchMoviesOutput);
  })
  .on(['GET', 'POST'], '/fetch-latest-shows', fetchContract('shows', fetchShowsOutput), requireUser, async (c) => {
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
    } satisfies FetchShowsOutput);
  })
  .get(
    '/get-stored-movies',
    describe({
      summary: 'Stored watched movies, paginated (page, page_size)',
      responses: {
        200: { description: 'One page of movies, most recently watched first', schema: storedMoviesOutput },
      },
    }),
    requireUser,
    validate('query', pageQuery),
    async (c) => {
      const page = await storedMovies(c.var.db, c.var.userId, c.req.valid('query'), c.env.TMDB_IMAGE_BASE_URL);
      return c.json(page satisfies StoredMoviesOutput);
    },
  )
  .get(
    '/get-stored-shows',
    describe({
      summary: 'Stored watched shows, paginated (page, page_size)',
      responses: {
        200: { description: 'One page of shows, most recently watched first', schema: storedShowsOutput },
      },
    }),
    requireUser,
    validate('query', pageQuery),
    async (c) => {
      const page = await storedShows(c.var.db, c.var.userId, c.req.valid('query'), c.env.TMDB_IMAGE_BASE_URL);
      return c.json(page satisfies StoredShowsOutput);
    },
  )
  .get(
    '/get-watched-seasons-episodes',
    describe({
      summary: "A stored show's watched seasons and episodes",
      responses: {
        200: { description: 'Seasons and episodes', schema: seasonsEpisodesOutput },
        404: errorResponse('No watched show with that trakt_id'),
      },
    }),
    requireUser,
    validate('query', seasonsEpisodesQuery),
    async (c) => {
      const { trakt_id } = c.req.valid('query');
      const result = await watchedSeasonsEpisodes(c.var.db, c.var.userId, trakt_id, c.env.TMDB_IMAGE_BASE_URL);
      if (!result) throw new ApiError(404, `No watched show with trakt_id ${trakt_id}`);
      return c.json(result satisfies SeasonsEpisodesOutput);
    },
  )
  .get(
    '/sync-status',
    describe({
      summary: 'Sync state: last run, next run, counts, progress of a sync in the background',
      responses: { 200: { description: 'Sync status', schema: syncStatusOutput } },
    }),
    requireUser,
    async (c) => {
      return c.json((await syncStatus(c.var.db, c.var.userId)) satisfies SyncStatusOutput);
    },
  )
  .delete(
    '/history',
    describe({
      summary: 'Delete the stored watch history (for a clean re-sync)',
      description:
        'Keeps the account, the Trakt connection and the API keys. The next sync of movies and of shows is a full one.',
      responses: {
        204: { description: 'Deleted' },
        409: errorResponse('A sync for this user is already running'),
      },
    }),
    requireUser,
    async (c) => {
      await clearStoredHistory(c.env.DB, c.var.db, c.var.userId);
      return c.body(null, 204);
    },
  );
