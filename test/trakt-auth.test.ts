import { env } from 'cloudflare:workers';
import { afterEach, assert, beforeEach, describe, expect, it } from 'vitest';
import { type AuthorizeResult, installSimulator, type Simulator } from '../simulator/support/harness';
import { sha256Hex } from '../src/crypto/bytes';
import { keyRing, open } from '../src/crypto/envelope';
import { codeChallengeOf } from '../src/trakt/oauth-state';
import { call, expectError, registerAndLogin } from './support/api';
import { api, read } from './support/client';
import { connectedUser, createTraktApp, storeTraktCredentials } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

async function userWithApp() {
  const account = await sim.createAccount({
    username: `acct_${Math.random().toString(36).slice(2, 8)}`,
    movies: 2,
    shows: 1,
  });
  await sim.setSession(account.username);
  const app = await createTraktApp(sim);
  const user = await registerAndLogin();
  await storeTraktCredentials(user.access, app);
  return { user, app, account };
}

/** Completes authorization the way every client must: POST /trakt/oauth-callback/ with the user's JWT. */
function postCallback(access: string, code: string | null, state: string | null) {
  return call('POST', '/trakt/oauth-callback/', { token: access, json: { code, state } });
}

async function authorize(access: string) {
  const auth = await read(api(access).trakt.authenticate.$get());
  expect(auth.status).toBe(200);
  return { auth, redirect: await sim.authorize(auth.body.auth_url) };
}

/** Runs `run` with the API's clock moved `seconds` ahead (the simulator keeps its own clock). */
async function afterSeconds<T>(seconds: number, run: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + seconds * 1000;
  try {
    return await run();
  } finally {
    Date.now = realNow;
  }
}

/** The code and state Trakt's redirect carries back. */
const callbackQuery = (redirect: AuthorizeResult) => ({
  query: { code: redirect.code ?? '', state: redirect.state ?? '' },
});

const ISO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('OAuth code flow', () => {
  it('connects through the POST callback; auth-status reflects before and after', async () => {
    const { user, app } = await userWithApp();
    const before = await read(api(user.access).trakt['auth-status'].$get());
    expect(before.body).toEqual({ authenticated: false, auth_url: 'http://api.test/trakt/authenticate/' });

    const { auth, redirect } = await authorize(user.access);
    expect(auth.body.message).toBe('Visit this URL to authorize your Trakt account');
    const url = new URL(auth.body.auth_url);
    expect(`${url.origin}${url.pathname}`).toBe(`${env.TRAKT_AUTH_URL}/oauth/authorize`);
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(url.searchParams.get('client_id')).toBe(app.client_id);
    expect(url.searchParams.get('redirect_uri')).toBe(env.TRAKT_REDIRECT_URI);
    const state = url.searchParams.get('state')!;
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits, base64url
    expect(state).not.toBe(String(user.id));
    const second = await read(api(user.access).trakt.authenticate.$get());
    expect(new URL(second.body.auth_url).searchParams.get('state')).not.toBe(state);

    // Trakt's redirect (the GET callback) only shows the code; linking is the user's POST with their JWT.
    const page = await call('GET', `/trakt/oauth-callback/?code=${redirect.code}&state=${redirect.state}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Type')).toMatch(/text\/html/);
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(false);
    const callback = await postCallback(user.access, redirect.code, redirect.state);
    expect(callback.status).toBe(200);
    expect(callback.body.success).toBe(true);

    const after = await read(api(user.access).trakt['auth-status'].$get());
    expect(after.body).toEqual({ authenticated: true, token_expired: false, expires_at: expect.stringMatching(ISO_Z) });
    assert(after.body.authenticated);
    expect(Date.parse(after.body.expires_at)).toBeGreaterThan(Date.now() + 3600_000);
  });

  it('connects through the POST callback with the documented answer', async () => {
    const { user } = await userWithApp();
    const { redirect } = await authorize(user.access);
    const res = await read(api(user.access).trakt['oauth-callback'].$post({ json: callbackQuery(redirect).query }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      message: 'Successfully authenticated with Trakt!',
      expires_at: expect.stringMatching(ISO_Z),
    });
    expect((await read(api(user.access).trakt['auth-status'].$get())).body.authenticated).toBe(true);
  });

  it('uses the deployment-wide client credentials when the user stored none', async () => {
    const app = await createTraktApp(sim);
    const account = await sim.createAccount({
      username: `dep_${Math.random().toString(36).slice(2, 8)}`,
      movies: 1,
      shows: 0,
    });
    await sim.setSession(account.username);
    const user = await registerAndLogin();
    const original = { id: env.TRAKT_CLIENT_ID, secret: env.TRAKT_CLIENT_SECRET };
    Object.assign(env, { TRAKT_CLIENT_ID: app.client_id, TRAKT_CLIENT_SECRET: app.client_secret });
    try {
      const { redirect } = await authorize(user.access);
      expect((await postCallback(user.access, redirect.code, redirect.state)).status).toBe(200);
    } finally {
      Object.assign(env, { TRAKT_CLIENT_ID: original.id, TRAKT_CLIENT_SECRET: original.secret });
    }
  });

  it('reports missing client credentials with the API reference message and a hint', async () => {
    const user = await registerAndLogin();
    const res = await call('GET', '/trakt/authenticate/', { token: user.access });
    expectError(res, 400, 'No Trakt client credentials');
    expect(res.body.details.hint).toMatch(/api-keys/);
  });

  it('maps a code Trakt rejects to "Invalid authorization code"', async () => {
    const { user } = await userWithApp();
    const { redirect } = await authorize(user.access);
    expectError(await postCallback(user.access, 'not-a-real-code', redirect.state), 400, 'Invalid authorization code');
  });

  it('reports a denied authorization clearly', async () => {
    const { user } = await userWithApp();
    await sim.config({ authorize_mode: 'deny' });
    const { redirect } = await authorize(user.access);
    expect(redirect.error).toBe('access_denied');
    // The page says so in a fixed text (test-e2e/oauth-helper.browser.test.ts); nothing is linked.
    expect((await call('GET', `/trakt/oauth-callback/?error=access_denied&state=${redirect.state}`)).status).toBe(200);
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(false);
  });

  it('requires a JWT everywhere except the GET callback', async () => {
    for (const [method, path] of [
      ['GET', '/trakt/auth-status/'],
      ['GET', '/trakt/authenticate/'],
      ['POST', '/trakt/oauth-callback/'],
      ['GET', '/trakt/refresh-token/'],
      ['DELETE', '/trakt/auth/'],
      ['POST', '/trakt/device/code/'],
      ['POST', '/trakt/device/token/'],
    ] as const) {
      expectError(await call(method, path, { json: method === 'POST' ? {} : undefined }), 401);
    }
  });
});

describe('PKCE (S256)', () => {
  /** The bodies the API sent to Trakt's token endpoint, read from the fetch spy that routes them to the simulator. */
  function tokenRequestBodies(): Array<Record<string, string>> {
    return sim.fetchSpy.mock.calls
      .filter(([input]) => String(input instanceof Request ? input.url : input).endsWith('/oauth/token'))
      .map(([, init]) => JSON.parse(String(init?.body)) as Record<string, string>);
  }

  it('the authorize URL carries the S256 challenge of a verifier sealed with the state', async () => {
    const { user } = await userWithApp();
    const { auth } = await authorize(user.access);
    const url = new URL(auth.body.auth_url);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    const challenge = url.searchParams.get('code_challenge')!;
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const state = url.searchParams.get('state')!;
    const hash = await sha256Hex(state);
    const sealed = await env.KV.get(`oauth_state:${hash}`);
    const binding = JSON.parse(await open(await keyRing(env), sealed!, `oauth_state:${hash}|oauth_state`));
    expect(binding.code_verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(await codeChallengeOf(binding.code_verifier)).toBe(challenge);
    expect(sealed).not.toContain(binding.code_verifier); // sealed, not stored in the clear
  });

  it('the exchange sends the verifier, and the client secret since one is stored', async () => {
    const { user, app } = await userWithApp();
    const { auth, redirect } = await authorize(user.access);
    sim.fetchSpy.mockClear();
    expect((await postCallback(user.access, redirect.code, redirect.state)).status).toBe(200);
    const [body, ...more] = tokenRequestBodies();
    expect(more).toEqual([]);
    expect(body).toMatchObject({
      grant_type: 'authorization_code',
      client_id: app.client_id,
      client_secret: app.client_secret,
    });
    expect(await codeChallengeOf(body!.code_verifier!)).toBe(
      new URL(auth.body.auth_url).searchParams.get('code_challenge'),
    );
  });

  it("a code is bound to its own authorization: it cannot be exchanged with another of the user's states", async () => {
    const { user } = await userWithApp();
    const first = await authorize(user.access);
    const second = await authorize(user.access);
    // Trakt checks the second state's verifier against the first authorization's challenge, and refuses.
    expectError(
      await postCallback(user.access, first.redirect.code, second.redirect.state),
      400,
      'Invalid authorization code',
    );
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(false);
  });
});

describe('OAuth state', () => {
  it('is single-use: a replayed callback is rejected', async () => {
    const { user } = await userWithApp();
    const { redirect } = await authorize(user.access);
    expect((await postCallback(user.access, redirect.code, redirect.state)).status).toBe(200);
    expectError(await postCallback(user.access, redirect.code, redirect.state), 400, /state/);
  });

  it("rejects another user's state on POST without burning it for its owner", async () => {
    const owner = await userWithApp();
    const { redirect } = await authorize(owner.user.access);
    const mallory = await registerAndLogin();
    expectError(
      await call('POST', '/trakt/oauth-callback/', {
        token: mallory.access,
        json: { code: redirect.code, state: redirect.state },
      }),
      400,
      /another user/,
    );
    const res = await read(
      api(owner.user.access).trakt['oauth-callback'].$post({ json: callbackQuery(redirect).query }),
    );
    expect(res.status).toBe(200);
    expect((await read(api(mallory.access).trakt['auth-status'].$get())).body.authenticated).toBe(false);
  });

  it('rejects an expired state (older than 10 minutes) even if KV still holds it', async () => {
    const { user } = await userWithApp();
    const realNow = Date.now;
    const { redirect } = await authorize(user.access);
    Date.now = () => realNow() + 11 * 60 * 1000;
    try {
      expectError(await postCallback(user.access, redirect.code, redirect.state), 400, /Invalid or expired state/);
    } finally {
      Date.now = realNow;
    }
  });

  it('rejects unknown, malformed and missing states', async () => {
    const user = await registerAndLogin();
    expectError(await postCallback(user.access, 'abc', 'A'.repeat(43)), 400, /state/);
    expectError(await postCallback(user.access, 'abc', '<script>'), 400, /state/);
    expectError(await postCallback(user.access, 'abc', null), 400, /state/);
  });
});

describe('token storage', () => {
  it('keeps no token plaintext in KV or D1, and an envelope moved to another user fails', async () => {
    const alice = await connectedUser(sim);
    const bob = await connectedUser(sim);
    const tokenTexts: string[] = [];
    const aliceToken = await read(api(alice.access).trakt['refresh-token'].$get());
    tokenTexts.push(aliceToken.body.access_token);

    const keys = await env.KV.list({ prefix: 'trakt_tokens:' });
    expect(keys.keys.length).toBeGreaterThanOrEqual(2);
    for (const { name } of keys.keys) {
      const value = (await env.KV.get(name))!;
      expect(value).toMatch(/^v1\.k2\./);
      for (const t of tokenTexts) expect(value).not.toContain(t);
    }
    const rows = await env.DB.prepare('SELECT * FROM trakt_connections').all();
    for (const t of tokenTexts) expect(JSON.stringify(rows.results)).not.toContain(t);

    // Copy Alice's sealed set over Bob's current KV key: it cannot be opened as Bob's, so Bob's connection
    // falls back to its D1 journal and keeps its own token (never Alice's).
    const aliceRow = await env.DB.prepare('SELECT token_set_id FROM trakt_connections WHERE user_id = ?')
      .bind(alice.id)
      .first<{ token_set_id: string }>();
    const bobRow = await env.DB.prepare('SELECT token_set_id FROM trakt_connections WHERE user_id = ?')
      .bind(bob.id)
      .first<{ token_set_id: string }>();
    const aliceSealed = (await env.KV.get(`trakt_tokens:${alice.id}:${aliceRow!.token_set_id}`))!;
    await env.KV.put(`trakt_tokens:${bob.id}:${bobRow!.token_set_id}`, aliceSealed);
    const res = await read(api(bob.access).trakt['refresh-token'].$get());
    expect(res.status).toBe(200);
    expect(res.body.access_token).not.toBe(aliceToken.body.access_token);
    expect((await read(api(bob.access).trakt.watching.$get())).status).toBe(200);
    expect((await read(api(bob.access).trakt['auth-status'].$get())).body.authenticated).toBe(true);
  });

  it('a token set whose key was removed is a clear 503, keeps the connection as it was, and works when the key is back', async () => {
    const user = await connectedUser(sim);
    const original = env.ENCRYPTION_KEYS;
    // Only a new key k9: every envelope sealed with k2 (KV copy and D1 journal alike) cannot be opened now.
    Object.assign(env, { ENCRYPTION_KEYS: `k9:${btoa(String.fromCharCode(...new Uint8Array(32).fill(9)))}` });
    try {
      await sim.clearRequests();
      const { getAccessToken } = await import('../src/trakt/tokens');
      const { traktUserContext } = await import('../src/trakt/context');
      const error = await getAccessToken(await traktUserContext(env, user.id)).catch((e: Error) => e);
      expect(error).toMatchObject({
        status: 503,
        code: 'encryption_key_missing',
        message: expect.stringMatching(/needs encryption key "k2", which this server no longer has/),
      });
      expect((await sim.counters())['POST /oauth/token'] ?? 0).toBe(0);
    } finally {
      Object.assign(env, { ENCRYPTION_KEYS: original });
    }
    // Not a verdict on the tokens: the connection is as it was, and the same token works again.
    expect((await read(api(user.access).trakt['auth-status'].$get())).body.authenticated).toBe(true);
    expect((await read(api(user.access).trakt.watching.$get())).status).toBe(200);
  });
});

describe('refresh', () => {
  it('rotates: the new token works and the old refresh token is dead at Trakt', async () => {
    const user = await connectedUser(sim);
    const row = await env.DB.prepare('SELECT token_set_id, token_version FROM trakt_connections WHERE user_id = ?')
      .bind(user.id)
      .first<{ token_set_id: string; token_version: number }>();
    const { keyRing, open, aadFor } = await import('../src/crypto/envelope');
    const ring = await keyRing(env);
    const oldSet = JSON.parse(
      await open(
        ring,
        (await env.KV.get(`trakt_tokens:${user.id}:${row!.token_set_id}`))!,
        aadFor(user.id, 'trakt_tokens'),
      ),
    );

    const res = await read(api(user.access).trakt['refresh-token'].$get());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ access_token: expect.any(String), expires_at: expect.stringMatching(ISO_Z) });
    expect(res.body.access_token).not.toBe(oldSet.access_token);
    expect(res.headers.get('Cache-Control')).toBe('no-store');

    // The old refresh token was spent: Trakt refuses it now.
    const reuse = await fetch(`${env.TRAKT_AUTH_URL}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        refresh_token: oldSet.refresh_token,
        client_id: user.app.client_id,
        client_secret: user.app.client_secret,
        redirect_uri: env.TRAKT_REDIRECT_URI,
        grant_type: 'refresh_token',
      }),
    });
    expect(reuse.status).toBe(400);
    expect(((await reuse.json()) as { error: string }).error).toBe('invalid_grant');

    // The new version is current; the old KV token set is left to expire (see test/trakt-connection.test.ts).
    const after = await env.DB.prepare('SELECT token_set_id, token_version FROM trakt_connections WHERE user_id = ?')
      .bind(user.id)
      .first<{ token_set_id: string; token_version: number }>();
    expect(after!.token_version).toBe(row!.token_version + 1);
    expect(after!.token_set_id).not.toBe(row!.token_set_id);
  });

  it('says "No Trakt token found" without a connection', async () => {
    const user = await registerAndLogin();
    expectError(await read(api(user.access).trakt['refresh-token'].$get()), 401, 'No Trakt token found');
  });

  it('20 concurrent callers on an expiring token cause exactly one refresh at Trakt, and all succeed', async () => {
    await sim.config({ expires_in: 30 }); // inside the 60 s minimum margin: every use wants a refresh
    const user = await connectedUser(sim);
    await sim.clearRequests();
    const { getAccessToken } = await import('../src/trakt/tokens');
    const { traktUserContext } = await import('../src/trakt/context');
    await sim.config({ expires_in: 86400 });
    // Separate contexts, as separate isolates would have: only D1 coordinates them.
    const results = await Promise.all(
      Array.from({ length: 20 }, async () =>
        getAccessToken({
          ...(await traktUserContext(env, user.id)),
          sleep: (ms) => new Promise((r) => setTimeout(r, ms / 4)),
        }),
      ),
    );
    const counters = await sim.counters();
    expect(counters['POST /oauth/token']).toBe(1);
    expect(new Set(results.map((r) => r.accessToken)).size).toBe(1);
    expect(results.every((r) => r.version === results[0]!.version)).toBe(true);
  });

  it('20 concurrent API requests on an expired token: one refresh, twenty successes', async () => {
    await sim.config({ expires_in: 30 });
    const user = await connectedUser(sim);
    await sim.config({ expires_in: 86400 });
    // The access token is now past its expiry, for the API (its clock) and for Trakt (the simulator's).
    await sim.advanceClock(31);
    const realNow = Date.now;
    Date.now = () => realNow() + 31_000;
    try {
      await sim.clearRequests();
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => read(api(user.access).trakt.watching.$get())),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect((await sim.counters())['POST /oauth/token']).toBe(1);
    } finally {
      Date.now = realNow;
    }
  });

  it('a transient failure keeps the old, still-valid token', async () => {
    // 10 min lifetime: the margin (1 min) is not yet reached, so force via API 401.
    await sim.config({ expires_in: 600 });
    const user = await connectedUser(sim);
    const before = await env.DB.prepare('SELECT token_version FROM trakt_connections WHERE user_id = ?')
      .bind(user.id)
      .first<{ token_version: number }>();
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 10, kind: '503' });
    expectError(await read(api(user.access).trakt['refresh-token'].$get()), 503, /unavailable/);
    const after = await env.DB.prepare('SELECT token_version, status FROM trakt_connections WHERE user_id = ?')
      .bind(user.id)
      .first<{ token_version: number; status: string }>();
    expect(after).toEqual({ token_version: before!.token_version, status: 'active' });
    await sim.clearFaults();
    await sim.clearRequests();
    // The old token still works, and the failed refresh backs off instead of hammering Trakt.
    expect((await read(api(user.access).trakt.watching.$get())).status).toBe(200);
    expectError(await read(api(user.access).trakt['refresh-token'].$get()), 503, /failed recently/);
    expect((await sim.counters())['POST /oauth/token'] ?? 0).toBe(0);
  });
});

describe('disconnect and device flow', () => {
  it('disconnect revokes at Trakt, deletes stored tokens and is idempotent', async () => {
    const user = await connectedUser(sim);
    await sim.clearRequests();
    const res = await read(api(user.access).trakt.auth.$delete());
    expect(res.body).toEqual({ disconnected: true, revoked_at_trakt: true });
    expect((await sim.counters())['POST /oauth/revoke']).toBe(1);
    expect((await env.KV.list({ prefix: `trakt_tokens:${user.id}:` })).keys).toEqual([]);
    expect(await env.DB.prepare('SELECT 1 FROM trakt_connections WHERE user_id = ?').bind(user.id).first()).toBeNull();
    expect((await read(api(user.access).trakt.auth.$delete())).body).toEqual({
      disconnected: true,
      revoked_at_trakt: false,
    });
    expect((await read(api(user.access).trakt['auth-status'].$get())).body.authenticated).toBe(false);
  });

  it('device flow: pending, then success', async () => {
    const { user, account } = await userWithApp();
    const code = await read(api(user.access).trakt.device.code.$post());
    expect(code.status).toBe(200);
    expect(code.body).toEqual({
      user_code: expect.any(String),
      verification_url: expect.any(String),
      expires_in: expect.any(Number),
      interval: expect.any(Number),
      api_username: user.username,
    });
    expect(JSON.stringify(code.body)).not.toMatch(/device_code/);
    const pending = await read(api(user.access).trakt.device.token.$post());
    expect(pending.status).toBe(202);
    expect(pending.body).toMatchObject({ status: 'pending' });
    await sim.approveDevice(code.body.user_code, account.username);
    await sim.advanceClock(code.body.interval + 1);
    // The API spaces polls by `interval` too (its own clock): the next poll comes after it.
    const done = await afterSeconds(code.body.interval + 1, () =>
      call('POST', '/trakt/device/token/', { token: user.access }),
    );
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ status: 'success', expires_at: expect.stringMatching(ISO_Z) });
    expect((await read(api(user.access).trakt['auth-status'].$get())).body.authenticated).toBe(true);
  });

  it('device flow: denied and expired', async () => {
    const { user } = await userWithApp();
    const denied = await read(api(user.access).trakt.device.code.$post());
    await sim.denyDevice(denied.body.user_code);
    expectError(await read(api(user.access).trakt.device.token.$post()), 403, /denied/);

    const expiring = await read(api(user.access).trakt.device.code.$post());
    await sim.expireDevice(expiring.body.user_code);
    expectError(await read(api(user.access).trakt.device.token.$post()), 410, /expired/);
    expectError(await read(api(user.access).trakt.device.token.$post()), 404, /No device authorization/);
  });
});
