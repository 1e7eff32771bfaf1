/**
 * @module
 * /trakt/* history endpoints: run the caller's sync now (as in the API reference; its first chunk
 * inline, 202 when it continues in the background), serve stored movies, shows and a show's
 * seasons/episodes (API reference, plus sort/filter/TMDB fields), every play (`/history`), figures
 * (`/stats`) and a download (`/export`), all from D1, one round trip each, with conditional GET
 * (ETag / 304, see ./conditional.ts). Beyond the reference: clear the stored history for a clean re-sync.
 */
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../app-env';
import { userBudget } from '../budgets/middleware';
import { jwtSecret } from '../config';
import { describe, errorResponse, type ResponseContract, type RouteContract } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { clearStoredHistory } from '../sync/reset';
import { SYNC_CONTINUES, SYNC_REQUESTED, type SyncOutcome } from '../sync/service';
import { readSyncState, syncProgressOf } from '../sync/state';
import { requireToken, requireUser } from '../users/middleware';
import { assertUserExists, conditional, tagged } from './conditional';
import { decodeCursor, encodeCursor } from './cursor';
import { EXPORT_COLUMNS, exportStream, historyItem, readExportStart, readHistoryPage } from './plays-list';
import { storedMovies, storedShows, syncStatus, watchedSeasonsEpisodes } from './queries';
import {
  exportQuery,
  exportRowOutput,
  type FetchContinuesOutput,
  type FetchMoviesOutput,
  type FetchShowsOutput,
  fetchContinuesOutput,
  fetchMoviesOutput,
  fetchShowsOutput,
  type HistoryOutput,
  historyOutput,
  historyQuery,
  listQuery,
  type SeasonsEpisodesOutput,
  type StatsOutput,
  type StoredMoviesOutput,
  type StoredShowsOutput,
  type SyncStatusOutput,
  seasonsEpisodesOutput,
  seasonsEpisodesQuery,
  statsOutput,
  statsQuery,
  storedMoviesOutput,
  storedShowsOutput,
  syncStatusOutput,
} from './schemas';
import { readStats } from './stats-read';
import { syncNow } from './sync-now';

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
    description:
      `Incremental: fetches only what changed at Trakt since the last sync${scope}, enriched from TMDB. ` +
      'A sync larger than one chunk (SYNC_PAGES_PER_RUN Trakt pages) answers 202 and continues through the queue.',
    responses: {
      200: { description: 'Synced; counts of what changed', schema },
      202: {
        description:
          'A large sync: its first chunk is stored and it continues in the background; or another sync of this ' +
          'account runs now and this one is recorded to start when it ends (see sync-status)',
        schema: fetchContinuesOutput,
      },
      401: errorResponse('Missing JWT, or No Trakt token found / re-authorization required'),
      409: errorResponse('A sync for this user is already running (and cannot be recorded: retry shortly)'),
      429: errorResponse(
        'Trakt or TMDB rate limit, or too many sync requests from your account; retry after the Retry-After header',
      ),
    },
  };
  return describe(contract);
}

/** 202 for a recorded request: it runs when the sync in progress ends. */
async function requested(c: Context<AppEnv>) {
  const state = await readSyncState(c.var.db, c.var.userId);
  return { result: SYNC_REQUESTED, progress: syncProgressOf(state) } satisfies FetchContinuesOutput;
}

/** 202 while a sync continues in the background through the queue (the first chunk ran inline). */
const continuing = (outcome: SyncOutcome) =>
  ({ result: SYNC_CONTINUES, progress: outcome.progress }) satisfies FetchContinuesOutput;

const CONDITIONAL =
  'Sends ETag (from a per-user data version that every sync which changes data bumps, plus the query) and ' +
  'Cache-Control: private, no-cache; If-None-Match with the current tag answers 304 without a body, after one D1 ' +
  'round trip.';
const notModified: Record<number, ResponseContract> = {
  304: { description: 'Not modified: If-None-Match matched the current ETag (no body)' },
};
const LIST_PARAMETERS =
  'sort=last_watched|title|plays|year and order=desc|asc (defaults last_watched, desc; anything else → 400 listing ' +
  'the allowed values), q= (case-insensitive title substring, ≤ 100 characters), year=.';

export const historyRoutes = new Hono<AppEnv>()
  .on(
    ['GET', 'POST'],
    '/fetch-latest-movies',
    fetchContract('movies', fetchMoviesOutput),
    requireUser,
    userBudget('sync_now'),
    async (c) => {
      const outcome = await syncNow(c.env, c.var.userId, ['movies'], (p) => c.executionCtx.waitUntil(p));
      if (!outcome) return c.json(await requested(c), 202);
      if (!outcome.complete) return c.json(continuing(outcome), 202);
      const movies = outcome.result.movies!;
      return c.json({
        result: 'Movies fetched and stored successfully' as const,
        ...counts(movies),
        plays_added: movies.plays_added,
        plays_removed: movies.plays_removed,
      } satisfies FetchMoviesOutput);
    },
  )
  .on(
    ['GET', 'POST'],
    '/fetch-latest-shows',
    fetchContract('shows', fetchShowsOutput),
    requireUser,
    userBudget('sync_now'),
    async (c) => {
      const outcome = await syncNow(c.env, c.var.userId, ['shows'], (p) => c.executionCtx.waitUntil(p));
      if (!outcome) return c.json(await requested(c), 202);
      if (!outcome.complete) return c.json(continuing(outcome), 202);
      const shows = outcome.result.shows!;
      return c.json({
        result: 'Shows and episodes fetched and stored successfully' as const,
        ...counts(shows),
        plays_added: shows.plays_added,
        plays_removed: shows.plays_removed,
        episodes: shows.episodes ?? { added: 0, updated: 0, removed: 0, unchanged: 0 },
      } satisfies FetchShowsOutput);
    },
  )
  .get(
    '/get-stored-movies',
    describe({
      summary: 'Stored watched movies, paginated (page, page_size), sortable and filterable',
      description:
        `${LIST_PARAMETERS} TMDB fields (overview, backdrop_url, genres, runtime, rating) are null ` +
        `until enriched. ${CONDITIONAL}`,
      responses: {
        200: { description: 'One page of movies, most recently watched first by default', schema: storedMoviesOutput },
        ...notModified,
      },
    }),
    requireToken,
    validate('query', listQuery),
    conditional('movies'),
    async (c) => {
      const { freshness, body } = await storedMovies(
        c.var.db,
        c.var.userId,
        c.req.valid('query'),
        c.env.TMDB_IMAGE_BASE_URL,
      );
      await tagged(c, 'movies', freshness);
      return c.json(body satisfies StoredMoviesOutput);
    },
  )
  .get(
    '/get-stored-shows',
    describe({
      summary: 'Stored watched shows, paginated (page, page_size), sortable and filterable',
      description:
        `${LIST_PARAMETERS} TMDB fields are null until enriched; reset_at is the start of the current ` +
        `rewatch. ${CONDITIONAL}`,
      responses: {
        200: { description: 'One page of shows, most recently watched first by default', schema: storedShowsOutput },
        ...notModified,
      },
    }),
    requireToken,
    validate('query', listQuery),
    conditional('shows'),
    async (c) => {
      const { freshness, body } = await storedShows(
        c.var.db,
        c.var.userId,
        c.req.valid('query'),
        c.env.TMDB_IMAGE_BASE_URL,
      );
      await tagged(c, 'shows', freshness);
      return c.json(body satisfies StoredShowsOutput);
    },
  )
  .get(
    '/get-watched-seasons-episodes',
    describe({
      summary: "A stored show's watched seasons and episodes",
      description: CONDITIONAL,
      responses: {
        200: { description: 'Seasons and episodes', schema: seasonsEpisodesOutput },
        ...notModified,
        404: errorResponse('No watched show with that trakt_id'),
      },
    }),
    requireToken,
    validate('query', seasonsEpisodesQuery),
    conditional('seasons-episodes'),
    async (c) => {
      const { trakt_id } = c.req.valid('query');
      const { freshness, body } = await watchedSeasonsEpisodes(
        c.var.db,
        c.var.userId,
        trakt_id,
        c.env.TMDB_IMAGE_BASE_URL,
      );
      assertUserExists(c, freshness);
      if (!body) throw new ApiError(404, `No watched show with trakt_id ${trakt_id}`);
      await tagged(c, 'seasons-episodes', freshness);
      return c.json(body satisfies SeasonsEpisodesOutput);
    },
  )
  .get(
    '/sync-status',
    describe({
      summary: 'Sync state: last run, next run, counts, progress of a sync in the background',
      description: `${CONDITIONAL} The tag also follows the lease, the last error and the connection status.`,
      responses: { 200: { description: 'Sync status', schema: syncStatusOutput }, ...notModified },
    }),
    requireToken,
    conditional('sync-status', 'sync-status'),
    async (c) => {
      const { freshness, connection, body } = await syncStatus(c.var.db, c.var.userId);
      await tagged(c, 'sync-status', freshness, 'sync-status', connection);
      return c.json(body satisfies SyncStatusOutput);
    },
  )
  .get(
    '/history',
    describe({
      summary: 'Every play, newest first (keyset pages with an opaque cursor)',
      description:
        `Filters: type=movies|episodes, start_at / end_at (ISO-8601, inclusive), trakt_id (a movie's or ` +
        `a show's). limit 1–100 (default 20). Pass next_cursor as ?cursor= with the same filters for the next ` +
        `page; a cursor of another user, for other filters or altered answers 400. ${CONDITIONAL}`,
      responses: {
        200: { description: 'One page of plays', schema: historyOutput },
        ...notModified,
        400: errorResponse('Invalid filters, or an invalid cursor'),
      },
    }),
    requireToken,
    validate('query', historyQuery),
    conditional('history'),
    async (c) => {
      const query = c.req.valid('query');
      const filters = { type: query.type, startAt: query.start_at, endAt: query.end_at, traktId: query.trakt_id };
      // The cursor is bound to the user and to these filters (not to limit, which may change between pages).
      const scope = JSON.stringify([filters.type, filters.startAt, filters.endAt, filters.traktId]);
      const secret = jwtSecret(c.env);
      const after = query.cursor ? await decodeCursor(secret, c.var.userId, scope, query.cursor) : undefined;
      const page = await readHistoryPage(c.var.db, c.var.userId, filters, after, query.limit);
      const last = page.rows.at(-1);
      const nextCursor =
        page.hasMore && last
          ? await encodeCursor(secret, c.var.userId, scope, { watchedAt: last.watchedAt, historyId: last.historyId })
          : null;
      await tagged(c, 'history', page.freshness);
      return c.json({
        items: page.rows.map((row) => historyItem(row, c.env.TMDB_IMAGE_BASE_URL)),
        next_cursor: nextCursor,
      } satisfies HistoryOutput);
    },
  )
  .get(
    '/stats',
    describe({
      summary: 'Figures for the whole history: totals, minutes, by year / month / weekday-hour, top genres',
      description:
        'From rollups that the writes of plays keep exact. Minutes come from TMDB runtimes; plays without one ' +
        'are counted in minutes_unknown_plays. by_weekday_hour is 7 × 24 play counts, Monday first, in UTC or ' +
        'in ?tz= (an IANA zone, DST-exact): read from a kept grid in the stats time zone set with ' +
        `PATCH /users/me, computed from every play in any other zone. ${CONDITIONAL}`,
      responses: {
        200: { description: 'Stats', schema: statsOutput },
        ...notModified,
        400: errorResponse('Unknown time zone'),
      },
    }),
    requireToken,
    validate('query', statsQuery),
    conditional('stats'),
    async (c) => {
      const { freshness, body } = await readStats(c.var.db, c.var.userId, c.req.valid('query').tz, Date.now());
      await tagged(c, 'stats', freshness);
      return c.json(body satisfies StatsOutput);
    },
  )
  .get(
    '/export',
    describe({
      summary: 'Download every play as JSON or CSV (streamed)',
      description:
        `One row per play: ${EXPORT_COLUMNS.join(', ')} (ids of the movie, or of the show for an ` +
        `episode). CSV follows RFC 4180 (CRLF, quoted fields). Content-Disposition: attachment. ${CONDITIONAL}`,
      responses: {
        200: {
          description: 'The file: a JSON array of rows, or CSV with a header line',
          schema: z.array(exportRowOutput),
          csv: true,
        },
        ...notModified,
      },
    }),
    requireToken,
    validate('query', exportQuery),
    conditional('export'),
    async (c) => {
      const { format } = c.req.valid('query');
      const { freshness, chunks } = await readExportStart(c.var.db, c.var.userId);
      await tagged(c, 'export', freshness);
      return c.body(exportStream(chunks, format), 200, {
        'Content-Type':
          format === 'csv' ? 'text/csv; charset=utf-8; header=present' : 'application/json; charset=utf-8',
        'Content-Disposition': `attachment; filename="trakt-history.${format}"`,
      });
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
