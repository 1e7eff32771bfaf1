/**
 * @module
 * `/api/trakt/*` reads and sync buttons of NowPlaying's Movies & TV pages, mapped onto the API's own
 * services: the stored lists and seasons (src/history/queries.ts), plays (src/history/plays-list.ts),
 * the stats rollups (src/history/stats.ts) and the sync (src/sync/service.ts). Every read is served from
 * D1; only `movie-stats` asks Trakt (its figures are not stored), as NowPlaying does.
 */

import type { Context } from 'hono';
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { overBudgetResponse, userBudget } from '../budgets/middleware';
import { assertUserExists } from '../history/conditional';
import { type PlayRecord, readHistoryOffsetPage } from '../history/plays-list';
import {
  completedShows,
  imageUrl,
  type ListRequest,
  pageMeta,
  searchEpisodes,
  storedMovies,
  storedShows,
  watchedSeasonsEpisodes,
} from '../history/queries';
import { storedMoviesOutput, storedShowsOutput } from '../history/schemas';
import { readStats } from '../history/stats-read';
import { syncNow } from '../history/sync-now';
import { errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import type { SyncKind } from '../sync/service';
import { readSyncState, syncProgressOf } from '../sync/state';
import { connectionView, readConnectionState } from '../trakt/connections';
import { traktUserContext } from '../trakt/context';
import { withAccessToken } from '../trakt/tokens';
import { requireToken, requireUser } from '../users/middleware';
import { npDescribe } from './describe';
import {
  type NpSearchOutput,
  type NpWatchHistoryOutput,
  npCompletedOutput,
  npDetailOutput,
  npDetailQuery,
  npHeatmapOutput,
  npListQuery,
  npMovieStatsOutput,
  npSearchOutput,
  npSearchQuery,
  npSeasonsEpisodesOutput,
  npSeasonsEpisodesQuery,
  npSyncOutput,
  npTopGenresOutput,
  npTraktIdQuery,
  npWatchHistoryOutput,
  npWatchHistoryQuery,
} from './schemas';
import { everyEpisodeAnswer } from './seasons';

/** The activity heatmap covers this many days back from now. */
export const HEATMAP_DAYS = 180;
/** Genres top-genres answers. */
export const TOP_GENRE_COUNT = 3;
/** Completed movies listed (most recently watched first), and recently watched shows checked for completion. */
export const COMPLETED_MOVIES = 20;
export const COMPLETED_SHOWS_CHECKED = 100;
/** Search answers at most this many movies, shows and episodes. */
export const SEARCH_LIMITS = { movies: 10, shows: 10, episodes: 20 } as const;

const DAY_MS = 86_400_000;
const NOT_CONNECTED_ANSWER = 'Trakt is not connected (no Trakt token found), or needs authorizing again';

const newestFirst = (request: { page: number; page_size: number }): ListRequest => ({
  ...request,
  sort: 'last_watched',
  order: 'desc',
});

const SYNC_LABELS: Record<SyncKind, { done: string; processing: string }> = {
  movies: { done: 'Movies fetched and stored successfully', processing: 'Movie sync started in background' },
  shows: {
    done: 'Shows and episodes fetched and stored successfully',
    processing: 'Show sync started in background',
  },
};

/** Runs the user's sync of one kind as the API's fetch-latest-* do (its first chunk and its TMDB work inline). */
async function syncKind(c: Context<AppEnv>, kind: SyncKind) {
  const outcome = await syncNow(c.env, c.var.userId, [kind], (p) => c.executionCtx.waitUntil(p));
  const labels = SYNC_LABELS[kind];
  // The other kind's sync holds the lease: this one was recorded and runs when that one ends.
  if (!outcome) {
    const progress = syncProgressOf(await readSyncState(c.var.db, c.var.userId));
    return { message: labels.processing, status: 'processing' as const, result: { progress } };
  }
  return outcome.complete
    ? { message: labels.done, status: 'completed' as const, result: outcome.result[kind] ?? null }
    : { message: labels.processing, status: 'processing' as const, result: { progress: outcome.progress } };
}

const syncResponses = {
  200: { description: 'Synced, or its first chunk stored and the rest continuing', schema: npSyncOutput },
  400: errorResponse(NOT_CONNECTED_ANSWER),
  409: errorResponse('A sync for this user is already running'),
  429: errorResponse(
    'Trakt or TMDB rate limit, or too many syncs requested from your account; retry after the Retry-After header',
  ),
};

function historyEntry(row: PlayRecord, imageBase: string): NpWatchHistoryOutput['history'][number] {
  const common = { id: row.historyId, watched_at: row.watchedAt, action: row.action };
  if (row.mediaType === 'movie') {
    return {
      ...common,
      type: 'movie',
      title: row.movieTitle,
      image_url: imageUrl(imageBase, 'w500', row.moviePoster),
      year: row.movieYear,
      runtime: row.movieRuntime,
      rating: row.movieRating,
      trakt_id: row.movieTraktId ?? 0,
      tmdb_id: row.movieTmdb,
      episode_info: null,
    };
  }
  // An episode opens its show by trakt_id: the show's, as NowPlaying's watch history expects.
  return {
    ...common,
    type: 'episode',
    title: row.showTitle,
    image_url: imageUrl(imageBase, 'w500', row.showPoster),
    year: row.showYear,
    runtime: row.episodeRuntime ?? row.showRuntime,
    rating: row.episodeRating,
    trakt_id: row.showTraktId ?? 0,
    tmdb_id: row.showTmdb,
    episode_info: {
      season_number: row.seasonNumber ?? 0,
      episode_number: row.episodeNumber ?? 0,
      episode_title: row.episodeTmdbName ?? row.episodeTitle,
    },
  };
}

const byTitle = (a: { title: string | null }, b: { title: string | null }) =>
  (a.title ?? '').localeCompare(b.title ?? '', 'en', { sensitivity: 'base' });

export const npLibraryRoutes = new Hono<AppEnv>()
  .get(
    '/fetch-latest-movies',
    npDescribe({ summary: 'NowPlaying: sync movies from Trakt now', responses: syncResponses }),
    requireUser,
    userBudget('sync_now'),
    async (c) => c.json(await syncKind(c, 'movies')),
  )
  .get(
    '/fetch-latest-shows',
    npDescribe({ summary: 'NowPlaying: sync shows and episodes from Trakt now', responses: syncResponses }),
    requireUser,
    userBudget('sync_now'),
    async (c) => c.json(await syncKind(c, 'shows')),
  )
  .get(
    '/update-movie',
    npDescribe({
      summary: 'NowPlaying: a movie page’s Sync button',
      description: 'Runs the incremental movie sync (which brings this movie’s new plays).',
      responses: { ...syncResponses, 404: errorResponse('Movie not found.') },
    }),
    requireUser,
    userBudget('sync_now'),
    validate('query', npTraktIdQuery),
    async (c) => {
      const request = { ...newestFirst({ page: 1, page_size: 1 }), traktId: c.req.valid('query').trakt_id };
      const { freshness, body } = await storedMovies(c.var.db, c.var.userId, request, c.env.TMDB_IMAGE_BASE_URL);
      assertUserExists(c, freshness);
      if (body.movies.length === 0) throw new ApiError(404, 'Movie not found.');
      return c.json(await syncKind(c, 'movies'));
    },
  )
  .get(
    '/update-show',
    npDescribe({
      summary: 'NowPlaying: a show page’s Sync button',
      description: 'Runs the incremental show sync (which brings this show’s new plays).',
      responses: { ...syncResponses, 404: errorResponse('Show not found.') },
    }),
    requireUser,
    userBudget('sync_now'),
    validate('query', npTraktIdQuery),
    async (c) => {
      const request = { ...newestFirst({ page: 1, page_size: 1 }), traktId: c.req.valid('query').trakt_id };
      const { freshness, body } = await storedShows(c.var.db, c.var.userId, request, c.env.TMDB_IMAGE_BASE_URL);
      assertUserExists(c, freshness);
      if (body.shows.length === 0) throw new ApiError(404, 'Show not found.');
      return c.json(await syncKind(c, 'shows'));
    },
  )
  .get(
    '/get-stored-movies',
    npDescribe({
      summary: 'NowPlaying: stored movies, most recently watched first',
      description: 'The API’s list (GET /trakt/get-stored-movies/); page_size above 100 is capped at 100.',
      responses: { 200: { description: 'One page of movies', schema: storedMoviesOutput } },
    }),
    requireToken,
    validate('query', npListQuery),
    async (c) => {
      const request = newestFirst(c.req.valid('query'));
      const { freshness, body } = await storedMovies(c.var.db, c.var.userId, request, c.env.TMDB_IMAGE_BASE_URL);
      assertUserExists(c, freshness);
      return c.json(body);
    },
  )
  .get(
    '/get-stored-shows',
    npDescribe({
      summary: 'NowPlaying: stored shows, most recently watched first',
      description: 'The API’s list (GET /trakt/get-stored-shows/); page_size above 100 is capped at 100.',
      responses: { 200: { description: 'One page of shows', schema: storedShowsOutput } },
    }),
    requireToken,
    validate('query', npListQuery),
    async (c) => {
      const request = newestFirst(c.req.valid('query'));
      const { freshness, body } = await storedShows(c.var.db, c.var.userId, request, c.env.TMDB_IMAGE_BASE_URL);
      assertUserExists(c, freshness);
      return c.json(body);
    },
  )
  .get(
    '/get-watched-seasons-episodes',
    npDescribe({
      summary: 'NowPlaying: every episode of each watched season, watched or not',
      description:
        'Unwatched episodes have `last_watched_at: null` and TMDB’s title, overview and still, from TMDB season data ' +
        'the enrichment stored (no upstream call here). A season never fetched lists only its stored episodes, and ' +
        '`episode_list` says so; with Trakt’s aired count it also says how many aired episodes are not listed.',
      responses: {
        200: { description: 'Seasons and episodes', schema: npSeasonsEpisodesOutput },
        404: errorResponse('No watched show with that trakt_id'),
      },
    }),
    requireToken,
    validate('query', npSeasonsEpisodesQuery),
    async (c) => {
      const { trakt_id } = c.req.valid('query');
      const { freshness, body, catalogue } = await watchedSeasonsEpisodes(
        c.var.db,
        c.var.userId,
        trakt_id,
        c.env.TMDB_IMAGE_BASE_URL,
        { everyEpisode: true },
      );
      assertUserExists(c, freshness);
      if (!body || !catalogue) throw new ApiError(404, 'No watched show with that trakt_id');
      return c.json(everyEpisodeAnswer(body, catalogue));
    },
  )
  .get(
    '/detail',
    npDescribe({
      summary: 'NowPlaying: one of your movies or shows, by TMDB id',
      description: '`result` is the item as get-stored-movies / get-stored-shows list it.',
      responses: {
        200: { description: 'The stored item', schema: npDetailOutput },
        404: errorResponse('Movie not found. / Show not found.'),
      },
    }),
    requireToken,
    validate('query', npDetailQuery),
    async (c) => {
      const { type, tmdb_id } = c.req.valid('query');
      const request = { ...newestFirst({ page: 1, page_size: 1 }), tmdbId: tmdb_id };
      const base = c.env.TMDB_IMAGE_BASE_URL;
      if (type === 'movie') {
        const { freshness, body } = await storedMovies(c.var.db, c.var.userId, request, base);
        assertUserExists(c, freshness);
        if (!body.movies[0]) throw new ApiError(404, 'Movie not found.');
        return c.json({ result: body.movies[0] });
      }
      const { freshness, body } = await storedShows(c.var.db, c.var.userId, request, base);
      assertUserExists(c, freshness);
      if (!body.shows[0]) throw new ApiError(404, 'Show not found.');
      return c.json({ result: body.shows[0] });
    },
  )
  .get(
    '/movie-stats',
    npDescribe({
      summary: 'NowPlaying: Trakt’s community figures of a movie (asked from Trakt, not stored)',
      responses: {
        200: { description: 'Watchers, plays, collectors, comments, lists, votes', schema: npMovieStatsOutput },
        400: errorResponse(NOT_CONNECTED_ANSWER),
        429: overBudgetResponse,
        502: errorResponse('Trakt failed or answered something else'),
      },
    }),
    requireUser,
    userBudget('movie_stats'),
    validate('query', npTraktIdQuery),
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId, (p) => c.executionCtx.waitUntil(p));
      const client = await ctx.client();
      const { trakt_id } = c.req.valid('query');
      const { data } = await withAccessToken(ctx, (token) => client.get<unknown>(`/movies/${trakt_id}/stats`, token));
      const stats = npMovieStatsOutput.safeParse(data);
      if (!stats.success) throw new ApiError(502, 'Trakt returned an invalid response; try again later');
      return c.json(stats.data);
    },
  )
  .get(
    '/watch-history',
    npDescribe({
      summary: 'NowPlaying: every play, by page',
      description:
        'One item per play (Trakt history id), newest or oldest first; `days` counts back from now. Episode items ' +
        'carry the show’s title, year, Trakt and TMDB ids. Deep pages read the plays they skip; the API’s own ' +
        'GET /trakt/history/ pages by cursor instead.',
      responses: { 200: { description: 'One page of plays', schema: npWatchHistoryOutput } },
    }),
    requireToken,
    validate('query', npWatchHistoryQuery),
    async (c) => {
      const query = c.req.valid('query');
      const filters = {
        type: query.type === 'all' ? undefined : query.type === 'movies' ? ('movies' as const) : ('episodes' as const),
        startAt: query.days === undefined ? undefined : new Date(Date.now() - query.days * DAY_MS).toISOString(),
      };
      const { freshness, rows, total } = await readHistoryOffsetPage(c.var.db, c.var.userId, filters, {
        order: query.sort === 'oldest' ? 'asc' : 'desc',
        offset: (query.page - 1) * query.page_size,
        limit: query.page_size,
      });
      assertUserExists(c, freshness);
      return c.json({
        ...pageMeta(query, total),
        history: rows.map((row) => historyEntry(row, c.env.TMDB_IMAGE_BASE_URL)),
      } satisfies NpWatchHistoryOutput);
    },
  )
  .get(
    '/activity-heatmap',
    npDescribe({
      summary: 'NowPlaying: plays per UTC day over the last 180 days (days without plays left out)',
      responses: { 200: { description: 'Activity', schema: npHeatmapOutput } },
    }),
    requireToken,
    async (c) => {
      const now = Date.now();
      const { freshness, body } = await readStats(c.var.db, c.var.userId, 'UTC', now);
      assertUserExists(c, freshness);
      const since = new Date(now - HEATMAP_DAYS * DAY_MS).toISOString().slice(0, 10);
      const activity = body.by_day.filter((d) => d.date >= since).map((d) => ({ date: d.date, count: d.plays }));
      return c.json({ activity, days: HEATMAP_DAYS });
    },
  )
  .get(
    '/top-genres',
    npDescribe({
      summary: 'NowPlaying: the three most watched genres',
      description:
        'Each play counts once per genre of its title (TMDB), over the whole history: the counts come from the ' +
        'rollups the API keeps (NowPlaying counts the last 365 days, which would read a year of plays per view).',
      responses: { 200: { description: 'Top genres with their share of all genre hits', schema: npTopGenresOutput } },
    }),
    requireToken,
    async (c) => {
      const { freshness, body } = await readStats(c.var.db, c.var.userId, 'UTC', Date.now(), { allGenres: true });
      assertUserExists(c, freshness);
      const total = body.top_genres.reduce((sum, genre) => sum + genre.plays, 0);
      const genres = body.top_genres.slice(0, TOP_GENRE_COUNT).map((genre) => ({
        name: genre.name,
        count: genre.plays,
        percentage: total > 0 ? Math.round((1000 * genre.plays) / total) / 10 : 0,
      }));
      return c.json({ genres, total_items: total });
    },
  )
  .get(
    '/completed-media',
    npDescribe({
      summary: 'NowPlaying: shows watched to the end, and watched movies',
      description:
        `A show is complete when every episode Trakt counts as aired (specials excluded) has a play; a show ` +
        `whose count is unknown never is. Checked over the ${COMPLETED_SHOWS_CHECKED} most recently watched ` +
        `shows; the ${COMPLETED_MOVIES} most recently watched movies. Served from what is stored, connected or not.`,
      responses: { 200: { description: 'Completed shows and movies', schema: npCompletedOutput } },
    }),
    requireUser,
    async (c) => {
      const base = c.env.TMDB_IMAGE_BASE_URL;
      const [movies, shows, connection] = await Promise.all([
        storedMovies(c.var.db, c.var.userId, newestFirst({ page: 1, page_size: COMPLETED_MOVIES }), base),
        completedShows(c.var.db, c.var.userId, base, COMPLETED_SHOWS_CHECKED),
        readConnectionState(c.var.db, c.var.userId),
      ]);
      const completedMovies = movies.body.movies
        .filter((m) => m.plays > 0)
        .map((m) => ({
          id: m.movie.ids.trakt,
          title: m.movie.title,
          year: m.movie.year,
          image_url: m.movie.image_url,
          trakt_id: m.movie.ids.trakt,
          tmdb_id: m.movie.ids.tmdb,
          last_watched_at: m.last_watched_at,
        }));
      return c.json({
        completed_shows: shows,
        completed_movies: completedMovies,
        trakt_auth_required: connectionView(connection, Date.now()).state !== 'active',
      });
    },
  )
  .get(
    '/search',
    npDescribe({
      summary: 'NowPlaying: search your own titles',
      description:
        `Titles containing q (any case, at least 2 characters): up to ${SEARCH_LIMITS.movies} movies, ` +
        `${SEARCH_LIMITS.shows} shows and ${SEARCH_LIMITS.episodes} episodes (by episode or show title), by type ` +
        'then title. `id` is the Trakt id (an episode’s, or its stored id when Trakt gave none).',
      responses: { 200: { description: 'Results', schema: npSearchOutput } },
    }),
    requireUser,
    validate('query', npSearchQuery),
    async (c) => {
      const { q } = c.req.valid('query');
      if (q.length < 2) return c.json({ results: [] } satisfies NpSearchOutput);
      const base = c.env.TMDB_IMAGE_BASE_URL;
      const byName = (limit: number): ListRequest => ({ page: 1, page_size: limit, sort: 'title', order: 'asc', q });
      const [movies, shows, episodes] = await Promise.all([
        storedMovies(c.var.db, c.var.userId, byName(SEARCH_LIMITS.movies), base),
        storedShows(c.var.db, c.var.userId, byName(SEARCH_LIMITS.shows), base),
        searchEpisodes(c.var.db, c.var.userId, q, base, SEARCH_LIMITS.episodes),
      ]);
      const results: NpSearchOutput['results'] = [
        ...episodes.map((e) => ({
          type: 'episode' as const,
          id: e.traktId ?? e.id,
          title: e.title,
          cover_image: e.imageUrl,
          year: e.show.year,
          tmdb_id: e.show.tmdbId,
          show_title: e.show.title,
          show_id: e.show.traktId,
          show_trakt_id: e.show.traktId,
          season_number: e.seasonNumber,
          episode_number: e.episodeNumber,
        })),
        ...movies.body.movies.map((m) => ({
          type: 'movie' as const,
          id: m.movie.ids.trakt,
          title: m.movie.title,
          cover_image: m.movie.image_url,
          year: m.movie.year,
          tmdb_id: m.movie.ids.tmdb,
        })),
        ...shows.body.shows.map((s) => ({
          type: 'show' as const,
          id: s.show.ids.trakt,
          title: s.show.title,
          cover_image: s.show.image_url,
          year: s.show.year,
          tmdb_id: s.show.ids.tmdb,
        })),
      ];
      // By type (episode, movie, show), then title, as NowPlaying sorts them.
      const order = { episode: 0, movie: 1, show: 2 };
      results.sort((a, b) => order[a.type] - order[b.type] || byTitle(a, b));
      return c.json({ results } satisfies NpSearchOutput);
    },
  );
