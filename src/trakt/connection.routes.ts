/**
 * @module
 * /trakt/* connection endpoints (as in the API reference): auth status, authorize URL, OAuth callback
 * (GET from Trakt's redirect, POST from scripts), manual refresh, disconnect, device flow.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { requireUser } from '../auth/middleware';
import { keyRing } from '../crypto/envelope';
import { describe, errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { CALLBACK_PAGE_CSP, callbackPage } from './callback-page';
import { traktUserContext } from './context';
import { pollDeviceFlow, startDeviceFlow } from './device';
import { consumeOAuthState, createOAuthState, peekOAuthState } from './oauth-state';
import {
  type AuthenticateOutput,
  type AuthStatusOutput,
  authenticateOutput,
  authStatusOutput,
  type CallbackGetOutput,
  type CallbackPostOutput,
  callbackBody,
  callbackGetOutput,
  callbackPostOutput,
  callbackQuery,
  type DeviceCodeOutput,
  type DeviceTokenOutput,
  type DisconnectOutput,
  deviceCodeOutput,
  deviceConnectedOutput,
  devicePendingOutput,
  disconnectOutput,
  type RefreshTokenOutput,
  refreshTokenOutput,
  type WatchingOutput,
  watchingOutput,
} from './schemas';
import { disconnect, getAccessToken, readConnection, saveAuthorizedTokens, withAccessToken } from './tokens';

const SUCCESS_MESSAGE = 'Authorization successful! You can now use Trakt endpoints.';

function wantsHtml(accept: string | undefined): boolean {
  return !!accept && /text\/html/i.test(accept) && !/application\/json/i.test(accept.split(',')[0] ?? '');
}

export const connectionRoutes = new Hono<AppEnv>()
  .get(
    '/auth-status',
    describe({
      summary: 'Is the Trakt account connected?',
      responses: { 200: { description: 'Connection status', schema: authStatusOutput } },
    }),
    requireUser,
    async (c) => {
      const row = await readConnection(c.var.db, c.var.userId);
      const authUrl = new URL('/trakt/authenticate/', c.req.url).toString();
      if (!row) return c.json({ authenticated: false as const, auth_url: authUrl } satisfies AuthStatusOutput);
      if (row.status !== 'active')
        return c.json({
          authenticated: false as const,
          auth_url: authUrl,
          reason: row.status,
        } satisfies AuthStatusOutput);
      return c.json({
        authenticated: true as const,
        token_expired: Date.parse(row.expiresAt) <= Date.now(),
        expires_at: row.expiresAt,
      } satisfies AuthStatusOutput);
    },
  )
  .get(
    '/authenticate',
    describe({
      summary: 'Get the Trakt authorization URL',
      responses: {
        200: { description: 'Authorization URL (state is single-use, valid 10 minutes)', schema: authenticateOutput },
        400: errorResponse('No Trakt client credentials'),
      },
    }),
    requireUser,
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId);
      const client = await ctx.client();
      const state = await createOAuthState(ctx.kv, ctx.ring, c.var.userId);
      return c.json({
        auth_url: client.authorizeUrl(state),
        message: 'Visit this URL to authorize your Trakt account',
      } satisfies AuthenticateOutput);
    },
  )
  .get(
    '/oauth-callback',
    describe({
      summary: "Trakt's redirect target: completes the connection",
      description:
        'No JWT: the state names the user. Browsers (Accept: text/html) get a small HTML page instead of JSON.',
      responses: {
        200: { description: 'Connected', schema: callbackGetOutput, html: true },
        400: errorResponse('Invalid authorization code, invalid state, or an error from Trakt'),
      },
    }),
    validate('query', callbackQuery),
    async (c) => {
      // No JWT here: Trakt's redirect carries only code and state, and the state names the user.
      const query = c.req.valid('query');
      const html = wantsHtml(c.req.header('Accept'));
      const fail = (status: 400, message: string) => {
        if (!html) throw new ApiError(status, message);
        c.header('Content-Security-Policy', CALLBACK_PAGE_CSP);
        return c.html(callbackPage({ ok: false, message }), status);
      };
      try {
        if (query.error) {
          return fail(
            400,
            query.error === 'access_denied'
              ? 'Authorization was denied on Trakt; nothing was connected'
              : `Trakt returned an error: ${query.error}`,
          );
        }
        if (!query.state) return fail(400, 'The state parameter is required');
        if (!query.code) return fail(400, 'The code parameter is required');
        const peeked = await peekOAuthState(c.env.KV, await keyRing(c.env), query.state);
        const ctx = await traktUserContext(c.env, peeked.userId, (p) => c.executionCtx.waitUntil(p));
        await consumeOAuthState(ctx.db, ctx.kv, peeked);
        await saveAuthorizedTokens(ctx, await (await ctx.client()).exchangeCode(query.code));
      } catch (error) {
        if (html && error instanceof ApiError && error.status === 400) return fail(400, error.message);
        throw error;
      }
      if (html) {
        c.header('Content-Security-Policy', CALLBACK_PAGE_CSP);
        return c.html(callbackPage({ ok: true, message: SUCCESS_MESSAGE }));
      }
      return c.json({ message: SUCCESS_MESSAGE, status: 'success' as const } satisfies CallbackGetOutput);
    },
  )
  .post(
    '/oauth-callback',
    describe({
      summary: 'Complete the connection with a code and state',
      responses: {
        200: { description: 'Connected', schema: callbackPostOutput },
        400: errorResponse('Invalid authorization code, or invalid or expired state'),
      },
    }),
    requireUser,
    validate('json', callbackBody),
    async (c) => {
      const { code, state } = c.req.valid('json');
      const ctx = await traktUserContext(c.env, c.var.userId, (p) => c.executionCtx.waitUntil(p));
      const peeked = await peekOAuthState(ctx.kv, ctx.ring, state);
      // Checked before consuming, so another user's stray POST cannot burn the owner's state.
      if (peeked.userId !== c.var.userId)
        throw new ApiError(400, 'This state was issued to another user; start again at /trakt/authenticate/');
      await consumeOAuthState(ctx.db, ctx.kv, peeked);
      const { expiresAt } = await saveAuthorizedTokens(ctx, await (await ctx.client()).exchangeCode(code));
      return c.json({
        success: true as const,
        message: 'Successfully authenticated with Trakt!',
        expires_at: expiresAt,
      } satisfies CallbackPostOutput);
    },
  )
  .get(
    '/refresh-token',
    describe({
      summary: 'Refresh the Trakt access token now',
      responses: {
        200: { description: 'The new token', schema: refreshTokenOutput },
        401: errorResponse('No Trakt token found, or re-authorization required'),
      },
    }),
    requireUser,
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId, (p) => c.executionCtx.waitUntil(p));
      const token = await getAccessToken(ctx, { force: true });
      c.header('Cache-Control', 'no-store');
      return c.json({ access_token: token.accessToken, expires_at: token.expiresAt } satisfies RefreshTokenOutput);
    },
  )
  .get(
    '/watching',
    describe({
      summary: 'What the user is watching on Trakt right now',
      responses: { 200: { description: 'Now watching', schema: watchingOutput } },
    }),
    requireUser,
    async (c) => {
      // Not in the API reference: what the user is watching right now, straight from Trakt (not stored).
      const ctx = await traktUserContext(c.env, c.var.userId, (p) => c.executionCtx.waitUntil(p));
      const client = await ctx.client();
      const { data } = await withAccessToken(ctx, (token) =>
        client.get<Record<string, unknown>>('/users/me/watching', token),
      );
      return c.json({ watching: data } satisfies WatchingOutput);
    },
  )
  .delete(
    '/auth',
    describe({
      summary: 'Disconnect Trakt (revokes the token at Trakt when possible)',
      responses: { 200: { description: 'Disconnected', schema: disconnectOutput } },
    }),
    requireUser,
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId);
      const { revoked } = await disconnect(ctx);
      return c.json({ disconnected: true as const, revoked_at_trakt: revoked } satisfies DisconnectOutput);
    },
  )
  .post(
    '/device/code',
    describe({
      summary: 'Start the device flow (for devices without a browser)',
      responses: {
        200: { description: 'Show user_code and verification_url to the user', schema: deviceCodeOutput },
        400: errorResponse('No Trakt client credentials'),
      },
    }),
    requireUser,
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId);
      return c.json((await startDeviceFlow(ctx)) satisfies DeviceCodeOutput);
    },
  )
  .post(
    '/device/token',
    describe({
      summary: 'Poll the device flow',
      description: 'Poll every `interval` seconds until the answer is 200 or an error.',
      responses: {
        200: { description: 'Connected', schema: deviceConnectedOutput },
        202: { description: 'Still pending: the user has not entered the code yet', schema: devicePendingOutput },
        400: errorResponse('No Trakt client credentials'),
        403: errorResponse('The user denied the device authorization'),
        404: errorResponse('No device authorization in progress, or Trakt does not recognise the device code'),
        409: errorResponse('This device code was already used'),
        410: errorResponse('The device code has expired; start again with POST /trakt/device/code/'),
        429: errorResponse('Polling too fast (slow_down); wait the Retry-After seconds before polling again'),
      },
    }),
    requireUser,
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId, (p) => c.executionCtx.waitUntil(p));
      const result = (await pollDeviceFlow(ctx)) satisfies DeviceTokenOutput;
      return c.json(result, result.status === 'pending' ? 202 : 200);
    },
  );
