/**
 * @module
 * Schemas of Trakt's answers that this API reads, as Trakt documents them (https://trakt.docs.apiary.io
 * and Trakt's own TypeScript contract, https://github.com/trakt/trakt-api): OAuth and device-flow
 * tokens, and the sync endpoints. Upstream shapes only; this API's own contract is each folder's
 * `schemas.ts`. Lenient where Trakt adds fields, strict where a wrong value would corrupt stored
 * data (ids, counts, timestamps).
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// OAuth (auth.trakt.tv / api.trakt.tv /oauth/*)

export const tokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().positive(),
  refresh_token: z.string().min(1),
  scope: z.string().optional(),
  created_at: z.number().int().positive(),
});
export type TraktTokenResponse = z.infer<typeof tokenResponse>;

export const deviceCodeResponse = z.object({
  device_code: z.string().min(1),
  user_code: z.string().min(1),
  verification_url: z.string().min(1),
  expires_in: z.number().int().positive(),
  interval: z.number().int().positive(),
});
export type TraktDeviceCode = z.infer<typeof deviceCodeResponse>;

export type Pagination = { page: number; limit: number; pageCount: number; itemCount: number };

// ---------------------------------------------------------------------------------------------
// Sync (/sync/*, /users/me/stats): what a sync reads

const timestamp = z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'expected a timestamp');
const optionalTimestamp = timestamp.nullish();
const nullableId = z.number().int().nullish();

export const movieRef = z.object({
  title: z.string().nullish(),
  year: z.number().int().nullish(),
  ids: z.object({ trakt: z.number().int(), slug: z.string().nullish(), imdb: z.string().nullish(), tmdb: nullableId }),
});
export const showRef = z.object({
  title: z.string().nullish(),
  year: z.number().int().nullish(),
  aired_episodes: z.number().int().nullish(),
  ids: z.object({
    trakt: z.number().int(),
    slug: z.string().nullish(),
    imdb: z.string().nullish(),
    tmdb: nullableId,
    tvdb: nullableId,
  }),
});
export const episodeRef = z.object({
  season: z.number().int(),
  number: z.number().int(),
  title: z.string().nullish(),
  ids: z.object({ trakt: nullableId }).partial().nullish(),
});

export const historyItem = z.object({
  id: z.number().int(),
  watched_at: timestamp,
  action: z.string(),
  type: z.enum(['movie', 'episode']),
  movie: movieRef.optional(),
  episode: episodeRef.optional(),
  show: showRef.optional(),
});
export type HistoryItem = z.infer<typeof historyItem>;

export const watchedMovie = z.object({
  plays: z.number().int().min(0),
  last_watched_at: timestamp,
  last_updated_at: optionalTimestamp,
  movie: movieRef,
});
export type WatchedMovie = z.infer<typeof watchedMovie>;

export const watchedShow = z.object({
  plays: z.number().int().min(0),
  last_watched_at: timestamp,
  last_updated_at: optionalTimestamp,
  reset_at: optionalTimestamp,
  show: showRef,
  seasons: z
    .array(
      z.object({
        number: z.number().int(),
        episodes: z.array(
          z.object({ number: z.number().int(), plays: z.number().int().min(0), last_watched_at: optionalTimestamp }),
        ),
      }),
    )
    .optional(),
});
export type WatchedShow = z.infer<typeof watchedShow>;

export const playbackItem = z.object({
  id: z.number().int(),
  progress: z.number().min(0).max(100),
  paused_at: timestamp,
  type: z.enum(['movie', 'episode']),
  movie: movieRef.optional(),
  episode: episodeRef.optional(),
  show: showRef.optional(),
});
export type PlaybackItem = z.infer<typeof playbackItem>;

const activity = z.object({ watched_at: optionalTimestamp, paused_at: optionalTimestamp }).partial();
export const lastActivities = z.object({ movies: activity.optional(), episodes: activity.optional() }).passthrough();
export type LastActivities = z.infer<typeof lastActivities>;

const playsWatched = z.object({ plays: z.number().int().min(0), watched: z.number().int().min(0) }).passthrough();
/** `GET /users/me/stats`: Trakt's own totals, a cheap consistency check of the stored history. */
export const userStats = z
  .object({
    movies: playsWatched,
    shows: z.object({ watched: z.number().int().min(0) }).passthrough(),
    episodes: playsWatched,
  })
  .passthrough();
export type UserStats = z.infer<typeof userStats>;
