/**
 * Every error a client is told about, asserted with its exact message and status: the README's
 * troubleshooting table, the API reference's error table, and the upstream failures the API maps
 * (Trakt's 401/403/423, Cloudflare's HTML pages, the device flow's slow-down). Upstream behaviour
 * comes from the simulator (its faults and admin endpoints); a broken deployment is a per-request
 * env override (`app.request(path, init, env)`), never a mock.
 */
import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { createApp } from '../src/app';
import { BASE, call, expectError, type JsonResponse, registerAndLogin } from './support/api';
import { api, read } from './support/client';
import { connectedUser, createTraktApp, storeTraktCredentials } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

const REAUTHORIZE = 'Trakt authorization was revoked or has expired; authorize again at /trakt/authenticate/';
const INVALID_STATE = 'Invalid or expired state; start again at /trakt/authenticate/';

/** Calls a fresh app with some bindings replaced, as a deployment configured that way would answer. */
async function callWithEnv(
  overrides: Partial<Record<keyof Env, string | undefined>>,
  method: string,
  path: string,
  options: { token?: string; json?: unknown } = {},
): Promise<JsonResponse> {
  const headers = new Headers();
  if (options.token) headers.set('Authorization', `Bearer ${options.token}`);
  let body: string | undefined;
  if (options.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(options.json);
  }
  const res = await createApp().request(
    `${BASE}${path}`,
    { method, headers, body },
    { ...env, ...overrides },
    createExecutionContext(),
  );
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: res.headers.get('Content-Type')?.includes('application/json') ? JSON.parse(text) : text,
  };
}

/**
 * The documented 429 text with Trakt's wait. A Trakt 429 pauses the whole app (src/pacing/) until Retry-After plus
 * a jitter of up to 10% (at least 1 s, at most 30 s), and the answer names when that pause really ends.
 */
function expectRateLimited(res: JsonResponse, traktRetryAfter: number): void {
  const message = expectError(res, 429, /^Trakt rate limit reached; retry after \d+ seconds$/);
  const seconds = Number(/retry after (\d+) seconds/.exec(message)?.[1]);
  expect(seconds).toBeGreaterThanOrEqual(traktRetryAfter);
  expect(seconds).toBeLessThanOrEqual(traktRetryAfter + Math.min(30, Math.max(1, Math.ceil(traktRetryAfter / 10))) + 1);
  expect(res.headers.get('Retry-After')).toBe(String(seconds));
}

describe("the README's troubleshooting table and the API reference's error table", () => {
  it('No Trakt token found (401)', async () => {
    const user = await registerAndLogin();
    expectError(await read(api(user.access).trakt['fetch-latest-movies'].$get()), 401, 'No Trakt token found');
    expectError(await read(api(user.access).trakt['refresh-token'].$get()), 401, 'No Trakt token found');
  });

  it('Trakt token expired (401): Trakt rejects the token even after a refresh', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.clearRequests();
    await sim.addFault({ match: { path_prefix: '/users/me/watching' }, times: 2, kind: '401' });
    expectError(await read(api(user.access).trakt.watching.$get()), 401, 'Trakt token expired');
    const counters = await sim.counters();
    expect(counters['GET /users/:id/watching']).toBe(2); // the first token, then the refreshed one
    expect(counters['POST /oauth/token']).toBe(1);
    // The connection itself is fine: the next call works.
    expect((await read(api(user.access).trakt.watching.$get())).status).toBe(200);
  });

  it('Trakt authorization revoked or expired (401); auth-status says reauthorization_required', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.revokeAccountTokens(user.traktUsername); // the user revoked the app on trakt.tv
    expectError(await read(api(user.access).trakt['fetch-latest-movies'].$get()), 401, REAUTHORIZE);
    expect((await read(api(user.access).trakt['auth-status'].$get())).body).toMatchObject({
      authenticated: false,
      reason: 'reauthorization_required',
    });
    expectError(await read(api(user.access).trakt['refresh-token'].$get()), 401, REAUTHORIZE);
  });

  it('No Trakt client credentials (400)', async () => {
    const user = await registerAndLogin();
    const res = await call('GET', '/trakt/authenticate/', { token: user.access });
    expectError(res, 400, 'No Trakt client credentials');
    expect(res.body.details.hint).toMatch(/POST \/users\/api-keys\//);
  });

  it('Invalid authorization code (400)', async () => {
    const app = await createTraktApp(sim);
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    await sim.createAccount({ username: `code_${user.id}`, movies: 1, shows: 0 });
    await sim.setSession(`code_${user.id}`);
    const auth = await read(api(user.access).trakt.authenticate.$get());
    const { state } = await sim.authorize(auth.body.auth_url);
    expectError(
      await call('POST', '/trakt/oauth-callback/', { token: user.access, json: { code: 'never-issued', state } }),
      400,
      'Invalid authorization code',
    );
  });

  it('Invalid or expired state (400)', async () => {
    const user = await registerAndLogin();
    expectError(
      await call('POST', '/trakt/oauth-callback/', {
        token: user.access,
        json: { code: 'abc', state: 'A'.repeat(43) },
      }),
      400,
      INVALID_STATE,
    );
  });

  it("The 'trakt_id' parameter is required (400)", async () => {
    const user = await registerAndLogin();
    expectError(
      await call('GET', '/trakt/get-watched-seasons-episodes/', { token: user.access }),
      400,
      "The 'trakt_id' parameter is required",
    );
  });

  it('Invalid username or password (401)', async () => {
    const user = await registerAndLogin();
    expectError(
      await call('POST', '/users/token/', { json: { username: user.username, password: 'not the password' } }),
      401,
      'Invalid username or password',
    );
  });

  it('Stored API key for "…" needs encryption key "…", which this server no longer has (503) once its key is removed', async () => {
    const app = await createTraktApp(sim);
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app); // sealed with k2, the first (encrypting) key
    const withoutK2 = env.ENCRYPTION_KEYS.split(',').filter((entry) => !entry.startsWith('k2:'));
    expect(withoutK2).toHaveLength(1);
    expectError(
      await callWithEnv({ ENCRYPTION_KEYS: withoutK2.join(',') }, 'GET', '/trakt/authenticate/', {
        token: user.access,
      }),
      503,
      'Stored API key for "trakt" needs encryption key "k2", which this server no longer has; the operator can put ' +
        'it back into ENCRYPTION_KEYS, or save the key again with POST /users/api-keys/',
    );
  });

  it('Stored API key for "…" is unreadable (422) when it does not open with the key it names', async () => {
    const app = await createTraktApp(sim);
    const user = await registerAndLogin();
    const other = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    await storeTraktCredentials(other.access, app);
    // The other user's envelope, moved into this user's row: k2 is there, the AAD names someone else.
    await env.DB.prepare(
      `UPDATE api_keys SET encrypted_key = (SELECT encrypted_key FROM api_keys WHERE user_id = ? AND service_name = 'trakt')
       WHERE user_id = ? AND service_name = 'trakt'`,
    )
      .bind(other.id, user.id)
      .run();
    expectError(
      await read(api(user.access).trakt.authenticate.$get()),
      422,
      'Stored API key for "trakt" is unreadable; save it again with POST /users/api-keys/',
    );
  });

  it('Trakt rate limit reached; retry after N seconds (429)', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind: '429', retry_after: 90 });
    const res = await read(api(user.access).trakt['fetch-latest-movies'].$get());
    expectRateLimited(res, 90);
  });

  it('Trakt is unavailable (502/503), and a Trakt that does not answer in time (504)', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    const sync = () => read(api(user.access).trakt['fetch-latest-movies'].$get());
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 3, kind: '503' });
    expectError(await sync(), 503, 'Trakt is unavailable (HTTP 503); try again later');
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 3, kind: '500' });
    expectError(await sync(), 502, 'Trakt is unavailable (HTTP 500); try again later');
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 3, kind: 'hang' });
    expectError(await sync(), 504, 'Trakt did not respond in time; try again later');
    expect((await sync()).status).toBe(200); // every fault used up: nothing was lost
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['shorter than 32 characters', 'x'.repeat(31)],
  ])('Server is not configured (503): JWT_SECRET %s', async (_case, secret) => {
    const user = await registerAndLogin();
    const message = 'Server is not configured: JWT_SECRET must be set to at least 32 characters';
    expectError(
      await callWithEnv({ JWT_SECRET: secret }, 'POST', '/users/token/', {
        json: { username: user.username, password: user.password },
      }),
      503,
      message,
    );
    expectError(await callWithEnv({ JWT_SECRET: secret }, 'GET', '/users/me/', { token: user.access }), 503, message);
  });

  it.each([
    ['missing', undefined, 'is empty'],
    ['empty', '', 'is empty'],
    [
      'an entry without a key id',
      'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
      'has an entry without a valid key id',
    ],
    ['a key that is not base64', 'k1:not*base64', 'has key k1 that is not base64'],
    ['a key of the wrong length', 'k1:AAECAwQ=', 'has key k1 that is not 32 bytes'],
    [
      'a repeated key id',
      'k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=',
      'repeats key id k1',
    ],
  ])('Server is not configured (503): ENCRYPTION_KEYS %s', async (_case, keys, why) => {
    const user = await registerAndLogin();
    expectError(
      await callWithEnv({ ENCRYPTION_KEYS: keys }, 'POST', '/users/api-keys/', {
        token: user.access,
        json: { service_name: 'tmdb', api_key: 'k' },
      }),
      503,
      `Server is not configured: ENCRYPTION_KEYS ${why} (expected kid:base64(32 bytes)[,…])`,
    );
  });

  it('Invalid redirect URI on trakt.tv: TRAKT_REDIRECT_URI differs from the app’s redirect URI', async () => {
    const withoutSlash = env.TRAKT_REDIRECT_URI.replace(/\/$/, '');
    expect(withoutSlash).not.toBe(env.TRAKT_REDIRECT_URI);
    const app = await sim.createApp({ redirect_uris: [withoutSlash] });
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    const auth = await read(api(user.access).trakt.authenticate.$get());
    expect(auth.status).toBe(200);
    const page = await sim.instance.fetch(new Request(auth.body.auth_url, { redirect: 'manual' }));
    expect(page.status).toBe(400);
    expect(await page.json()).toEqual({
      error: 'invalid_redirect_uri',
      error_description: 'The redirect uri included is not valid.',
    });
  });
});

describe('upstream failures as seen through the API', () => {
  it('Trakt 423 (locked account)', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind: '423' });
    expectError(
      await read(api(user.access).trakt['fetch-latest-movies'].$get()),
      423,
      'Your Trakt account is locked or deactivated; contact Trakt support',
    );
    const status = await read(api(user.access).trakt['sync-status'].$get());
    expect(status.body).toMatchObject({
      in_progress: false,
      last_error: 'Your Trakt account is locked or deactivated; contact Trakt support',
    });
  });

  it('Trakt 403 (the app behind the connection is rejected)', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind: '403' });
    expectError(
      await call('GET', '/trakt/fetch-latest-movies/', { token: user.access }),
      403,
      'The Trakt app behind this connection no longer works (Trakt rejects its client id: the app was deleted or ' +
        'is no longer valid). Your tokens are kept. Either create a new Trakt app, store its client id and secret ' +
        'with POST /users/api-keys/ and authorize again at /trakt/authenticate/, or import your Trakt data export ' +
        '(Settings → Data on trakt.tv) with POST /trakt/import/, which needs no app.',
    );
  });

  it("a firewall's HTML 403 in front of Trakt (transient)", async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind: 'html_error', status: 403 });
    expectError(
      await call('GET', '/trakt/fetch-latest-movies/', { token: user.access }),
      503,
      "Trakt's firewall refused the request (HTTP 403); try again later",
    );
  });

  it.each([
    ['426', 'Trakt requires a VIP account for this request (HTTP 426); details.upgrade_url links to the upgrade page'],
    ['420', "A Trakt account limit was exceeded (HTTP 420); the account's limits are listed in its Trakt settings"],
  ] as const)('Trakt %s', async (kind, message) => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind });
    expectError(await call('GET', '/trakt/fetch-latest-movies/', { token: user.access }), 403, message);
  });

  it.each([
    [502, 502, 'Trakt is unavailable (HTTP 502); try again later'],
    [520, 502, 'Trakt is unavailable (HTTP 520); try again later'],
    [503, 503, 'Trakt is unavailable (HTTP 503); try again later'],
  ])('a Cloudflare HTML %i page becomes a JSON %i', async (upstream, status, message) => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({
      match: { path_prefix: '/sync/last_activities' },
      times: 3,
      kind: 'html_error',
      status: upstream,
    });
    const res = await read(api(user.access).trakt['fetch-latest-movies'].$get());
    expectError(res, status, message);
    expect(JSON.stringify(res.body)).not.toMatch(/<html|cloudflare/i);
  });

  it("Cloudflare's HTML rate-limit page (429, Retry-After 300, no X-Ratelimit) becomes a JSON 429", async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind: 'html_error', status: 429 });
    const res = await read(api(user.access).trakt['fetch-latest-movies'].$get());
    expectRateLimited(res, 300);
  });

  it('the device flow’s slow-down (429) when polled faster than the interval', async () => {
    const app = await createTraktApp(sim);
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    const code = await read(api(user.access).trakt.device.code.$post());
    expect(code.status).toBe(200);
    expect((await call('POST', '/trakt/device/token/', { token: user.access })).status).toBe(202);
    // Too soon for the API's own spacing: refused before Trakt is asked.
    const tooSoon = await call('POST', '/trakt/device/token/', { token: user.access });
    expectError(tooSoon, 429, 'Polling too fast; wait before polling again');
    expect(Number(tooSoon.headers.get('Retry-After'))).toBeLessThanOrEqual(code.body.interval);
    const realNow = Date.now;
    Date.now = () => realNow() + code.body.interval * 1000;
    try {
      // The API's clock says the interval passed, Trakt's does not: Trakt's slow_down, with the same message.
      const slowDown = await call('POST', '/trakt/device/token/', { token: user.access });
      expectError(slowDown, 429, 'Polling too fast; wait before polling again');
      expect(slowDown.headers.get('Retry-After')).toBe(String(code.body.interval));
    } finally {
      Date.now = realNow;
    }
    await sim.advanceClock(code.body.interval);
    Date.now = () => realNow() + 2 * code.body.interval * 1000;
    try {
      expect((await call('POST', '/trakt/device/token/', { token: user.access })).status).toBe(202);
    } finally {
      Date.now = realNow;
    }
  });
});

describe('Trakt client credentials that Trakt refuses, as seen through the API', () => {
  async function replaceTraktCredentials(access: string, app: { client_id: string; client_secret: string }) {
    const res = await read(
      api(access).users['api-keys'].$post({
        json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
      }),
    );
    expect(res.status).toBe(200);
  }

  it('a refresh with a wrong client secret is refused with a clear 400, and the connection is not lost', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await replaceTraktCredentials(user.access, { ...user.app, client_secret: 'not-the-secret' });
    await sim.clearRequests();
    expectError(
      await read(api(user.access).trakt['refresh-token'].$get()),
      400,
      'Trakt rejected the client credentials; check your Trakt client id and secret',
    );
    // The refresh, then one call without a user token: Trakt still knows the client id (401, not 403), so the
    // secret is what it refused, not the app.
    expect((await sim.requests()).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /oauth/token 401',
      'GET /sync/last_activities 401',
    ]);
    // Trakt refused the client, not the grant: the connection and its still-valid token are kept.
    expect((await read(api(user.access).trakt['auth-status'].$get())).body).toMatchObject({
      authenticated: true,
    });
    expect((await read(api(user.access).trakt.watching.$get())).status).toBe(200);
  });

  it("another app's client id: Trakt refuses the token it did not issue to that app; authorize again", async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    const other = await createTraktApp(sim);
    await replaceTraktCredentials(user.access, other);
    await sim.clearRequests();
    expectError(await read(api(user.access).trakt['fetch-latest-movies'].$get()), 401, REAUTHORIZE);
    const log = (await sim.requests()).map((r) => `${r.method} ${r.path} ${r.status}`);
    expect(log).toEqual(['GET /sync/last_activities 401', 'POST /oauth/token 400']);
  });
});
