/** Simulator: fault injection, request log and counters, and the fetch routing of the test helper. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AppCredentials, installSimulator, SIM_TRAKT_AUTH_URL, type Simulator } from '../support/harness';

let sim: Simulator;
let app: AppCredentials;
let token: string;

beforeEach(async () => {
  sim = installSimulator();
  app = await sim.createApp();
  await sim.createAccount({ username: 'alice', movies: 5, shows: 1 });
  token = (await sim.issueTokens({ username: 'alice', client_id: app.client_id })).access_token;
});
afterEach(() => {
  vi.restoreAllMocks();
});

const history = (query = '') =>
  sim.trakt(`/sync/history/movies${query}`, { accessToken: token, clientId: app.client_id });

describe('faults', () => {
  it.each(['500', '502', '503', '520'] as const)(
    '%s applies to the next N matching requests, then stops',
    async (kind) => {
      await sim.addFault({ match: { method: 'GET', path_prefix: '/sync/history' }, times: 2, kind });
      expect((await sim.trakt('/sync/last_activities', { accessToken: token, clientId: app.client_id })).status).toBe(
        200,
      );
      expect((await history()).status).toBe(Number(kind));
      expect((await history()).status).toBe(Number(kind));
      expect((await history()).status).toBe(200);
    },
  );

  it('429 carries Retry-After and X-Ratelimit (Trakt) or TMDB JSON', async () => {
    await sim.addFault({ match: { path_regex: '^/sync/' }, kind: '429', retry_after: 7 });
    const limited = await history();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(JSON.parse(limited.headers.get('x-ratelimit') ?? '{}')).toMatchObject({
      name: 'AUTHED_API_GET_LIMIT',
      remaining: 0,
    });

    await sim.addFault({ match: { path_prefix: '/3/' }, kind: '429' });
    const tmdb = await sim.tmdb('/configuration');
    expect(tmdb.status).toBe(429);
    expect(tmdb.headers.get('retry-after')).toBe('1');
    expect(await tmdb.json()).toMatchObject({ status_code: 25 });
  });

  it('426 says VIP is required, with X-Upgrade-URL; 420 (an account limit) has no body', async () => {
    await sim.addFault({ match: { path_prefix: '/sync/history' }, kind: '426' });
    const vip = await history();
    expect(vip.status).toBe(426);
    expect(vip.headers.get('x-upgrade-url')).toBe('https://trakt.tv/vip');
    expect(await vip.json()).toMatchObject({ error: 'vip_required' });
    await sim.addFault({ match: { path_prefix: '/sync/history' }, kind: '420' });
    const limit = await history();
    expect(limit.status).toBe(420);
    expect(await limit.text()).toBe('');
    expect((await history()).status).toBe(200);
  });

  it('html_error mimics Cloudflare, and its 429 has Retry-After 300 and no X-Ratelimit', async () => {
    await sim.addFault({ match: { path_prefix: '/sync/' }, kind: 'html_error', status: 429 });
    const limited = await history();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toContain('text/html');
    expect(limited.headers.get('retry-after')).toBe('300');
    expect(limited.headers.get('x-ratelimit')).toBeNull();
    const text = await limited.text();
    expect(text).toContain('<!DOCTYPE html>');
    expect(text).toContain('Cloudflare');
    await expect(Promise.resolve(text).then((t) => JSON.parse(t))).rejects.toThrow();

    await sim.addFault({ match: { path_prefix: '/sync/' }, kind: 'html_error' });
    const gateway = await history();
    expect(gateway.status).toBe(502);
    expect(await gateway.text()).toContain('Bad gateway');
  });

  it('malformed_json answers 200 with a body that does not parse', async () => {
    await sim.addFault({ match: { path_prefix: '/sync/history' }, kind: 'malformed_json' });
    const response = await history();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    await expect(response.json()).rejects.toThrow();
  });

  it('hang holds the request until the client aborts', async () => {
    await sim.addFault({ match: { path_prefix: '/sync/history' }, kind: 'hang' });
    const controller = new AbortController();
    const request = fetch(`https://api.trakt.sim.test/sync/history/movies`, {
      headers: { 'trakt-api-key': app.client_id, 'trakt-api-version': '2', authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    await vi.waitUntil(() => sim.instance.state.hanging.size === 1, { timeout: 10_000, interval: 2 });
    controller.abort();
    await expect(request).rejects.toMatchObject({ name: 'AbortError' });
    await vi.waitUntil(() => sim.instance.state.hanging.size === 0, { timeout: 10_000, interval: 2 });
    expect((await history()).status).toBe(200);
  });

  it('hang is released by clearing faults', async () => {
    await sim.addFault({ match: { path_prefix: '/sync/history' }, kind: 'hang' });
    const pending = history();
    await vi.waitUntil(() => sim.instance.state.hanging.size === 1, { timeout: 10_000, interval: 2 });
    await sim.clearFaults();
    expect((await pending).status).toBe(524);
  });

  it('hold parks matching requests until released, then the real handler answers them', async () => {
    await sim.addFault({ match: { path_prefix: '/sync/history' }, kind: 'hold', times: 2 });
    let settled = 0;
    const first = history().finally(() => settled++);
    const second = history('?page=1').finally(() => settled++);
    await sim.whenHeld(2);
    expect(settled).toBe(0);
    expect(sim.instance.state.held).toBe(2);
    expect((await sim.trakt('/sync/last_activities', { accessToken: token, clientId: app.client_id })).status).toBe(
      200,
    );
    expect(await sim.releaseHeld()).toBe(2);
    const responses = await Promise.all([first, second]);
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    const moviePlays = (await sim.summary('alice')).movie_plays;
    expect(moviePlays).toBeGreaterThan(0);
    expect(await responses[0]!.json<unknown[]>()).toHaveLength(Math.min(10, moviePlays));
    const log = (await sim.requests()).filter((r) => r.path === '/sync/history/movies');
    expect(log.map((r) => r.status)).toEqual([200, 200]);
    expect((await history()).status).toBe(200); // used up
  });

  it("401, 403 and 423 answer with Trakt's rejections (invalid token, bad trakt-api-key, locked account)", async () => {
    await sim.addFault({ match: { path_prefix: '/sync/history' }, kind: '401' });
    await sim.addFault({ match: { path_prefix: '/sync/history' }, kind: '403' });
    await sim.addFault({ match: { path_prefix: '/sync/history' }, kind: '423' });
    const unauthorized = await history();
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('www-authenticate')).toContain('invalid_token');
    expect(await unauthorized.json()).toMatchObject({ error: 'invalid_token' });
    const forbidden = await history();
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: 'forbidden' });
    const locked = await history();
    expect(locked.status).toBe(423);
    expect(await locked.json()).toMatchObject({ error: 'locked_user_account' });
    expect((await history()).status).toBe(200);
  });

  it('matches on method and query, and never faults admin calls', async () => {
    await sim.addFault({ match: { method: 'POST', path_prefix: '/oauth/token' }, kind: '503', times: 5 });
    await sim.addFault({ match: { query: { page: '2' } }, kind: '500', times: 5 });
    expect((await history('?page=1')).status).toBe(200);
    expect((await history('?page=2')).status).toBe(500);
    const token503 = await fetch(`${SIM_TRAKT_AUTH_URL}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(token503.status).toBe(503);
    await expect(sim.summary('alice')).resolves.toMatchObject({ username: 'alice' });
    await sim.clearFaults();
    expect((await history('?page=2')).status).toBe(200);
  });
});

describe('request log and counters', () => {
  it('counts per METHOD /path-template and logs without secrets', async () => {
    await sim.clearRequests();
    await history('?page=1&limit=5');
    await history('?page=2&limit=5');
    await sim.registerTmdbKey('super-secret-tmdb-key');
    await fetch('https://api.tmdb.sim.test/3/tv/123/season/1?api_key=super-secret-tmdb-key');
    await sim.tmdb('/tv/456/season/2');

    const counters = await sim.counters();
    expect(counters).toEqual({ 'GET /sync/history/movies': 2, 'GET /3/tv/:id/season/:n': 2 });

    const log = await sim.requests();
    expect(log).toHaveLength(4);
    expect(log[0]).toMatchObject({
      method: 'GET',
      host: 'api.trakt.sim.test',
      path: '/sync/history/movies',
      query: { page: '1', limit: '5' },
      status: 200,
      trakt_api_version: '2',
    });
    expect(log[2]).toMatchObject({ host: 'api.tmdb.sim.test', path: '/3/tv/123/season/1', status: 404 });
    const serialized = JSON.stringify(log);
    expect(serialized).not.toContain(token);
    expect(serialized).not.toContain('super-secret-tmdb-key');
    expect(serialized).not.toContain(app.client_id);

    await sim.clearRequests();
    expect(await sim.requests()).toEqual([]);
    expect(await sim.counters()).toEqual({});
  });
});

describe('fetch routing', () => {
  it('refuses any host that is not *.sim.test', async () => {
    await expect(fetch('https://api.trakt.tv/sync/last_activities')).rejects.toThrow(/blocked a real network call/);
    await expect(fetch('https://example.com/')).rejects.toThrow(/sim\.test/);
  });

  it('restore() puts the real fetch back', () => {
    expect(vi.isMockFunction(globalThis.fetch)).toBe(true);
    sim.restore();
    expect(vi.isMockFunction(globalThis.fetch)).toBe(false);
  });

  it('reset empties all state', async () => {
    await sim.reset();
    expect((await history()).status).toBe(403);
    await expect(sim.summary('alice')).rejects.toThrow(/404/);
  });
});

describe('a deleted app', () => {
  it('answers 403 on the API host and invalid_client on the auth host until it is registered again', async () => {
    const set = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
    await sim.deleteApp(app.client_id);
    const forbidden = await history();
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: 'forbidden' });
    const refresh = await fetch(`${SIM_TRAKT_AUTH_URL}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'refresh_token',
        refresh_token: set.refresh_token,
        client_id: app.client_id,
        client_secret: app.client_secret,
        redirect_uri: 'http://localhost:8787/trakt/oauth-callback/',
      }),
    });
    expect(refresh.status).toBe(401);
    expect(await refresh.json()).toMatchObject({ error: 'invalid_client' });
    await sim.createApp({ client_id: app.client_id, client_secret: app.client_secret });
    expect((await history()).status).toBe(200); // the tokens issued to it work again
  });
});
