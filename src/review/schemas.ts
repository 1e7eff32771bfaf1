/**
 * @module
 * Schemas of the year in review (`GET /trakt/review/:year/`, and `/u/:handle/review/:year.json`).
 */
import { z } from 'zod';

export const MIN_REVIEW_YEAR = 1970;
export const MAX_REVIEW_YEAR = 2100;

export const reviewYearParam = z.object({
  year: z.coerce
    .number({ error: 'year must be a year, e.g. 2026' })
    .int('year must be a year, e.g. 2026')
    .min(MIN_REVIEW_YEAR, `year must be from ${MIN_REVIEW_YEAR} to ${MAX_REVIEW_YEAR}`)
    .max(MAX_REVIEW_YEAR, `year must be from ${MIN_REVIEW_YEAR} to ${MAX_REVIEW_YEAR}`),
});

const playRef = z
  .object({
    watched_at: z.string(),
    type: z.enum(['movie', 'episode']),
    title: z.string().nullable(),
    year: z.number().int().nullable(),
    show: z.string().nullable(),
    season: z.number().int().nullable(),
    episode: z.number().int().nullable(),
    poster_url: z.string().nullable(),
  })
  .nullable();

export const reviewOutput = z.object({
  year: z.number().int(),
  plays: z.object({ total: z.number().int(), movies: z.number().int(), episodes: z.number().int() }),
  hours: z.number().describe('From TMDB runtimes; plays without one are counted in minutes_unknown_plays'),
  minutes_unknown_plays: z.number().int(),
  titles: z.object({
    movies: z.number().int().describe('Distinct movies played this year'),
    shows: z.number().int(),
    episodes: z.number().int().describe('Distinct episodes played this year'),
  }),
  top_titles: z.array(
    z.object({
      type: z.enum(['movie', 'show']),
      title: z.string().nullable(),
      year: z.number().int().nullable(),
      ids: z.object({ trakt: z.number().int(), slug: z.string().nullable() }),
      plays: z.number().int(),
      poster_url: z.string().nullable(),
    }),
  ),
  top_genres: z.array(z.object({ name: z.string(), plays: z.number().int() })),
  longest_streak: z
    .object({ days: z.number().int(), start: z.string(), end: z.string() })
    .nullable()
    .describe('Consecutive days (UTC) with at least one play'),
  busiest_day: z.object({ date: z.string(), plays: z.number().int() }).nullable(),
  first_play: playRef,
  last_play: playRef,
  by_month: z
    .array(z.object({ month: z.string(), plays: z.number().int(), hours: z.number() }))
    .describe('All 12 months, January first (UTC)'),
});

export type ReviewOutput = z.input<typeof reviewOutput>;
