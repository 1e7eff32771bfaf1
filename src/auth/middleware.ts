/**
 * @module
 * `requireUser`: the access-token gate for every protected route. Sets `userId` for handlers.
 */
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../app-env';
import { jwtSecret } from '../config';
import { unauthorized, verifyToken } from './jwt';

const BEARER = /^Bearer\s+([A-Za-z0-9_\-.=]+)\s*$/i;

export const requireUser = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header('Authorization');
  if (!header) throw unauthorized('Authentication credentials were not provided');
  const match = BEARER.exec(header);
  if (!match) throw unauthorized('Authorization header must be "Bearer <access token>"');
  c.set('userId', await verifyToken(match[1]!, 'access', jwtSecret(c.env)));
  await next();
});
