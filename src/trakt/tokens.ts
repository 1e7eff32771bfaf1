/**
 * @module
 * The Trakt token store and single-flight refresh.
 *
 * Source of truth: the user's `trakt_connections` row in D1 (status, version, expiry, lease).
 * The token set itself is sealed in KV under `trakt_tokens:<user>:<token_set_id>`, a key that is
 * written once, before D1 points at it, and never rewritten. KV is eventually consistent and
 * has no compare-and-set, so it is never used to coordinate; D1's conditional UPDATEs are.
 *
 * Refresh tokens are single-use, so exactly one refresh may run per connection at a time:
 * 1. A caller that finds the token inside its refresh margin tries to take the lease with
 *    `UPDATE … WHERE token_version = ? AND lease expired`. One caller wins.
 * 2. The winner refreshes at Trakt, writes the new set to a fresh KV key, then publishes it
 *    (version+1) in D1 — conditional on still holding its lease.
 * 3. Losers poll D1 until the version moves, then read the new set (Trakt revokes the old
 *    access token when it rotates, so they must not keep using it).
 * `invalid_grant` marks the connection `reauthorization_required` (never retried). A transient
 * failure keeps the old token and turns the lease into a 30 s backoff, so an outage at Trakt is
 * not hammered by every waiting request. A refresh whose D1 publish was lost leaves
 * `pending_token_set_id`, which the next refresher adopts instead of spending another refresh.
 */
import { and, eq, isNull, lte, or, sql } from 'drizzle-orm';
import { randomToken } from '../crypto/bytes';
import { aadFor, EnvelopeError, type KeyRing, open, seal } from '../crypto/envelope';
import { type Database, isoNow } from '../db/client';
import { traktConnections } from '../db/schema';
import { ApiError } from '../http/errors';
import type { TraktClient } from './client';
import {
  isExpired,
  needsRefresh,
  REFRESH_BACKOFF_MS,
  REFRESH_LEASE_MS,
  REFRESH_POLL_MS,
  REFRESH_WAIT_MS,
  tokenExpiresAtMs,
} from './token-policy';
import type { TraktTokenResponse } from './types';

export type TokenStoreContext = {
  db: Database;
  kv: KVNamespace;
  ring: KeyRing;
  userId: number;
  /** Built lazily: most token reads never need the client. */
  client: () => Promise<TraktClient>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Schedules best-effort cleanup after the response (ctx.waitUntil). */
  waitUntil?: (promise: Promise<unknown>) => void;
};

export type AccessToken = { accessToken: string; expiresAt: string; version: number };

type Connection = typeof traktConnections.$inferSelect;

const PURPOSE = 'trakt_tokens';
/** Lease holder name meaning "a refresh failed transiently; nobody refreshes until the lease ends". */
const BACKOFF_LEASE = 'backoff';
const tokenKey = (userId: number, tokenSetId: string) => `trakt_tokens:${userId}:${tokenSetId}`;

export const NOT_CONNECTED = 'No Trakt token found';
export const REAUTHORIZE = 'Trakt authorization was revoked or has expired; authorize again at /trakt/authenticate/';

function notConnected(): ApiError {
  return new ApiError(401, NOT_CONNECTED, { code: 'not_connected' });
}
function reauthorizationRequired(): ApiError {
  return new ApiError(401, REAUTHORIZE, { code: 'reauthorization_required' });
}

const clock = (ctx: TokenStoreContext) => (ctx.now ?? Date.now)();
const pause = (ctx: TokenStoreContext, ms: number) =>
  (ctx.sleep ?? ((t: number) => new Promise((r) => setTimeout(r, t))))(ms);
const later = (ctx: TokenStoreContext, promise: Promise<unknown>) => {
  const guarded = promise.catch(() => undefined);
  if (ctx.waitUntil) ctx.waitUntil(guarded);
};

export async function readConnection(db: Database, userId: number): Promise<Connection | undefined> {
  return db.query.traktConnections.findFirst({ where: eq(traktConnections.userId, userId) });
}

async function writeTokenSet(ctx: TokenStoreContext, tokenSetId: string, token: TraktTokenResponse): Promise<void> {
  const sealed = await seal(ctx.ring, JSON.stringify(token), aadFor(ctx.userId, PURPOSE));
  await ctx.kv.put(tokenKey(ctx.userId, tokenSetId), sealed);
}

async function readTokenSet(ctx: TokenStoreContext, tokenSetId: string): Promise<TraktTokenResponse | undefined> {
  const sealed = await ctx.kv.get(tokenKey(ctx.userId, tokenSetId));
  if (!sealed) return undefined;
  try {
    return JSON.parse(await open(ctx.ring, sealed, aadFor(ctx.userId, PURPOSE))) as TraktTokenResponse;
  } catch (error) {
    if (error instanceof EnvelopeError) return undefined;
    throw error;
  }
}

async function currentTokenSet(ctx: TokenStoreContext, row: Connection): Promise<TraktTokenResponse> {
  const token = await readTokenSet(ctx, row.tokenSetId);
  if (!token) {
    // Unreadable (e.g. its encryption key was removed from ENCRYPTION_KEYS): only re-authorizing helps.
    await markReauthorizationRequired(ctx, 'stored token set is unreadable');
    throw reauthorizationRequired();
  }
  return token;
}

function toAccessToken(token: TraktTokenResponse, version: number): AccessToken {
  return { accessToken: token.access_token, expiresAt: isoNow(tokenExpiresAtMs(token)), version };
}

/** Stores the token set from a completed authorization (code or device flow) as a new active connection. */
export async function saveAuthorizedTokens(
  ctx: TokenStoreContext,
  token: TraktTokenResponse,
): Promise<{ expiresAt: string }> {
  const now = clock(ctx);
  const previous = await readConnection(ctx.db, ctx.userId);
  const tokenSetId = randomToken(16);
  await writeTokenSet(ctx, tokenSetId, token);
  const expiresAt = isoNow(tokenExpiresAtMs(token));
  const values = {
    status: 'active' as const,
    statusReason: null,
    tokenSetId,
    expiresAt,
    tokenLifetimeSeconds: Math.round(token.expires_in),
    refreshLeaseId: null,
    refreshLeaseUntil: null,
    pendingTokenSetId: null,
    refreshedAt: null,
    updatedAt: isoNow(now),
    // A new connection is due for its first (full) background sync at once.
    nextSyncAt: isoNow(now),
  };
  await ctx.db
    .insert(traktConnections)
    .values({ userId: ctx.userId, tokenVersion: 1, connectedAt: isoNow(now), ...values })
    .onConflictDoUpdate({
      target: traktConnections.userId,
      set: { ...values, tokenVersion: sql`${traktConnections.tokenVersion} + 1` },
    });
  if (previous) later(ctx, ctx.kv.delete(tokenKey(ctx.userId, previous.tokenSetId)));
  return { expiresAt };
}

async function markReauthorizationRequired(ctx: TokenStoreContext, reason: string, leaseId?: string): Promise<void> {
  const guard = leaseId
    ? and(eq(traktConnections.userId, ctx.userId), eq(traktConnections.refreshLeaseId, leaseId))
    : eq(traktConnections.userId, ctx.userId);
  await ctx.db
    .update(traktConnections)
    .set({
      status: 'reauthorization_required',
      statusReason: reason,
      refreshLeaseId: null,
      refreshLeaseUntil: null,
      updatedAt: isoNow(clock(ctx)),
    })
    .where(guard);
}

/**
 * A usable access token for the user, refreshed first when it is inside its refresh margin
 * (or always, with `force`). Concurrent callers across isolates cause at most one refresh.
 */
export async function getAccessToken(
  ctx: TokenStoreContext,
  options: {
    force?: boolean;
    staleVersion?: number;
    /** Refresh if the token will be inside its margin this far from now (the cron looks one run ahead). */
    horizonMs?: number;
  } = {},
): Promise<AccessToken> {
  const deadline = clock(ctx) + REFRESH_WAIT_MS;
  let observedVersion: number | undefined = options.staleVersion;
  for (;;) {
    const row = await readConnection(ctx.db, ctx.userId);
    if (!row) throw notConnected();
    if (row.status !== 'active') throw reauthorizationRequired();
    observedVersion ??= row.tokenVersion;
    const now = clock(ctx);
    const expiresAtMs = Date.parse(row.expiresAt);
    const wanted = options.force || options.staleVersion !== undefined;
    // Someone else refreshed since we first looked: their fresh token serves us too.
    if (row.tokenVersion !== observedVersion) return toAccessToken(await currentTokenSet(ctx, row), row.tokenVersion);
    if (!wanted && !needsRefresh(expiresAtMs, row.tokenLifetimeSeconds, now + (options.horizonMs ?? 0))) {
      return toAccessToken(await currentTokenSet(ctx, row), row.tokenVersion);
    }

    const leaseUntil = row.refreshLeaseUntil ? Date.parse(row.refreshLeaseUntil) : 0;
    if (leaseUntil <= now) {
      const leaseId = randomToken(16);
      const leased = await ctx.db
        .update(traktConnections)
        .set({ refreshLeaseId: leaseId, refreshLeaseUntil: isoNow(now + REFRESH_LEASE_MS) })
        .where(
          and(
            eq(traktConnections.userId, ctx.userId),
            eq(traktConnections.tokenVersion, row.tokenVersion),
            eq(traktConnections.status, 'active'),
            or(isNull(traktConnections.refreshLeaseUntil), lte(traktConnections.refreshLeaseUntil, isoNow(now))),
          ),
        )
        .returning({ pendingTokenSetId: traktConnections.pendingTokenSetId });
      if (leased.length > 0) return refreshWithLease(ctx, row, leaseId, leased[0]!.pendingTokenSetId, !wanted);
      continue; // lost the race for the lease: look again
    }

    const stillValid = !wanted && !isExpired(expiresAtMs, now);
    if (row.refreshLeaseId === BACKOFF_LEASE) {
      // A refresh just failed transiently: use the current token while it lasts, else ask to come back.
      if (stillValid) return toAccessToken(await currentTokenSet(ctx, row), row.tokenVersion);
      throw new ApiError(503, 'Trakt token refresh failed recently; try again shortly', {
        code: 'upstream_unavailable',
        retryAfter: Math.max(1, Math.ceil((leaseUntil - now) / 1000)),
      });
    }
    // Another caller is refreshing right now: wait for its result (Trakt revokes the old access token on refresh).
    if (clock(ctx) >= deadline) {
      if (stillValid) return toAccessToken(await currentTokenSet(ctx, row), row.tokenVersion);
      throw new ApiError(503, 'Trakt token refresh is taking too long; try again shortly', {
        code: 'upstream_unavailable',
        retryAfter: 5,
      });
    }
    await pause(ctx, REFRESH_POLL_MS);
  }
}

async function refreshWithLease(
  ctx: TokenStoreContext,
  row: Connection,
  leaseId: string,
  pendingTokenSetId: string | null,
  oldStillUsable: boolean,
): Promise<AccessToken> {
  const now = clock(ctx);
  // A previous refresh may have succeeded at Trakt and in KV but not in D1: adopt it.
  let fresh = pendingTokenSetId ? await readTokenSet(ctx, pendingTokenSetId) : undefined;
  const newSetId = fresh ? pendingTokenSetId! : randomToken(16);
  if (!fresh) {
    const current = await readTokenSet(ctx, row.tokenSetId);
    if (!current) {
      await markReauthorizationRequired(ctx, 'stored token set is unreadable', leaseId);
      throw reauthorizationRequired();
    }
    await ctx.db
      .update(traktConnections)
      .set({ pendingTokenSetId: newSetId })
      .where(and(eq(traktConnections.userId, ctx.userId), eq(traktConnections.refreshLeaseId, leaseId)));
    try {
      fresh = await (await ctx.client()).refresh(current.refresh_token);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'invalid_grant') {
        await markReauthorizationRequired(ctx, 'Trakt rejected the refresh token (invalid_grant)', leaseId);
        later(ctx, ctx.kv.delete(tokenKey(ctx.userId, row.tokenSetId)));
        throw reauthorizationRequired();
      }
      // Transient: keep the old token; hold everyone off refreshing for a while (the lease becomes a backoff).
      await ctx.db
        .update(traktConnections)
        .set({
          refreshLeaseId: BACKOFF_LEASE,
          refreshLeaseUntil: isoNow(now + REFRESH_BACKOFF_MS),
          pendingTokenSetId: null,
        })
        .where(and(eq(traktConnections.userId, ctx.userId), eq(traktConnections.refreshLeaseId, leaseId)));
      if (oldStillUsable && !isExpired(Date.parse(row.expiresAt), now)) return toAccessToken(current, row.tokenVersion);
      throw error;
    }
    await writeTokenSet(ctx, newSetId, fresh);
  }

  const published = await ctx.db
    .update(traktConnections)
    .set({
      tokenVersion: row.tokenVersion + 1,
      tokenSetId: newSetId,
      expiresAt: isoNow(tokenExpiresAtMs(fresh)),
      tokenLifetimeSeconds: Math.round(fresh.expires_in),
      refreshLeaseId: null,
      refreshLeaseUntil: null,
      pendingTokenSetId: null,
      refreshedAt: isoNow(now),
      updatedAt: isoNow(now),
    })
    .where(and(eq(traktConnections.userId, ctx.userId), eq(traktConnections.refreshLeaseId, leaseId)))
    .returning({ version: traktConnections.tokenVersion });
  if (published.length === 0) {
    // Lease lost (held past REFRESH_LEASE_MS) or the user disconnected meanwhile.
    throw new ApiError(503, 'Trakt token refresh was interrupted; try again', {
      code: 'upstream_unavailable',
      retryAfter: 5,
    });
  }
  later(ctx, ctx.kv.delete(tokenKey(ctx.userId, row.tokenSetId)));
  return toAccessToken(fresh, published[0]!.version);
}

/**
 * Runs `call` with a valid access token. If Trakt answers 401 anyway (revoked or expired early),
 * refreshes once — single-flight like any other refresh — and tries again. Pass the same
 * `session` to a series of calls (a sync's pages) to look the token up once, not per call.
 */
export async function withAccessToken<T>(
  ctx: TokenStoreContext,
  call: (accessToken: string) => Promise<T>,
  session: { token?: AccessToken } = {},
): Promise<T> {
  session.token ??= await getAccessToken(ctx);
  try {
    return await call(session.token.accessToken);
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'upstream_unauthorized') throw error;
    session.token = await getAccessToken(ctx, { staleVersion: session.token.version });
    return call(session.token.accessToken);
  }
}

/** Deletes the connection and its token set, revoking at Trakt first (best effort). Idempotent. */
export async function disconnect(ctx: TokenStoreContext): Promise<{ revoked: boolean }> {
  const row = await readConnection(ctx.db, ctx.userId);
  if (!row) return { revoked: false };
  let revoked = false;
  const token = await readTokenSet(ctx, row.tokenSetId);
  if (token && row.status === 'active') {
    try {
      await (await ctx.client()).revoke(token.access_token);
      revoked = true;
    } catch {
      // Trakt unreachable or credentials gone: the local disconnect still happens; the token expires on its own.
    }
  }
  await ctx.db.delete(traktConnections).where(eq(traktConnections.userId, ctx.userId));
  await ctx.kv.delete(tokenKey(ctx.userId, row.tokenSetId));
  if (row.pendingTokenSetId) await ctx.kv.delete(tokenKey(ctx.userId, row.pendingTokenSetId));
  return { revoked };
}

/** Deletes every token set of the user left in KV, including any a lost cleanup missed (account deletion). */
export async function deleteUserTokenSets(kv: KVNamespace, userId: number): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await kv.list({ prefix: tokenKey(userId, ''), cursor });
    await Promise.all(page.keys.map((key) => kv.delete(key.name)));
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
}

/** A statement deleting the user's connection row (account deletion), for the caller's batch. */
export function deleteConnection(db: Database, userId: number) {
  return db.delete(traktConnections).where(eq(traktConnections.userId, userId));
}
