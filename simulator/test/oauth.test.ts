/** Simulator: Trakt OAuth (authorization code, rotating refresh, revoke, device flow). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AppCredentials,
  installSimulator,
  SIM_DEFAULT_REDIRECT_URI,
  SIM_TRAKT_AUTH_URL,
  type Simulator,
  type TokenSet,
} from '../support/harness';

let sim: Simulator;
let app: AppCredentials;
/** The simulator's clock is frozen here (advanced only by `advanceClock`), so times are exact. */
const NOW_MS = Date.parse('2026-09-01T12:00:00.000Z');
const NOW_SECONDS = NOW_MS / 1000;

beforeEach(async () => {
  sim = installSimulator({ now: () => NOW_MS });
  app = await sim.createApp();
  await sim.createAccount({ username: 'alice', movies: 3, shows: 1 });
});
afterEach(() => {
  vi.restoreAllMocks();
});

function authorizeUrl(overrides: Record<string, string> = {}): string {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: app.client_id,
    redirect_uri: SIM_DEFAULT_REDIRECT_URI,
    state: 'xyz',
    ...overrides,
  });
  return `${SIM_TRAKT_AUTH_URL}/oauth/authorize?${params}`;
}

function postJson(path: string, body: unknown): Promise<Response> {
  return fetch(`${SIM_TRAKT_AUTH_URL}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function exchange(code: string): Promise<Response> {
  return postJson('/oauth/token', {
    code,
    client_id: app.client_id,
    client_secret: app.client_secret,
    redirect_uri: SIM_DEFAULT_REDIRECT_URI,
    grant_type: 'authorization_code',
  });
}

async function refresh(refreshToken: string): Promise<Response> {
  return postJson('/oauth/token', {
    refresh_token: refreshToken,
    client_id: app.client_id,
    client_secret: app.client_secret,
    redirect_uri: SIM_DEFAULT_REDIRECT_URI,
    grant_type: 'refresh_token',
  });
}

async function settingsStatus(token: string): Promise<number> {
  const response = await sim.trakt('/users/settings', { accessToken: token, clientId: app.client_id });
  return response.status;
}

describe('PKCE (S256)', () => {
  const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'; // RFC 7636 appendix B
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
  const pkceUrl = () => authorizeUrl({ code_challenge: challenge, code_challenge_method: 'S256' });
  const exchangeWith = (code: string, extra: Record<string, string | undefined>) =>
    postJson('/oauth/token', {
      code,
      client_id: app.client_id,
      redirect_uri: SIM_DEFAULT_REDIRECT_URI,
      grant_type: 'authorization_code',
      ...extra,
    });

  it('exchanges a code authorized with a challenge only with its verifier', async () => {
    const { code } = await sim.authorize(pkceUrl());
    for (const wrong of [undefined, 'x'.repeat(43), `${verifier}x`]) {
      const refused = await exchangeWith(code!, { client_secret: app.client_secret, code_verifier: wrong });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');
    }
    const ok = await exchangeWith(code!, { client_secret: app.client_secret, code_verifier: verifier });
    expect(ok.status).toBe(200);
  });

  it('needs no client secret with a verifier, but refuses a wrong one that is sent', async () => {
    const first = await sim.authorize(pkceUrl());
    const wrongSecret = await exchangeWith(first.code!, { client_secret: 'nope', code_verifier: verifier });
    expect(wrongSecret.status).toBe(401);
    expect((await exchangeWith(first.code!, { code_verifier: verifier })).status).toBe(200);
    // Without PKCE the secret stays required.
    const plain = await sim.authorize(authorizeUrl());
    expect((await exchangeWith(plain.code!, {})).status).toBe(401);
    expect(
      (await exchangeWith(plain.code!, { client_secret: app.client_secret, code_verifier: verifier })).status,
    ).toBe(400);
  });

  it('refuses challenge methods other than S256', async () => {
    const plain = await sim.authorize(authorizeUrl({ code_challenge: challenge, code_challenge_method: 'plain' }));
    expect(plain.status).toBe(400);
    expect(plain.code).toBeNull();
  });
});

describe('authorization code flow', () => {
  it('redirects with code and state, exchanges the code once, and the token works', async () => {
    const redirect = await sim.authorize(authorizeUrl());
    expect(redirect.status).toBe(302);
    expect(redirect.location?.startsWith(`${SIM_DEFAULT_REDIRECT_URI}?`)).toBe(true);
    expect(redirect.state).toBe('xyz');
    expect(redirect.code).toMatch(/^[0-9a-f]{64}$/);

    const first = await exchange(redirect.code ?? '');
    expect(first.status).toBe(200);
    const tokens = await first.json<TokenSet>();
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 86400, scope: 'public' });
    expect(tokens.created_at).toBe(NOW_SECONDS);
    expect(tokens.access_token).not.toBe(tokens.refresh_token);

    const settings = await sim.trakt('/users/settings', { accessToken: tokens.access_token, clientId: app.client_id });
    expect(settings.status).toBe(200);
    expect(await settings.json()).toMatchObject({ user: { username: 'alice', ids: { slug: 'alice' } } });

    const reused = await exchange(redirect.code ?? '');
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('rejects unknown clients and unregistered redirect URIs with 400 JSON', async () => {
    const unknownClient = await fetch(authorizeUrl({ client_id: 'nope' }), { redirect: 'manual' });
    expect(unknownClient.status).toBe(400);
    expect(await unknownClient.json()).toMatchObject({ error: 'invalid_client' });
    const badRedirect = await fetch(authorizeUrl({ redirect_uri: 'https://evil.example/cb' }), { redirect: 'manual' });
    expect(badRedirect.status).toBe(400);
    expect(await badRedirect.json()).toMatchObject({ error: 'invalid_redirect_uri' });
  });

  it('denies in deny mode with error=access_denied and the state', async () => {
    await sim.config({ authorize_mode: 'deny' });
    const redirect = await sim.authorize(authorizeUrl());
    expect(redirect.status).toBe(302);
    expect(redirect.error).toBe('access_denied');
    expect(redirect.state).toBe('xyz');
    expect(redirect.code).toBeNull();
  });

  it('authorizes as the newest account unless a session is set', async () => {
    await sim.createAccount({ username: 'bob', movies: 1, shows: 0 });
    const asBob = await (await exchange((await sim.authorize(authorizeUrl())).code ?? '')).json<TokenSet>();
    const bobSettings = await sim.trakt('/users/settings', {
      accessToken: asBob.access_token,
      clientId: app.client_id,
    });
    expect(await bobSettings.json()).toMatchObject({ user: { username: 'bob' } });

    await sim.setSession('alice');
    const asAlice = await (await exchange((await sim.authorize(authorizeUrl())).code ?? '')).json<TokenSet>();
    const aliceSettings = await sim.trakt('/users/settings', {
      accessToken: asAlice.access_token,
      clientId: app.client_id,
    });
    expect(await aliceSettings.json()).toMatchObject({ user: { username: 'alice' } });
  });

  it('expires codes after 10 minutes and checks the redirect_uri and client', async () => {
    const late = await sim.authorize(authorizeUrl());
    await sim.advanceClock(601);
    expect((await exchange(late.code ?? '')).status).toBe(400);

    const mismatch = await sim.authorize(authorizeUrl());
    const wrongRedirect = await postJson('/oauth/token', {
      code: mismatch.code,
      client_id: app.client_id,
      client_secret: app.client_secret,
      redirect_uri: 'https://other.example/cb',
      grant_type: 'authorization_code',
    });
    expect(wrongRedirect.status).toBe(400);

    const wrongSecret = await postJson('/oauth/token', {
      code: mismatch.code,
      client_id: app.client_id,
      client_secret: 'wrong',
      redirect_uri: SIM_DEFAULT_REDIRECT_URI,
      grant_type: 'authorization_code',
    });
    expect(wrongSecret.status).toBe(401);
    expect(await wrongSecret.json()).toMatchObject({ error: 'invalid_client' });
  });
});

describe('redirect_uri on the token endpoint (required by Trakt for both grants)', () => {
  it('a code exchange without redirect_uri is invalid_request and does not burn the code', async () => {
    const redirect = await sim.authorize(authorizeUrl());
    const missing = await postJson('/oauth/token', {
      code: redirect.code,
      client_id: app.client_id,
      client_secret: app.client_secret,
      grant_type: 'authorization_code',
    });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'invalid_request' });
    expect((await exchange(redirect.code ?? '')).status).toBe(200);
  });

  it('a refresh without redirect_uri is invalid_request and does not spend the refresh token', async () => {
    const original = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    const missing = await postJson('/oauth/token', {
      refresh_token: original.refresh_token,
      client_id: app.client_id,
      client_secret: app.client_secret,
      grant_type: 'refresh_token',
    });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'invalid_request' });
    expect(await settingsStatus(original.access_token)).toBe(200);
    expect((await refresh(original.refresh_token)).status).toBe(200);
  });
});

describe('refresh tokens', () => {
  it('a refresh with a wrong client secret is 401 invalid_client and leaves the token set usable', async () => {
    const original = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    const wrongSecret = await postJson('/oauth/token', {
      refresh_token: original.refresh_token,
      client_id: app.client_id,
      client_secret: 'not-the-secret',
      redirect_uri: SIM_DEFAULT_REDIRECT_URI,
      grant_type: 'refresh_token',
    });
    expect(wrongSecret.status).toBe(401);
    expect(await wrongSecret.json()).toMatchObject({ error: 'invalid_client' });
    expect(await settingsStatus(original.access_token)).toBe(200);
    expect((await refresh(original.refresh_token)).status).toBe(200);
  });

  it("a refresh token of another app is invalid_grant, even with that app's valid credentials", async () => {
    const other = await sim.createApp();
    const original = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    const foreign = await postJson('/oauth/token', {
      refresh_token: original.refresh_token,
      client_id: other.client_id,
      client_secret: other.client_secret,
      redirect_uri: SIM_DEFAULT_REDIRECT_URI,
      grant_type: 'refresh_token',
    });
    expect(foreign.status).toBe(400);
    expect(await foreign.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh(original.refresh_token)).status).toBe(200);
  });

  it('revoking all tokens of an account (the app revoked on trakt.tv) kills access and refresh tokens', async () => {
    const tokens = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    expect(await sim.revokeAccountTokens('alice')).toBe(1);
    expect(await settingsStatus(tokens.access_token)).toBe(401);
    const refused = await refresh(tokens.refresh_token);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('expiring all tokens of an account rejects each of them, while their refresh tokens still work', async () => {
    const first = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    const second = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    expect(await sim.expireAccountTokens('alice')).toBe(2);
    expect(await settingsStatus(first.access_token)).toBe(401);
    expect(await settingsStatus(second.access_token)).toBe(401);
    const renewed = await refresh(first.refresh_token);
    expect(renewed.status).toBe(200);
    expect(await settingsStatus((await renewed.json<TokenSet>()).access_token)).toBe(200);
  });

  it('rotates: new pair works, old refresh token is invalid_grant, old access token is 401', async () => {
    const original = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    const refreshed = await refresh(original.refresh_token);
    expect(refreshed.status).toBe(200);
    const next = await refreshed.json<TokenSet>();
    expect(next.access_token).not.toBe(original.access_token);
    expect(next.refresh_token).not.toBe(original.refresh_token);

    expect(await settingsStatus(next.access_token)).toBe(200);
    expect(await settingsStatus(original.access_token)).toBe(401);

    const reuse = await refresh(original.refresh_token);
    expect(reuse.status).toBe(400);
    const error = await reuse.json<{ error: string; error_description: string }>();
    expect(error.error).toBe('invalid_grant');
    expect(error.error_description.length).toBeGreaterThan(0);

    expect((await refresh(next.refresh_token)).status).toBe(200);
    expect((await refresh('unknown')).status).toBe(400);
  });

  it('honours configured expires_in and created_at offset; expired tokens get 401', async () => {
    await sim.config({ expires_in: 3600, created_at_offset_seconds: -3500 });
    const tokens = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.created_at).toBe(NOW_SECONDS - 3500);
    expect(await settingsStatus(tokens.access_token)).toBe(200);
    await sim.advanceClock(120);
    expect(await settingsStatus(tokens.access_token)).toBe(401);
  });

  it('force-expires and revokes tokens', async () => {
    const a = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    await sim.expireToken(a.access_token);
    expect(await settingsStatus(a.access_token)).toBe(401);

    const b = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    const revoke = await postJson('/oauth/revoke', {
      token: b.access_token,
      client_id: app.client_id,
      client_secret: app.client_secret,
    });
    expect(revoke.status).toBe(200);
    expect(await revoke.json()).toEqual({});
    expect(await settingsStatus(b.access_token)).toBe(401);
    expect((await refresh(b.refresh_token)).status).toBe(400);
  });
});

describe('device flow', () => {
  interface DeviceCode {
    device_code: string;
    user_code: string;
    verification_url: string;
    expires_in: number;
    interval: number;
  }
  async function deviceCode(): Promise<DeviceCode> {
    const response = await postJson('/oauth/device/code', { client_id: app.client_id });
    expect(response.status).toBe(200);
    return response.json<DeviceCode>();
  }
  const poll = (code: string) =>
    postJson('/oauth/device/token', { code, client_id: app.client_id, client_secret: app.client_secret });

  it('goes pending (400) → slow down (429) → approved (200) → already used (409)', async () => {
    const device = await deviceCode();
    expect(device).toMatchObject({ verification_url: 'https://trakt.tv/activate', expires_in: 600, interval: 5 });
    expect((await poll(device.device_code)).status).toBe(400);
    expect((await poll(device.device_code)).status).toBe(429);
    await sim.approveDevice(device.user_code);
    await sim.advanceClock(5);
    const approved = await poll(device.device_code);
    expect(approved.status).toBe(200);
    const tokens = await approved.json<TokenSet>();
    expect(await settingsStatus(tokens.access_token)).toBe(200);
    await sim.advanceClock(5);
    expect((await poll(device.device_code)).status).toBe(409);
  });

  it('answers 404 for unknown codes, 410 once expired and 418 when denied', async () => {
    expect((await poll('not-a-code')).status).toBe(404);
    const expiring = await deviceCode();
    await sim.expireDevice(expiring.user_code);
    expect((await poll(expiring.device_code)).status).toBe(410);

    const timedOut = await deviceCode();
    await sim.advanceClock(601);
    expect((await poll(timedOut.device_code)).status).toBe(410);

    const denied = await deviceCode();
    await sim.denyDevice(denied.user_code);
    expect((await poll(denied.device_code)).status).toBe(418);
  });
});
