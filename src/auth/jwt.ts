/**
 * @module
 * Issues and checks the API's own JWTs (HS256 over JWT_SECRET, via `hono/jwt` and WebCrypto).
 * The algorithm is pinned here, never read from the token; `typ` separates access from refresh;
 * `iss` and `aud` name this deployment (JWT_ISSUER, or the request's host) and are checked.
 * A refresh token also names its session (`sid`), which src/auth/sessions.ts can revoke.
 */
import { sign, verify } from 'hono/jwt';
import { JwtTokenExpired } from 'hono/utils/jwt/types';
import { ACCESS_TOKEN_TTL_SECONDS, jwtIssuer, jwtSecret, REFRESH_TOKEN_TTL_SECONDS } from '../config';
import { ApiError } from '../http/errors';

const ALGORITHM = 'HS256';
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

export type TokenType = 'access' | 'refresh';

export type ApiClaims = {
  sub: string;
  typ: TokenType;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  sid?: string;
};

/** What signs and scopes this deployment's tokens. */
export type TokenKeys = { secret: string; issuer: string };

/** `issuedAt`: the token's `iat` (seconds), checked against the user's `tokens_valid_after`. */
export type VerifiedToken = { userId: number; issuedAt: number; sessionId?: string };

const TTL: Record<TokenType, number> = { access: ACCESS_TOKEN_TTL_SECONDS, refresh: REFRESH_TOKEN_TTL_SECONDS };

export function tokenKeys(env: Env, requestUrl: string): TokenKeys {
  return { secret: jwtSecret(env), issuer: jwtIssuer(env, requestUrl) };
}

export async function issueToken(
  userId: number,
  typ: TokenType,
  keys: TokenKeys,
  options: { sessionId?: string; nowSeconds?: number } = {},
): Promise<string> {
  const iat = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const claims: ApiClaims = { sub: String(userId), typ, iss: keys.issuer, aud: keys.issuer, iat, exp: iat + TTL[typ] };
  if (options.sessionId) claims.sid = options.sessionId;
  return sign(claims, keys.secret, ALGORITHM);
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, message, { headers: { 'WWW-Authenticate': 'Bearer' } });
}

/**
 * Verifies signature, algorithm, expiry, issuer, audience and type; returns the user id (and, for
 * a refresh token, its session id) or throws a 401 ApiError. `allowExpired` is for logout, which
 * may name a refresh token that has already expired.
 */
export async function verifyToken(
  token: string,
  expected: TokenType,
  keys: TokenKeys,
  options: { allowExpired?: boolean } = {},
): Promise<VerifiedToken> {
  let payload: Record<string, unknown>;
  try {
    payload = await verify(token, keys.secret, {
      alg: ALGORITHM,
      iss: keys.issuer,
      aud: keys.issuer,
      exp: !options.allowExpired,
    });
  } catch (error) {
    throw unauthorized(error instanceof JwtTokenExpired ? 'Token has expired' : 'Invalid token');
  }
  // hono/jwt accepts tokens without exp; ours always carry one, so its absence means forgery or another issuer.
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number') throw unauthorized('Invalid token');
  if (payload.typ !== expected) throw unauthorized(`Invalid token: expected a ${expected} token`);
  const userId = typeof payload.sub === 'string' && /^[1-9][0-9]{0,15}$/.test(payload.sub) ? Number(payload.sub) : NaN;
  if (!Number.isSafeInteger(userId)) throw unauthorized('Invalid token');
  const issuedAt = payload.iat;
  if (expected === 'access') return { userId, issuedAt };
  // Refresh tokens from before sessions existed carry no sid: they cannot be revoked, so they are refused.
  if (typeof payload.sid !== 'string' || !SESSION_ID_PATTERN.test(payload.sid)) throw unauthorized('Invalid token');
  return { userId, issuedAt, sessionId: payload.sid };
}

export { unauthorized };
