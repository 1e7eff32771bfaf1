/**
 * @module
 * `now.json`: what the user is watching right now, from Trakt's `GET /users/me/watching`, kept in
 * `shared_now_watching` (owned here) for SHARE_NOW_TTL_SECONDS. However busy the page and however
 * many isolates or locations serve it, Trakt is asked at most once per TTL per user: the request
 * that finds the copy old takes a short lease with a conditional UPDATE (single flight), the others
 * answer the copy they have. A failed call keeps the old answer and waits a TTL before trying again.
 */
import { type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { SHARE_NOW_LEASE_SECONDS, SHARE_NOW_TTL_SECONDS } from '../config';
import { isoNow, runBatch } from '../db/client';
import { describeError, log } from '../observability/log';
import { traktUserContext } from '../trakt/context';
import { withAccessToken } from '../trakt/tokens';
import type { NowOutput } from './schemas';

const ids = z.object({
  trakt: z.number(),
  slug: z.string().nullish(),
  imdb: z.string().nullish(),
  tmdb: z.number().nullish(),
  tvdb: z.number().nullish(),
});
const title = z.object({ title: z.string().nullish(), year: z.number().nullish(), ids });
const watchingAnswer = z.object({
  type: z.enum(['movie', 'episode']),
  started_at: z.string().nullish(),
  expires_at: z.string().nullish(),
  movie: title.optional(),
  show: title.optional(),
  episode: z.object({ season: z.number(), number: z.number(), title: z.string().nullish() }).optional(),
});

type Watching = NonNullable<NowOutput['watching']>;

/** Trakt's answer in the public shape (the show's ids for an episode); null when nothing plays. */
export function publicWatching(data: unknown): Watching | null {
  const parsed = watchingAnswer.safeParse(data);
  if (!parsed.success) return null;
  const w = parsed.data;
  const item = w.type === 'movie' ? w.movie : w.show;
  if (!item) return null;
  const itemIds = {
    trakt: item.ids.trakt,
    slug: item.ids.slug ?? null,
    imdb: item.ids.imdb ?? null,
    tmdb: item.ids.tmdb ?? null,
    ...(w.type === 'episode' ? { tvdb: item.ids.tvdb ?? null } : {}),
  };
  return {
    type: w.type,
    title: w.type === 'movie' ? (item.title ?? null) : (w.episode?.title ?? null),
    year: item.year ?? null,
    show: w.type === 'episode' ? (item.title ?? null) : null,
    season: w.type === 'episode' ? (w.episode?.season ?? null) : null,
    episode: w.type === 'episode' ? (w.episode?.number ?? null) : null,
    ids: itemIds,
    started_at: w.started_at ?? null,
    expires_at: w.expires_at ?? null,
  };
}

type Stored = { watching: string | null; fetched_at: string | null };

const parseStored = (row: Stored | undefined): Watching | null => {
  try {
    return row?.watching ? (JSON.parse(row.watching) as Watching) : null;
  } catch {
    return null;
  }
};

/** Account deletion's statement for this table. */
export function deleteUserNowWatching(userId: number): SQL {
  return sql`DELETE FROM shared_now_watching WHERE user_id = ${userId}`;
}

/** What the user is watching (see the module comment); never throws for an upstream failure. */
export async function readNowWatching(
  env: Env,
  userId: number,
  now: number,
  waitUntil?: (promise: Promise<unknown>) => void,
): Promise<{ watching: Watching | null; fetchedAt: string | null }> {
  const fresh = isoNow(now - SHARE_NOW_TTL_SECONDS * 1000);
  const [, selected, claimed] = await runBatch(env.DB, [
    sql`INSERT OR IGNORE INTO shared_now_watching (user_id) VALUES (${userId})`,
    sql`SELECT watching, fetched_at FROM shared_now_watching WHERE user_id = ${userId}`,
    sql`UPDATE shared_now_watching SET lease_until = ${isoNow(now + SHARE_NOW_LEASE_SECONDS * 1000)}
      WHERE user_id = ${userId} AND (fetched_at IS NULL OR fetched_at <= ${fresh})
        AND (lease_until IS NULL OR lease_until <= ${isoNow(now)}) RETURNING user_id`,
  ]).then((results) => results.map((r) => r.results as unknown[]));
  const stored = selected?.[0] as Stored | undefined;
  if (!claimed || claimed.length === 0) return { watching: parseStored(stored), fetchedAt: stored?.fetched_at ?? null };
  let watching = parseStored(stored);
  try {
    const ctx = await traktUserContext(env, userId, waitUntil);
    const client = await ctx.client();
    const answer = await withAccessToken(ctx, (token) => client.get<unknown>('/users/me/watching', token));
    watching = publicWatching(answer.data);
  } catch (error) {
    log.warn('share_now_watching_failed', { user_id: userId, ...describeError(error) });
  }
  const fetchedAt = isoNow(now);
  await env.DB.prepare(
    'UPDATE shared_now_watching SET watching = ?, fetched_at = ?, lease_until = NULL WHERE user_id = ?',
  )
    .bind(watching ? JSON.stringify(watching) : null, fetchedAt, userId)
    .run();
  return { watching, fetchedAt };
}
