/**
 * @module
 * The operator gate for `/admin/*`: a bearer `ADMIN_TOKEN` secret.
 * - Unset (or empty): every `/admin` route answers 404, as if it did not exist.
 * - Set but shorter than 32 characters: 503 naming the setting (a guessable token is no gate).
 * - Each request first passes the `ADMIN_RATE_LIMITER` binding, keyed by client IP (429 beyond
 *   30 a minute), so the token cannot be brute-forced.
 * - The presented token is compared in constant time: both sides are hashed (SHA-256) to equal
 *   lengths, then compared with `crypto.subtle.timingSafeEqual`.
 */
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../app-env';
import { optionalSecret } from '../config';
import { timingSafeEqual, utf8 } from '../crypto/bytes';
import { ApiError, errorBody } from '../http/errors';

export const MIN_ADMIN_TOKEN_LENGTH = 32;
/** Seconds a throttled caller is told to wait (the limiter's period). */
const THROTTLE_RETRY_AFTER_SECONDS = 60;
const BEARER = /^Bearer\s+(\S+)\s*$/i;

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(text)));
}

export async function adminTokenMatches(presented: string, expected: string): Promise<boolean> {
  return timingSafeEqual(await digest(presented), await digest(expected));
}

export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const expected = optionalSecret(c.env.ADMIN_TOKEN);
  if (!expected) return c.json(errorBody(`Not found: ${c.req.method} ${c.req.path}`), 404);
  if (expected.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new ApiError(
      503,
      `Server is not configured: ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`,
    );
  }
  const limiter = (c.env as { ADMIN_RATE_LIMITER?: RateLimit }).ADMIN_RATE_LIMITER;
  if (limiter) {
    const ip = c.req.header('CF-Connecting-IP') ?? 'unknown';
    const { success } = await limiter.limit({ key: `admin:${ip}` });
    if (!success) {
      throw new ApiError(429, 'Too many requests; try again later', { retryAfter: THROTTLE_RETRY_AFTER_SECONDS });
    }
  }
  const presented = BEARER.exec(c.req.header('Authorization') ?? '')?.[1];
  if (!presented || !(await adminTokenMatches(presented, expected))) {
    throw new ApiError(401, 'Invalid or missing admin token', { headers: { 'WWW-Authenticate': 'Bearer' } });
  }
  await next();
});
