/**
 * @module
 * /trakt/* connection endpoints (as in the API reference): auth status, authorize URL, OAuth
 * callback (GET from Trakt's redirect: the helper page, which links nothing by itself; POST with the
 * user's JWT: the only way a code is exchanged), manual refresh, disconnect, device flow.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { overBudgetResponse, userBudget } from '../budgets/middleware';
import { keyRing } from '../crypto/envelope';
import { describe, errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { syncNewConnection } from '../sync/requests';
import { requireUser } from '../users/middleware';
import { findUser } from '../users/service';
import { oauthHelperPage } from '../web/oauth-helper/page';
import { authStatusView } from './auth-status';
import { CALLBACK_PAGE_CSP, CONFIRM_PATH, outcomePage } from './callback-page';
import { readConnectionState } from './connections';
import { traktUserContext } from './context';
import { pollDeviceFlow, startDeviceFlow } from './device';
import { consumeOAuthState, createOAuthState, peekOAuthState, takeCallbackConfirmation } from './oauth-state';
import {
  type AuthenticateOutput,
  type AuthStatusOutput,
  authenticateOutput,
  authStatusOutput,
  type CallbackPostOutput,
  callbackBody,
  callbackConfirmForm,
  callbackPostOutput,
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

/** GET /trakt/refresh-token/ after Trakt refused the refresh token (invalid_grant). */
export const REFRESH_REFUSED =
  'Trakt refused the refresh token, so nothing was refreshed; authorize again at /trakt/authenticate/';

/** The confirmation form's answer (NowPlaying's callback page, src/nowplaying/, carries that form). */
const SUCCESS_MESSAGE = 'Authorization successful! You can now use Trakt endpoints.';

export const connectionRoutes = new Hono<AppEnv>()
  .get(
    '/auth-status',
    describe({
      summary: 'Is the Trakt account connected?',
      description:
        'With `reason: "app_rejected"` Trakt rejects the app behind the connection (deleted, or its client id is no ' +
        'longer valid): `message` gives the way out (a new app, or importing the data export). Tokens are kept.',
      responses: { 200: { description: 'Connection status', schema: authStatusOutput } },
    }),
    requireUser,
    async (c) => {
      const row = await readConnectionState(c.var.db, c.var.userId);
      const authUrl = new URL('/trakt/authenticate/', c.req.url).toString();
      return c.json(authStatusView(row, authUrl, Date.now()) satisfies AuthStatusOutput);
    },
  )
  .get(
    '/authenticate',
    describe({
      summary: 'Get the Trakt authorization URL',
      responses: {
        200: { description: 'Authorization URL (state is single-use, valid 10 minutes)', schema: authenticateOutput },
        400: errorResponse('No Trakt client credentials'),
        429: overBudgetResponse,
      },
    }),
    requireUser,
    userBudget('authorize'),
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId);
      const client = await ctx.client();
      const { state, codeChallenge } = await createOAuthState(ctx.kv, ctx.ring, c.var.userId);
      return c.json({
        auth_url: client.authorizeUrl(state, codeChallenge),
        message: 'Visit this URL to authorize your Trakt account',
      } satisfies AuthenticateOutput);
    },
  )
  .get(
    '/oauth-callback',
    describe({
      summary: "Trakt's redirect target: a page that links nothing by itself",
      description:
        'No JWT, and whatever the headers, a GET never links an account and never reads or uses the state: it ' +
        'answers the OAuth helper page (the same document as GET /trakt/oauth-helper/). The page reads `code` and ' +
        '`state` from the address, shows the code, and offers a confirmation button once the browser is signed ' +
        'in to this API; the button POSTs them with that JWT to POST /trakt/oauth-callback/, which links only ' +
        'when the state was issued to the same user. API clients use that POST directly.',
      responses: { 200: { description: 'The helper page (HTML)', html: true } },
    }),
    // Nothing here may depend on the query: a link crafted by someone else (an <img>, a no-cors fetch) lands here
    // with the victim's code and the crafter's state, so loading the page must be inert.
    (c) => oauthHelperPage.respond(c),
  )
  .post(
    CONFIRM_PATH,
    describe({
      summary: 'Confirm linking from the callback page of the NowPlaying layer',
      description:
        'A plain HTML form post carrying the single-use confirmation token of NowPlaying’s callback page ' +
        '(GET /api/trakt/oauth-callback/). No JWT: the token is bound to the API account named on the page. The ' +
        'API’s own GET callback is the helper page, whose button POSTs /trakt/oauth-callback/ with the JWT.',
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
      // The confirmation of the form on NowPlaying's callback page; the API's own page confirms with the JWT.
      c.header('Content-Security-Policy', CALLBACK_PAGE_CSP);
      c.header('Cache-Control', 'no-store');
      try {
        const { confirmation } = c.req.valid('form');
        const confirmed = await takeCallbackConfirmation(c.env.KV, await keyRing(c.env), confirmation);
        const ctx = await traktUserContext(c.env, confirmed.userId, (p) => c.executionCtx.waitUntil(p));
        await consumeOAuthState(ctx.db, ctx.kv, confirmed);
        await saveAuthorizedTokens(
          ctx,
          await (await ctx.client()).exchangeCode(confirmed.code, confirmed.codeVerifier),
        );
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
        429: overBudgetResponse,
      },
    }),
    requireUser,
    userBudget('oauth_callback'),
    validate('json', callbackBody),
    async (c) => {
      const { code, state } = c.req.valid('json');
      const ctx = await traktUserContext(c.env, c.var.userId, (p) => c.executionCtx.waitUntil(p));
      const peeked = await peekOAuthState(ctx.kv, ctx.ring, state);
      // Checked before consuming, so another user's stray POST cannot burn the owner's state.
      if (peeked.userId !== c.var.userId)
        throw new ApiError(400, 'This state was issued to another user; start again at /trakt/authenticate/');
      await consumeOAuthState(ctx.db, ctx.kv, peeked);
      const { expiresAt } = await saveAuthorizedTokens(
        ctx,
        await (await ctx.client()).exchangeCode(code, peeked.codeVerifier),
      );
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
        200: { description: 'The new token', schema: refreshTokenOutput },
        400: errorResponse('Trakt rejected the client credentials; check your Trakt client id and secret'),
        401: errorResponse(
          'No Trakt token found, or re-authorization required (Trakt refused the refresh token: nothing was ' +
            'refreshed; `details.works_until` says how long the stored access token still serves syncs)',
        ),
        429: overBudgetResponse,
        503: errorResponse('Trakt token refresh failed recently, or is taking too long; try again shortly'),
      },
    }),
    requireUser,
    userBudget('refresh_token'),
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId, (p) => c.executionCtx.waitUntil(p));
      const token = await getAccessToken(ctx, { force: true });
      c.header('Cache-Control', 'no-store');
      if (token.reauthorizationRequiredSoon) {
        // Trakt refused the refresh token: nothing was refreshed, and only authorizing again helps. The stored
        // access token keeps serving syncs until it expires (auth-status says until when); it is not handed out here.
        throw new ApiError(401, REFRESH_REFUSED, {
          code: 'reauthorization_required',
          details: { works_until: token.expiresAt, auth_url: new URL('/trakt/authenticate/', c.req.url).toString() },
        });
      }
      return c.json<RefreshTokenOutput>({ access_token: token.accessToken, expires_at: token.expiresAt });
    },
  )
  .get(
    '/watching',
    describe({
      summary: 'What the user is watching on Trakt right now',
      responses: { 200: { description: 'Now watching', schema: watchingOutput }, 429: overBudgetResponse },
    }),
    requireUser,
    userBudget('watching'),
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
      responses: { 200: { description: 'Disconnected', schema: disconnectOutput }, 429: overBudgetResponse },
    }),
    requireUser,
    userBudget('disconnect'),
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
        429: overBudgetResponse,
      },
    }),
    requireUser,
    userBudget('device_code'),
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
      description:
        'Poll every `interval` seconds until the answer is 200 or an error. The interval is enforced here too: a ' +
        'poll sooner than `interval` seconds after the last one answers 429 without asking Trakt.',
      responses: {
        200: { description: 'Connected', schema: deviceConnectedOutput },
        202: { description: 'Still pending: the user has not entered the code yet', schema: devicePendingOutput },
        400: errorResponse('No Trakt client credentials'),
        403: errorResponse('The user denied the device authorization'),
        404: errorResponse('No device authorization in progress, or Trakt does not recognise the device code'),
        409: errorResponse('This device code was already used'),
        410: errorResponse('The device code has expired; start again with POST /trakt/device/code/'),
        429: errorResponse(
          'Polling too fast (sooner than `interval`, or Trakt said slow_down); wait the Retry-After seconds before ' +
            'polling again',
        ),
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
