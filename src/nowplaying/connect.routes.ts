/**
 * @module
 * `/api/trakt/*` connection endpoints for NowPlaying's clients: auth status, the authorize URL, and the
 * OAuth callback, over the API's OAuth state (src/trakt/oauth-state.ts) and token store
 * (src/trakt/tokens.ts). The security rules are the API's:
 * - the state stays random (256 bits), bound to the user it was issued to, valid 10 minutes, single-use;
 * - a POST carries the bearer JWT, which is what proves the caller. Its `state` is the state Trakt echoed
 *   (the setup script, the helper page), or NowPlaying's web app's numeric user id, or nothing. An id is
 *   accepted only when it is the caller's own, and then stands for the caller's newest pending state
 *   (issued by this layer's authenticate); any other id is a 400 and nothing is linked or consumed;
 * - a GET never links an account, whatever its headers: it shows Trakt's code (for NowPlaying's dialog
 *   and script) and the API's browser confirmation form, whose POST links.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { overBudgetResponse, userBudget } from '../budgets/middleware';
import { keyRing } from '../crypto/envelope';
import { errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { syncNewConnection } from '../sync/requests';
import { authStatusView } from '../trakt/auth-status';
import { CALLBACK_PAGE_CSP, CONFIRM_PATH, confirmPage, oauthErrorMessage, outcomePage } from '../trakt/callback-page';
import { readConnectionState } from '../trakt/connections';
import { traktUserContext } from '../trakt/context';
import {
  consumeOAuthState,
  createCallbackConfirmation,
  createIndexedOAuthState,
  INVALID_STATE,
  newestPendingOAuthState,
  type PeekedState,
  peekOAuthState,
  pendingCodeVerifier,
} from '../trakt/oauth-state';
import { authStatusOutput } from '../trakt/schemas';
import { saveAuthorizedTokens } from '../trakt/tokens';
import { requireUser } from '../users/middleware';
import { findUser } from '../users/service';
import { npDescribe } from './describe';
import { NOWPLAYING_BASE } from './errors';
import { npAuthenticateOutput, npCallbackBody, npCallbackOutput, npCallbackQuery } from './schemas';

export const INVALID_STATE_PARAMETER = 'Invalid state parameter';
export const NO_PENDING_AUTHORIZATION =
  'No Trakt authorization in progress (or it expired); click Connect again to start a new one';
export const SUCCESS_MESSAGE = 'Successfully authenticated with Trakt!';

/** What a POST's `state` stands for: the caller's newest pending state, or a state string to check. */
export type StateClaim = { kind: 'own' } | { kind: 'state'; state: string } | { kind: 'other_user' };

/**
 * Reads the `state` of a POST callback (pure). Absent, empty, or the caller's own id as a number or a
 * string of digits: the caller's newest pending state. Any other whole number: another user's id.
 * Anything else is a state as Trakt echoed it.
 */
export function claimOf(state: string | number | null | undefined, userId: number): StateClaim {
  if (state === undefined || state === null || (typeof state === 'string' && state.trim() === ''))
    return { kind: 'own' };
  if (typeof state === 'number') return state === userId ? { kind: 'own' } : { kind: 'other_user' };
  const text = state.trim();
  if (/^[0-9]{1,16}$/.test(text)) return Number(text) === userId ? { kind: 'own' } : { kind: 'other_user' };
  return { kind: 'state', state: text };
}

const authorizeUrlOf = (requestUrl: string) => new URL(`${NOWPLAYING_BASE}/trakt/authenticate/`, requestUrl).toString();

export const npConnectRoutes = new Hono<AppEnv>()
  .get(
    '/auth-status',
    npDescribe({
      summary: 'NowPlaying: is Trakt connected?',
      description: 'The API’s own rules and answer (GET /trakt/auth-status/), with this layer’s authorize URL.',
      responses: { 200: { description: 'Connection status', schema: authStatusOutput } },
    }),
    requireUser,
    async (c) => {
      const row = await readConnectionState(c.var.db, c.var.userId);
      return c.json(authStatusView(row, authorizeUrlOf(c.req.url), Date.now()));
    },
  )
  .get(
    '/authenticate',
    npDescribe({
      summary: 'NowPlaying: the Trakt authorization URL',
      description:
        'Its state is random, bound to you, single-use and valid 10 minutes. NowPlaying’s web app later posts the ' +
        'code with your user id instead of this state: the POST callback then uses your newest pending state.',
      responses: {
        200: { description: 'Authorization URL', schema: npAuthenticateOutput },
        400: errorResponse('No Trakt client credentials'),
        429: overBudgetResponse,
      },
    }),
    requireUser,
    userBudget('authorize'),
    async (c) => {
      const ctx = await traktUserContext(c.env, c.var.userId);
      const client = await ctx.client();
      const { state, codeChallenge } = await createIndexedOAuthState(ctx.db, ctx.kv, ctx.ring, c.var.userId);
      return c.json({
        auth_url: client.authorizeUrl(state, codeChallenge),
        redirect_uri: c.env.TRAKT_REDIRECT_URI,
        message: 'Visit this URL to authorize your Trakt account',
      });
    },
  )
  .get(
    '/oauth-callback',
    npDescribe({
      summary: 'NowPlaying: the callback page (never links)',
      description:
        'Shows Trakt’s code, to paste into NowPlaying’s Connect dialog (or this page’s address into its setup ' +
        'script), and the API’s confirmation form naming the API account, whose POST ' +
        `(/trakt${CONFIRM_PATH}/) links. A GET alone links nothing, whatever its headers.`,
      responses: {
        200: { description: 'The code and the confirmation form', html: true },
        400: { description: 'An error from Trakt, or a missing, invalid or expired state', html: true },
      },
    }),
    validate('query', npCallbackQuery),
    async (c) => {
      const query = c.req.valid('query');
      c.header('Content-Security-Policy', CALLBACK_PAGE_CSP);
      c.header('Cache-Control', 'no-store');
      const fail = (message: string) => c.html(outcomePage({ ok: false, message }), 400);
      if (query.error) return fail(oauthErrorMessage(query.error));
      if (!query.state) return fail('The state parameter is required');
      if (!query.code) return fail('The code parameter is required');
      const ring = await keyRing(c.env);
      let peeked: { userId: number; hash: string };
      try {
        peeked = await peekOAuthState(c.env.KV, ring, query.state);
      } catch (error) {
        if (error instanceof ApiError && error.status === 400) return fail(error.message);
        throw error;
      }
      const user = await findUser(c.var.db, peeked.userId);
      if (!user) return fail(INVALID_STATE);
      const confirmation = await createCallbackConfirmation(c.env.KV, ring, peeked, query.code);
      return c.html(
        confirmPage({
          apiUsername: user.username,
          confirmation,
          action: `/trakt${CONFIRM_PATH}/`,
          code: query.code,
        }),
      );
    },
  )
  .post(
    '/oauth-callback',
    npDescribe({
      summary: 'NowPlaying: complete the connection with Trakt’s code',
      description:
        '`state`: the state from the redirect (setup script, helper page), or your own user id as NowPlaying’s ' +
        'web app sends it, or null: both then use your newest pending state from GET /api/trakt/authenticate/. ' +
        'Another user’s id is refused (400) and nothing is linked.',
      responses: {
        200: { description: 'Connected', schema: npCallbackOutput },
        400: errorResponse(
          `Authorization code is required; ${INVALID_STATE_PARAMETER}; no authorization in progress; an ` +
            'invalid, expired or used state; or a code Trakt rejects',
        ),
        429: overBudgetResponse,
      },
    }),
    requireUser,
    userBudget('oauth_callback'),
    validate('json', npCallbackBody),
    async (c) => {
      const { code, state } = c.req.valid('json');
      const claim = claimOf(state, c.var.userId);
      if (claim.kind === 'other_user') throw new ApiError(400, INVALID_STATE_PARAMETER);
      const ctx = await traktUserContext(c.env, c.var.userId, (p) => c.executionCtx.waitUntil(p));
      let pending: PeekedState | undefined;
      if (claim.kind === 'own') {
        const newest = await newestPendingOAuthState(ctx.db, c.var.userId);
        if (!newest) throw new ApiError(400, NO_PENDING_AUTHORIZATION);
        // The PKCE verifier sealed with it (read before consuming, which deletes the binding).
        const codeVerifier = await pendingCodeVerifier(ctx.kv, ctx.ring, newest.hash);
        pending = { ...newest, ...(codeVerifier ? { codeVerifier } : {}) };
      } else {
        pending = await peekOAuthState(ctx.kv, ctx.ring, claim.state);
        // Checked before consuming, so another user's stray POST cannot burn the owner's state.
        if (pending.userId !== c.var.userId) throw new ApiError(400, INVALID_STATE_PARAMETER);
      }
      await consumeOAuthState(ctx.db, ctx.kv, pending);
      const { expiresAt } = await saveAuthorizedTokens(
        ctx,
        await (await ctx.client()).exchangeCode(code, pending.codeVerifier),
      );
      // A new connection's first sync is queued at once (not at its fan-out phase).
      await syncNewConnection(c.env, c.var.userId, Date.now());
      return c.json({ success: true as const, message: SUCCESS_MESSAGE, expires_at: expiresAt });
    },
  );
