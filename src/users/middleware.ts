/**
 * @module
 * `requireUser`: the access-token gate for every protected route. Sets `userId` for handlers.
 * The token itself is stateless; one primary-key lookup makes sure its user still exists, so a
 * deleted account's access tokens stop working at once instead of at their expiry.
 */
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../app-env';
import { tokenKeys, unauthorized, verifyToken } from '../auth/jwt';
import { userExists } from './service';

const BEARER = /^Bearer\s+([A-Za-z0-9_\-.=]+)\s*$/i;

export const USER_GONE = 'User no longer exists';

async function bearerUserId(c: Context<AppEnv>): Promise<number> {
  const header = c.req.header('Authorization');
  if (!header) throw unauthorized('Authentication credentials were not provided');
  const match = BEARER.exec(header);
  if (!match) throw unauthorized('Authorization header must be "Bearer <access token>"');
  const { userId } = await verifyToken(match[1]!, 'access', tokenKeys(c.env, c.req.url));
  return userId;
}

export const requireUser = createMiddleware<AppEnv>(async (c, next) => {
  const userId = await bearerUserId(c);
  if (!(await userExists(c.var.db, userId))) throw unauthorized(USER_GONE);
  c.set('userId', userId);
  await next();
});

/**
 * The access JWT alone: verifies it and sets `userId`, but does NOT check that the user still exists.
 * Only for read endpoints that confirm the user inside their own single D1 batch (they must answer
 * through src/history/conditional.ts `tagged()`/`assertUserExists`: the freshness row is read FROM
 * users, and a missing user answers 401 USER_GONE), so such a read, and a 304, stay one D1 round trip.
 */
export const requireToken = createMiddleware<AppEnv>(async (c, next) => {
  c.set('userId', await bearerUserId(c));
  await next();
});

/** Every middleware that demands the access JWT (the OpenAPI generator marks their routes as secured). */
export const AUTH_MIDDLEWARES: ReadonlySet<unknown> = new Set([requireUser, requireToken]);
