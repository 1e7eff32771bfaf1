/**
 * @module
 * `requireUser`: the access-token gate for every protected route. Sets `userId` for handlers.
 * The token itself is stateless; one primary-key lookup makes sure its user still exists and that
 * the token was not revoked (issued before the user's `tokens_valid_after`: a password change or
 * "log out everywhere"), so such tokens stop working at once instead of at their expiry.
 */
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../app-env';
import { tokenKeys, unauthorized, type VerifiedToken, verifyToken } from '../auth/jwt';
import { issuedBeforeRevocation, TOKEN_REVOKED } from '../auth/token-revocation';
import { readTokenGate } from './service';

const BEARER = /^Bearer\s+([A-Za-z0-9_\-.=]+)\s*$/i;

export const USER_GONE = 'User no longer exists';

async function bearerToken(c: Context<AppEnv>): Promise<VerifiedToken> {
  const header = c.req.header('Authorization');
  if (!header) throw unauthorized('Authentication credentials were not provided');
  const match = BEARER.exec(header);
  if (!match) throw unauthorized('Authorization header must be "Bearer <access token>"');
  return verifyToken(match[1]!, 'access', tokenKeys(c.env, c.req.url));
}

/**
 * The token still counts: its user exists (`gate` is the user's row, read by the caller) and it was
 * not issued before the user's `tokens_valid_after`. Throws 401 otherwise.
 */
export function assertTokenCurrent(
  issuedAt: number,
  gate: { tokensValidAfter: string | null } | undefined,
): asserts gate is { tokensValidAfter: string | null } {
  if (!gate) throw unauthorized(USER_GONE);
  if (issuedBeforeRevocation(issuedAt, gate.tokensValidAfter)) throw unauthorized(TOKEN_REVOKED);
}

export const requireUser = createMiddleware<AppEnv>(async (c, next) => {
  const { userId, issuedAt } = await bearerToken(c);
  assertTokenCurrent(issuedAt, await readTokenGate(c.var.db, userId));
  c.set('userId', userId);
  c.set('tokenIssuedAt', issuedAt);
  await next();
});

/**
 * The access JWT alone: verifies it and sets `userId` and `tokenIssuedAt`, but does NOT read the user's
 * row. Only for read endpoints that check it inside their own single D1 batch (they must answer
 * through src/history/conditional.ts `tagged()`/`assertUserExists`: the freshness row is read FROM
 * users, with `tokens_valid_after`; a missing user answers 401 USER_GONE, a revoked token 401
 * TOKEN_REVOKED), so such a read, and a 304, stay one D1 round trip.
 */
export const requireToken = createMiddleware<AppEnv>(async (c, next) => {
  const { userId, issuedAt } = await bearerToken(c);
  c.set('userId', userId);
  c.set('tokenIssuedAt', issuedAt);
  await next();
});

/** Every middleware that demands the access JWT (the OpenAPI generator marks their routes as secured). */
export const AUTH_MIDDLEWARES: ReadonlySet<unknown> = new Set([requireUser, requireToken]);
