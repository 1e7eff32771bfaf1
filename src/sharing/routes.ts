/**
 * @module
 * Sharing, in one home:
 * - `/users/me/sharing` (`sharingSettingsRoutes`, composed under /users by src/users/routes.ts): turn
 *   public sharing on (PUT), read it (GET), turn it off at once (DELETE).
 * - `/u/:handle/…` (`publicRoutes`, mounted by src/app.ts): the public answers. No JWT, CORS from any
 *   origin, cacheable. Every answer goes through `publicAnswer()`: the handle's record and the answer
 *   come from the edge cache when they can (0 D1 rows, ./edge-cache.ts); otherwise the hit is counted
 *   against the per-IP and per-handle limits (./limits.ts) and read from D1. An unknown handle and a
 *   part that is not shared answer the same 404, with no hint which it was.
 */
import { type Context, Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { SHARE_NOW_TTL_SECONDS, SHARE_RECORD_TTL_SECONDS } from '../config';
import { describe, errorResponse } from '../http/describe';
import { ApiError, errorBody } from '../http/errors';
import { validate } from '../http/validate';
import { reviewOutput } from '../review/schemas';
import { readReview } from '../review/service';
import { requireUser } from '../users/middleware';
import { reviewPage } from '../web/review/document';
import { ATTRIBUTION_LINK } from './attribution';
import { calendarIcs, readUpcomingEpisodes } from './calendar';
import { cardSvg } from './card';
import {
  answerKey,
  answerTag,
  cachedAnswer,
  cachedRecord,
  forgetHandles,
  storeAnswer,
  storeRecord,
  toClient,
} from './edge-cache';
import { buildFeed } from './feeds';
import { chargeUncachedHit } from './limits';
import { readNowWatching } from './now';
import { readPublicStats, readRecentPlays } from './public-data';
import {
  HANDLE_PATTERN,
  nowOutput,
  publicStatsOutput,
  recentOutput,
  type SharingOutput,
  sharingInput,
  sharingOutput,
} from './schemas';
import { deleteSharing, type HandleRecord, readSharing, resolveHandle, type SharePart, saveSharing } from './settings';
import { widgetCsp, widgetHtml } from './widget';

/** Absolute URLs of what the parts publish (the PUT/GET answer). */
function shareUrls(origin: string, handle: string, parts: readonly SharePart[], now: number) {
  const base = `${origin}/u/${handle}`;
  const year = new Date(now).getUTCFullYear();
  const urls: Record<string, string> = {};
  if (parts.includes('recent')) {
    urls.recent = `${base}/recent.json`;
    urls.feed_atom = `${base}/feed.atom`;
    urls.feed_rss = `${base}/feed.rss`;
    urls.widget = `${base}/widget`;
  }
  if (parts.includes('now')) urls.now = `${base}/now.json`;
  if (parts.includes('stats')) {
    urls.stats = `${base}/stats.json`;
    urls.card = `${base}/card.svg`;
  }
  if (parts.includes('calendar')) urls.calendar = `${base}/calendar.ics`;
  if (parts.includes('review')) {
    urls.review = `${base}/review/${year}.json`;
    urls.review_page = `${base}/review/${year}`;
  }
  return urls;
}

const sharingAnswer = (c: Context<AppEnv>, handle: string, parts: SharePart[]): SharingOutput => ({
  handle,
  parts,
  urls: shareUrls(new URL(c.req.url).origin, handle, parts, Date.now()),
});

export const sharingSettingsRoutes = new Hono<AppEnv>()
  .put(
    '/',
    describe({
      summary: 'Turn public sharing on, or change the handle or the parts shared',
      description:
        'Publishes the chosen parts under /u/<handle>/ (no JWT, CORS from anywhere, cached at the edge). A new ' +
        'handle retires the old one at once. Parts: recent (recent.json, feed.atom, feed.rss, widget), now ' +
        '(now.json), stats (stats.json, card.svg), calendar (calendar.ics), review (review/<year>.json and page).',
      tag: 'sharing',
      responses: {
        200: { description: 'The setting and the public URLs', schema: sharingOutput },
        409: errorResponse('That handle is taken'),
      },
    }),
    requireUser,
    validate('json', sharingInput),
    async (c) => {
      const input = c.req.valid('json');
      const { previousHandle } = await saveSharing(c.var.db, c.var.userId, input, Date.now());
      await forgetHandles([previousHandle, input.handle]);
      const saved = (await readSharing(c.var.db, c.var.userId))!;
      return c.json(sharingAnswer(c, saved.handle, saved.parts) satisfies SharingOutput);
    },
  )
  .get(
    '/',
    describe({
      summary: 'The current sharing setting',
      tag: 'sharing',
      responses: {
        200: { description: 'The setting and the public URLs', schema: sharingOutput },
        404: errorResponse('Sharing is off'),
      },
    }),
    requireUser,
    async (c) => {
      const setting = await readSharing(c.var.db, c.var.userId);
      if (!setting) throw new ApiError(404, 'Sharing is off');
      return c.json(sharingAnswer(c, setting.handle, setting.parts) satisfies SharingOutput);
    },
  )
  .delete(
    '/',
    describe({
      summary: 'Turn public sharing off at once',
      description: 'Every /u/<handle>/ URL answers 404 from then on (edge copies elsewhere lapse within 30 s).',
      tag: 'sharing',
      responses: { 204: { description: 'Off (also when it already was)' } },
    }),
    requireUser,
    async (c) => {
      await forgetHandles([await deleteSharing(c.var.db, c.var.userId)]);
      return c.body(null, 204);
    },
  );

// ---------------------------------------------------------------------------------------------
// Public answers.

const NOT_FOUND = (c: Context<AppEnv>): Response => c.json(errorBody(`Not found: ${c.req.method} ${c.req.path}`), 404);

type Produced = { body: string | ArrayBuffer; contentType: string; headers?: Record<string, string> };

type PublicAnswer = {
  part: SharePart;
  /** Names the answer in its cache key (`recent.json`, `review/2025.json`, …). */
  resource: string;
  /** What else the answer depends on besides the data version (the day, the month). */
  variant?: (now: number) => string;
  /** Edge lifetime of the answer when it is not purely versioned (now.json). */
  ttlSeconds?: number;
  produce: (record: HandleRecord, now: number) => Promise<Produced>;
};

const clientIp = (c: Context<AppEnv>) => c.req.header('CF-Connecting-IP')?.trim() || undefined;

/** The handle's record: from the edge, or (charged as an uncached hit) from D1, then kept at the edge. */
async function handleRecord(c: Context<AppEnv>, handle: string, charge: () => Promise<void>) {
  const cached = await cachedRecord(handle);
  if (cached !== undefined) return cached;
  await charge();
  const record = (await resolveHandle(c.var.db, handle)) ?? null;
  const put = storeRecord(handle, record).catch(() => undefined);
  c.executionCtx.waitUntil(put);
  return record;
}

async function publicAnswer(c: Context<AppEnv>, answer: PublicAnswer): Promise<Response> {
  const handle = (c.req.param('handle') ?? '').toLowerCase();
  if (!HANDLE_PATTERN.test(handle)) return NOT_FOUND(c);
  let charged = false;
  const charge = async () => {
    if (charged) return;
    charged = true;
    await chargeUncachedHit(c.env, clientIp(c), handle);
  };
  const record = await handleRecord(c, handle, charge);
  if (!record?.parts.includes(answer.part)) return NOT_FOUND(c);
  const now = Date.now();
  const host = new URL(c.req.url).host;
  const key = answerKey(host, handle, record, answer.resource, answer.variant?.(now) ?? '');
  const ifNoneMatch = c.req.header('If-None-Match');
  const hit = await cachedAnswer(key);
  if (hit) return toClient(hit, ifNoneMatch);
  await charge();
  const produced = await answer.produce(record, now);
  const response = new Response(produced.body, {
    headers: {
      'Content-Type': produced.contentType,
      ETag: await answerTag(key, answer.ttlSeconds ? `${record.version}.${now}` : record.version),
      Vary: 'Accept-Encoding',
      Link: ATTRIBUTION_LINK,
      ...produced.headers,
    },
  });
  c.executionCtx.waitUntil(storeAnswer(key, response.clone(), answer.ttlSeconds).catch(() => undefined));
  return toClient(response, ifNoneMatch);
}

const day = (now: number) => new Date(now).toISOString().slice(0, 10);
const month = (now: number) => new Date(now).toISOString().slice(0, 7);
const json = (value: unknown): Produced => ({
  body: JSON.stringify(value),
  contentType: 'application/json; charset=UTF-8',
});

const publicContract = (summary: string, part: SharePart, ok: Parameters<typeof describe>[0]['responses'][number]) =>
  describe({
    summary,
    description:
      `Public when the owner shares the "${part}" part (PUT /users/me/sharing). No JWT; CORS from any origin. ` +
      'Cache-Control: public, max-age=60 and an ETag (If-None-Match → 304). Served from the edge cache when it ' +
      'can (no D1 read); uncached hits are limited per client IP and per handle (429 with Retry-After).',
    tag: 'public',
    responses: {
      200: ok,
      304: { description: 'Not modified (no body)' },
      404: errorResponse('Unknown handle, or this part is not shared (the same answer for both)'),
      429: errorResponse('Too many uncached requests from this address or for this handle (Retry-After)'),
    },
  });

export const publicRoutes = new Hono<AppEnv>()
  .get(
    '/:handle/recent.json',
    publicContract('Recently watched (up to 50 plays, newest first)', 'recent', {
      description: 'Recent plays',
      schema: recentOutput,
    }),
    (c) =>
      publicAnswer(c, {
        part: 'recent',
        resource: 'recent.json',
        produce: async (record) => {
          const plays = await readRecentPlays(c.var.db, record.userId, c.env.TMDB_IMAGE_BASE_URL);
          return json({ plays: plays.map(({ history_id: _, ...play }) => play) });
        },
      }),
  )
  .get(
    '/:handle/now.json',
    publicContract('What the user is watching now (from Trakt, at most one Trakt call a minute)', 'now', {
      description: 'Watching now, or null',
      schema: nowOutput,
    }),
    (c) =>
      publicAnswer(c, {
        part: 'now',
        resource: 'now.json',
        variant: (now) => String(Math.floor(now / (SHARE_NOW_TTL_SECONDS * 1000))),
        ttlSeconds: SHARE_RECORD_TTL_SECONDS,
        produce: async (record, now) => {
          const { watching } = await readNowWatching(c.env, record.userId, now, (p) => c.executionCtx.waitUntil(p));
          return json({ watching });
        },
      }),
  )
  .get(
    '/:handle/stats.json',
    publicContract('Totals, this year and this month', 'stats', { description: 'Stats', schema: publicStatsOutput }),
    (c) =>
      publicAnswer(c, {
        part: 'stats',
        resource: 'stats.json',
        variant: month,
        produce: async (record, now) => json(await readPublicStats(c.var.db, record.userId, now)),
      }),
  )
  .get(
    '/:handle/feed.atom',
    publicContract('Recent plays as an Atom feed', 'recent', {
      description: 'Atom 1.0',
      mediaType: 'application/atom+xml',
    }),
    (c) =>
      publicAnswer(c, {
        part: 'recent',
        resource: 'feed.atom',
        produce: async (record) => {
          const plays = await readRecentPlays(c.var.db, record.userId, c.env.TMDB_IMAGE_BASE_URL);
          const feed = buildFeed(plays, { origin: new URL(c.req.url).origin, handle: c.req.param('handle') });
          return { body: feed.atom1(), contentType: 'application/atom+xml; charset=UTF-8' };
        },
      }),
  )
  .get(
    '/:handle/feed.rss',
    publicContract('Recent plays as an RSS feed', 'recent', {
      description: 'RSS 2.0',
      mediaType: 'application/rss+xml',
    }),
    (c) =>
      publicAnswer(c, {
        part: 'recent',
        resource: 'feed.rss',
        produce: async (record) => {
          const plays = await readRecentPlays(c.var.db, record.userId, c.env.TMDB_IMAGE_BASE_URL);
          const feed = buildFeed(plays, { origin: new URL(c.req.url).origin, handle: c.req.param('handle') });
          return { body: feed.rss2(), contentType: 'application/rss+xml; charset=UTF-8' };
        },
      }),
  )
  .get(
    '/:handle/calendar.ics',
    publicContract('Upcoming episodes of the shows being watched (next 60 days), iCalendar', 'calendar', {
      description: 'iCalendar (RFC 5545)',
      mediaType: 'text/calendar',
    }),
    (c) =>
      publicAnswer(c, {
        part: 'calendar',
        resource: 'calendar.ics',
        variant: day,
        produce: async (record, now) => {
          const episodes = await readUpcomingEpisodes(c.var.db, record.userId, now);
          const handle = c.req.param('handle').toLowerCase();
          return {
            body: calendarIcs(episodes, { handle, host: new URL(c.req.url).host, now }),
            contentType: 'text/calendar; charset=UTF-8',
            headers: { 'Content-Disposition': `inline; filename="${handle}.ics"` },
          };
        },
      }),
  )
  .get(
    '/:handle/widget',
    publicContract('Recently watched as an HTML page for an iframe (no script)', 'recent', {
      description: 'The widget',
      html: true,
    }),
    (c) =>
      publicAnswer(c, {
        part: 'recent',
        resource: 'widget',
        produce: async (record) => {
          const plays = await readRecentPlays(c.var.db, record.userId, c.env.TMDB_IMAGE_BASE_URL);
          return {
            body: await widgetHtml(c.req.param('handle').toLowerCase(), plays),
            contentType: 'text/html; charset=UTF-8',
            headers: {
              'Content-Security-Policy': await widgetCsp(imageOrigin(c.env.TMDB_IMAGE_BASE_URL)),
              'Referrer-Policy': 'no-referrer',
            },
          };
        },
      }),
  )
  .get(
    '/:handle/card.svg',
    publicContract('A text card for READMEs (SVG)', 'stats', { description: 'SVG', mediaType: 'image/svg+xml' }),
    (c) =>
      publicAnswer(c, {
        part: 'stats',
        resource: 'card.svg',
        variant: month,
        produce: async (record, now) => {
          const stats = await readPublicStats(c.var.db, record.userId, now);
          return {
            body: cardSvg(c.req.param('handle').toLowerCase(), stats),
            contentType: 'image/svg+xml; charset=UTF-8',
            headers: { 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'" },
          };
        },
      }),
  )
  .get(
    '/:handle/review/:file',
    publicContract('A year in review: `<year>.json`, or the page `<year>`', 'review', {
      description: 'The review (`<year>.json`), or the review page (`<year>`)',
      schema: reviewOutput,
      html: true,
    }),
    async (c) => {
      const match = /^(\d{4})(\.json)?$/.exec(c.req.param('file'));
      const year = Number(match?.[1]);
      if (!match || year < 1970 || year > 2100) return NOT_FOUND(c);
      if (!match[2])
        return publicAnswer(c, {
          part: 'review',
          resource: 'review-page',
          produce: async () => reviewPage(c.env),
        });
      return publicAnswer(c, {
        part: 'review',
        resource: `review/${year}.json`,
        produce: async (record, now) =>
          json((await readReview(c.var.db, record.userId, year, c.env.TMDB_IMAGE_BASE_URL, now)).body),
      });
    },
  );

/** The origin images may come from (TMDB_IMAGE_BASE_URL), or 'none' for a malformed setting. */
export function imageOrigin(imageBaseUrl: string): string {
  try {
    return new URL(imageBaseUrl).origin;
  } catch {
    return "'none'";
  }
}

/** The public answers' prefix: src/app.ts gives it CORS from any origin and embeddable security headers. */
export const PUBLIC_PREFIX = '/u/';
