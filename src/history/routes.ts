/**
 * @module
 * /trakt/* history endpoints: run the caller's sync now (API reference), serve stored movies,
 * shows and a show's seasons/episodes (API reference, plus sort/filter/TMDB fields), every play
 * (`/history`), figures (`/stats`) and a download (`/export`), all from D1 with conditional GET.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { requireUser } from '../auth/middleware';
import { jwtSecret } from '../config';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { runSync } from '../sync/service';
import { conditional, tagged } from './conditional';
import { decodeCursor, encodeCursor } from './cursor';
import { exportStream, historyItem, readExportStart, readHistoryPage } from './plays-list';
import { storedMovies, storedShows, syncStatus, watchedSeasonsEpisodes } from './queries';
import { exportQuery, historyQuery, listQuery, seasonsEpisodesQuery, statsQuery } from './schemas';
import { readStats } from './stats';

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
  .get('/get-stored-movies', requireUser, validate('query', listQuery), conditional('movies'), async (c) => {
    const { freshness, body } = await storedMovies(
      c.var.db,
      c.var.userId,
      c.req.valid('query'),
      c.env.TMDB_IMAGE_BASE_URL,
    );
    await tagged(c, 'movies', freshness);
    return c.json(body);
  })
  .get('/get-stored-shows', requireUser, validate('query', listQuery), conditional('shows'), async (c) => {
    const { freshness, body } = await storedShows(
      c.var.db,
      c.var.userId,
      c.req.valid('query'),
      c.env.TMDB_IMAGE_BASE_URL,
    );
    await tagged(c, 'shows', freshness);
    return c.json(body);
  })
  .get(
    '/get-watched-seasons-episodes',
    requireUser,
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
      if (!body) throw new ApiError(404, `No watched show with trakt_id ${trakt_id}`);
      await tagged(c, 'seasons-episodes', freshness);
      return c.json(body);
    },
  )
  .get('/sync-status', requireUser, conditional('sync-status', 'sync-status'), async (c) => {
    const { freshness, body } = await syncStatus(c.var.db, c.var.userId);
    await tagged(c, 'sync-status', freshness, 'sync-status');
    return c.json(body);
  })
  .get('/history', requireUser, validate('query', historyQuery), conditional('history'), async (c) => {
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
    });
  })
  .get('/stats', requireUser, validate('query', statsQuery), conditional('stats'), async (c) => {
    const { freshness, body } = await readStats(c.var.db, c.var.userId, c.req.valid('query').tz, Date.now());
    await tagged(c, 'stats', freshness);
    return c.json(body);
  })
  .get('/export', requireUser, validate('query', exportQuery), conditional('export'), async (c) => {
    const { format } = c.req.valid('query');
    const { freshness, chunks } = await readExportStart(c.var.db, c.var.userId);
    await tagged(c, 'export', freshness);
    return c.body(exportStream(chunks, format), 200, {
      'Content-Type': format === 'csv' ? 'text/csv; charset=utf-8; header=present' : 'application/json; charset=utf-8',
      'Content-Disposition': `attachment; filename="trakt-history.${format}"`,
    });
  });
