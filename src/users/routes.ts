/**
 * @module
 * /users/*: registration, JWTs (simplejwt-style `{access, refresh}`), profile and API keys.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { issueToken, verifyToken } from '../auth/jwt';
import { requireUser } from '../auth/middleware';
import { jwtSecret } from '../config';
import { keyRing } from '../crypto/envelope';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { deleteApiKey, listApiKeys, saveApiKey } from './api-keys';
import { apiKeyInput, refreshInput, registerInput, serviceNameParam, tokenInput } from './schemas';
import { authenticateUser, findUser, registerUser } from './service';

export const usersRoutes = new Hono<AppEnv>()
  .post('/register', validate('json', registerInput), async (c) => {
    const { username, password } = c.req.valid('json');
    const user = await registerUser(c.var.db, username, password);
    return c.json(user, 201);
  })
  .post('/token', validate('json', tokenInput), async (c) => {
    const { username, password } = c.req.valid('json');
    const secret = jwtSecret(c.env);
    const userId = await authenticateUser(c.var.db, username, password);
    return c.json({
      access: await issueToken(userId, 'access', secret),
      refresh: await issueToken(userId, 'refresh', secret),
    });
  })
  .post('/token/refresh', validate('json', refreshInput), async (c) => {
    const secret = jwtSecret(c.env);
    const userId = await verifyToken(c.req.valid('json').refresh, 'refresh', secret);
    if (!(await findUser(c.var.db, userId))) throw new ApiError(401, 'Invalid token');
    return c.json({ access: await issueToken(userId, 'access', secret) });
  })
  .get('/me', requireUser, async (c) => {
    const user = await findUser(c.var.db, c.var.userId);
    if (!user) throw new ApiError(401, 'User no longer exists', { headers: { 'WWW-Authenticate': 'Bearer' } });
    return c.json({ id: user.id, username: user.username, created_at: user.createdAt });
  })
  .post('/api-keys', requireUser, validate('json', apiKeyInput), async (c) => {
    const { created, apiKey } = await saveApiKey(c.var.db, await keyRing(c.env), c.var.userId, c.req.valid('json'));
    return c.json(apiKey, created ? 201 : 200);
  })
  .get('/api-keys', requireUser, async (c) => {
    return c.json(await listApiKeys(c.var.db, c.var.userId));
  })
  .delete('/api-keys/:service_name', requireUser, validate('param', serviceNameParam), async (c) => {
    const { service_name } = c.req.valid('param');
    if (!(await deleteApiKey(c.var.db, c.var.userId, service_name))) {
      throw new ApiError(404, `No API key stored for "${service_name}"`);
    }
    return c.body(null, 204);
  });
