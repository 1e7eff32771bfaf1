/**
 * @module
 * `requireUser`: the access-token gate for every protected route. Sets `userId` for handlers.
 * The token itself is stateless; one primary-key lookup makes sure its user still exists, so a
 * deleted account's access tokens stop working at once instead of at their expiry.
 */
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../app-env';
import { userExists } from '../users/service';
import { tokenKeys, unauthorized, verifyToken } from './jwt';

const BEARER = /^Bearer\s+([A-Za-z0-9_\-.=]+)\s*$/i;

export const requireUser = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header('Authorization');
  if (!header) throw unauthorized('Authentication credentials were not provided');
  const match = BEARER.exec(header);
  if (!match) throw unauthorized('Authorization header must be "Bearer <access token>"');
  const { userId } = await verifyToken(match[1]!, 'access', tokenKeys(c.env, c.req.url));
  if (!(await userExists(c.var.db, userId))) throw unauthorized('User no longer exists');
  c.set('userId', userId);
  await next();
});
