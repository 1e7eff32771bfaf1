/**
 * @module
 * /users/*: registration, JWTs (simplejwt-style `{access, refresh}`), profile and API keys.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../app-env';
import { issueToken, verifyToken } from '../auth/jwt';
import { requireUser } from '../auth/middleware';
import { jwtSecret } from '../config';
import { keyRing } from '../crypto/envelope';
import { describe, errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { deleteApiKey, listApiKeys, saveApiKey } from './api-keys';
import {
  type AccessOutput,
  type ApiKeyOutput,
  accessOutput,
  apiKeyInput,
  apiKeyOutput,
  type MeOutput,
  meOutput,
  refreshInput,
  registerInput,
  serviceNameParam,
  type TokenPairOutput,
  tokenInput,
  tokenPairOutput,
  type UserOutput,
  userOutput,
} from './schemas';
import { authenticateUser, findUser, registerUser } from './service';

export const usersRoutes = new Hono<AppEnv>()
  .post(
    '/register',
    describe({
      summary: 'Register an account',
      responses: {
        201: { description: 'Created', schema: userOutput },
        409: errorResponse('A user with that username already exists'),
      },
    }),
    validate('json', registerInput),
    async (c) => {
      const { username, password } = c.req.valid('json');
      const user = await registerUser(c.var.db, username, password);
      return c.json(user satisfies UserOutput, 201);
    },
  )
  .post(
    '/token',
    describe({
      summary: 'Log in: get an access and a refresh JWT',
      responses: {
        200: { description: 'Token pair', schema: tokenPairOutput },
        401: errorResponse('Invalid username or password'),
      },
    }),
    validate('json', tokenInput),
    async (c) => {
      const { username, password } = c.req.valid('json');
      const secret = jwtSecret(c.env);
      const userId = await authenticateUser(c.var.db, username, password);
      return c.json({
        access: await issueToken(userId, 'access', secret),
        refresh: await issueToken(userId, 'refresh', secret),
      } satisfies TokenPairOutput);
    },
  )
  .post(
    '/token/refresh',
    describe({
      summary: 'Exchange a refresh JWT for a new access JWT',
      responses: {
        200: { description: 'New access token', schema: accessOutput },
        401: errorResponse('Invalid or expired refresh token'),
      },
    }),
    validate('json', refreshInput),
    async (c) => {
      const secret = jwtSecret(c.env);
      const userId = await verifyToken(c.req.valid('json').refresh, 'refresh', secret);
      if (!(await findUser(c.var.db, userId))) throw new ApiError(401, 'Invalid token');
      return c.json({ access: await issueToken(userId, 'access', secret) } satisfies AccessOutput);
    },
  )
  .get(
    '/me',
    describe({ summary: 'The signed-in user', responses: { 200: { description: 'Profile', schema: meOutput } } }),
    requireUser,
    async (c) => {
      const user = await findUser(c.var.db, c.var.userId);
      if (!user) throw new ApiError(401, 'User no longer exists', { headers: { 'WWW-Authenticate': 'Bearer' } });
      return c.json({ id: user.id, username: user.username, created_at: user.createdAt } satisfies MeOutput);
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
      const { created, apiKey } = await saveApiKey(c.var.db, await keyRing(c.env), c.var.userId, c.req.valid('json'));
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
      return c.body(null, 204);
    },
  );
