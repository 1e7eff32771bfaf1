/**
 * Simulator: the fault modes for token grants (a processed request whose answer is lost, held
 * requests, a 401 invalid_client, an HTML 403), the refresh-token send record, expiring only a refresh
 * token, and serving under a path prefix.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AppCredentials,
  installSimulator,
  SIM_DEFAULT_REDIRECT_URI,
  SIM_TRAKT_API_URL,
  SIM_TRAKT_AUTH_URL,
  type Simulator,
  type TokenSet,
} from '../support/harness';

let sim: Simulator;
let app: AppCredentials;
let tokens: TokenSet;

beforeEach(async () => {
  sim = installSimulator();
  app = await sim.createApp();
  await sim.createAccount({ username: 'alice', movies: 2, shows: 0 });
  tokens = await sim.issueTokens({ username: 'alice', client_id: app.client_id });
});
afterEach(() => sim.restore());

const refresh = (refreshToken: string, base = SIM_TRAKT_AUTH_URL) =>
  fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      refresh_token: refreshToken,
      client_id: app.client_id,
      client_secret: app.client_secret,
      redirect_uri: SIM_DEFAULT_REDIRECT_URI,
      grant_type: 'refresh_token',
    }),
  });

describe('grant faults', () => {
  it('process_then_502: Trakt rotates the pair, but the client only sees a Cloudflare 502', async () => {
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, kind: 'process_then_502' });
    const lost = await refresh(tokens.refresh_token);
    expect(lost.status).toBe(502);
    expect(lost.headers.get('content-type')).toContain('text/html');
    // It was processed: the refresh token is spent and the old access token revoked.
    expect(await sim.tokenActive(tokens.access_token)).toBe(false);
    const again = await refresh(tokens.refresh_token);
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: 'invalid_grant' });
    expect(await sim.refreshTokenSends()).toEqual({ sends: 2, distinct: 1, sent_more_than_once: 1 });
    expect((await sim.requests()).map((r) => [r.status, r.fault])).toEqual([
      [502, 'process_then_502'],
      [400, null],
    ]);
  });

  it('hold keeps the request unprocessed until released; process_then_hold processes it first', async () => {
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, kind: 'hold' });
    const held = refresh(tokens.refresh_token);
    await sim.whenHeld(1);
    expect(await sim.admin('GET', '/faults/held')).toEqual({ held: 1 });
    expect(await sim.tokenActive(tokens.access_token)).toBe(true); // not processed yet
    expect(await sim.releaseHeld()).toBe(1);
    const fresh = (await (await held).json()) as TokenSet;
    expect(await sim.tokenActive(tokens.access_token)).toBe(false);

    await sim.addFault({ match: { path_prefix: '/oauth/token' }, kind: 'process_then_hold' });
    const answer = refresh(fresh.refresh_token);
    await sim.whenHeld(1);
    expect(await sim.tokenActive(fresh.access_token)).toBe(false); // processed: rotated already
    await sim.clearFaults(); // clearing releases held requests too
    expect((await answer).status).toBe(200);
  });

  it('invalid_client answers 401 JSON; html_error 403 a WAF-style HTML page; the tokens are untouched', async () => {
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, kind: 'invalid_client' });
    const rejected = await refresh(tokens.refresh_token);
    expect(rejected.status).toBe(401);
    expect(await rejected.json()).toMatchObject({ error: 'invalid_client' });
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, kind: 'html_error', status: 403 });
    const waf = await refresh(tokens.refresh_token);
    expect(waf.status).toBe(403);
    expect(waf.headers.get('content-type')).toContain('text/html');
    expect(await sim.tokenActive(tokens.access_token)).toBe(true);
    expect((await refresh(tokens.refresh_token)).status).toBe(200); // the refresh token was never spent
  });

  it('a wrong client secret is refused by the token endpoint itself with 401 invalid_client', async () => {
    const res = await fetch(`${SIM_TRAKT_AUTH_URL}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        refresh_token: tokens.refresh_token,
        client_id: app.client_id,
        client_secret: 'wrong',
        redirect_uri: SIM_DEFAULT_REDIRECT_URI,
        grant_type: 'refresh_token',
      }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
    expect(await sim.tokenActive(tokens.access_token)).toBe(true);
  });
});

describe('token admin', () => {
  it('expire-refresh makes the refresh token invalid_grant while the access token keeps working', async () => {
    await sim.expireRefreshToken(tokens.access_token);
    const res = await refresh(tokens.refresh_token);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
    expect(await sim.tokenActive(tokens.access_token)).toBe(true);
    expect(
      (await sim.trakt('/users/me/watching', { accessToken: tokens.access_token, clientId: app.client_id })).status,
    ).not.toBe(401);
  });
});

describe('path prefix', () => {
  it('serves only under the configured prefix, for the auth and the API host alike', async () => {
    await sim.config({ path_prefix: '/trakt-proxy' });
    expect((await refresh(tokens.refresh_token)).status).toBe(404);
    const ok = await refresh(tokens.refresh_token, `${SIM_TRAKT_AUTH_URL}/trakt-proxy`);
    expect(ok.status).toBe(200);
    const fresh = (await ok.json()) as TokenSet;
    const headers = {
      'trakt-api-key': app.client_id,
      'trakt-api-version': '2',
      authorization: `Bearer ${fresh.access_token}`,
    };
    expect((await fetch(`${SIM_TRAKT_API_URL}/trakt-proxy/sync/last_activities`, { headers })).status).toBe(200);
    expect((await fetch(`${SIM_TRAKT_API_URL}/sync/last_activities`, { headers })).status).toBe(404);
    expect((await sim.requests()).map((r) => r.path)).toEqual(['/oauth/token', '/sync/last_activities']);
  });
});
