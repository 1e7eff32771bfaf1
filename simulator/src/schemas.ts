/**
 * @module schemas
 * Zod schemas of the admin (`/_sim/*`) request bodies. The test helper derives its argument
 * types from these (`z.input<...>`), so the shapes are written once.
 */
import { z } from 'zod';
import { DEFAULT_HISTORY_START, MAX_EPISODES_PER_SEASON, MAX_MOVIES, MAX_SEASONS, MAX_SHOWS } from './dataset';

const isoDate = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'expected an ISO 8601 date-time');
const mediaType = z.enum(['movie', 'episode']);
const fraction = z.number().min(0).max(1);

export const appSchema = z.object({
  client_id: z.string().min(1).optional(),
  client_secret: z.string().min(1).optional(),
  redirect_uris: z.array(z.string().min(1)).default([]),
});

export const tmdbKeySchema = z.object({ api_key: z.string().min(1) });

export const accountSchema = z
  .object({
    username: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
    /** Accounts with the same seed share titles; default `default`. */
    seed: z
      .union([z.string().min(1), z.number()])
      .transform(String)
      .default('default'),
    movies: z.number().int().min(0).max(MAX_MOVIES).default(20),
    shows: z.number().int().min(0).max(MAX_SHOWS).default(5),
    seasons_per_show: z.number().int().min(1).max(MAX_SEASONS).default(2),
    episodes_per_season: z.number().int().min(1).max(MAX_EPISODES_PER_SEASON).default(8),
    plays_per_item: z.number().int().min(1).max(20).default(1),
    rewatch_fraction: fraction.default(0.1),
    null_tmdb_fraction: fraction.default(0.05),
    missing_on_tmdb_fraction: fraction.default(0.03),
    history_start: isoDate.default(DEFAULT_HISTORY_START),
  })
  .refine(
    (v) => v.null_tmdb_fraction + v.missing_on_tmdb_fraction <= 1,
    'null_tmdb_fraction + missing_on_tmdb_fraction must be ≤ 1',
  );

export const sessionSchema = z.object({ username: z.string().min(1) });

export const tokensSchema = z.object({
  username: z.string().min(1),
  client_id: z.string().min(1),
  expires_in: z.number().int().optional(),
  /** Unix seconds. */
  created_at: z.number().int().optional(),
});

export const expireTokenSchema = z.object({ access_token: z.string().min(1) });

export const playSchema = z.object({
  type: mediaType,
  /** Movie trakt id, or episode trakt id. */
  trakt_id: z.number().int(),
  /** Backdated play time; default now. */
  watched_at: isoDate.optional(),
  action: z.enum(['scrobble', 'checkin', 'watch']).optional(),
});

/** Renames a catalog title (shared by every account with its seed), e.g. to test escaping of odd characters. */
export const renameTitleSchema = z.object({
  type: z.enum(['movie', 'show']),
  trakt_id: z.number().int(),
  title: z.string().min(1).max(500),
});

export const resetSchema = z.object({ show_trakt_id: z.number().int(), reset_at: isoDate.optional() });

export const playbackSchema = z.object({
  type: mediaType,
  trakt_id: z.number().int(),
  progress: z.number().min(0).max(100),
  paused_at: isoDate.optional(),
});

export const watchingSchema = z.object({
  type: mediaType,
  trakt_id: z.number().int(),
  action: z.enum(['scrobble', 'checkin']).optional(),
  started_at: isoDate.optional(),
});

export const stopWatchingSchema = z.object({ scrobble: z.boolean().default(false) });

export const configSchema = z
  .object({
    authorize_mode: z.enum(['approve', 'deny']),
    expires_in: z.number().int(),
    created_at_offset_seconds: z.number().int(),
    created_at: z.number().int().nullable(),
    trakt_get_limit: z.number().int().min(0),
    trakt_window_seconds: z.number().int().min(1),
    tmdb_rps: z.number().int().min(0),
    device_expires_in: z.number().int().min(1),
    device_interval: z.number().int().min(0),
    tmdb_default_key: z.string().nullable(),
    path_prefix: z
      .string()
      .regex(/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/, 'a path like /trakt-proxy (no trailing slash)')
      .nullable(),
  })
  .partial()
  .strict();

export const clockSchema = z.object({ advance_seconds: z.number().optional(), now: isoDate.optional() });

export const deviceSchema = z.object({ user_code: z.string().min(1), username: z.string().min(1).optional() });

export const faultKinds = [
  '500',
  '502',
  '503',
  '520',
  '429',
  '401',
  '403',
  '423',
  '426',
  '420',
  'hang',
  'malformed_json',
  'html_error',
  'invalid_client',
  'process_then_502',
  'hold',
  'process_then_hold',
] as const;

export const faultSchema = z.object({
  match: z
    .object({
      method: z.string().optional(),
      host: z.string().optional(),
      path_prefix: z.string().optional(),
      path_regex: z
        .string()
        .refine((v) => {
          try {
            new RegExp(v);
            return true;
          } catch {
            return false;
          }
        }, 'invalid regular expression')
        .optional(),
      query: z.record(z.string(), z.string()).optional(),
    })
    .default({}),
  times: z.number().int().min(1).default(1),
  /** Let this many matching requests through first (e.g. 39 to fail the 40th history page). */
  after: z.number().int().min(0).default(0),
  kind: z.enum(faultKinds),
  /** Retry-After seconds for 429/5xx/html_error faults. */
  retry_after: z.number().int().min(0).optional(),
  /** Status of an `html_error` (default 502; 429 gives Cloudflare's rate-limit page). */
  status: z.number().int().min(400).max(599).optional(),
});
