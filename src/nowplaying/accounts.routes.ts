/**
 * @module
 * `/api/users/*` (and the sign-in at `/api/auth/login/` too, where NowPlaying's setup script posts): sign-in and
 * registration with `{access, refresh}`, token refresh, the profile and the API-key settings, mapped onto
 * the API's accounts (src/users/service.ts), sessions (src/auth/sessions.ts) and stored keys
 * (src/users/api-keys.ts). Registration and sign-in are throttled exactly as at the API's own routes.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { tokenKeys } from '../auth/jwt';
import { TOO_MANY_LOGINS, TOO_MANY_REGISTRATIONS } from '../auth/login-throttle';
import { issueTokenPair, refreshAccessToken } from '../auth/sessions';
import { keyRing } from '../crypto/envelope';
import { clientAddress } from '../http/client-address';
import { errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { type ApiKeyRecord, deleteApiKey, listApiKeyRecords, readApiKeys, saveApiKey } from '../users/api-keys';
import { requireUser } from '../users/middleware';
import type { ServiceName } from '../users/schemas';
import {
  authenticateUser,
  findUser,
  INVALID_CREDENTIALS,
  REGISTRATION_CLOSED,
  registerAccount,
} from '../users/service';
import { npDescribe } from './describe';
import {
  type NpApiKeyOutput,
  npAccessOutput,
  npApiKeyInput,
  npApiKeyOutput,
  npApiKeyPageOutput,
  npApiKeyParam,
  npApiKeyUpdateInput,
  npLoginInput,
  npProfileOutput,
  npRefreshInput,
  npRegisterInput,
  npTokenPairOutput,
} from './schemas';

const apiKeyOutput = (row: ApiKeyRecord): NpApiKeyOutput => ({
  id: row.id,
  service_name: row.serviceName,
  service_user_id: row.serviceUserId,
  created_at: row.createdAt,
  updated_at: row.updatedAt,
  last_used: null,
});

/** The user's key with this id; another user's id, or none, is a 404 (the same answer: ids are not probed). */
async function ownApiKey(db: AppEnv['Variables']['db'], userId: number, id: number): Promise<ApiKeyRecord> {
  const record = (await listApiKeyRecords(db, userId)).find((row) => row.id === id);
  if (!record) throw new ApiError(404, 'Not found.');
  return record;
}

export const npLoginRoutes = new Hono<AppEnv>().post(
  '/login',
  npDescribe({
    summary: 'NowPlaying: sign in (`/api/users/login/`, and `/api/auth/login/` for its setup script)',
    responses: {
      200: { description: 'Token pair', schema: npTokenPairOutput },
      400: errorResponse(`${INVALID_CREDENTIALS} (also as non_field_errors)`),
      429: errorResponse(`${TOO_MANY_LOGINS} (Retry-After)`),
    },
  }),
  validate('json', npLoginInput),
  async (c) => {
    const { username, password } = c.req.valid('json');
    let userId: number;
    try {
      userId = await authenticateUser(c.var.db, { username, address: clientAddress(c) }, password);
    } catch (error) {
      // Django answers wrong credentials with 400 and `non_field_errors`; a 401 would make the app refresh.
      if (error instanceof ApiError && error.status === 401)
        throw new ApiError(400, error.message, { details: [{ path: 'non_field_errors', message: error.message }] });
      throw error;
    }
    const [tokens, user] = await Promise.all([
      issueTokenPair(c.var.db, tokenKeys(c.env, c.req.url), userId),
      findUser(c.var.db, userId),
    ]);
    return c.json({ ...tokens, user: { id: userId, username: user?.username ?? username, email: null } });
  },
);

export const npAccountRoutes = new Hono<AppEnv>()
  .route('/', npLoginRoutes)
  .post(
    '/register',
    npDescribe({
      summary: 'NowPlaying: register, and get tokens',
      description:
        'NowPlaying’s sign-in page posts `{username, email, password, password2}` and stores the tokens of the ' +
        'answer. `email` is accepted and not stored; `password2`, when given, must equal `password`.',
      responses: {
        201: { description: 'Registered and signed in', schema: npTokenPairOutput },
        403: errorResponse(REGISTRATION_CLOSED),
        409: errorResponse('A user with that username already exists (also as `username: [...]`)'),
        429: errorResponse(TOO_MANY_REGISTRATIONS),
      },
    }),
    validate('json', npRegisterInput),
    async (c) => {
      const input = c.req.valid('json');
      let user: { id: number; username: string };
      try {
        user = await registerAccount(c.env, c.var.db, input, clientAddress(c));
      } catch (error) {
        // NowPlaying's sign-in page shows `username[0]`.
        if (error instanceof ApiError && error.status === 409)
          throw new ApiError(409, error.message, { details: [{ path: 'username', message: error.message }] });
        throw error;
      }
      const tokens = await issueTokenPair(c.var.db, tokenKeys(c.env, c.req.url), user.id);
      return c.json({ ...tokens, user: { id: user.id, username: user.username, email: null } }, 201);
    },
  )
  .post(
    '/token/refresh',
    npDescribe({
      summary: 'NowPlaying: a new access JWT for a refresh JWT',
      description: 'The refresh token is not rotated: the app keeps the one it has until it expires (1 day).',
      responses: {
        200: { description: 'New access token', schema: npAccessOutput },
        401: errorResponse('Invalid, expired or revoked refresh token (`code: "token_not_valid"`)'),
      },
    }),
    validate('json', npRefreshInput),
    async (c) => {
      const access = await refreshAccessToken(c.var.db, tokenKeys(c.env, c.req.url), c.req.valid('json').refresh);
      return c.json({ access });
    },
  )
  .get(
    '/profile',
    npDescribe({
      summary: 'NowPlaying: the signed-in user (its `id` is what the web app sends as OAuth state)',
      responses: { 200: { description: 'Profile', schema: npProfileOutput } },
    }),
    requireUser,
    async (c) => {
      const user = await findUser(c.var.db, c.var.userId);
      if (!user) throw new ApiError(404, 'Not found.');
      return c.json({ id: user.id, username: user.username, email: null });
    },
  )
  .get(
    '/api-keys',
    npDescribe({
      summary: 'NowPlaying: stored credentials as one page (never the secret)',
      responses: { 200: { description: 'Every stored key, on one page', schema: npApiKeyPageOutput } },
    }),
    requireUser,
    async (c) => {
      const results = (await listApiKeyRecords(c.var.db, c.var.userId)).map(apiKeyOutput);
      return c.json({ count: results.length, next: null, previous: null, results });
    },
  )
  .post(
    '/api-keys',
    npDescribe({
      summary: 'NowPlaying: store (or replace) the credentials of a service',
      description:
        'For Trakt: `service_name: "trakt"`, `service_user_id`: the client id, `api_key`: the client secret. ' +
        'One key per service: posting again replaces it (201 either way, as NowPlaying answers).',
      responses: { 201: { description: 'Stored', schema: npApiKeyOutput } },
    }),
    requireUser,
    validate('json', npApiKeyInput),
    async (c) => {
      const { record } = await saveApiKey(c.var.db, await keyRing(c.env), c.var.userId, c.req.valid('json'));
      return c.json(apiKeyOutput(record), 201);
    },
  )
  .patch(
    '/api-keys/:id',
    npDescribe({
      summary: 'NowPlaying: change a stored key (its secret, and/or its service user id)',
      responses: {
        200: { description: 'Changed', schema: npApiKeyOutput },
        404: errorResponse('No such key of yours'),
      },
    }),
    requireUser,
    validate('param', npApiKeyParam),
    validate('json', npApiKeyUpdateInput),
    async (c) => {
      const ring = await keyRing(c.env);
      const record = await ownApiKey(c.var.db, c.var.userId, c.req.valid('param').id);
      const change = c.req.valid('json');
      const service = record.serviceName as ServiceName;
      // Only a new service user id: the secret is read back to store it again under the same service.
      const secret =
        change.api_key ?? (await readApiKeys(c.var.db, ring, c.var.userId, [service]))[service]?.secret ?? '';
      if (!secret) throw new ApiError(422, 'The stored key is unreadable; send api_key');
      const saved = await saveApiKey(c.var.db, ring, c.var.userId, {
        service_name: service,
        api_key: secret,
        service_user_id: change.service_user_id ?? record.serviceUserId,
      });
      return c.json(apiKeyOutput(saved.record));
    },
  )
  .delete(
    '/api-keys/:id',
    npDescribe({
      summary: 'NowPlaying: remove a stored key',
      responses: { 204: { description: 'Removed' }, 404: errorResponse('No such key of yours') },
    }),
    requireUser,
    validate('param', npApiKeyParam),
    async (c) => {
      const record = await ownApiKey(c.var.db, c.var.userId, c.req.valid('param').id);
      await deleteApiKey(c.var.db, c.var.userId, record.serviceName);
      return c.body(null, 204);
    },
  );
