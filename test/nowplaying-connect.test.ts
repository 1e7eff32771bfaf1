/**
 * Connecting Trakt through the NowPlaying layer (src/nowplaying/connect.routes.ts), against the simulator:
 * fact 4 of issue 27 (the web app's dialog posts `state: <its own numeric user id>`: exactly the bearer's
 * own id is accepted and stands for the caller's newest pending state, which stays random, single-use,
 * bound and short-lived; any other id is a 400 and links nothing), the setup script's and the helper
 * page's echoed state, a GET callback that never links, and fact 1 for the connection (not connected,
 * reauthorization needed and upstream failures are never 401).
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { OAUTH_STATE_TTL_SECONDS } from '../src/config';
import { keyRing } from '../src/crypto/envelope';
import { database } from '../src/db/client';
import { claimOf, INVALID_STATE_PARAMETER, NO_PENDING_AUTHORIZATION } from '../src/nowplaying/connect.routes';
import { createIndexedOAuthState, deleteSpentOAuthStates } from '../src/trakt/oauth-state';
import { REAUTHORIZE } from '../src/trakt/tokens';
import { call, expectError, registerAndLogin } from './support/api';
import { connectedUser, createTraktApp, storeTraktCredentials } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

let accounts = 0;

/** An API user with Trakt app credentials stored, and a Trakt account signed in at the simulator. */
async function userReadyToConnect() {
  const app = await createTraktApp(sim);
  const user = await registerAndLogin();
  await storeTraktCredentials(user.access, app);
  accounts += 1;
  const traktUsername = `np_connect_${accounts}_${Math.random().toString(36).slice(2, 7)}`;
  await sim.createAccount({ username: traktUsername, movies: 1, shows: 0 });
  await sim.setSession(traktUsername);
  return { ...user, traktUsername };
}

/** GET /api/trakt/authenticate/ and approve at "Trakt": the code and state of Trakt's redirect. */
async function authorizeAtTrakt(access: string) {
  const auth = await call('GET', '/api/trakt/authenticate/', { token: access });
  expect(auth.status, JSON.stringify(auth.body)).toBe(200);
  expect(auth.body).toEqual({
    auth_url: expect.any(String),
    redirect_uri: env.TRAKT_REDIRECT_URI,
    message: expect.any(String),
  });
  const redirect = await sim.authorize(auth.body.auth_url);
  expect(redirect.code).toBeTruthy();
  return { code: redirect.code!, state: redirect.state! };
}

async function connected(access: string): Promise<boolean> {
  const res = await call('GET', '/api/trakt/auth-status/', { token: access });
  expect(res.status).toBe(200);
  return res.body.authenticated;
}

const post = (access: string, json: unknown) => call('POST', '/api/trakt/oauth-callback/', { token: access, json });

describe("the web app's dialog: state is the user's own numeric id (fact 4)", () => {
  it('its own id completes with the newest pending state; the answer has success, message and expires_at', async () => {
    const user = await userReadyToConnect();
    const { code } = await authorizeAtTrakt(user.access);
    expect(await connected(user.access)).toBe(false);
    const res = await post(user.access, { code, state: user.id });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      success: true,
      message: 'Successfully authenticated with Trakt!',
      expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(await connected(user.access)).toBe(true);
    const status = await call('GET', '/api/trakt/auth-status/', { token: user.access });
    expect(status.body).toMatchObject({ authenticated: true, token_expired: false, expires_at: res.body.expires_at });
  });

  it('another id is a 400 that links nothing and spends nothing; the own id then still works', async () => {
    const user = await userReadyToConnect();
    const other = await registerAndLogin();
    const { code } = await authorizeAtTrakt(user.access);
    await sim.clearRequests();
    for (const state of [other.id, String(other.id), user.id + 1000, 0]) {
      const res = await post(user.access, { code, state });
      expectError(res, 400, INVALID_STATE_PARAMETER);
      expect(res.body.detail).toBe(INVALID_STATE_PARAMETER);
    }
    expect((await sim.counters())['POST /oauth/token']).toBeUndefined(); // no code exchanged
    expect(await connected(user.access)).toBe(false);
    expect((await post(user.access, { code, state: user.id })).status).toBe(200);
  });

  it('the pending state is single-use: a second post with the own id finds none (400), nothing exchanged', async () => {
    const user = await userReadyToConnect();
    const { code } = await authorizeAtTrakt(user.access);
    expect((await post(user.access, { code, state: user.id })).status).toBe(200);
    await sim.clearRequests();
    expectError(await post(user.access, { code, state: user.id }), 400, NO_PENDING_AUTHORIZATION);
    expect((await sim.counters())['POST /oauth/token']).toBeUndefined();
    // The echoed random state is spent as well.
  });

  it('bound to its user: another user posting its own id cannot use it, nor can it post the state itself', async () => {
    const owner = await userReadyToConnect();
    const intruder = await userReadyToConnect();
    const { code, state } = await authorizeAtTrakt(owner.access);
    expectError(await post(intruder.access, { code, state: intruder.id }), 400, NO_PENDING_AUTHORIZATION);
    expectError(await post(intruder.access, { code, state: owner.id }), 400, INVALID_STATE_PARAMETER);
    expectError(await post(intruder.access, { code, state }), 400, INVALID_STATE_PARAMETER);
    expect(await connected(intruder.access)).toBe(false);
    // None of that spent the owner's state.
    expect((await post(owner.access, { code, state: owner.id })).status).toBe(200);
  });

  it("an expired state is not used, and only states issued through this layer's authenticate count", async () => {
    const user = await userReadyToConnect();
    const db = database(env.DB);
    const ring = await keyRing(env);
    await createIndexedOAuthState(db, env.KV, ring, user.id, Date.now() - (OAUTH_STATE_TTL_SECONDS + 60) * 1000);
    const code = (
      await sim.authorize((await call('GET', '/trakt/authenticate/', { token: user.access })).body.auth_url)
    ).code!;
    // The API's own authenticate issued a state too, but not for this dialog: nothing pending here.
    expectError(await post(user.access, { code, state: user.id }), 400, NO_PENDING_AUTHORIZATION);
    expect(await connected(user.access)).toBe(false);
    // The cron prunes the expired index row.
    const before = await env.DB.prepare('SELECT count(*) AS n FROM oauth_pending_states WHERE user_id = ?')
      .bind(user.id)
      .first<{ n: number }>();
    expect(before!.n).toBe(1);
    expect(await deleteSpentOAuthStates(db, Date.now())).toBeGreaterThanOrEqual(1);
    const after = await env.DB.prepare('SELECT count(*) AS n FROM oauth_pending_states WHERE user_id = ?')
      .bind(user.id)
      .first<{ n: number }>();
    expect(after!.n).toBe(0);
  });

  it('no code: 400 "Authorization code is required"', async () => {
    const user = await userReadyToConnect();
    await authorizeAtTrakt(user.access);
    expectError(await post(user.access, { state: user.id }), 400, 'Authorization code is required');
    expectError(await post(user.access, { code: '', state: user.id }), 400, 'Authorization code is required');
  });

  it('claimOf: absent, empty and own id stand for the own pending state; other whole numbers for another user', () => {
    expect(claimOf(undefined, 7)).toEqual({ kind: 'own' });
    expect(claimOf(null, 7)).toEqual({ kind: 'own' });
    expect(claimOf('  ', 7)).toEqual({ kind: 'own' });
    expect(claimOf(7, 7)).toEqual({ kind: 'own' });
    expect(claimOf('7', 7)).toEqual({ kind: 'own' });
    expect(claimOf(8, 7)).toEqual({ kind: 'other_user' });
    expect(claimOf(7.5, 7)).toEqual({ kind: 'other_user' });
    expect(claimOf('0007x', 7)).toEqual({ kind: 'state', state: '0007x' });
    expect(claimOf('abc', 7)).toEqual({ kind: 'state', state: 'abc' });
  });
});

describe('the setup script and the helper page: the state Trakt echoed', () => {
  it('the echoed state completes (native rules); used again it is a 400', async () => {
    const user = await userReadyToConnect();
    const { code, state } = await authorizeAtTrakt(user.access);
    const res = await post(user.access, { code, state });
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
    const again = await post(user.access, { code, state });
    expectError(again, 400, /already used|Invalid or expired state/);
  });

  it('state null (a pasted URL without one) completes with the newest pending state', async () => {
    const user = await userReadyToConnect();
    const { code } = await authorizeAtTrakt(user.access);
    expect((await post(user.access, { code, state: null })).status).toBe(200);
    expect(await connected(user.access)).toBe(true);
  });

  it('a forged or unknown state is a 400 whose text carries no request input', async () => {
    const user = await userReadyToConnect();
    const { code } = await authorizeAtTrakt(user.access);
    const res = await post(user.access, { code, state: '<img src=x onerror=alert(1)>' });
    expectError(res, 400);
    expect(JSON.stringify(res.body)).not.toContain('<img');
  });
});

describe('GET /api/trakt/oauth-callback/ never links', () => {
  it('whatever Accept says, it shows the code and the confirmation form; the POST still completes', async () => {
    const user = await userReadyToConnect();
    const { code, state } = await authorizeAtTrakt(user.access);
    for (const accept of [undefined, 'application/json', '*/*', 'text/html']) {
      const res = await call('GET', `/api/trakt/oauth-callback/?code=${code}&state=${state}`, {
        headers: accept ? { Accept: accept } : {},
      });
      expect(res.status, accept).toBe(200);
      expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
      expect(res.headers.get('Content-Security-Policy')).toMatch(/default-src 'none'/);
      expect(res.body).toContain(`<code id="code">${code}</code>`);
      expect(res.body).toMatch(/<form method="post" action="\/trakt\/oauth-callback\/confirm\/">/);
      expect(res.body).toContain(user.username);
    }
    expect(await connected(user.access)).toBe(false);
    expect((await post(user.access, { code, state })).status).toBe(200);
  });

  it('the confirmation form links (the API’s own confirm route), once', async () => {
    const user = await userReadyToConnect();
    const { code, state } = await authorizeAtTrakt(user.access);
    const page = await call('GET', `/api/trakt/oauth-callback/?code=${code}&state=${state}`);
    const confirmation = /name="confirmation" value="([^"]+)"/.exec(String(page.body))![1]!;
    const confirm = await call('POST', '/trakt/oauth-callback/confirm/', {
      body: new URLSearchParams({ confirmation }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(confirm.status).toBe(200);
    expect(await connected(user.access)).toBe(true);
  });

  it('escapes the code; an invalid state or a Trakt error shows a fixed text and no code', async () => {
    const user = await userReadyToConnect();
    const { state } = await authorizeAtTrakt(user.access);
    const xss = encodeURIComponent('<script>alert(1)</script>');
    const escaped = await call('GET', `/api/trakt/oauth-callback/?code=${xss}&state=${state}`);
    expect(escaped.status).toBe(200);
    expect(escaped.body).not.toContain('<script>alert(1)');
    expect(escaped.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const forged = await call('GET', `/api/trakt/oauth-callback/?code=abc&state=${'A'.repeat(43)}`);
    expect(forged.status).toBe(400);
    expect(forged.body).not.toContain('id="code"');
    const denied = await call('GET', `/api/trakt/oauth-callback/?error=${xss}&state=${state}`);
    expect(denied.status).toBe(400);
    expect(denied.body).not.toContain('alert(1)');
    expect(await connected(user.access)).toBe(false);
  });
});

describe('401 only for the JWT: the connection (fact 1)', () => {
  it('not connected: 400 with error, detail and auth_url, where the API’s own route says 401', async () => {
    const user = await registerAndLogin();
    for (const path of ['/api/trakt/fetch-latest-movies/', '/api/trakt/fetch-latest-shows/']) {
      const res = await call('GET', path, { token: user.access });
      expectError(res, 400, 'No Trakt token found');
      expect(res.body.detail).toBe('No Trakt token found');
      expect(res.body.auth_url).toBe('http://api.test/api/trakt/authenticate/');
      expect(res.headers.get('WWW-Authenticate')).toBeNull();
    }
    expectError(await call('GET', '/trakt/fetch-latest-movies/', { token: user.access }), 401);
    const status = await call('GET', '/api/trakt/auth-status/', { token: user.access });
    expect(status.body).toEqual({ authenticated: false, auth_url: 'http://api.test/api/trakt/authenticate/' });
  });

  it('authorization revoked at Trakt: 400 (the web app would otherwise sign the user out)', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.revokeAccountTokens(user.traktUsername);
    const res = await call('GET', '/api/trakt/fetch-latest-movies/', { token: user.access });
    expectError(res, 400, REAUTHORIZE);
    expect(res.body.auth_url).toMatch(/\/api\/trakt\/authenticate\/$/);
    expect((await call('GET', '/api/trakt/auth-status/', { token: user.access })).body).toMatchObject({
      authenticated: false,
      reason: 'reauthorization_required',
    });
    const stats = await call('GET', '/api/trakt/movie-stats/?trakt_id=1', { token: user.access });
    expect(stats.status).toBe(400);
  });

  it('an upstream failure is a 5xx, not a 401; Trakt rejecting a token twice is a 400', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind: '503', times: 10 });
    const failed = await call('GET', '/api/trakt/fetch-latest-movies/', { token: user.access });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(failed.body.detail).toBe(failed.body.error);
    await sim.clearFaults();
    const movie = (await sim.catalog(user.traktUsername)).movies[0]!;
    await sim.addFault({ match: { path_prefix: `/movies/${movie.trakt}/stats` }, kind: '401', times: 2 });
    const rejected = await call('GET', `/api/trakt/movie-stats/?trakt_id=${movie.trakt}`, { token: user.access });
    expectError(rejected, 400, 'Trakt token expired');
  });
});
