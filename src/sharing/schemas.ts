/**
 * @module
 * Request and response schemas of the sharing settings (`/users/me/sharing`) and of the public JSON
 * answers under `/u/:handle/`. Types are derived from these, never written twice.
 */
import { z } from 'zod';
import { SHARE_PARTS } from '../config';

export const HANDLE_PATTERN = /^[a-z0-9](?:[a-z0-9_-]{1,62}[a-z0-9])$/;

export const handle = z
  .string({ error: 'handle is required' })
  .trim()
  .toLowerCase()
  .regex(
    HANDLE_PATTERN,
    'handle must be 3–64 characters: letters, digits, - and _, starting and ending with a letter or digit',
  )
  .describe(
    'Your public name under /u/<handle>/ (case-insensitive). For a calendar that should stay private, choose a ' +
      'long unguessable one and share only that part.',
  );

export const sharePart = z.enum(SHARE_PARTS, { error: `parts may contain only: ${SHARE_PARTS.join(', ')}` });

export const sharingInput = z.object({
  handle,
  parts: z
    .array(sharePart, { error: 'parts is required' })
    .min(1, 'parts must name at least one part (DELETE /users/me/sharing turns sharing off)')
    .max(SHARE_PARTS.length)
    .describe(
      'recent: recent.json, feed.atom, feed.rss, widget; now: now.json; stats: stats.json, card.svg; ' +
        'calendar: calendar.ics; review: review/<year>.json and the review page',
    ),
});

export const sharingOutput = z.object({
  handle: z.string(),
  parts: z.array(sharePart),
  urls: z
    .record(z.string(), z.string())
    .describe('Absolute URLs of every public resource the chosen parts publish, by name'),
});

const ids = z.object({
  trakt: z.number().int(),
  slug: z.string().nullable(),
  imdb: z.string().nullable(),
  tmdb: z.number().int().nullable(),
  tvdb: z.number().int().nullable().optional(),
});

/** One play as the public (and webhook) answers show it: the movie's ids, or the show's for an episode. */
export const publicPlay = z.object({
  watched_at: z.string(),
  type: z.enum(['movie', 'episode']),
  title: z.string().nullable().describe("The movie's title, or the episode's"),
  year: z.number().int().nullable(),
  show: z.string().nullable().describe("The show's title (episodes), else null"),
  season: z.number().int().nullable(),
  episode: z.number().int().nullable(),
  ids,
  poster_url: z.string().nullable(),
});

export const recentOutput = z.object({ plays: z.array(publicPlay) });

export const nowOutput = z.object({
  watching: z
    .object({
      type: z.enum(['movie', 'episode']),
      title: z.string().nullable(),
      year: z.number().int().nullable(),
      show: z.string().nullable(),
      season: z.number().int().nullable(),
      episode: z.number().int().nullable(),
      ids,
      started_at: z.string().nullable(),
      expires_at: z.string().nullable(),
    })
    .nullable(),
});

const period = z.object({ plays: z.number().int(), hours: z.number() });

export const publicStatsOutput = z.object({
  totals: z.object({
    plays: z.number().int(),
    hours: z.number(),
    movies: z.number().int().describe('Distinct movies watched'),
    shows: z.number().int().describe('Distinct shows watched'),
    episodes: z.number().int().describe('Distinct episodes watched'),
  }),
  this_year: period.extend({ year: z.number().int() }),
  this_month: period.extend({ month: z.string() }),
  first_play_at: z.string().nullable(),
  last_play_at: z.string().nullable(),
  top_genres: z.array(z.object({ name: z.string(), plays: z.number().int() })),
});

export type SharingInput = z.output<typeof sharingInput>;
export type SharingOutput = z.input<typeof sharingOutput>;
export type PublicPlay = z.input<typeof publicPlay>;
export type RecentOutput = z.input<typeof recentOutput>;
export type NowOutput = z.input<typeof nowOutput>;
export type PublicStatsOutput = z.input<typeof publicStatsOutput>;
