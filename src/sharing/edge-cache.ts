/**
 * @module
 * The edge cache of the public answers (the Workers Cache API, one cache per Cloudflare location).
 *
 * Two kinds of entries, under a private origin that no request can name:
 * - the handle's RECORD (`{userId, parts, version}`, or "no such handle"), kept SHARE_RECORD_TTL_SECONDS:
 *   the only thing a cached hit needs to know, so a hit reads no D1 row. A change of the sharing
 *   setting deletes it in the location that made the change at once; elsewhere it lapses within the TTL.
 * - the ANSWERS, keyed by the user's data version (plus the request's host and the day or month for
 *   answers that depend on the date): a new version is a new key, so an answer can never be stale
 *   for its version, and is kept SHARE_CONTENT_TTL_SECONDS.
 * What leaves is sent with `Cache-Control: public, max-age=SHARE_MAX_AGE_SECONDS` and an ETag; a
 * matching `If-None-Match` answers 304 from the cache too.
 *
 * The Cache API only stores on a zone (a custom domain); on `*.workers.dev` `put` does nothing and
 * every hit is an uncached one (README "Sharing"). Locally (wrangler dev, tests) Miniflare implements it.
 */
import { SHARE_CONTENT_TTL_SECONDS, SHARE_MAX_AGE_SECONDS, SHARE_RECORD_TTL_SECONDS } from '../config';
import { ifNoneMatchMatches } from '../history/freshness';
import type { HandleRecord } from './settings';

const CACHE_ORIGIN = 'https://share-cache.invalid';

function cache(): Cache | undefined {
  return typeof caches === 'undefined' ? undefined : caches.default;
}

const recordKey = (handle: string) => new Request(`${CACHE_ORIGIN}/record/${encodeURIComponent(handle)}`);

/** The cached record of a handle: a record, `null` (known not to exist), or undefined (not cached). */
export async function cachedRecord(handle: string): Promise<HandleRecord | null | undefined> {
  const hit = await cache()?.match(recordKey(handle));
  if (!hit) return undefined;
  try {
    return (await hit.json()) as HandleRecord | null;
  } catch {
    return undefined;
  }
}

export async function storeRecord(handle: string, record: HandleRecord | null): Promise<void> {
  await cache()?.put(
    recordKey(handle),
    new Response(JSON.stringify(record), {
      headers: { 'Content-Type': 'application/json', 'Cache-Control': `public, max-age=${SHARE_RECORD_TTL_SECONDS}` },
    }),
  );
}

/** Forgets handles in this location at once (a changed or retired handle). */
export async function forgetHandles(handles: ReadonlyArray<string | undefined>): Promise<void> {
  await Promise.all(
    handles.filter((h): h is string => !!h).map((handle) => cache()?.delete(recordKey(handle.toLowerCase()))),
  );
}

/** The key of one versioned answer. `variant`: what else it depends on (the day, the month, the year asked). */
export function answerKey(host: string, handle: string, record: HandleRecord, resource: string, variant = ''): Request {
  const path = [host, handle, record.userId, `v${record.version}`, resource, variant].map(encodeURIComponent).join('/');
  return new Request(`${CACHE_ORIGIN}/answer/${path}`);
}

/** `W/"<version>-<hash>"` over the answer's key. */
export async function answerTag(key: Request, version: number | string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key.url)));
  const hash = [...digest.slice(0, 12)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `W/"${version}-${hash}"`;
}

/** The response a client gets: the cached (or fresh) body with the public caching headers, or a 304. */
export function toClient(stored: Response, ifNoneMatch: string | undefined, maxAge = SHARE_MAX_AGE_SECONDS): Response {
  const headers = new Headers(stored.headers);
  headers.set('Cache-Control', `public, max-age=${maxAge}`);
  headers.delete('X-Share-Cache');
  const tag = headers.get('ETag');
  if (ifNoneMatch && tag && ifNoneMatchMatches(ifNoneMatch, tag)) {
    void stored.body?.cancel();
    const notModified = new Headers();
    for (const name of ['ETag', 'Cache-Control', 'Vary']) {
      const value = headers.get(name);
      if (value !== null) notModified.set(name, value);
    }
    return new Response(null, { status: 304, headers: notModified });
  }
  return new Response(stored.body, { status: stored.status, headers });
}

export async function cachedAnswer(key: Request): Promise<Response | undefined> {
  return (await cache()?.match(key)) ?? undefined;
}

/** Stores an answer (its own copy) for SHARE_CONTENT_TTL_SECONDS, or `ttlSeconds`. */
export async function storeAnswer(key: Request, response: Response, ttlSeconds = SHARE_CONTENT_TTL_SECONDS) {
  const headers = new Headers(response.headers);
  headers.set('Cache-Control', `public, max-age=${ttlSeconds}`);
  await cache()?.put(key, new Response(response.body, { status: response.status, headers }));
}
