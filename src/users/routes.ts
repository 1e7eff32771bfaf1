/**
 * @module
 * /users/*: registration, JWTs (simplejwt-style `{access, refresh}`), logout, profile, password
 * change, account deletion and API keys. Logins and password confirmations are throttled
 * (src/auth/login-throttle.ts); each refresh token is a revocable session (src/auth/sessions.ts).
 */
import { type Context, Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { issueToken, tokenKeys, verifyToken } from '../auth/jwt';
import { chargeRegistration } from '../auth/login-throttle';
import { requireUser } from '../auth/middleware';
import { closeAllSessions, closeSession, isSessionActive, openSession } from '../auth/sessions';
import { registrationMode } from '../config';
import { keyRing } from '../crypto/envelope';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { deleteAccount } from './account-deletion';
import { deleteApiKey, listApiKeys, saveApiKey } from './api-keys';
import {
  apiKeyInput,
  deleteAccountInput,
  logoutInput,
  passwordChangeInput,
  refreshInput,
  registerInput,
  serviceNameParam,
  tokenInput,
} from './schemas';
import {
  authenticateUser,
  changePassword,
  confirmPassword,
  findUser,
  hasAnyUser,
  REGISTRATION_CLOSED,
  registerUser,
} from './service';

/** The client's address as Cloudflare's edge reports it (clients cannot set it); absent in plain local runs. */
const clientAddress = (c: Context<AppEnv>) => c.req.header('CF-Connecting-IP')?.trim() || undefined;

export const usersRoutes = new Hono<AppEnv>()
  .post('/register', validate('json', registerInput), async (c) => {
    const { username, password } = c.req.valid('json');
    const closed = registrationMode(c.env) === 'closed';
    // Closed registration still admits the first account of an empty database, so a fresh deployment can bootstrap.
    if (closed && (await hasAnyUser(c.var.db))) throw new ApiError(403, REGISTRATION_CLOSED);
    await chargeRegistration(c.var.db, clientAddress(c));
    const user = await registerUser(c.var.db, username, password, { onlyIfFirst: closed });
    return c.json(user, 201);
  })
  .post('/token', validate('json', tokenInput), async (c) => {
    const { username, password } = c.req.valid('json');
    const keys = tokenKeys(c.env, c.req.url);
    const userId = await authenticateUser(c.var.db, { username, address: clientAddress(c) }, password);
    const sessionId = await openSession(c.var.db, userId);
    return c.json({
      access: await issueToken(userId, 'access', keys),
      refresh: await issueToken(userId, 'refresh', keys, { sessionId }),
    });
  })
  .post('/token/refresh', validate('json', refreshInput), async (c) => {
    const keys = tokenKeys(c.env, c.req.url);
    const { userId, sessionId } = await verifyToken(c.req.valid('json').refresh, 'refresh', keys);
    // Not rotated: the same refresh token keeps working until it expires or its session is revoked.
    if (!sessionId || !(await isSessionActive(c.var.db, userId, sessionId))) {
      throw new ApiError(401, 'Token has been revoked', { headers: { 'WWW-Authenticate': 'Bearer' } });
    }
    return c.json({ access: await issueToken(userId, 'access', keys) });
  })
  .post('/logout', requireUser, validate('json', logoutInput), async (c) => {
    const input = c.req.valid('json');
    if (input.all) {
      await closeAllSessions(c.var.db, c.var.userId);
      return c.body(null, 204);
    }
    const token = await verifyToken(input.refresh!, 'refresh', tokenKeys(c.env, c.req.url), {
      allowExpired: true,
    }).catch(() => undefined);
    if (!token?.sessionId || token.userId !== c.var.userId) {
      throw new ApiError(400, 'refresh is not a refresh token of the signed-in user');
    }
    await closeSession(c.var.db, c.var.userId, token.sessionId);
    return c.body(null, 204);
  })
  .get('/me', requireUser, async (c) => {
    const user = await findUser(c.var.db, c.var.userId);
    if (!user) throw new ApiError(401, 'User no longer exists', { headers: { 'WWW-Authenticate': 'Bearer' } });
    return c.json({ id: user.id, username: user.username, created_at: user.createdAt });
  })
  .post('/me/password', requireUser, validate('json', passwordChangeInput), async (c) => {
    const { current_password, new_password } = c.req.valid('json');
    await confirmPassword(c.var.db, c.var.userId, current_password, clientAddress(c), 'current_password is incorrect');
    await changePassword(c.var.db, c.var.userId, new_password);
    return c.body(null, 204);
  })
  .delete('/me', requireUser, validate('json', deleteAccountInput), async (c) => {
    const user = await confirmPassword(
      c.var.db,
      c.var.userId,
      c.req.valid('json').password,
      clientAddress(c),
      'Password is incorrect',
    );
    await deleteAccount(c.env, c.var.db, user, (p) => c.executionCtx.waitUntil(p));
    return c.body(null, 204);
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
