/**
 * @module
 * /trakt/* connection endpoints (as in the API reference): auth status, authorize URL, OAuth
 * callback (GET from Trakt's redirect — JSON clients are linked at once, browsers confirm on a page
 * first —, the browser's confirmation POST, POST from scripts), manual refresh, disconnect, device flow.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { keyRing } from '../crypto/envelope';
import { describe, errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { syncNewConnection } from '../sync/requests';
import { requireUser } from '../users/middleware';
import { findUser } from '../users/service';
import { CALLBACK_PAGE_CSP, CONFIRM_PATH, confirmPage, outcomePage } from './callback-page';
import { connectionView, readConnectionState } from './connections';
import { traktUserContext } from './context';
import { pollDeviceFlow, startDeviceFlow } from './device';
import {
  consumeOAuthState,
  createCallbackConfirmation,
  createOAuthState,
  peekOAuthState,
  takeCallbackConfirmation,
} from './oauth-state';
import {
  type AuthenticateOutput,
  type AuthStatusOutput,
  authenticateOutput,
  authStatusOutput,
  type CallbackGetOutput,
  type CallbackPostOutput,
  callbackBody,
  callbackConfirmForm,
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
import { disconnect, getAccessToken, saveAuthorizedTokens, withAccessToken } from './tokens';

const SUCCESS_MESSAGE = 'Authorization successful! You can now use Trakt endpoints.';

/**
 * What the callback says for an `error` parameter from Trakt: fixed texts per RFC 6749 error code,
 * never the parameter itself (it comes from whoever crafted the link).
 */
const OAUTH_ERROR_MESSAGES: Record<string, string> = {
  access_denied: 'Authorization was denied on Trakt; nothing was connected',
  temporarily_unavailable: 'Trakt is temporarily unavailable; nothing was connected. Try again later',
  server_error: 'Trakt had an error; nothing was connected. Try again later',
};
const OTHER_OAUTH_ERROR =
  'Trakt did not authorize the request; nothing was connected. Start again at /trakt/authenticate/';

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
      const view = connectionView(await readConnectionState(c.var.db, c.var.userId), Date.now());
      const authUrl = new URL('/trakt/authenticate/', c.req.url).toString();
      if (view.state === 'not_connected') {
        return c.json({ authenticated: false as const, auth_url: authUrl } satisfies AuthStatusOutput);
      }
      if (view.state === 'reauthorization_required') {
        return c.json({
          authenticated: false as const,
          auth_url: authUrl,
          reason: 'reauthorization_required' as const,
        } satisfies AuthStatusOutput);
      }
      if (view.worksUntil) {
        // Trakt refused the refresh token; the access token works until it expires (or Trakt rejects it).
        return c.json({
          authenticated: true as const,
          token_expired: false,
          expires_at: view.expiresAt,
          warning: 'reauthorization_required_soon' as const,
          works_until: view.worksUntil,
          auth_url: authUrl,
        } satisfies AuthStatusOutput);
      }
      if (view.credentialsRejected) {
        // Every token is kept: once the client id/secret are fixed, the next refresh restores the connection.
        if (view.tokenExpired) {
          return c.json({
            authenticated: false as const,
            auth_url: authUrl,
            reason: 'client_credentials_rejected' as const,
          } satisfies AuthStatusOutput);
        }
        return c.json({
          authenticated: true as const,
          token_expired: false,
          expires_at: view.expiresAt,
          reason: 'client_credentials_rejected' as const,
        } satisfies AuthStatusOutput);
      }
      return c.json({
        authenticated: true as const,
        token_expired: view.tokenExpired,
        expires_at: view.expiresAt,
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
        'No JWT: the state names the user. JSON clients are connected at once. Browsers (Accept: text/html) get a ' +
        'page naming the API account and a form; only its confirmation (POST /trakt/oauth-callback/confirm/) ' +
        'links the account.',
      responses: {
        200: {
          description: 'Connected (JSON), or the confirmation page (HTML)',
          schema: callbackGetOutput,
          html: true,
        },
        400: errorResponse('Invalid authorization code, invalid state, or an error from Trakt'),
      },
    }),
    validate('query', callbackQuery),
    async (c) => {
      // No JWT here: Trakt's redirect carries only code and state, and the state names the user.
      const query = c.req.valid('query');
      const html = wantsHtml(c.req.header('Accept'));
      const fail = (message: string) => {
        if (!html) throw new ApiError(400, message);
        c.header('Content-Security-Policy', CALLBACK_PAGE_CSP);
        return c.html(outcomePage({ ok: false, message }), 400);
      };
      try {
        if (query.error) return fail(OAUTH_ERROR_MESSAGES[query.error] ?? OTHER_OAUTH_ERROR);
        if (!query.state) return fail('The state parameter is required');
        if (!query.code) return fail('The code parameter is required');
        const peeked = await peekOAuthState(c.env.KV, await keyRing(c.env), query.state);
        if (html) {
          // A browser never links silently: whoever sent this link may not be the person approving it.
          const user = await findUser(c.var.db, peeked.userId);
          if (!user) return fail('Invalid or expired state; start again at /trakt/authenticate/');
          const confirmation = await createCallbackConfirmation(c.env.KV, await keyRing(c.env), peeked, query.code);
          c.header('Content-Security-Policy', CALLBACK_PAGE_CSP);
          c.header('Cache-Control', 'no-store');
          return c.html(confirmPage({ apiUsername: user.username, confirmation, action: `/trakt${CONFIRM_PATH}/` }));
        }
        const ctx = await traktUserContext(c.env, peeked.userId, (p) => c.executionCtx.waitUntil(p));
        await consumeOAuthState(ctx.db, ctx.kv, peeked);
        await saveAuthorizedTokens(ctx, await (await ctx.client()).exchangeCode(query.code));
        await syncNewConnection(c.env, peeked.userId, Date.now());
      } catch (error) {
        if (html && error instanceof ApiError && error.status === 400) return fail(error.message);
        throw error;
      }
      return c.json({ message: SUCCESS_MESSAGE, status: 'success' as const } satisfies CallbackGetOutput);
    },
  )
  .post(
    CONFIRM_PATH,
    describe({
      summary: 'Confirm linking from the browser callback page',
      description:
        'A plain HTML form post carrying the single-use confirmation token of the callback page. No JWT: the token ' +
        'is bound to the API account named on the page.',
      responses: {
        200: { description: 'Connected (HTML page)', html: true },
        400: {
          description: 'Invalid, expired or used confirmation, or a code Trakt rejects (HTML page)',
          html: true,
        },
      },
    }),
    validate('form', callbackConfirmForm),
    async (c) => {
      // The browser's confirmation: the only way a GET callback seen by a browser links an account.
      c.header('Content-Security-Policy', CALLBACK_PAGE_CSP);
      c.header('Cache-Control', 'no-store');
      try {
        const { confirmation } = c.req.valid('form');
        const confirmed = await takeCallbackConfirmation(c.env.KV, await keyRing(c.env), confirmation);
        const ctx = await traktUserContext(c.env, confirmed.userId, (p) => c.executionCtx.waitUntil(p));
        await consumeOAuthState(ctx.db, ctx.kv, confirmed);
        await saveAuthorizedTokens(ctx, await (await ctx.client()).exchangeCode(confirmed.code));
        await syncNewConnection(c.env, confirmed.userId, Date.now());
      } catch (error) {
        if (error instanceof ApiError && error.status < 500) {
          return c.html(outcomePage({ ok: false, message: error.message }), 400);
        }
        throw error;
      }
      return c.html(outcomePage({ ok: true, message: SUCCESS_MESSAGE }));
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
      await syncNewConnection(c.env, c.var.userId, Date.now());
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
        200: {
          description:
            'The new token (or, with `warning: reauthorization_required_soon`, the last one Trakt will honour)',
          schema: refreshTokenOutput,
        },
        400: errorResponse('Trakt rejected the client credentials; check your Trakt client id and secret'),
        401: errorResponse('No Trakt token found, or re-authorization required'),
        503: errorResponse('Trakt token refresh failed recently, or is taking too long; try again shortly'),
      },
    }),
    requireUser,
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId, (p) => c.executionCtx.waitUntil(p));
      const token = await getAccessToken(ctx, { force: true });
      c.header('Cache-Control', 'no-store');
      if (token.reauthorizationRequiredSoon) {
        // Trakt refused the refresh token: this is the last access token, valid until it expires.
        return c.json({
          access_token: token.accessToken,
          expires_at: token.expiresAt,
          warning: 'reauthorization_required_soon' as const,
        } satisfies RefreshTokenOutput);
      }
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
      description:
        'Takes the refresh lease first, so no refresh can run alongside; then revokes at Trakt and removes every ' +
        'stored token set.',
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
      const user = await findUser(c.var.db, c.var.userId);
      // Says which API account the Trakt account will be linked to, as the browser callback does.
      return c.json({
        ...(await startDeviceFlow(ctx)),
        api_username: user?.username ?? '',
      } satisfies DeviceCodeOutput);
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
      if (result.status === 'success') await syncNewConnection(c.env, c.var.userId, Date.now());
      return c.json(result, result.status === 'pending' ? 202 : 200);
    },
  );
