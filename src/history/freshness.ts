/**
 * @module
 * What a reader's ETag depends on, and the tag itself. Every read endpoint reads the freshness row
 * in the same `db.batch()` as its data (a consistent snapshot): ONE indexed read FROM users (no row =
 * the user is gone; `tokens_valid_after` says whether the caller's access token was revoked) with the data version (src/readmodel/data-version.ts) and the sync-status fields
 * that change without a data write, a running lease or a failure (src/sync/state.ts). sync-status
 * adds the connection summary (src/trakt/connections.ts) to the same batch.
 *
 * The ETag is weak (`W/"…"`): it names the response's content for this user and query, and
 * Cloudflare may re-encode (compress) bodies in transit. It hashes the user id, the route, the
 * normalized query and the scope's inputs, so two users (or two queries) never share a tag.
 */
import { eq, type SQL } from 'drizzle-orm';
import type { Database } from '../db/client';
import { users } from '../db/schema';
import { dataVersionColumn, dataVersionJoin } from '../readmodel/data-version';
import { syncFreshnessColumns, syncStateJoin } from '../sync/state';
import { tokenGateColumns } from '../users/service';

/** `Cache-Control` of every conditional read: private (per user), and revalidate on each use. */
export const CONDITIONAL_CACHE_CONTROL = 'private, no-cache';

/** The freshness row (at most one) as a query for the caller's batch. */
export function freshnessQuery<Extra extends Record<string, SQL.Aliased> = Record<never, never>>(
  db: Database,
  userId: number,
  /** More per-user columns a route wants from the same statement (saves a statement in its batch). */
  extra: Extra = {} as Extra,
) {
  return db
    .select({ version: dataVersionColumn, ...syncFreshnessColumns, ...tokenGateColumns, ...extra })
    .from(users)
    .leftJoin(...dataVersionJoin(users.id))
    .leftJoin(...syncStateJoin(users.id))
    .where(eq(users.id, userId))
    .limit(1);
}

export type Freshness = {
  version: number | null;
  lastSyncAt: string | null;
  lastErrorAt: string | null;
  leaseUntil: string | null;
  /** A pause of background work for the daily budget, and the last enrichment run (sync-status only). */
  pausedUntil?: string | null;
  enrichedAt?: string | null;
  /** The access-token gate (src/users/middleware.ts `assertTokenCurrent`), from the same row. */
  tokensValidAfter: string | null;
};

/** Which inputs a route's tag covers: history data only, or also the sync-status fields. */
export type TagScope = 'data' | 'sync-status';

/**
 * The parts a scope's responses depend on (`now` decides whether a lease is live); for
 * sync-status also the connection as it is shown (`connectionState`, computed by the caller).
 */
export function tagInputs(
  freshness: Freshness | undefined,
  scope: TagScope,
  now: number,
  connectionState: string[] = [],
): string[] {
  const version = String(freshness?.version ?? 0);
  if (scope === 'data') return [version];
  const inProgress = !!freshness?.leaseUntil && Date.parse(freshness.leaseUntil) > now;
  const paused = !!freshness?.pausedUntil && Date.parse(freshness.pausedUntil) > now;
  return [
    version,
    freshness?.lastSyncAt ?? '',
    freshness?.lastErrorAt ?? '',
    inProgress ? 'running' : 'idle',
    paused ? `paused:${freshness?.pausedUntil}` : '',
    freshness?.enrichedAt ?? '',
    ...connectionState,
  ];
}

/** `W/"<version>-<hash>"` over the user, route, normalized query and the scope's inputs. */
export async function entityTag(
  userId: number,
  route: string,
  query: Record<string, string>,
  inputs: string[],
): Promise<string> {
  const normalized = Object.keys(query)
    .sort()
    .map((key) => [key, query[key]]);
  const material = JSON.stringify([userId, route, normalized, inputs]);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(material)));
  const hash = [...digest.slice(0, 12)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `W/"${inputs[0]}-${hash}"`;
}

/** RFC 9110 weak comparison of an If-None-Match header against a tag (`*` matches any). */
export function ifNoneMatchMatches(header: string, tag: string): boolean {
  const opaque = (value: string) => value.trim().replace(/^W\//, '');
  const wanted = opaque(tag);
  return header.split(',').some((candidate) => candidate.trim() === '*' || opaque(candidate) === wanted);
}
