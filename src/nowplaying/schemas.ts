/**
 * @module
 * Request and response schemas of the NowPlaying layer: NowPlaying's requests as its clients send them
 * (MikeGonzaBar/NowPlaying: `users/serializers.py`, `trakt/views.py`, `query_params.py`) and the fields
 * they read. Where a shape equals the API's own, the API's schema is reused.
 */
import { z } from 'zod';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../config';
import { MAX_PAGE, MAX_QUERY_LENGTH } from '../history/schemas';
import { standaloneMessage } from '../http/validate';
import { apiKeyInput, username } from '../users/schemas';

// ---------------------------------------------------------------------------------------------
// Accounts

/** Registration as NowPlaying's sign-in page posts it. `email` is accepted and not stored. */
export const npRegisterInput = z
  .object({
    username,
    email: z.string().max(254, 'email must be at most 254 characters').optional().describe('Accepted, not stored'),
    password: z
      .string({ error: 'password is required' })
      .min(8, 'password must be at least 8 characters')
      .max(1024, 'password must be at most 1024 characters'),
    password2: z.string().max(1024).optional().describe('When given, must equal password'),
  })
  .refine((input) => input.password2 === undefined || input.password2 === input.password, {
    message: "Password fields didn't match.",
    path: ['password2'],
  });

export const npLoginInput = z.object({
  username: z.string({ error: 'username is required' }).min(1, 'username is required').max(150),
  password: z.string({ error: 'password is required' }).min(1, 'password is required').max(1024),
});

export const npRefreshInput = z.object({
  refresh: z.string({ error: 'refresh is required' }).min(1, 'refresh is required').max(4096),
});

const npUser = z.object({
  id: z.number().int(),
  username: z.string(),
  email: z.null().describe('Not stored by this API'),
});

export const npTokenPairOutput = z.object({
  access: z.string().describe('Access JWT (60 minutes); its payload is plain base64 JSON with a numeric exp'),
  refresh: z.string().describe('Refresh JWT (1 day); not rotated by POST /api/users/token/refresh/'),
  user: npUser,
});
export const npAccessOutput = z.object({ access: z.string() });
export const npProfileOutput = npUser;

export const npApiKeyInput = apiKeyInput;
export const npApiKeyUpdateInput = z
  .object({
    api_key: z.string().trim().min(1, 'api_key must not be empty').max(4096).optional(),
    service_user_id: z.string().trim().min(1).max(255).optional(),
  })
  .refine((input) => input.api_key !== undefined || input.service_user_id !== undefined, {
    message: 'Send api_key and/or service_user_id',
  });
export const npApiKeyParam = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, 'id must be a positive integer')
    .transform(Number),
});

export const npApiKeyOutput = z.object({
  id: z.number().int(),
  service_name: z.string(),
  service_user_id: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  last_used: z.null().describe('Not tracked by this API'),
});
export const npApiKeyPageOutput = z.object({
  count: z.number().int(),
  next: z.null(),
  previous: z.null(),
  results: z.array(npApiKeyOutput),
});

// ---------------------------------------------------------------------------------------------
// Connecting Trakt

export const npAuthenticateOutput = z.object({
  auth_url: z.string(),
  redirect_uri: z.string().describe("This deployment's TRAKT_REDIRECT_URI"),
  message: z.string(),
});

export const CODE_REQUIRED = standaloneMessage('Authorization code is required');

/**
 * `state`: the state Trakt echoed (the setup script and the helper page), or NowPlaying's web app's numeric
 * user id, or nothing (the script when the pasted URL had none).
 */
export const npCallbackBody = z.object({
  code: z.string({ error: CODE_REQUIRED }).trim().min(1, CODE_REQUIRED).max(512, 'code is too long'),
  state: z
    .union([z.string().max(512, 'state is too long'), z.number()])
    .nullish()
    .describe('The state from the redirect, or your own user id (as NowPlaying’s web app sends it), or null'),
});

export const npCallbackQuery = z.object({
  code: z.string().max(512).optional(),
  state: z.string().max(512).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(1024).optional(),
});

export const npCallbackOutput = z.object({
  success: z.literal(true),
  message: z.string(),
  expires_at: z.string(),
});

// ---------------------------------------------------------------------------------------------
// Paging and parameters (Django's texts; page_size is capped, not refused)

/** A positive whole number; "Must be an integer." / "Must be at least 1." as NowPlaying says it. */
const wholeNumber = (fallback: number, max: number, clamp: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      if (!/^-?[0-9]+$/.test(value.trim())) {
        ctx.addIssue({ code: 'custom', message: 'Must be an integer.' });
        return z.NEVER;
      }
      const parsed = Number(value.trim());
      if (parsed < 1) {
        ctx.addIssue({ code: 'custom', message: 'Must be at least 1.' });
        return z.NEVER;
      }
      if (parsed > max && !clamp) {
        ctx.addIssue({ code: 'custom', message: `Must be at most ${max}.` });
        return z.NEVER;
      }
      return Math.min(parsed, max);
    });

export const npPage = (defaultSize: number) =>
  z.object({
    page: wholeNumber(1, MAX_PAGE, false).describe('From 1 (default 1)'),
    page_size: wholeNumber(defaultSize, MAX_PAGE_SIZE, true).describe(
      `Default ${defaultSize}; above ${MAX_PAGE_SIZE} it is capped at ${MAX_PAGE_SIZE}`,
    ),
  });

export const npListQuery = npPage(DEFAULT_PAGE_SIZE);

const requiredId = (message: string) =>
  z
    .string({ error: message })
    .trim()
    .min(1, message)
    .regex(/^[0-9]{1,15}$/, message)
    .transform(Number)
    .refine((id) => id >= 1, message);

export const TRAKT_ID_PARAMETER_REQUIRED = standaloneMessage('trakt_id parameter is required');
export const SEASONS_TRAKT_ID_REQUIRED = standaloneMessage("The 'trakt_id' parameter is required.");
export const TMDB_ID_REQUIRED = standaloneMessage('tmdb_id is required.');

export const npTraktIdQuery = z.object({ trakt_id: requiredId(TRAKT_ID_PARAMETER_REQUIRED) });
export const npSeasonsEpisodesQuery = z.object({ trakt_id: requiredId(SEASONS_TRAKT_ID_REQUIRED) });

export const npDetailQuery = z.object({
  type: z.enum(['movie', 'show'], { error: standaloneMessage("type must be 'movie' or 'show'.") }),
  tmdb_id: requiredId(TMDB_ID_REQUIRED),
});

export const npSearchQuery = z.object({
  q: z
    .string()
    .max(MAX_QUERY_LENGTH, `q must be at most ${MAX_QUERY_LENGTH} characters`)
    .optional()
    .transform((value) => value?.trim() ?? '')
    .describe('At least 2 characters; shorter answers no results'),
});

export const HISTORY_DEFAULT_PAGE_SIZE = 20;
export const MAX_HISTORY_DAYS = 365;

export const npWatchHistoryQuery = npPage(HISTORY_DEFAULT_PAGE_SIZE).extend({
  type: z
    .enum(['all', 'movies', 'shows', 'episodes'], { error: 'type must be one of: all, movies, shows, episodes' })
    .optional()
    .transform((value) => value ?? 'all')
    .describe('all (default), movies, or shows / episodes (the same)'),
  sort: z
    .enum(['newest', 'oldest'], { error: 'sort must be newest or oldest' })
    .optional()
    .transform((value) => value ?? 'newest'),
  days: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '' || value === 'all') return undefined;
      const days = /^[0-9]{1,3}$/.test(value) ? Number(value) : NaN;
      if (!(days >= 1 && days <= MAX_HISTORY_DAYS)) {
        ctx.addIssue({ code: 'custom', message: `days must be all or 1-${MAX_HISTORY_DAYS}` });
        return z.NEVER;
      }
      return days;
    })
    .describe(`all (default) or 1-${MAX_HISTORY_DAYS}: plays since now minus that many days`),
});

// ---------------------------------------------------------------------------------------------
// Answers

export const npSyncOutput = z.object({
  message: z.string(),
  status: z
    .enum(['completed', 'processing'])
    .describe('completed: synced already; processing: the first chunk is stored, the rest follows'),
  result: z.unknown().describe('What the sync changed (as the API’s fetch-latest-* answer it), or its progress'),
});

const npSeason = z.object({
  id: z.number(),
  season_number: z.number(),
  show__id: z.number(),
  show__title: z.string(),
  show__trakt_id: z.number(),
  episode_count: z.number().nullable().describe("TMDB's episode count of the season; null when it is not known"),
  episodes_known: z
    .boolean()
    .describe('true: every episode of the season is listed (from TMDB); false: only its stored ones'),
});

const npEpisode = z.object({
  id: z.number().describe("The stored episode's id; a negative id (unique in the answer) for an episode never watched"),
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
  last_watched_at: z.string().nullable().describe('null: not watched'),
  watched_at: z.string().nullable(),
  progress: z.number(),
  plays: z.number(),
});

export const npSeasonsEpisodesOutput = z.object({
  seasons: z.array(npSeason),
  episodes: z.array(npEpisode),
  show_metadata: z.object({
    genres: z.array(z.string()),
    aired_episodes: z.number().nullable().describe("Trakt's count of aired episodes (specials excluded)"),
  }),
  episode_list: z
    .object({
      complete: z.boolean().describe('true only when every aired episode of the show is listed'),
      seasons_not_fetched: z.array(z.number()).describe('Seasons whose TMDB episode list was never fetched'),
      seasons_unknown_to_tmdb: z.array(z.number()).describe('Seasons TMDB does not know'),
      unlisted_aired_episodes: z
        .number()
        .nullable()
        .describe('Aired episodes (per Trakt) missing from the list, e.g. seasons never watched; null: unknown'),
      note: z.string().nullable(),
    })
    .describe('How much of the show the list covers, from data already stored (no upstream call)'),
});

export const npDetailOutput = z.object({ result: z.unknown() });

export const npMovieStatsOutput = z.object({
  watchers: z.number(),
  plays: z.number(),
  collectors: z.number(),
  comments: z.number(),
  lists: z.number(),
  votes: z.number(),
});

const historyEntry = z.object({
  type: z.enum(['movie', 'episode']),
  id: z.number().describe("Trakt's history id of the play"),
  watched_at: z.string(),
  action: z.string(),
  title: z.string().nullable().describe("The movie's title, or the show's for an episode"),
  image_url: z.string().nullable(),
  year: z.number().nullable(),
  runtime: z.number().nullable().describe('Minutes (TMDB)'),
  rating: z.number().nullable().describe("TMDB's vote average"),
  trakt_id: z.number().describe("The movie's Trakt id, or the show's for an episode"),
  tmdb_id: z.number().nullable(),
  episode_info: z
    .object({ season_number: z.number(), episode_number: z.number(), episode_title: z.string().nullable() })
    .nullable(),
});

export const npWatchHistoryOutput = z.object({
  page: z.number(),
  page_size: z.number(),
  total_items: z.number(),
  total_pages: z.number(),
  history: z.array(historyEntry),
});

export const npHeatmapOutput = z.object({
  activity: z.array(z.object({ date: z.string().describe('YYYY-MM-DD (UTC)'), count: z.number() })),
  days: z.number(),
});

export const npTopGenresOutput = z.object({
  genres: z.array(z.object({ name: z.string(), count: z.number(), percentage: z.number() })),
  total_items: z.number().describe('Genre hits counted (each play counts once per genre of its title)'),
});

const completedTitle = z.object({
  id: z.number(),
  title: z.string(),
  year: z.number().nullable(),
  image_url: z.string().nullable(),
  trakt_id: z.number(),
  tmdb_id: z.number().nullable(),
  last_watched_at: z.string().nullable(),
});

export const npCompletedOutput = z.object({
  completed_shows: z.array(completedTitle),
  completed_movies: z.array(completedTitle),
  trakt_auth_required: z.boolean().describe('Trakt is not connected (what is stored is still listed)'),
});

const searchResult = z.object({
  type: z.enum(['movie', 'show', 'episode']),
  id: z.number().describe("The title's Trakt id (an episode's own Trakt id, else its stored id)"),
  title: z.string().nullable(),
  cover_image: z.string().nullable(),
  year: z.number().nullable(),
  tmdb_id: z.number().nullable(),
  show_title: z.string().optional(),
  show_id: z.number().optional().describe("The show's Trakt id"),
  show_trakt_id: z.number().optional(),
  season_number: z.number().optional(),
  episode_number: z.number().optional(),
});

export const npSearchOutput = z.object({ results: z.array(searchResult) });

export type NpSeasonsEpisodesOutput = z.input<typeof npSeasonsEpisodesOutput>;
export type NpWatchHistoryOutput = z.input<typeof npWatchHistoryOutput>;
export type NpSearchOutput = z.input<typeof npSearchOutput>;
export type NpCompletedOutput = z.input<typeof npCompletedOutput>;
export type NpApiKeyOutput = z.input<typeof npApiKeyOutput>;
