/**
 * @module
 * The Trakt token store: how a connection's token set is kept, read, refreshed and dropped.
 *
 * D1 (`trakt_connections`, owned by ./connections.ts) is the source of truth and the journal: the
 * row holds the status, version, expiry, refresh lease and the sealed token set itself. KV holds a
 * copy of the sealed set under `trakt_tokens:<user>:<token_set_id>` (a new key per version) for the
 * hot read path. KV is eventually consistent and has no compare-and-set, so it never coordinates
 * anything and a KV miss is never final: the reader falls back to the journal and puts it back.
 *
 * Refresh tokens are single-use, so exactly one refresh may run per connection at a time:
 * 1. A caller that finds the token inside its refresh margin takes the lease with
 *    `UPDATE … WHERE token_version = ? AND status = 'active' AND lease expired`. One caller wins.
 *    The lease lasts two upstream timeouts plus a margin (token-policy.ts), longer than the one
 *    grant request it covers can take.
 * 2. The winner sends the refresh grant once (never retried: it may have reached Trakt). When Trakt
 *    answers, the new set is sealed into D1 in the same statement that ends the lease, which makes it
 *    durable; then it is published to its KV key, and the old key is rewritten with a short TTL
 *    (never deleted under a reader).
 * 3. Losers poll D1 until the version moves, then read the new set (Trakt revokes the old access
 *    token when it rotates, so they must not keep using it).
 * Outcomes of a refresh (rules in STORAGE.md):
 * - `invalid_grant` is the only answer that ends a connection, and not at once: the status becomes
 *   `refresh_rejected` and the access token is used until it expires or Trakt answers 401; then
 *   `reauthorization_required`.
 * - Rejected client credentials and transient failures keep every token and turn the lease into a
 *   growing backoff; the next attempt comes from a later request or cron run.
 * A disconnect marks the row `disconnecting` and takes the lease first, so a refresh in flight can
 * no longer publish; it revokes the pair it got instead.
 * Key rotation (src/rotation/reseal.ts) re-seals the journal with a conditional write (it never
 * overwrites a newer set) and drops the old-key KV copy; readers put back only primary-sealed sets.
 */
import { DEFAULT_UPSTREAM_TIMEOUT_MS } from '../config';
import { randomToken } from '../crypto/bytes';
import {
  aadFor,
  EnvelopeError,
  encryptionKeyMissing,
  envelopeKid,
  type KeyRing,
  open,
  reseal,
  seal,
  sealedWithPrimary,
} from '../crypto/envelope';
import { type Database, isoNow } from '../db/client';
import { ApiError } from '../http/errors';
import { observeRefresh } from '../observability/hooks';
import { APP_REJECTED, CLIENT_CREDENTIALS_REJECTED, type TraktClient } from './client';
import {
  BACKOFF_LEASE,
  beginDisconnect,
  type ConnectionState,
  clearAppRejected,
  DISCONNECT_LEASE,
  deleteDisconnectingConnection,
  markAppRejected,
  type NewTokenSet,
  publishRefreshedTokens,
  readConnection,
  readConnectionState,
  recordRefreshFailure,
  recordUserRateLimit,
  saveConnection,
  setConnectionStatus,
  takeRefreshLease,
} from './connections';
import {
  APP_REJECTED_RECHECK_MS,
  CURRENT_TOKEN_SET_TTL_SECONDS,
  isExpired,
  needsRefresh,
  REFRESH_POLL_MS,
  refreshBackoffMs,
  refreshLeaseMs,
  refreshWaitMs,
  SUPERSEDED_TOKEN_SET_TTL_SECONDS,
  tokenExpiresAtMs,
} from './token-policy';
import type { TraktTokenResponse } from './upstream-schemas';

export type TokenStoreContext = {
  db: Database;
  kv: KVNamespace;
  ring: KeyRing;
  userId: number;
  /** Built lazily: most token reads never need the client. */
  client: () => Promise<TraktClient>;
  /** UPSTREAM_TIMEOUT_MS (validated in config), from which the refresh lease is derived. */
  upstreamTimeoutMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Schedules best-effort work after the response (ctx.waitUntil). */
  waitUntil?: (promise: Promise<unknown>) => void;
};

export type AccessToken = {
  accessToken: string;
  expiresAt: string;
  version: number;
  /** Trakt refused the refresh token: this access token works until `expiresAt`, then authorize again. */
  reauthorizationRequiredSoon?: true;
  /** The connection is marked as having its Trakt app rejected: a call that succeeds ends that. */
  appRejected?: true;
  /** Trakt's per-user limit holds the user's API calls until then (ms since the epoch). */
  rateLimitedUntil?: number;
};

const PURPOSE = 'trakt_tokens';
const tokenKey = (userId: number, tokenSetId: string) => `trakt_tokens:${userId}:${tokenSetId}`;
/** Attempts of the D1 statement that makes a refreshed set durable (a D1 error must not lose it). */
const PUBLISH_ATTEMPTS = 3;

export const NOT_CONNECTED = 'No Trakt token found';
export const REAUTHORIZE = 'Trakt authorization was revoked or has expired; authorize again at /trakt/authenticate/';

function notConnected(): ApiError {
  return new ApiError(401, NOT_CONNECTED, { code: 'not_connected' });
}
function reauthorizationRequired(): ApiError {
  return new ApiError(401, REAUTHORIZE, { code: 'reauthorization_required' });
}
function credentialsRejected(): ApiError {
  return new ApiError(400, CLIENT_CREDENTIALS_REJECTED, { code: 'client_credentials_rejected' });
}
function userRateLimited(retryAfter: number): ApiError {
  return new ApiError(429, `Trakt rate limit reached; retry after ${retryAfter} seconds`, {
    code: 'user_rate_limited',
    retryAfter,
  });
}
function appRejected(): ApiError {
  return new ApiError(403, APP_REJECTED, { code: 'trakt_app_rejected' });
}

const clock = (ctx: TokenStoreContext) => (ctx.now ?? Date.now)();
const pause = (ctx: TokenStoreContext, ms: number) =>
  (ctx.sleep ?? ((t: number) => new Promise((r) => setTimeout(r, t))))(ms);
const leaseMs = (ctx: TokenStoreContext) => refreshLeaseMs(ctx.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS);
const waitMs = (ctx: TokenStoreContext) => refreshWaitMs(ctx.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS);
const later = (ctx: TokenStoreContext, promise: Promise<unknown>) => {
  const guarded = promise.catch(() => undefined);
  if (ctx.waitUntil) ctx.waitUntil(guarded);
};

async function sealSet(ctx: TokenStoreContext, token: TraktTokenResponse): Promise<string> {
  return seal(ctx.ring, JSON.stringify(token), aadFor(ctx.userId, PURPOSE));
}

/** Opens a sealed set; undefined when it cannot be decrypted (its key was removed, or it was tampered with). */
async function openSet(ctx: TokenStoreContext, sealed: string): Promise<TraktTokenResponse | undefined> {
  try {
    return JSON.parse(await open(ctx.ring, sealed, aadFor(ctx.userId, PURPOSE))) as TraktTokenResponse;
  } catch (error) {
    if (error instanceof EnvelopeError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

function newTokenSet(
  token: TraktTokenResponse,
  tokenSetId: string,
  sealedTokens: string,
  clientId: string,
): NewTokenSet {
  return {
    clientId,
    tokenSetId,
    sealedTokens,
    expiresAt: isoNow(tokenExpiresAtMs(token)),
    tokenLifetimeSeconds: Math.round(token.expires_in),
  };
}

async function publishToKv(ctx: TokenStoreContext, tokenSetId: string, sealed: string): Promise<void> {
  await ctx.kv
    .put(tokenKey(ctx.userId, tokenSetId), sealed, { expirationTtl: CURRENT_TOKEN_SET_TTL_SECONDS })
    .catch(() => undefined); // KV is a cache of the journal: a failed put only costs a D1 read later
}

/** Lets a superseded set expire shortly instead of deleting it under a reader that just loaded its row. */
function retireFromKv(ctx: TokenStoreContext, tokenSetId: string, sealed: string): void {
  later(ctx, ctx.kv.put(tokenKey(ctx.userId, tokenSetId), sealed, { expirationTtl: SUPERSEDED_TOKEN_SET_TTL_SECONDS }));
}

type LoadedSet = { token: TraktTokenResponse; sealed: string; row: ConnectionState };

/**
 * The token set a connection row names: from KV, else from the D1 journal (re-read, so a refresh
 * that happened meanwhile is picked up), which is then put back into KV. A KV miss is never final;
 * only a journal that does not open with the key it names ends the connection (a removed key is a 503 instead).
 */
async function loadTokenSet(ctx: TokenStoreContext, row: ConnectionState): Promise<LoadedSet> {
  const cached = await ctx.kv.get(tokenKey(ctx.userId, row.tokenSetId));
  const fromKv = cached ? await openSet(ctx, cached) : undefined;
  if (cached && fromKv) return { token: fromKv, sealed: cached, row };

  const full = await readConnection(ctx.db, ctx.userId);
  if (!full || full.status === 'disconnecting') throw notConnected();
  if (full.status === 'reauthorization_required') throw reauthorizationRequired();
  if (!full.sealedTokens) {
    // A row from before the journal existed, whose KV copy is not visible here yet.
    throw new ApiError(503, 'The Trakt token is not readable yet; try again shortly', {
      code: 'upstream_unavailable',
      retryAfter: 5,
    });
  }
  const token = await openSet(ctx, full.sealedTokens);
  if (!token) {
    const kid = envelopeKid(full.sealedTokens);
    if (kid !== undefined && !ctx.ring.keys.has(kid)) {
      // Its encryption key was removed from ENCRYPTION_KEYS too early: a deployment problem, not a verdict on
      // the tokens. The connection keeps its status, so putting the key back restores it as it was.
      throw encryptionKeyMissing('The stored Trakt token set', kid, 'authorize again at /trakt/authenticate/');
    }
    // It does not open with the key it names (tampered with, or moved): only authorizing again helps.
    await setConnectionStatus(ctx.db, ctx.userId, {
      status: 'reauthorization_required',
      reason: 'stored token set is unreadable',
      version: full.tokenVersion,
      now: clock(ctx),
    });
    throw reauthorizationRequired();
  }
  // KV only ever receives sets sealed with the primary key: a journal the re-encryption (src/rotation/reseal.ts)
  // has not reached yet is read from D1 until it has, so no old-key copy lands in KV behind the re-encryption.
  if (sealedWithPrimary(ctx.ring, full.sealedTokens)) await publishToKv(ctx, full.tokenSetId, full.sealedTokens);
  const { sealedTokens: _journal, ...state } = full;
  return { token, sealed: full.sealedTokens, row: state };
}

function toAccessToken(loaded: Pick<LoadedSet, 'token' | 'row'>): AccessToken {
  return {
    accessToken: loaded.token.access_token,
    expiresAt: isoNow(tokenExpiresAtMs(loaded.token)),
    version: loaded.row.tokenVersion,
    ...(loaded.row.status === 'refresh_rejected' ? { reauthorizationRequiredSoon: true as const } : {}),
    ...(loaded.row.appRejectedAt ? { appRejected: true as const } : {}),
    ...(loaded.row.rateLimitedUntil ? { rateLimitedUntil: Date.parse(loaded.row.rateLimitedUntil) } : {}),
  };
}

/** Stores the token set from a completed authorization (code or device flow) as a new active connection. */
export async function saveAuthorizedTokens(
  ctx: TokenStoreContext,
  token: TraktTokenResponse,
): Promise<{ expiresAt: string }> {
  const previous = await readConnection(ctx.db, ctx.userId);
  const set = newTokenSet(token, randomToken(16), await sealSet(ctx, token), (await ctx.client()).clientId);
  await saveConnection(ctx.db, ctx.userId, set, clock(ctx));
  await publishToKv(ctx, set.tokenSetId, set.sealedTokens);
  if (previous?.sealedTokens) retireFromKv(ctx, previous.tokenSetId, previous.sealedTokens);
  return { expiresAt: set.expiresAt };
}

/** Why a refresh is wanted: the margin was reached, a caller forced it, or Trakt rejected the access token (401). */
type RefreshCause = 'margin' | 'forced' | 'rejected';

/**
 * A usable access token for the user, refreshed first when it is inside its refresh margin
 * (or always, with `force`). Concurrent callers across isolates cause at most one refresh.
 */
export async function getAccessToken(
  ctx: TokenStoreContext,
  options: {
    force?: boolean;
    /** The version whose access token Trakt just rejected with 401. */
    staleVersion?: number;
    /** Refresh if the token will be inside its margin this far from now (the cron looks one run ahead). */
    horizonMs?: number;
  } = {},
): Promise<AccessToken> {
  const deadline = clock(ctx) + waitMs(ctx);
  const cause: RefreshCause = options.staleVersion !== undefined ? 'rejected' : options.force ? 'forced' : 'margin';
  let observedVersion: number | undefined = options.staleVersion;
  for (;;) {
    const row = await readConnectionState(ctx.db, ctx.userId);
    if (!row || row.status === 'disconnecting') throw notConnected();
    if (row.status === 'reauthorization_required') throw reauthorizationRequired();
    observedVersion ??= row.tokenVersion;
    const now = clock(ctx);
    const expiresAtMs = Date.parse(row.expiresAt);
    // Someone else refreshed since we first looked: their fresh token serves us too.
    if (row.tokenVersion !== observedVersion) return toAccessToken(await loadTokenSet(ctx, row));

    if (row.status === 'refresh_rejected') {
      // Trakt refused the refresh token: the access token is all that is left, and it is used until
      // it expires or Trakt rejects it. Only then is the connection over.
      if (cause === 'rejected' || isExpired(expiresAtMs, now)) {
        await setConnectionStatus(ctx.db, ctx.userId, {
          status: 'reauthorization_required',
          reason:
            cause === 'rejected'
              ? 'Trakt rejected the access token after refusing the refresh token'
              : 'the access token expired after Trakt refused the refresh token',
          version: row.tokenVersion,
          from: ['refresh_rejected'],
          now,
        });
        throw reauthorizationRequired();
      }
      return toAccessToken(await loadTokenSet(ctx, row));
    }

    if (cause === 'margin' && !needsRefresh(expiresAtMs, row.tokenLifetimeSeconds, now + (options.horizonMs ?? 0))) {
      return toAccessToken(await loadTokenSet(ctx, row));
    }

    const leaseUntil = row.refreshLeaseUntil ? Date.parse(row.refreshLeaseUntil) : 0;
    if (leaseUntil <= now) {
      const leaseId = randomToken(16);
      const pendingTokenSetId = randomToken(16);
      const leased = await takeRefreshLease(ctx.db, ctx.userId, {
        version: row.tokenVersion,
        leaseId,
        until: now + leaseMs(ctx),
        pendingTokenSetId,
        now,
      });
      if (leased) return refreshWithLease(ctx, row, { leaseId, pendingTokenSetId, cause });
      continue; // lost the race for the lease: look again
    }

    const stillValid = cause === 'margin' && !isExpired(expiresAtMs, now);
    if (row.refreshLeaseId === BACKOFF_LEASE) {
      // A refresh failed recently: use the current token while it lasts, else ask to come back.
      if (stillValid) return toAccessToken(await loadTokenSet(ctx, row));
      if (row.appRejectedAt) throw appRejected();
      if (row.credentialsRejectedAt) throw credentialsRejected();
      throw new ApiError(503, 'Trakt token refresh failed recently; try again shortly', {
        code: 'upstream_unavailable',
        retryAfter: Math.max(1, Math.ceil((leaseUntil - now) / 1000)),
      });
    }
    // Another caller is refreshing right now: wait for its result (Trakt revokes the old access token on refresh).
    if (clock(ctx) >= deadline) {
      if (stillValid) return toAccessToken(await loadTokenSet(ctx, row));
      throw new ApiError(503, 'Trakt token refresh is taking too long; try again shortly', {
        code: 'upstream_unavailable',
        retryAfter: 5,
      });
    }
    await pause(ctx, REFRESH_POLL_MS);
  }
}

/** The connection's current token without refreshing (after another caller moved it on). */
async function currentAccessToken(ctx: TokenStoreContext): Promise<AccessToken> {
  const row = await readConnectionState(ctx.db, ctx.userId);
  if (!row || row.status === 'disconnecting') throw notConnected();
  if (row.status === 'reauthorization_required') throw reauthorizationRequired();
  return toAccessToken(await loadTokenSet(ctx, row));
}

async function refreshWithLease(
  ctx: TokenStoreContext,
  row: ConnectionState,
  lease: { leaseId: string; pendingTokenSetId: string; cause: RefreshCause },
): Promise<AccessToken> {
  const now = clock(ctx);
  const current = await loadTokenSet(ctx, row);
  const client = await ctx.client();
  let fresh: TraktTokenResponse;
  try {
    fresh = await client.refresh(current.token.refresh_token);
  } catch (error) {
    const oldTokenWorks = lease.cause !== 'rejected' && !isExpired(Date.parse(row.expiresAt), now);
    if (error instanceof ApiError && error.code === 'invalid_grant') {
      // Definitive for the refresh token only. The access token goes on working until it expires or Trakt rejects it.
      const changed = await setConnectionStatus(ctx.db, ctx.userId, {
        status: oldTokenWorks ? 'refresh_rejected' : 'reauthorization_required',
        reason: 'Trakt rejected the refresh token (invalid_grant)',
        version: row.tokenVersion,
        leaseId: lease.leaseId,
        now,
      });
      // Not changed: this lease ran out and another refresher moved the connection on; use its result.
      if (!changed) return currentAccessToken(ctx);
      observeRefresh(ctx.userId, 'invalid_grant');
      if (!oldTokenWorks) throw reauthorizationRequired();
      return toAccessToken({ token: current.token, row: { ...row, status: 'refresh_rejected' } });
    }
    // No verdict on the tokens (outage, lost answer, refused client credentials): keep them all and back off.
    const credentialsRefused = error instanceof ApiError && error.code === 'client_credentials_rejected';
    // `invalid_client` means a wrong secret as well as a deleted app; one call without a user token tells them apart.
    const appGone = credentialsRefused && isInvalidClient(error) && (await client.clientIdAccepted()) === false;
    await recordRefreshFailure(ctx.db, ctx.userId, {
      leaseId: lease.leaseId,
      backoffUntil: now + refreshBackoffMs(row.refreshFailures + 1),
      credentialsRejected: credentialsRefused,
      ...(appGone ? { appRejected: { recheckAt: now + APP_REJECTED_RECHECK_MS } } : {}),
      now,
    });
    observeRefresh(ctx.userId, 'transient_failure', error);
    if (lease.cause === 'margin' && oldTokenWorks) return toAccessToken(current);
    throw appGone ? appRejected() : error;
  }

  // Durable the moment Trakt answers: sealed into D1 in the statement that ends the lease, then copied to KV.
  const set = newTokenSet(fresh, lease.pendingTokenSetId, await sealSet(ctx, fresh), client.clientId);
  const version = await publishDurably(ctx, row.tokenVersion, set, now);
  if (version === undefined) {
    // Disconnected (or authorized anew) while Trakt answered: this pair belongs to no connection any more.
    observeRefresh(ctx.userId, 'lease_lost');
    later(ctx, client.revoke(fresh.access_token));
    return currentAccessToken(ctx);
  }
  await publishToKv(ctx, set.tokenSetId, set.sealedTokens);
  retireFromKv(ctx, row.tokenSetId, current.sealed);
  observeRefresh(ctx.userId, 'refreshed');
  return toAccessToken({ token: fresh, row: { ...row, status: 'active', tokenVersion: version } });
}

/**
 * Runs the publish statement until D1 confirms it either way. An error may hide a write that
 * happened, so each retry first looks whether the row already names the new set.
 */
async function publishDurably(
  ctx: TokenStoreContext,
  fromVersion: number,
  set: NewTokenSet,
  now: number,
): Promise<number | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      const version = await publishRefreshedTokens(ctx.db, ctx.userId, fromVersion, set, now);
      if (version !== undefined) return version;
      const row = await readConnectionState(ctx.db, ctx.userId);
      return row?.tokenSetId === set.tokenSetId ? row.tokenVersion : undefined;
    } catch (error) {
      if (attempt >= PUBLISH_ATTEMPTS) throw error;
      const row = await readConnectionState(ctx.db, ctx.userId).catch(() => undefined);
      if (row?.tokenSetId === set.tokenSetId) return row.tokenVersion;
    }
  }
}

function isInvalidClient(error: ApiError): boolean {
  return (error.details as { trakt_error?: unknown } | undefined)?.trakt_error === 'invalid_client';
}

/**
 * Runs `call` with a valid access token. If Trakt answers 401 anyway (revoked or expired early),
 * refreshes once — single-flight like any other refresh — and tries again. Pass the same
 * `session` to a series of calls (a sync's pages) to look the token up once, not per call.
 * What the answer says about the app is recorded on the connection: a 403 from Trakt marks its app
 * rejected (tokens kept, background syncs paused), and a success ends such a mark.
 */
export async function withAccessToken<T>(
  ctx: TokenStoreContext,
  call: (accessToken: string) => Promise<T>,
  session: { token?: AccessToken } = {},
): Promise<T> {
  session.token ??= await getAccessToken(ctx);
  try {
    return await callNoting(ctx, call, session.token);
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'upstream_unauthorized') throw error;
    session.token = await getAccessToken(ctx, { staleVersion: session.token.version });
    return callNoting(ctx, call, session.token);
  }
}

async function callNoting<T>(
  ctx: TokenStoreContext,
  call: (accessToken: string) => Promise<T>,
  token: AccessToken,
): Promise<T> {
  const waitMs = (token.rateLimitedUntil ?? 0) - clock(ctx);
  if (waitMs > 0) throw userRateLimited(Math.ceil(waitMs / 1000)); // the window is known to be spent: send nothing
  let result: T;
  try {
    result = await call(token.accessToken);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'user_rate_limited' && error.retryAfter !== undefined) {
      // Trakt's per-user 429: this user's calls (every isolate's) wait until the window ends; nobody else's.
      token.rateLimitedUntil = clock(ctx) + error.retryAfter * 1000;
      await recordUserRateLimit(ctx.db, ctx.userId, token.rateLimitedUntil);
    }
    if (error instanceof ApiError && error.code === 'trakt_app_rejected') {
      // Every time, so each failed daily check moves the next background sync a day on again.
      const now = clock(ctx);
      await markAppRejected(ctx.db, ctx.userId, now, now + APP_REJECTED_RECHECK_MS);
      token.appRejected = true;
    }
    throw error;
  }
  if (token.appRejected) {
    await clearAppRejected(ctx.db, ctx.userId, clock(ctx));
    delete token.appRejected;
  }
  return result;
}

/**
 * Ends the connection: first marks it `disconnecting` and takes the refresh lease (so no refresh can
 * start or publish any more), then revokes the current token at Trakt (best effort), then deletes the
 * row and every KV token set of the user, the pending one included. Idempotent.
 */
export async function disconnect(ctx: TokenStoreContext): Promise<{ revoked: boolean }> {
  const now = clock(ctx);
  const leaseId = `${DISCONNECT_LEASE}:${randomToken(16)}`;
  const row = await beginDisconnect(ctx.db, ctx.userId, { leaseId, until: now + leaseMs(ctx), now });
  if (!row) return { revoked: false };
  const cached = await ctx.kv.get(tokenKey(ctx.userId, row.tokenSetId));
  const token =
    (cached ? await openSet(ctx, cached) : undefined) ??
    (row.sealedTokens ? await openSet(ctx, row.sealedTokens) : undefined);
  let revoked = false;
  if (token) {
    try {
      await (await ctx.client()).revoke(token.access_token);
      revoked = true;
    } catch {
      // Trakt unreachable or credentials gone: the local disconnect still happens; the token expires on its own.
    }
  }
  await deleteDisconnectingConnection(ctx.db, ctx.userId, leaseId);
  // The current and pending keys by name (a fresh write may not be listed yet), then whatever the listing finds.
  await Promise.all(
    [row.tokenSetId, row.pendingTokenSetId].flatMap((id) => (id ? [ctx.kv.delete(tokenKey(ctx.userId, id))] : [])),
  );
  await deleteUserTokenSets(ctx.kv, ctx.userId);
  return { revoked };
}

/** Rotation: a connection's journal opened with its AAD and sealed again with the primary key. Throws EnvelopeError. */
export function resealTokenSet(ring: KeyRing, userId: number, sealed: string): Promise<string> {
  return reseal(ring, sealed, aadFor(userId, PURPOSE));
}

/**
 * Rotation: deletes the KV copy of a token set when it is sealed with another key than the primary one
 * (read first, so a copy that expired costs no delete). Deleting is safe whatever runs meanwhile: a
 * reader that misses falls back to the journal, and only puts a primary-sealed journal back.
 * Returns whether a copy was deleted.
 */
export async function dropStaleTokenCopy(
  kv: KVNamespace,
  ring: KeyRing,
  userId: number,
  tokenSetId: string,
): Promise<boolean> {
  const key = tokenKey(userId, tokenSetId);
  const cached = await kv.get(key);
  if (cached === null || sealedWithPrimary(ring, cached)) return false;
  await kv.delete(key);
  return true;
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
