/**
 * @module
 * `GET /trakt/review/:year/`: the signed-in user's year in review (./service.ts), with an ETag from
 * the data version (and the year), `Cache-Control: private, no-cache`, 304 on a matching
 * If-None-Match. Mounted at `/trakt` by src/app.ts.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { CONDITIONAL_CACHE_CONTROL, entityTag, ifNoneMatchMatches } from '../history/freshness';
import { describe, errorResponse } from '../http/describe';
import { validate } from '../http/validate';
import { requireUser } from '../users/middleware';
import { type ReviewOutput, reviewOutput, reviewYearParam } from './schemas';
import { readReview } from './service';

export const reviewRoutes = new Hono<AppEnv>().get(
  '/review/:year',
  describe({
    summary: 'Your year in review: plays, hours, titles, top titles and genres, streak, busiest day, months',
    description:
      'Days and months are UTC. Computed from the stats rollups and the year’s plays at most once per data ' +
      'version (stored), so repeated reads are two primary-key lookups. ETag from the data version and the year; ' +
      'If-None-Match with the current tag answers 304.',
    responses: {
      200: { description: 'The review', schema: reviewOutput },
      304: { description: 'Not modified (no body)' },
      400: errorResponse('year must be from 1970 to 2100'),
    },
  }),
  requireUser,
  validate('param', reviewYearParam),
  async (c) => {
    const { year } = c.req.valid('param');
    const review = await readReview(c.var.db, c.var.userId, year, c.env.TMDB_IMAGE_BASE_URL, Date.now());
    const tag = await entityTag(c.var.userId, `review/${year}`, {}, [String(review.version)]);
    c.header('ETag', tag);
    c.header('Cache-Control', CONDITIONAL_CACHE_CONTROL);
    const ifNoneMatch = c.req.header('If-None-Match');
    if (ifNoneMatch && ifNoneMatchMatches(ifNoneMatch, tag)) return c.body(null, 304);
    return c.json(review.body satisfies ReviewOutput);
  },
);
