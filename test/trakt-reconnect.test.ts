/**
 * Reconnecting from every state a connection can be left in (issue 24: after Trakt refused every refresh
 * token, authorizing again answered 500). Each case puts a connected user into one state the way Trakt
 * (or a crashed worker) would, then authorizes again through the real flow and checks that the new
 * connection is whole: active, working at Trakt, and synced.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { database } from '../src/db/client';
import { beginDisconnect, deleteDisconnectingConnection } from '../src/trakt/connections';
import { call, expectError } from './support/api';
import { connectedUser, createTraktApp } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

type User = Awaited<ReturnType<typeof connectedUser>>;

async function connectionRow(userId: number) {
  return env.DB.prepare('SELECT * FROM trakt_connections WHERE user_id = ?')
    .bind(userId)
    .first<{ status: string; token_version: number; app_rejected_at: string | null; client_id: string | null }>();
}

/** Authorizes again (authenticate → Trakt → POST callback with the JWT) and checks the result is a whole connection. */
async function reconnect(user: User, clientId = user.app.client_id) {
  const auth = await call('GET', '/trakt/authenticate/', { token: user.access });
  expect(auth.status).toBe(200);
  const redirect = await sim.authorize(auth.body.auth_url);
  expect(redirect.code).toBeTruthy();
  const callback = await call('POST', '/trakt/oauth-callback/', {
    token: user.access,
    json: { code: redirect.code, state: redirect.state },
  });
  expect(callback.status).toBe(200);
  expect(callback.body.success).toBe(true);

  const status = await call('GET', '/trakt/auth-status/', { token: user.access });
  expect(status.body).toEqual({ authenticated: true, token_expired: false, expires_at: callback.body.expires_at });
  const row = await connectionRow(user.id);
  expect(row).toMatchObject({ status: 'active', app_rejected_at: null, client_id: clientId });
  expect((await call('GET', '/trakt/watching/', { token: user.access })).status).toBe(200);
  expect((await call('POST', '/trakt/fetch-latest-movies/', { token: user.access })).status).toBe(200);
  expect((await call('GET', '/trakt/refresh-token/', { token: user.access })).status).toBe(200);
}

describe('reconnecting works from every connection state', () => {
  it('refresh_rejected: Trakt refused the refresh token (the scripted run of issue 24)', async () => {
    const user = await connectedUser(sim);
    const { body: tokens } = await call('GET', '/trakt/refresh-token/', { token: user.access });
    await sim.expireRefreshToken(tokens.access_token); // Trakt answers invalid_grant to every refresh from now on
    expectError(await call('GET', '/trakt/refresh-token/', { token: user.access }), 401, /authorize again/);
    expect((await connectionRow(user.id))?.status).toBe('refresh_rejected');
    await reconnect(user);
  });

  it('reauthorization_required: the user revoked the app on trakt.tv', async () => {
    const user = await connectedUser(sim);
    await sim.revokeAccountTokens(user.traktUsername);
    expectError(await call('GET', '/trakt/watching/', { token: user.access }), 401, /authorize again/);
    expect((await connectionRow(user.id))?.status).toBe('reauthorization_required');
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.reason).toBe(
      'reauthorization_required',
    );
    await reconnect(user);
  });

  it('disconnecting: a disconnect that died after its first step; its late cleanup spares the new connection', async () => {
    const user = await connectedUser(sim);
    const db = database(env.DB);
    const leaseId = 'disconnect:crashed';
    expect(await beginDisconnect(db, user.id, { leaseId, until: Date.now() + 60_000, now: Date.now() })).toBeDefined();
    expect((await connectionRow(user.id))?.status).toBe('disconnecting');
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(false);
    await reconnect(user);
    await deleteDisconnectingConnection(db, user.id, leaseId); // the crashed disconnect's last step, arriving late
    expect((await connectionRow(user.id))?.status).toBe('active');
  });

  it('app rejected: Trakt deleted the app; the user makes a new one and connects with it', async () => {
    const user = await connectedUser(sim);
    await sim.deleteApp(user.app.client_id);
    expectError(await call('GET', '/trakt/watching/', { token: user.access }), 403, /no longer works/);
    expect((await connectionRow(user.id))?.app_rejected_at).not.toBeNull();
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.reason).toBe('app_rejected');
    const newApp = await createTraktApp(sim);
    await call('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: newApp.client_id, api_key: newApp.client_secret },
    });
    await reconnect(user, newApp.client_id);
  });

  it('app rejected, and still marked so: authorizing again once Trakt accepts the app clears it', async () => {
    const user = await connectedUser(sim);
    await sim.deleteApp(user.app.client_id);
    await call('GET', '/trakt/watching/', { token: user.access });
    await sim.createApp({ client_id: user.app.client_id, client_secret: user.app.client_secret });
    expect((await connectionRow(user.id))?.app_rejected_at).not.toBeNull(); // nothing has told the API yet
    await reconnect(user);
  });

  it('the operator counters stay exact through every reconnect', async () => {
    const counter = async (name: string) =>
      (await env.DB.prepare('SELECT value FROM ops_counters WHERE name = ?').bind(name).first<{ value: number }>())
        ?.value ?? 0;
    const user = await connectedUser(sim);
    const active = await counter('connections:active');
    await sim.revokeAccountTokens(user.traktUsername);
    await call('GET', '/trakt/watching/', { token: user.access });
    expect(await counter('connections:active')).toBe(active - 1);
    const required = await counter('connections:reauthorization_required');
    await reconnect(user);
    expect(await counter('connections:active')).toBe(active);
    expect(await counter('connections:reauthorization_required')).toBe(required - 1);
  });
});
