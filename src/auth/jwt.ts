/**
 * @module
 * Issues and checks the API's own JWTs (HS256 over JWT_SECRET, via `hono/jwt` and WebCrypto).
 * The algorithm is pinned here, never read from the token; `typ` separates access from refresh.
 */
import { sign, verify } from 'hono/jwt';
import { JwtTokenExpired } from 'hono/utils/jwt/types';
import { ACCESS_TOKEN_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS } from '../config';
import { ApiError } from '../http/errors';

const ALGORITHM = 'HS256';

export type TokenType = 'access' | 'refresh';

export type ApiClaims = { sub: string; typ: TokenType; iat: number; exp: number };

const TTL: Record<TokenType, number> = { access: ACCESS_TOKEN_TTL_SECONDS, refresh: REFRESH_TOKEN_TTL_SECONDS };

export async function issueToken(
  userId: number,
  typ: TokenType,
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<string> {
  const claims: ApiClaims = { sub: String(userId), typ, iat: nowSeconds, exp: nowSeconds + TTL[typ] };
  return sign(claims, secret, ALGORITHM);
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, message, { headers: { 'WWW-Authenticate': 'Bearer' } });
}

/** Verifies signature, algorithm, expiry and type; returns the user id or throws a 401 ApiError. */
export async function verifyToken(token: string, expected: TokenType, secret: string): Promise<number> {
  let payload: Record<string, unknown>;
  try {
    payload = await verify(token, secret, ALGORITHM);
  } catch (error) {
    throw unauthorized(error instanceof JwtTokenExpired ? 'Token has expired' : 'Invalid token');
  }
  // hono/jwt accepts tokens without exp; ours always carry one, so its absence means forgery or another issuer.
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number') throw unauthorized('Invalid token');
  if (payload.typ !== expected) throw unauthorized(`Invalid token: expected a ${expected} token`);
  const userId = typeof payload.sub === 'string' && /^[1-9][0-9]{0,15}$/.test(payload.sub) ? Number(payload.sub) : NaN;
  if (!Number.isSafeInteger(userId)) throw unauthorized('Invalid token');
  return userId;
}

export { unauthorized };
