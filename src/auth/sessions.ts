/**
 * @module
 * Refresh-token sessions. Owns `sessions`: one row per refresh token, named by the token's `sid`
 * claim. A refresh succeeds only while its row exists and has not expired, so deleting rows
 * revokes refresh tokens (logout, logout everywhere, password change, account deletion).
 * Access tokens are short-lived (ACCESS_TOKEN_TTL_SECONDS) and not looked up here; a password change or
 * "log out everywhere" also refuses those issued before it (users.tokens_valid_after, src/users/middleware.ts).
 */
import { and, eq, gt, sql } from 'drizzle-orm';
import { REFRESH_TOKEN_TTL_SECONDS } from '../config';
import { randomToken } from '../crypto/bytes';
import { type Database, isoNow } from '../db/client';
import { sessions } from '../db/schema';
import { ApiError } from '../http/errors';
import { issueToken, type TokenKeys, verifyToken } from './jwt';

export const MAX_SESSIONS_PRUNED_PER_RUN = 1000;

/** Opens a session for a new refresh token; returns its id (the `sid` claim). */
export async function openSession(db: Database, userId: number, now = Date.now()): Promise<string> {
  const id = randomToken(16);
  await db
    .insert(sessions)
    .values({ id, userId, createdAt: isoNow(now), expiresAt: isoNow(now + REFRESH_TOKEN_TTL_SECONDS * 1000) });
  return id;
}

export async function isSessionActive(db: Database, userId: number, sessionId: string, now = Date.now()) {
  const row = await db.query.sessions.findFirst({
    columns: { id: true },
    where: and(eq(sessions.id, sessionId), eq(sessions.userId, userId), gt(sessions.expiresAt, isoNow(now))),
  });
  return row !== undefined;
}

/** Revokes one refresh token of the user (idempotent). */
export async function closeSession(db: Database, userId: number, sessionId: string): Promise<void> {
  await db.delete(sessions).where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)));
}

/** A statement revoking every refresh token of the user, for the caller's batch. */
export function closeAllSessions(db: Database, userId: number) {
  return db.delete(sessions).where(eq(sessions.userId, userId));
}

/** Deletes expired sessions (cron); they can no longer refresh anything. */
export async function pruneExpiredSessions(db: Database, now: number): Promise<number> {
  const result = await db.run(
    sql`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions
        WHERE expires_at <= ${isoNow(now)} LIMIT ${MAX_SESSIONS_PRUNED_PER_RUN})`,
  );
  return result.meta.changes ?? 0;
}

/** Signs a user in: a new session, and its access and refresh JWTs (the `{access, refresh}` of a login). */
export async function issueTokenPair(db: Database, keys: TokenKeys, userId: number) {
  const sessionId = await openSession(db, userId);
  return {
    access: await issueToken(userId, 'access', keys),
    refresh: await issueToken(userId, 'refresh', keys, { sessionId }),
  };
}

/**
 * A new access JWT for a refresh JWT whose session is still open. The refresh token is not rotated: the
 * caller keeps using it until it expires or is revoked. Any failure is a 401 (`WWW-Authenticate: Bearer`).
 */
export async function refreshAccessToken(db: Database, keys: TokenKeys, refresh: string): Promise<string> {
  const { userId, sessionId } = await verifyToken(refresh, 'refresh', keys);
  if (!sessionId || !(await isSessionActive(db, userId, sessionId))) {
    throw new ApiError(401, 'Token has been revoked', { headers: { 'WWW-Authenticate': 'Bearer' } });
  }
  return issueToken(userId, 'access', keys);
}
