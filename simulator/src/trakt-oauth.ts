/**
 * @module trakt-oauth
 * Trakt's OAuth host (`auth.trakt.tv`): authorization-code flow with single-use codes and PKCE
 * (S256: a code authorized with a challenge is exchanged only with its verifier, and then needs no
 * client secret), single-use rotating refresh tokens, revoke, and the device flow with Trakt's status codes
 * (200 token · 400 pending · 404 invalid · 409 used · 410 expired · 418 denied · 429 slow down).
 */
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { sessionAccount } from './accounts';
import type { SimEnv } from './env';
import { CODE_TTL_MS, type DeviceGrant, type SimContext, type TokenRecord, type TraktApp } from './state';
import { randomHex, randomUserCode } from './util';

export const VERIFICATION_URL = 'https://trakt.tv/activate';

const INVALID_GRANT =
  'The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the ' +
  'authorization request, or was issued to another client.';
const INVALID_CLIENT =
  'Client authentication failed due to unknown client, no client authentication included, or unsupported ' +
  'authentication method.';

const INVALID_REQUEST_REDIRECT_URI =
  'The request is missing a required parameter, includes an unsupported parameter value, or is otherwise ' +
  'malformed: redirect_uri.';

const bodySchema = z.object({
  grant_type: z.string().optional(),
  code: z.string().optional(),
  refresh_token: z.string().optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  redirect_uri: z.string().optional(),
  token: z.string().optional(),
  code_verifier: z.string().optional(),
});
type OAuthBody = z.infer<typeof bodySchema>;

/** Reads a JSON (or form-encoded) OAuth body; unknown shapes read as empty. */
async function readBody(c: Context<SimEnv>): Promise<OAuthBody> {
  const type = c.req.header('content-type') ?? '';
  let raw: unknown = {};
  try {
    raw =
      type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data')
        ? await c.req.parseBody()
        : await c.req.json();
  } catch {
    raw = {};
  }
  const parsed = bodySchema.safeParse(raw);
  return parsed.success ? parsed.data : {};
}

/** Token response body, exactly as Trakt sends it. */
export function tokenJson(record: TokenRecord) {
  return {
    access_token: record.accessToken,
    token_type: 'bearer' as const,
    expires_in: record.expiresIn,
    refresh_token: record.refreshToken,
    scope: 'public' as const,
    created_at: record.createdAt,
  };
}

/** Issues a new token set; `created_at`/`expires_in` follow the admin config unless overridden. */
export function issueTokens(
  ctx: SimContext,
  clientId: string,
  username: string,
  overrides: { expiresIn?: number; createdAt?: number } = {},
): TokenRecord {
  const { config } = ctx.state;
  const record: TokenRecord = {
    accessToken: randomHex(32),
    refreshToken: randomHex(32),
    clientId,
    username,
    createdAt:
      overrides.createdAt ?? config.created_at ?? Math.floor(ctx.now() / 1000) + config.created_at_offset_seconds,
    expiresIn: overrides.expiresIn ?? config.expires_in,
    revoked: false,
    forcedExpired: false,
    refreshUsed: false,
  };
  ctx.state.tokens.set(record.accessToken, record);
  ctx.state.refreshTokens.set(record.refreshToken, record);
  return record;
}

/** Whether an access token is currently usable. */
export function tokenActive(record: TokenRecord, now: number): boolean {
  return !record.revoked && !record.forcedExpired && now < (record.createdAt + record.expiresIn) * 1000;
}

/** base64url(SHA-256(verifier)) without padding: the S256 challenge of a PKCE verifier (RFC 7636 §4.2). */
export async function s256(verifier: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  let binary = '';
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** RFC 7636 §4.1: 43–128 characters of [A-Za-z0-9-._~]. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export function findDevice(ctx: SimContext, userCode: string): DeviceGrant | undefined {
  for (const grant of ctx.state.devices.values()) if (grant.userCode === userCode.toUpperCase()) return grant;
  return undefined;
}

export function traktOAuthRoutes(ctx: SimContext): Hono<SimEnv> {
  const app = new Hono<SimEnv>();
  const { state } = ctx;

  const client = (body: OAuthBody): TraktApp | null => {
    const found = body.client_id === undefined ? undefined : state.apps.get(body.client_id);
    return found && found.clientSecret === body.client_secret ? found : null;
  };
  const invalidClient = (c: Context<SimEnv>) =>
    c.json({ error: 'invalid_client', error_description: INVALID_CLIENT }, 401);
  const invalidGrant = (c: Context<SimEnv>) =>
    c.json({ error: 'invalid_grant', error_description: INVALID_GRANT }, 400);
  // Trakt's token contract requires redirect_uri for both grants (code exchange and refresh).
  const missingRedirectUri = (c: Context<SimEnv>) =>
    c.json({ error: 'invalid_request', error_description: INVALID_REQUEST_REDIRECT_URI }, 400);

  app.get('/authorize', (c) => {
    const {
      response_type: responseType,
      client_id: clientId,
      redirect_uri: redirectUri,
      state: stateParam,
      code_challenge: codeChallenge,
      code_challenge_method: challengeMethod,
    } = c.req.query();
    const registered = clientId === undefined ? undefined : state.apps.get(clientId);
    if (!registered) return c.json({ error: 'invalid_client', error_description: INVALID_CLIENT }, 400);
    if (redirectUri === undefined || !registered.redirectUris.includes(redirectUri)) {
      return c.json(
        { error: 'invalid_redirect_uri', error_description: 'The redirect uri included is not valid.' },
        400,
      );
    }
    if (responseType !== 'code') {
      return c.json(
        {
          error: 'unsupported_response_type',
          error_description: 'The authorization server does not support this response type.',
        },
        400,
      );
    }
    if (codeChallenge !== undefined && (challengeMethod !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(codeChallenge))) {
      return c.json(
        {
          error: 'invalid_request',
          error_description: 'Code challenge is required and code_challenge_method must be S256.',
        },
        400,
      );
    }
    const target = new URL(redirectUri);
    if (state.config.authorize_mode === 'deny') {
      target.searchParams.set('error', 'access_denied');
      target.searchParams.set('error_description', 'The resource owner or authorization server denied the request.');
    } else {
      const account = sessionAccount(state);
      if (!account)
        return c.json(
          { error: 'no_session', error_description: 'No simulator account: create one via POST /_sim/accounts.' },
          400,
        );
      const code = randomHex(32);
      state.codes.set(code, {
        code,
        clientId: registered.clientId,
        redirectUri,
        username: account.username,
        expiresAt: ctx.now() + CODE_TTL_MS,
        used: false,
        codeChallenge: codeChallenge ?? null,
      });
      target.searchParams.set('code', code);
    }
    if (stateParam !== undefined) target.searchParams.set('state', stateParam);
    return c.redirect(target.toString(), 302);
  });

  app.post('/token', async (c) => {
    const body = await readBody(c);
    if (body.grant_type === 'refresh_token' && body.refresh_token !== undefined) {
      // Counted before any check: a refresh token sent twice is a bug in the client whatever the answer.
      state.refreshTokenSends.set(body.refresh_token, (state.refreshTokenSends.get(body.refresh_token) ?? 0) + 1);
    }
    const grant =
      body.grant_type === 'authorization_code' && body.code !== undefined ? state.codes.get(body.code) : undefined;
    // With PKCE a code exchange may leave out the client secret (a public client); a secret that is sent must match.
    const pkceWithoutSecret = grant?.codeChallenge != null && body.client_secret === undefined;
    const registered = pkceWithoutSecret ? (state.apps.get(body.client_id ?? '') ?? null) : client(body);
    if (!registered) return invalidClient(c);
    const tokenGrant = body.grant_type === 'authorization_code' || body.grant_type === 'refresh_token';
    if (tokenGrant && (body.redirect_uri === undefined || body.redirect_uri === '')) return missingRedirectUri(c);
    if (body.grant_type === 'authorization_code') {
      if (
        !grant ||
        grant.used ||
        grant.clientId !== registered.clientId ||
        ctx.now() >= grant.expiresAt ||
        grant.redirectUri !== body.redirect_uri
      ) {
        return invalidGrant(c);
      }
      // PKCE: a code authorized with a challenge needs its verifier; a verifier for a code without one is refused too.
      const verifier = body.code_verifier;
      const pkceHolds =
        grant.codeChallenge === null
          ? verifier === undefined
          : verifier !== undefined && VERIFIER.test(verifier) && (await s256(verifier)) === grant.codeChallenge;
      if (!pkceHolds) return invalidGrant(c);
      grant.used = true;
      return c.json(tokenJson(issueTokens(ctx, registered.clientId, grant.username)));
    }
    if (body.grant_type === 'refresh_token') {
      const old = body.refresh_token === undefined ? undefined : state.refreshTokens.get(body.refresh_token);
      if (!old || old.refreshUsed || old.revoked || old.clientId !== registered.clientId) return invalidGrant(c);
      // Single-use rotation: the old refresh token AND the old access token stop working.
      old.refreshUsed = true;
      old.revoked = true;
      return c.json(tokenJson(issueTokens(ctx, registered.clientId, old.username)));
    }
    return c.json(
      {
        error: 'unsupported_grant_type',
        error_description: 'The authorization grant type is not supported by the authorization server.',
      },
      400,
    );
  });

  app.post('/revoke', async (c) => {
    const body = await readBody(c);
    if (!client(body)) return invalidClient(c);
    const record =
      body.token === undefined ? undefined : (state.tokens.get(body.token) ?? state.refreshTokens.get(body.token));
    if (record) {
      record.revoked = true;
      record.refreshUsed = true;
    }
    return c.json({});
  });

  app.post('/device/code', async (c) => {
    const body = await readBody(c);
    const registered = body.client_id === undefined ? undefined : state.apps.get(body.client_id);
    if (!registered) return c.json({ error: 'invalid_client', error_description: INVALID_CLIENT }, 401);
    const grant: DeviceGrant = {
      deviceCode: randomHex(32),
      userCode: randomUserCode(),
      clientId: registered.clientId,
      expiresAt: ctx.now() + state.config.device_expires_in * 1000,
      interval: state.config.device_interval,
      status: 'pending',
      username: null,
      lastPollAt: null,
    };
    state.devices.set(grant.deviceCode, grant);
    return c.json({
      device_code: grant.deviceCode,
      user_code: grant.userCode,
      verification_url: VERIFICATION_URL,
      expires_in: state.config.device_expires_in,
      interval: grant.interval,
    });
  });

  app.post('/device/token', async (c) => {
    const body = await readBody(c);
    const grant = body.code === undefined ? undefined : state.devices.get(body.code);
    if (!grant) return c.json({ error: 'invalid_code', error_description: 'Invalid device_code.' }, 404);
    const registered = client(body);
    if (!registered || registered.clientId !== grant.clientId) return invalidClient(c);
    const now = ctx.now();
    if (grant.status === 'used')
      return c.json({ error: 'already_used', error_description: 'The user already approved this code.' }, 409);
    if (now >= grant.expiresAt)
      return c.json(
        { error: 'expired_token', error_description: 'The tokens have expired, restart the process.' },
        410,
      );
    if (grant.status === 'denied')
      return c.json({ error: 'access_denied', error_description: 'The user explicitly denied this code.' }, 418);
    if (grant.lastPollAt !== null && now - grant.lastPollAt < grant.interval * 1000) {
      return c.json({ error: 'slow_down', error_description: 'Your app is polling too quickly.' }, 429);
    }
    grant.lastPollAt = now;
    if (grant.status === 'approved' && grant.username !== null) {
      grant.status = 'used';
      return c.json(tokenJson(issueTokens(ctx, grant.clientId, grant.username)));
    }
    return c.json(
      { error: 'authorization_pending', error_description: 'Waiting for the user to authorize your app.' },
      400,
    );
  });

  return app;
}
