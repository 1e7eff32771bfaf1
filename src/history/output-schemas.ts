/**
 * @module
 * Response schemas of the sync and history endpoints (the API's answers), read back by the OpenAPI generator and
 * the handlers' `satisfies` checks. zod only, free of Worker bindings and server modules: the dashboard's browser
 * code (src/web/dashboard/browser/types.ts) imports these types, and tsconfig.web.json type-checks what it imports.
 * Re-exported by ./schemas.ts with the request schemas.
 */
import { z } from 'zod';

const counts = z.object({ added: z.number(), updated: z.number(), removed: z.number(), unchanged: z.number() });

export const fetchMoviesOutput = counts.extend({
  result: z.literal('Movies fetched and stored successfully'),
  plays_added: z.number(),
  plays_removed: z.number(),
});
export const fetchShowsOutput = counts.extend({
  result: z.literal('Shows and episodes fetched and stored successfully'),
  plays_added: z.number(),
  plays_removed: z.number(),
  episodes: counts,
});

/** Progress of an unfinished sync, per kind (phases: history → totals or watched → playback). */
const kindProgress = z.object({
  mode: z.enum(['full', 'incremental']),
  reason: z.enum(['first_sync', 'weekly_reconcile', 'totals_disagree', 'new_activity']),
  phase: z.enum(['history', 'totals', 'watched', 'playback']),
  chunks: z.number(),
  pages_done: z.number(),
  pages_known: z.number().nullable(),
  plays_stored: z.number(),
});
export const syncProgress = z.object({ movies: kindProgress.optional(), shows: kindProgress.optional() });

export const fetchContinuesOutput = z.object({
  result: z
    .enum(['Sync started; it continues in the background', 'Sync requested; it starts when the sync in progress ends'])
    .describe(
      'A sync larger than one chunk continues in the background; a sync requested while another runs for this ' +
        'account (e.g. the other kind) is recorded and starts when that one ends',
    ),
  progress: syncProgress,
});

/** A movie's ids (a show's add `tvdb`), as stored from Trakt. */
const titleIds = z.object({
  trakt: z.number(),
  slug: z.string().nullable(),
  imdb: z.string().nullable(),
  tmdb: z.number().nullable(),
});

const pageMeta = { page: z.number(), page_size: z.number(), total_items: z.number(), total_pages: z.number() };

/** TMDB fields of a movie or show; null until enriched. */
const enrichedFields = {
  overview: z.string().nullable(),
  backdrop_url: z.string().nullable(),
  genres: z.array(z.string()).nullable().describe('Genre names'),
  runtime: z.number().nullable().describe("Minutes (a show's typical episode runtime)"),
  rating: z.number().nullable().describe("TMDB's vote average (0–10)"),
};

export const storedMoviesOutput = z.object({
  ...pageMeta,
  movies: z.array(
    z.object({
      plays: z.number(),
      last_watched_at: z.string(),
      last_updated_at: z.string().nullable(),
      movie: z.object({
        title: z.string(),
        year: z.number().nullable(),
        image_url: z.string().nullable(),
        ids: titleIds,
        ...enrichedFields,
      }),
    }),
  ),
});

export const storedShowsOutput = z.object({
  ...pageMeta,
  shows: z.array(
    z.object({
      last_watched_at: z.string(),
      plays: z.number(),
      reset_at: z.string().nullable().describe('Start of the current rewatch (Trakt reset_at), or null'),
      show: z.object({
        id: z.number(),
        title: z.string(),
        year: z.number().nullable(),
        image_url: z.string().nullable(),
        ids: z.object({ trakt: z.number(), tmdb: z.number().nullable() }),
        ...enrichedFields,
      }),
    }),
  ),
});

export const seasonsEpisodesOutput = z.object({
  seasons: z.array(
    z.object({
      id: z.number(),
      season_number: z.number(),
      show__id: z.number(),
      show__title: z.string(),
      show__trakt_id: z.number(),
    }),
  ),
  episodes: z.array(
    z.object({
      id: z.number(),
      episode_number: z.number(),
      title: z.string().nullable(),
      image_url: z.string().nullable(),
      rating: z.number().nullable(),
      overview: z.string().nullable(),
      season__id: z.number(),
      season__season_number: z.number(),
      show__id: z.number(),
      show__title: z.string(),
      show__trakt_id: z.number(),
      last_watched_at: z.string().nullable(),
      progress: z.number(),
      plays: z.number(),
    }),
  ),
});

export const syncStatusOutput = z.object({
  connected: z.boolean(),
  status: z.enum(['active', 'reauthorization_required', 'app_rejected', 'not_connected']),
  /** With `app_rejected`: the Trakt app behind the connection no longer works, and the way out. */
  message: z.string().optional(),
  last_sync_at: z.string().nullable(),
  last_result: z.unknown().nullable(),
  last_error: z.string().nullable(),
  next_sync_at: z.string().nullable(),
  in_progress: z.boolean(),
  /** Unfinished passes (a sync continuing in the background); empty when none. */
  progress: syncProgress,
  counts: z.object({ movies: z.number(), shows: z.number(), episodes: z.number(), plays: z.number() }),
  paused_until: z
    .string()
    .nullable()
    .describe("Background work (sync, artwork, import) stopped for today's database budget, until then (00:00 UTC)"),
  paused_reason: z.string().nullable().describe('Why background work is paused (the daily database budget)'),
  enrichment: z
    .object({
      pending_titles: z
        .number()
        .describe('Movies and shows whose TMDB data (artwork, runtime, genres) is still to come'),
      pending_seasons: z.number().describe('Seasons whose episodes still wait for TMDB data'),
      last_run_at: z.string().nullable().describe('When the last TMDB enrichment run ended'),
    })
    .describe('TMDB artwork still to come: it arrives in the background after a sync'),
});

const historyCommon = {
  id: z.number().describe("Trakt's history id"),
  watched_at: z.string(),
  action: z.string().describe('scrobble, checkin or watch'),
};

export const historyOutput = z.object({
  items: z.array(
    z.discriminatedUnion('type', [
      z.object({
        ...historyCommon,
        type: z.literal('movie'),
        movie: z.object({
          title: z.string().nullable(),
          year: z.number().nullable(),
          image_url: z.string().nullable(),
          ids: titleIds,
          plays: z.number().describe("The movie's plays in total"),
        }),
      }),
      z.object({
        ...historyCommon,
        type: z.literal('episode'),
        show: z.object({
          title: z.string().nullable(),
          year: z.number().nullable(),
          image_url: z.string().nullable(),
          ids: titleIds.extend({ tvdb: z.number().nullable() }),
        }),
        episode: z.object({
          season: z.number(),
          number: z.number(),
          title: z.string().nullable(),
          ids: z.object({ trakt: z.number().nullable() }),
          plays: z.number().describe("The episode's plays in total"),
        }),
      }),
    ]),
  ),
  next_cursor: z.string().nullable().describe('Pass as ?cursor= for the next page; null on the last page'),
});

const playFigures = z.object({ watched: z.number(), plays: z.number(), minutes: z.number() });
const bucketFigures = { plays: z.number(), minutes: z.number() };

export const statsOutput = z.object({
  movies: playFigures,
  episodes: playFigures,
  shows: z.object({ watched: z.number() }),
  minutes_unknown_plays: z.number().describe('Plays whose runtime TMDB has not given (not counted in minutes)'),
  first_play_at: z.string().nullable(),
  last_play_at: z.string().nullable(),
  by_year: z.array(z.object({ year: z.number(), ...bucketFigures })),
  by_month: z.array(z.object({ month: z.string().describe('YYYY-MM (UTC)'), ...bucketFigures })),
  by_day: z
    .array(z.object({ date: z.string().describe('YYYY-MM-DD (UTC)'), plays: z.number() }))
    .describe('Plays per day over about the last 400 days (days without plays are left out)'),
  time_zone: z.string().describe('The zone of by_weekday_hour'),
  by_weekday_hour: z
    .array(z.array(z.number()))
    .describe('7 rows (Monday first) of 24 play counts (hour 0–23) in time_zone'),
  top_genres: z.array(z.object({ name: z.string(), plays: z.number() })).describe('At most 10, most played first'),
});

export type FetchMoviesOutput = z.input<typeof fetchMoviesOutput>;
export type FetchShowsOutput = z.input<typeof fetchShowsOutput>;
export type FetchContinuesOutput = z.input<typeof fetchContinuesOutput>;
export type StoredMoviesOutput = z.input<typeof storedMoviesOutput>;
export type StoredShowsOutput = z.input<typeof storedShowsOutput>;
export type SeasonsEpisodesOutput = z.input<typeof seasonsEpisodesOutput>;
export type SyncStatusOutput = z.input<typeof syncStatusOutput>;
export type HistoryOutput = z.input<typeof historyOutput>;
export type StatsOutput = z.input<typeof statsOutput>;

/** One row of GET /trakt/export/ (JSON; the CSV has the same columns). */
export const exportRowOutput = z.object({
  type: z.enum(['movie', 'episode']),
  watched_at: z.string(),
  action: z.string(),
  title: z.string().nullable(),
  year: z.number().nullable(),
  season: z.number().nullable(),
  episode: z.number().nullable(),
  episode_title: z.string().nullable(),
  trakt: z.number().nullable(),
  imdb: z.string().nullable(),
  tmdb: z.number().nullable(),
  tvdb: z.number().nullable(),
});
