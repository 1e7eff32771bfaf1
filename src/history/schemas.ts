/**
 * @module
 * Request and response schemas of the sync and history endpoints.
 */
import { z } from 'zod';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../config';
import { standaloneMessage } from '../http/validate';

const positiveInteger = (name: string, fallback: number, max?: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback;
      const parsed = /^[0-9]+$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(parsed) || parsed < 1 || (max !== undefined && parsed > max)) {
        ctx.addIssue({
          code: 'custom',
          message: max ? `${name} must be an integer between 1 and ${max}` : `${name} must be a positive integer`,
        });
        return z.NEVER;
      }
      return parsed;
    });

/** Far past any collection's end; keeps OFFSET arithmetic exact. */
export const MAX_PAGE = 1_000_000;

export const pageQuery = z.object({
  page: positiveInteger('page', 1, MAX_PAGE),
  page_size: positiveInteger('page_size', DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
});

/** The API reference's exact text for a missing `trakt_id`; answered as is, without a prefix. */
export const TRAKT_ID_REQUIRED = standaloneMessage("The 'trakt_id' parameter is required");
const TRAKT_ID_NOT_POSITIVE = standaloneMessage("The 'trakt_id' parameter must be a positive integer");

export const seasonsEpisodesQuery = z.object({
  trakt_id: z.string({ error: TRAKT_ID_REQUIRED }).transform((value, ctx) => {
    if (value === '') {
      ctx.addIssue({ code: 'custom', message: TRAKT_ID_REQUIRED });
      return z.NEVER;
    }
    const parsed = /^[0-9]+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(parsed) || parsed < 1) {
      ctx.addIssue({ code: 'custom', message: TRAKT_ID_NOT_POSITIVE });
      return z.NEVER;
    }
    return parsed;
  }),
});

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
  result: z.literal('Sync started; it continues in the background'),
  progress: syncProgress,
});

const pageMeta = { page: z.number(), page_size: z.number(), total_items: z.number(), total_pages: z.number() };

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
        ids: z.object({
          trakt: z.number(),
          slug: z.string().nullable(),
          imdb: z.string().nullable(),
          tmdb: z.number().nullable(),
        }),
      }),
    }),
  ),
});

export const storedShowsOutput = z.object({
  ...pageMeta,
  shows: z.array(
    z.object({
      last_watched_at: z.string(),
      show: z.object({
        id: z.number(),
        title: z.string(),
        year: z.number().nullable(),
        image_url: z.string().nullable(),
        ids: z.object({ trakt: z.number(), tmdb: z.number().nullable() }),
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
  status: z.enum(['active', 'reauthorization_required', 'not_connected']),
  last_sync_at: z.string().nullable(),
  last_result: z.unknown().nullable(),
  last_error: z.string().nullable(),
  next_sync_at: z.string().nullable(),
  in_progress: z.boolean(),
  /** Unfinished passes (a sync continuing in the background); empty when none. */
  progress: syncProgress,
  counts: z.object({ movies: z.number(), shows: z.number(), episodes: z.number(), plays: z.number() }),
});

export type FetchMoviesOutput = z.input<typeof fetchMoviesOutput>;
export type FetchShowsOutput = z.input<typeof fetchShowsOutput>;
export type FetchContinuesOutput = z.input<typeof fetchContinuesOutput>;
export type StoredMoviesOutput = z.input<typeof storedMoviesOutput>;
export type StoredShowsOutput = z.input<typeof storedShowsOutput>;
export type SeasonsEpisodesOutput = z.input<typeof seasonsEpisodesOutput>;
export type SyncStatusOutput = z.input<typeof syncStatusOutput>;
