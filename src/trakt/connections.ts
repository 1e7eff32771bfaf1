/**
 * @module
 * The one owner of the `trakt_connections` table: every read and write of a connection row goes
 * through these functions (the token store, the sync, the cron and the status endpoints call them).
 * The row is the source of truth and the journal of a connection's token set; the protocol that
 * drives it (leases, refresh, disconnect) lives in ./tokens.ts, and STORAGE.md describes both.
 */
import { and, asc, eq, gt, inArray, isNotNull, isNull, lte, ne, or, sql } from 'drizzle-orm';
import { envelopePrefix } from '../crypto/envelope';
import { type Database, isoNow } from '../db/client';
import { traktConnections } from '../db/schema';

export type Connection = typeof traktConnections.$inferSelect;
/** A connection without its sealed token set: what the hot read path needs from D1. */
export type ConnectionState = Omit<Connection, 'sealedTokens'>;
export type ConnectionStatus = Connection['status'];

/** Lease holder meaning "a refresh failed; nobody refreshes until the lease ends" (the backoff). */
export const BACKOFF_LEASE = 'backoff';
/** Lease holder prefix of a disconnect in progress. */
export const DISCONNECT_LEASE = 'disconnect';

/** Statuses whose access token may still be used. */
const USABLE_STATUSES: readonly ConnectionStatus[] = ['active', 'refresh_rejected'];

/**
 * A connection as every status surface shows it (auth-status, sync-status and its ETag, the sync's
 * gate): the one place these rules live. Pure: the row's fields and `now`.
 * - `not_connected`: no row, or a disconnect in progress.
 * - `reauthorization_required`: Trakt refused the grant, or refused the refresh token and the access
 *   token has since expired.
 * - `app_rejected`: Trakt rejects the app behind the connection (its client id answers 403: deleted, or
 *   no longer valid). Every token is kept; nothing works with the app until a call succeeds again, the
 *   credentials change, or the user authorizes again (src/trakt/tokens.ts). A sync may still try: the
 *   background checks once a day.
 * - `active`: the access token works, or may once refreshed. With `worksUntil`, Trakt refused the
 *   refresh token and the access token works until it expires; with `credentialsRejected`, Trakt
 *   rejects the app's client id/secret (every token is kept: fixing them restores the connection).
 *
 * `tokenUsable`: whether a sync may try the stored access token at all (Trakt has the last word).
 */
export type ConnectionView =
  | { state: 'not_connected'; tokenUsable: false }
  | { state: 'reauthorization_required'; tokenUsable: boolean }
  | { state: 'app_rejected'; tokenUsable: true }
  | {
      state: 'active';
      tokenUsable: true;
      expiresAt: string;
      tokenExpired: boolean;
      worksUntil?: string;
      credentialsRejected: boolean;
    };

export function connectionView(
  row:
    | (Pick<ConnectionState, 'status' | 'expiresAt'> & {
        credentialsRejectedAt?: string | null;
        appRejectedAt?: string | null;
      })
    | undefined,
  now: number,
): ConnectionView {
  if (!row || row.status === 'disconnecting') return { state: 'not_connected', tokenUsable: false };
  const tokenUsable = USABLE_STATUSES.includes(row.status);
  const tokenExpired = Date.parse(row.expiresAt) <= now;
  if (row.status === 'reauthorization_required' || (row.status === 'refresh_rejected' && tokenExpired)) {
    return { state: 'reauthorization_required', tokenUsable };
  }
  if (row.appRejectedAt) return { state: 'app_rejected', tokenUsable: true };
  return {
    state: 'active',
    tokenUsable: true,
    expiresAt: row.expiresAt,
    tokenExpired,
    ...(row.status === 'refresh_rejected' ? { worksUntil: row.expiresAt } : {}),
    credentialsRejected: !!row.credentialsRejectedAt,
  };
}

const stateColumns = {
  userId: true,
  status: true,
  statusReason: true,
  tokenVersion: true,
  tokenSetId: true,
  expiresAt: true,
  tokenLifetimeSeconds: true,
  refreshLeaseId: true,
  refreshLeaseUntil: true,
  pendingTokenSetId: true,
  credentialsRejectedAt: true,
  refreshFailures: true,
  connectedAt: true,
  refreshedAt: true,
  updatedAt: true,
  nextSyncAt: true,
  clientId: true,
  appRejectedAt: true,
  rateLimitedUntil: true,
} as const satisfies Partial<Record<keyof Connection, true>>;

const byUser = (userId: number) => eq(traktConnections.userId, userId);

/** The connection without its sealed token set (the hot path reads the set from KV). */
export async function readConnectionState(db: Database, userId: number): Promise<ConnectionState | undefined> {
  return db.query.traktConnections.findFirst({ columns: stateColumns, where: byUser(userId) });
}

/** The whole connection, journal included (a KV miss, a disconnect). */
export async function readConnection(db: Database, userId: number): Promise<Connection | undefined> {
  return db.query.traktConnections.findFirst({ where: byUser(userId) });
}

/**
 * What /trakt/sync-status/ shows about the connection: the summary query itself (not awaited, at most one row), for callers that put it in a
 * `db.batch()` with their own reads (a core select: drizzle's relational findFirst breaks in a batch).
 */
export function connectionSummaryQuery(db: Database, userId: number) {
  return db
    .select({
      status: traktConnections.status,
      nextSyncAt: traktConnections.nextSyncAt,
      expiresAt: traktConnections.expiresAt,
      appRejectedAt: traktConnections.appRejectedAt,
    })
    .from(traktConnections)
    .where(byUser(userId))
    .limit(1);
}

export async function readConnectionSummary(db: Database, userId: number) {
  return (await connectionSummaryQuery(db, userId))[0];
}

export type ConnectionSummary = Awaited<ReturnType<typeof readConnectionSummary>>;

export type NewTokenSet = {
  tokenSetId: string;
  sealedTokens: string;
  expiresAt: string;
  tokenLifetimeSeconds: number;
  /** The Trakt app (client id) that issued the set: its exchange or refresh proves the app accepts its secret. */
  clientId: string;
};

/** Stores a completed authorization (code or device flow) as the user's active connection, replacing any other. */
export async function saveConnection(db: Database, userId: number, set: NewTokenSet, now: number): Promise<void> {
  const values = {
    status: 'active' as const,
    statusReason: null,
    ...set,
    refreshLeaseId: null,
    refreshLeaseUntil: null,
    pendingTokenSetId: null,
    credentialsRejectedAt: null,
    refreshFailures: 0,
    refreshedAt: null,
    updatedAt: isoNow(now),
    // A new connection is due for its first (full) background sync at once.
    nextSyncAt: isoNow(now),
    appRejectedAt: null,
    rateLimitedUntil: null,
  };
  await db
    .insert(traktConnections)
    .values({ userId, tokenVersion: 1, connectedAt: isoNow(now), ...values })
    .onConflictDoUpdate({
      target: traktConnections.userId,
      set: { ...values, tokenVersion: sql`${traktConnections.tokenVersion} + 1` },
    });
}

/**
 * Takes the refresh lease of token version `version` if nobody holds it (or the holder's time ran out),
 * naming the token set the refresh will publish. One caller wins; the others see `false`.
 */
export async function takeRefreshLease(
  db: Database,
  userId: number,
  lease: { version: number; leaseId: string; until: number; pendingTokenSetId: string; now: number },
): Promise<boolean> {
  const taken = await db
    .update(traktConnections)
    .set({
      refreshLeaseId: lease.leaseId,
      refreshLeaseUntil: isoNow(lease.until),
      pendingTokenSetId: lease.pendingTokenSetId,
    })
    .where(
      and(
        byUser(userId),
        eq(traktConnections.tokenVersion, lease.version),
        eq(traktConnections.status, 'active'),
        or(isNull(traktConnections.refreshLeaseUntil), lte(traktConnections.refreshLeaseUntil, isoNow(lease.now))),
      ),
    )
    .returning({ userId: traktConnections.userId });
  return taken.length > 0;
}

/**
 * Seals the refreshed set into the row and ends the lease, in one statement: the moment this
 * succeeds the new pair is durable. Guarded by the token version the refresh started from, not by
 * the lease: Trakt answering with a new pair proves this refresh spent the only valid refresh token,
 * so even a refresher whose lease ran out holds the one true successor. A disconnect (or the row being
 * gone) makes it fail. Returns the new token version, or undefined when nothing was written.
 */
export async function publishRefreshedTokens(
  db: Database,
  userId: number,
  fromVersion: number,
  set: NewTokenSet,
  now: number,
): Promise<number | undefined> {
  const published = await db
    .update(traktConnections)
    .set({
      ...set,
      status: 'active',
      statusReason: null,
      tokenVersion: fromVersion + 1,
      refreshLeaseId: null,
      refreshLeaseUntil: null,
      pendingTokenSetId: null,
      credentialsRejectedAt: null,
      appRejectedAt: null,
      refreshFailures: 0,
      refreshedAt: isoNow(now),
      updatedAt: isoNow(now),
    })
    .where(
      and(byUser(userId), eq(traktConnections.tokenVersion, fromVersion), ne(traktConnections.status, 'disconnecting')),
    )
    .returning({ version: traktConnections.tokenVersion });
  return published[0]?.version;
}

/**
 * A refresh failed without a verdict on the refresh token (outage, lost answer, rejected client
 * credentials): keep every token and turn the lease into a backoff. Only the lease holder may.
 */
export async function recordRefreshFailure(
  db: Database,
  userId: number,
  failure: {
    leaseId: string;
    backoffUntil: number;
    credentialsRejected: boolean;
    /** Trakt no longer knows the app at all (see markAppRejected): also pauses background syncs until `recheckAt`. */
    appRejected?: { recheckAt: number };
    now: number;
  },
): Promise<void> {
  await db
    .update(traktConnections)
    .set({
      refreshLeaseId: BACKOFF_LEASE,
      refreshLeaseUntil: isoNow(failure.backoffUntil),
      pendingTokenSetId: null,
      refreshFailures: sql`${traktConnections.refreshFailures} + 1`,
      ...(failure.credentialsRejected ? { credentialsRejectedAt: isoNow(failure.now) } : {}),
      ...(failure.appRejected
        ? {
            appRejectedAt: sql`coalesce(${traktConnections.appRejectedAt}, ${isoNow(failure.now)})`,
            nextSyncAt: sql`max(${traktConnections.nextSyncAt}, ${isoNow(failure.appRejected.recheckAt)})`,
          }
        : {}),
      updatedAt: isoNow(failure.now),
    })
    .where(and(byUser(userId), eq(traktConnections.refreshLeaseId, failure.leaseId)));
}

/**
 * Trakt rejects the app behind the connection (its client id answers 403): every token is kept, and the
 * next background sync moves to `recheckAt` (a day later), which is how background syncs stop for it.
 * The first rejection's time is kept.
 */
export async function markAppRejected(db: Database, userId: number, now: number, recheckAt: number): Promise<void> {
  await db
    .update(traktConnections)
    .set({
      appRejectedAt: sql`coalesce(${traktConnections.appRejectedAt}, ${isoNow(now)})`,
      nextSyncAt: sql`max(${traktConnections.nextSyncAt}, ${isoNow(recheckAt)})`,
      updatedAt: isoNow(now),
    })
    .where(and(byUser(userId), inArray(traktConnections.status, [...USABLE_STATUSES])));
}

/**
 * Trakt answered the user's call with its per-user 429: the user's API calls wait until `untilMs` (checked
 * before each call, so nothing is sent into a window that is known to be spent). Never moves it earlier.
 */
export async function recordUserRateLimit(db: Database, userId: number, untilMs: number): Promise<void> {
  const until = isoNow(untilMs);
  await db
    .update(traktConnections)
    .set({ rateLimitedUntil: sql`max(coalesce(${traktConnections.rateLimitedUntil}, ''), ${until})` })
    .where(byUser(userId));
}

/** A call with the app succeeded again: the rejection is over (background syncs resume on their schedule). */
export async function clearAppRejected(db: Database, userId: number, now: number): Promise<void> {
  await db
    .update(traktConnections)
    .set({ appRejectedAt: null, updatedAt: isoNow(now) })
    .where(and(byUser(userId), isNotNull(traktConnections.appRejectedAt)));
}

/**
 * The user stored or deleted Trakt app credentials: whatever Trakt said about the old ones no longer
 * holds. An app rejection ends (and the background sync is due at once), and a refresh backoff ends, so
 * the next request or cron run tries the new credentials. `credentials_rejected_at` stays until a refresh
 * succeeds, as before.
 */
export async function traktCredentialsChanged(db: Database, userId: number, now: number): Promise<void> {
  const nowIso = isoNow(now);
  const inBackoff = eq(traktConnections.refreshLeaseId, BACKOFF_LEASE);
  await db
    .update(traktConnections)
    .set({
      nextSyncAt: sql`CASE WHEN ${traktConnections.appRejectedAt} IS NOT NULL THEN ${nowIso} ELSE ${traktConnections.nextSyncAt} END`,
      appRejectedAt: null,
      refreshLeaseId: sql`CASE WHEN ${inBackoff} THEN NULL ELSE ${traktConnections.refreshLeaseId} END`,
      refreshLeaseUntil: sql`CASE WHEN ${inBackoff} THEN NULL ELSE ${traktConnections.refreshLeaseUntil} END`,
      refreshFailures: sql`CASE WHEN ${inBackoff} THEN 0 ELSE ${traktConnections.refreshFailures} END`,
      updatedAt: nowIso,
    })
    .where(byUser(userId));
}

/**
 * Moves the connection of token version `version` to `status` (`refresh_rejected` or
 * `reauthorization_required`), ending any lease. With `leaseId`, only the lease holder may; without,
 * only from one of `from`. Returns whether the row changed (false: someone moved on meanwhile).
 */
export async function setConnectionStatus(
  db: Database,
  userId: number,
  change: {
    status: 'refresh_rejected' | 'reauthorization_required';
    reason: string;
    version: number;
    leaseId?: string;
    from?: readonly ConnectionStatus[];
    now: number;
  },
): Promise<boolean> {
  const changed = await db
    .update(traktConnections)
    .set({
      status: change.status,
      statusReason: change.reason,
      refreshLeaseId: null,
      refreshLeaseUntil: null,
      pendingTokenSetId: null,
      updatedAt: isoNow(change.now),
    })
    .where(
      and(
        byUser(userId),
        eq(traktConnections.tokenVersion, change.version),
        change.leaseId === undefined ? undefined : eq(traktConnections.refreshLeaseId, change.leaseId),
        inArray(traktConnections.status, [...(change.from ?? USABLE_STATUSES)]),
      ),
    )
    .returning({ userId: traktConnections.userId });
  return changed.length > 0;
}

/**
 * First step of a disconnect: marks the row `disconnecting` and takes the refresh lease from
 * whoever holds it, so no refresh can start or publish from here on. Returns the row (journal
 * included) as it now is, or undefined when there is no connection.
 */
export async function beginDisconnect(
  db: Database,
  userId: number,
  lease: { leaseId: string; until: number; now: number },
): Promise<Connection | undefined> {
  const rows = await db
    .update(traktConnections)
    .set({
      status: 'disconnecting',
      refreshLeaseId: lease.leaseId,
      refreshLeaseUntil: isoNow(lease.until),
      updatedAt: isoNow(lease.now),
    })
    .where(byUser(userId))
    .returning();
  return rows[0];
}

/** Last step of a disconnect: deletes the row, if this disconnect still holds it. */
export async function deleteDisconnectingConnection(db: Database, userId: number, leaseId: string): Promise<void> {
  await db.delete(traktConnections).where(and(byUser(userId), eq(traktConnections.refreshLeaseId, leaseId)));
}

/** A statement deleting the user's connection row unconditionally (account deletion), for the caller's batch. */
export function deleteConnectionRow(db: Database, userId: number) {
  return db.delete(traktConnections).where(byUser(userId));
}

/**
 * Cron: connections whose access token expires before `before`, soonest first (only `active` ones refresh).
 * Rows whose refresh is backing off (or leased) at `now` are left out: their expiry is already past, so
 * they would sort first on every run and crowd out the rest while nobody may refresh them anyway. So are
 * rows whose Trakt app is rejected: a refresh with it cannot succeed, and their daily check refreshes if needed.
 */
export async function listConnectionsToRefresh(
  db: Database,
  before: number,
  limit: number,
  now: number,
): Promise<Array<{ userId: number; tokenVersion: number }>> {
  return db
    .select({ userId: traktConnections.userId, tokenVersion: traktConnections.tokenVersion })
    .from(traktConnections)
    .where(
      and(
        eq(traktConnections.status, 'active'),
        lte(traktConnections.expiresAt, isoNow(before)),
        or(isNull(traktConnections.refreshLeaseUntil), lte(traktConnections.refreshLeaseUntil, isoNow(now))),
        isNull(traktConnections.appRejectedAt),
      ),
    )
    .orderBy(traktConnections.expiresAt)
    .limit(limit);
}

/**
 * Cron: claims up to `limit` usable connections due for a sync with ONE conditional
 * UPDATE … RETURNING that moves their `next_sync_at` to `nextSyncAt`, so overlapping runs never
 * claim a user twice. Returns the claimed user ids.
 */
export async function claimDueConnections(
  db: Database,
  now: number,
  nextSyncAt: number,
  limit: number,
): Promise<number[]> {
  const rows = await db.all<{ user_id: number }>(
    sql`UPDATE trakt_connections SET next_sync_at = ${isoNow(nextSyncAt)}
        WHERE user_id IN (SELECT user_id FROM trakt_connections
          WHERE status IN ('active', 'refresh_rejected') AND next_sync_at <= ${isoNow(now)}
          ORDER BY next_sync_at LIMIT ${limit})
        RETURNING user_id`,
  );
  return rows.map((r) => r.user_id);
}

/** Cron: gives claimed users back (their message was not sent), so the next run picks them up. */
export async function releaseClaims(db: Database, userIds: number[], dueAt: number): Promise<void> {
  await db.run(
    sql`UPDATE trakt_connections SET next_sync_at = ${isoNow(dueAt)}
        WHERE user_id IN (SELECT value FROM json_each(${JSON.stringify(userIds)}))`,
  );
}

/** The statement that schedules the user's next background sync (run in the sync's final batch). */
export function scheduleNextSync(db: Database, userId: number, at: number) {
  return db
    .update(traktConnections)
    .set({ nextSyncAt: isoNow(at) })
    .where(byUser(userId));
}

/** A connection's journal as the key rotation sees it. */
export type SealedConnection = { userId: number; tokenVersion: number; tokenSetId: string; sealedTokens: string };

/**
 * Rotation: up to `limit` connections after user `afterUserId` (in user id order) whose journal is
 * not sealed with `primaryKid`. A primary-key range scan: a whole pass reads every row once.
 */
export async function connectionsToReseal(
  db: Database,
  primaryKid: string,
  afterUserId: number,
  limit: number,
): Promise<SealedConnection[]> {
  const prefix = envelopePrefix(primaryKid);
  const rows = await db
    .select({
      userId: traktConnections.userId,
      tokenVersion: traktConnections.tokenVersion,
      tokenSetId: traktConnections.tokenSetId,
      sealedTokens: traktConnections.sealedTokens,
    })
    .from(traktConnections)
    .where(
      and(
        gt(traktConnections.userId, afterUserId),
        isNotNull(traktConnections.sealedTokens),
        sql`substr(${traktConnections.sealedTokens}, 1, ${prefix.length}) <> ${prefix}`,
      ),
    )
    .orderBy(asc(traktConnections.userId))
    .limit(limit);
  return rows as SealedConnection[];
}

/**
 * Rotation: a statement (for the caller's batch) that replaces the journal with its re-sealed copy only
 * while the row still holds exactly the set that was re-sealed, at the same token version. A refresh,
 * a new authorization or a disconnect that came first wins, and a newer set is never overwritten with
 * an older one. Nothing else changes (lease, status, `updated_at`). Returns the user id when it wrote.
 */
export function replaceSealedTokens(db: Database, connection: SealedConnection, sealedTokens: string) {
  return db
    .update(traktConnections)
    .set({ sealedTokens })
    .where(
      and(
        byUser(connection.userId),
        eq(traktConnections.tokenVersion, connection.tokenVersion),
        eq(traktConnections.sealedTokens, connection.sealedTokens),
      ),
    )
    .returning({ userId: traktConnections.userId });
}
