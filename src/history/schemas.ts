/**
 * @module
 * Request schemas of the sync and history endpoints; their response schemas are in ./output-schemas.ts, re-exported
 * here.
 */
import { z } from 'zod';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../config';
import { standaloneMessage } from '../http/validate';
import { timeZoneName } from '../readmodel/time-zones';

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

export const LIST_SORTS = ['last_watched', 'title', 'plays', 'year'] as const;
export const LIST_ORDERS = ['desc', 'asc'] as const;
export const MAX_QUERY_LENGTH = 100;

/** An enum query parameter whose error lists the allowed values. */
const oneOf = <const T extends readonly [string, ...string[]]>(name: string, values: T, fallback: T[number]) =>
  z
    .enum(values, { error: `${name} must be one of: ${values.join(', ')}` })
    .optional()
    .transform((value) => value ?? fallback)
    .describe(`One of ${values.join(', ')} (default ${fallback})`);

const yearParam = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === '') return undefined;
    const parsed = /^[0-9]{4}$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(parsed)) {
      ctx.addIssue({ code: 'custom', message: 'year must be a four-digit year' });
      return z.NEVER;
    }
    return parsed;
  })
  .describe('Only titles released in this year');

export const listQuery = pageQuery.extend({
  sort: oneOf('sort', LIST_SORTS, 'last_watched'),
  order: oneOf('order', LIST_ORDERS, 'desc'),
  q: z
    .string()
    .max(MAX_QUERY_LENGTH, `q must be at most ${MAX_QUERY_LENGTH} characters`)
    .optional()
    .transform((value) => value?.trim() || undefined)
    .describe('Case-insensitive substring of the title'),
  year: yearParam,
});

/** `YYYY-MM-DD` or an ISO-8601 date-time with an offset; normalized to `toISOString()` (how `watched_at` is stored). */
const isoInstant = (name: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return undefined;
      const valid =
        /^\d{4}-\d{2}-\d{2}$/.test(value) ||
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i.test(value);
      const ms = valid ? Date.parse(value) : NaN;
      if (!Number.isFinite(ms)) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an ISO-8601 date or date-time with a time zone` });
        return z.NEVER;
      }
      return new Date(ms).toISOString();
    })
    .describe(`ISO-8601 date-time (inclusive), e.g. 2024-01-31T22:00:00Z`);

const traktIdFilter = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === '') return undefined;
    const parsed = /^[0-9]+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(parsed) || parsed < 1) {
      ctx.addIssue({ code: 'custom', message: 'trakt_id must be a positive integer' });
      return z.NEVER;
    }
    return parsed;
  })
  .describe("A movie's or a show's Trakt id");

export const HISTORY_DEFAULT_LIMIT = 20;
export const HISTORY_MAX_LIMIT = 100;

export const historyQuery = z
  .object({
    type: z
      .enum(['movies', 'episodes'], { error: 'type must be one of: movies, episodes' })
      .optional()
      .describe('movies or episodes (both if absent)'),
    start_at: isoInstant('start_at'),
    end_at: isoInstant('end_at'),
    trakt_id: traktIdFilter,
    limit: positiveInteger('limit', HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT).describe(
      `Items per page, 1–${HISTORY_MAX_LIMIT} (default ${HISTORY_DEFAULT_LIMIT})`,
    ),
    cursor: z.string().max(500).optional().describe('next_cursor of the previous page'),
  })
  .refine((q) => !q.start_at || !q.end_at || q.start_at <= q.end_at, {
    message: 'start_at must not be after end_at',
    path: ['end_at'],
  });

export const statsQuery = z.object({
  tz: z
    .string()
    .max(64)
    .optional()
    .transform((value) => value || 'UTC')
    .pipe(timeZoneName)
    .describe(
      'IANA time zone for by_weekday_hour (default UTC), e.g. Europe/Berlin. Cheapest in the stats time zone ' +
        'set with PATCH /users/me',
    ),
});

export const exportQuery = z.object({
  format: z
    .enum(['json', 'csv'], { error: 'format must be one of: json, csv' })
    .optional()
    .transform((value) => value ?? 'json')
    .describe('json (default) or csv'),
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

// The answers' schemas live apart (zod only), so the dashboard's browser code can import their types.
export * from './output-schemas';
