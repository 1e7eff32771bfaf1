/**
 * @module
 * /users/*: registration, JWTs (simplejwt-style `{access, refresh}`), logout, profile and stats time
 * zone (src/readmodel/stats-zone.ts), password change, account deletion and API keys. Logins and
 * password confirmations are throttled (src/auth/login-throttle.ts); each refresh token is a revocable
 * session (src/auth/sessions.ts). `/users/me/sharing` (src/sharing/routes.ts) and
 * `/users/me/webhooks` (src/webhooks/routes.ts) are mounted beside this router by src/app.ts.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../app-env';
import { tokenKeys, verifyToken } from '../auth/jwt';
import { TOO_MANY_LOGINS, TOO_MANY_REGISTRATIONS } from '../auth/login-throttle';
import { closeSession, issueTokenPair, refreshAccessToken } from '../auth/sessions';
import { keyRing } from '../crypto/envelope';
import type { Database } from '../db/client';
import { clientAddress } from '../http/client-address';
import { describe, errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { readStatsTimeZone, setStatsTimeZone } from '../readmodel/stats-zone';
import { traktCredentialsChanged } from '../trakt/connections';
import { isTraktKeyService } from '../trakt/credentials';
import { deleteAccount } from './account-deletion';
import { deleteApiKey, listApiKeys, saveApiKey } from './api-keys';
import { requireUser } from './middleware';
import {
  type AccessOutput,
  type ApiKeyOutput,
  accessOutput,
  apiKeyInput,
  apiKeyOutput,
  deleteAccountInput,
  logoutInput,
  type MeOutput,
  meOutput,
  meUpdateInput,
  passwordChangeInput,
  refreshInput,
  registerInput,
  serviceNameParam,
  type TokenPairOutput,
  tokenInput,
  tokenPairOutput,
  type UserOutput,
  userOutput,
} from './schemas';
import {
  authenticateUser,
  changePassword,
  confirmPassword,
  findUser,
  INVALID_CREDENTIALS,
  logOutEverywhere,
  REGISTRATION_CLOSED,
  registerAccount,
} from './service';

/** The signed-in user's profile: the account row and the stats time zone. */
async function profile(db: Database, userId: number): Promise<MeOutput> {
  const [user, timeZone] = await Promise.all([findUser(db, userId), readStatsTimeZone(db, userId)]);
  if (!user) throw new ApiError(401, 'User no longer exists', { headers: { 'WWW-Authenticate': 'Bearer' } });
  return { id: user.id, username: user.username, created_at: user.createdAt, time_zone: timeZone };
}

const throttled = errorResponse(`${TOO_MANY_LOGINS} (Retry-After)`);

export const usersRoutes = new Hono<AppEnv>()
  .post(
    '/register',
    describe({
      summary: 'Register an account',
      responses: {
        201: { description: 'Created', schema: userOutput },
        403: errorResponse(`${REGISTRATION_CLOSED} (REGISTRATION=closed and the database already has an account)`),
        409: errorResponse('A user with that username already exists'),
        429: errorResponse(`${TOO_MANY_REGISTRATIONS} (Retry-After)`),
      },
    }),
    validate('json', registerInput),
    async (c) => {
      const user = await registerAccount(c.env, c.var.db, c.req.valid('json'), clientAddress(c));
      return c.json(user satisfies UserOutput, 201);
    },
  )
  .post(
    '/token',
    describe({
      summary: 'Log in: get an access and a refresh JWT',
      responses: {
        200: { description: 'Token pair', schema: tokenPairOutput },
        401: errorResponse(INVALID_CREDENTIALS),
        429: throttled,
      },
    }),
    validate('json', tokenInput),
    async (c) => {
      const { username, password } = c.req.valid('json');
      const userId = await authenticateUser(c.var.db, { username, address: clientAddress(c) }, password);
      return c.json((await issueTokenPair(c.var.db, tokenKeys(c.env, c.req.url), userId)) satisfies TokenPairOutput);
    },
  )
  .post(
    '/token/refresh',
    describe({
      summary: 'Exchange a refresh JWT for a new access JWT',
      description: 'The refresh token is not rotated: reuse it until it expires or is revoked.',
      responses: {
        200: { description: 'New access token', schema: accessOutput },
        401: errorResponse('Invalid, expired or revoked refresh token'),
      },
    }),
    validate('json', refreshInput),
    async (c) => {
      const access = await refreshAccessToken(c.var.db, tokenKeys(c.env, c.req.url), c.req.valid('json').refresh);
      return c.json({ access } satisfies AccessOutput);
    },
  )
  .post(
    '/logout',
    describe({
      summary: 'Log out: revoke one refresh token, or every session',
      description:
        '`{"refresh": "…"}` revokes that refresh token (access tokens issued from it expire on their own); ' +
        '`{"all": true}` revokes every refresh and access token of the user issued so far (401 "Token has been revoked").',
      responses: {
        204: { description: 'Revoked (also when it already was)' },
        400: errorResponse('refresh is not a refresh token of the signed-in user'),
      },
    }),
    requireUser,
    validate('json', logoutInput),
    async (c) => {
      const input = c.req.valid('json');
      if (input.all) {
        await logOutEverywhere(c.var.db, c.var.userId);
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
    },
  )
  .get(
    '/me',
    describe({ summary: 'The signed-in user', responses: { 200: { description: 'Profile', schema: meOutput } } }),
    requireUser,
    async (c) => c.json((await profile(c.var.db, c.var.userId)) satisfies MeOutput),
  )
  .patch(
    '/me',
    describe({
      summary: 'Set the stats time zone',
      description:
        'The API then keeps the weekday × hour grid of GET /trakt/stats/ in this zone as plays arrive, so ' +
        '?tz=<this zone> reads a few hundred rows instead of every play. Setting it counts the grid once from ' +
        'every play. null (or UTC) clears it; other zones keep working through ?tz=, computed from the plays.',
      responses: {
        200: { description: 'Profile', schema: meOutput },
        400: errorResponse('Unknown time zone'),
      },
    }),
    requireUser,
    validate('json', meUpdateInput),
    async (c) => {
      await setStatsTimeZone(c.var.db, c.var.userId, c.req.valid('json').time_zone, Date.now());
      return c.json((await profile(c.var.db, c.var.userId)) satisfies MeOutput);
    },
  )
  .post(
    '/me/password',
    describe({
      summary: 'Change the password; revokes every refresh and access token issued before',
      responses: {
        204: { description: 'Changed; log in again to get new tokens' },
        403: errorResponse('current_password is incorrect (counts toward login throttling)'),
        429: throttled,
      },
    }),
    requireUser,
    validate('json', passwordChangeInput),
    async (c) => {
      const { current_password, new_password } = c.req.valid('json');
      await confirmPassword(
        c.var.db,
        c.var.userId,
        current_password,
        clientAddress(c),
        'current_password is incorrect',
      );
      await changePassword(c.var.db, c.var.userId, new_password);
      return c.body(null, 204);
    },
  )
  .delete(
    '/me',
    describe({
      summary: 'Delete the account and everything stored for it',
      description:
        'Revokes the Trakt token at Trakt, deletes the connection, watch history, sync state, API keys and ' +
        'sessions. Every JWT of the user fails afterwards.',
      responses: {
        204: { description: 'Deleted' },
        403: errorResponse('Password is incorrect (nothing was deleted; counts toward login throttling)'),
        429: throttled,
      },
    }),
    requireUser,
    validate('json', deleteAccountInput),
    async (c) => {
      const user = await confirmPassword(
        c.var.db,
        c.var.userId,
        c.req.valid('json').password,
        clientAddress(c),
        'Password is incorrect',
      );
      await deleteAccount(c.env, c.var.db, user, (p) => c.executionCtx.waitUntil(p));
      return c.body(null, 204);
    },
  )
  .post(
    '/api-keys',
    describe({
      summary: 'Store (or replace) credentials for a service',
      description:
        'For Trakt: `service_name: "trakt"`, `service_user_id`: the client id, `api_key`: the client secret. ' +
        'Secrets are encrypted at rest and never returned.',
      responses: {
        201: { description: 'Stored', schema: apiKeyOutput },
        200: { description: 'Replaced', schema: apiKeyOutput },
      },
    }),
    requireUser,
    validate('json', apiKeyInput),
    async (c) => {
      const input = c.req.valid('json');
      const { created, apiKey } = await saveApiKey(c.var.db, await keyRing(c.env), c.var.userId, input);
      if (isTraktKeyService(input.service_name)) await traktCredentialsChanged(c.var.db, c.var.userId, Date.now());
      return c.json(apiKey satisfies ApiKeyOutput, created ? 201 : 200);
    },
  )
  .get(
    '/api-keys',
    describe({
      summary: 'List stored credentials (without secrets)',
      responses: { 200: { description: 'Stored keys', schema: z.array(apiKeyOutput) } },
    }),
    requireUser,
    async (c) => {
      return c.json((await listApiKeys(c.var.db, c.var.userId)) satisfies ApiKeyOutput[]);
    },
  )
  .delete(
    '/api-keys/:service_name',
    describe({
      summary: 'Delete stored credentials for a service',
      responses: { 204: { description: 'Deleted' }, 404: errorResponse('No API key stored for that service') },
    }),
    requireUser,
    validate('param', serviceNameParam),
    async (c) => {
      const { service_name } = c.req.valid('param');
      if (!(await deleteApiKey(c.var.db, c.var.userId, service_name))) {
        throw new ApiError(404, `No API key stored for "${service_name}"`);
      }
      if (isTraktKeyService(service_name)) await traktCredentialsChanged(c.var.db, c.var.userId, Date.now());
      return c.body(null, 204);
    },
  );
