/**
 * Trakt's 2026 answers, each a clear state and never a lost connection (issue 24, section 3), and stuck
 * connections (issue 26, Low 7):
 * - the app behind a connection deleted (every API call 403, refresh `invalid_client`) → its own state,
 *   told apart from a firewall's 403 (transient) and from a wrong secret; tokens kept; background syncs
 *   paused until a call succeeds again or the credentials change;
 * - 426 (VIP required) and 420 (an account limit): a JSON error naming the cause, no retries;
 * - rows in refresh backoff left out of the cron's refresh list; rejected credentials acknowledged.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { database } from '../src/db/client';
import worker from '../src/index';
import { ACCOUNT_LIMIT, APP_REJECTED, FIREWALL_REFUSED, VIP_REQUIRED } from '../src/trakt/client';
import { listConnectionsToRefresh } from '../src/trakt/connections';
import { APP_REJECTED_RECHECK_MS } from '../src/trakt/token-policy';
import { call, expectError } from './support/api';
import { connectedUser, createTraktApp } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  vi.restoreAllMocks();
  sim.restore();
});

type Row = {
  status: string;
  token_version: number;
  sealed_tokens: string;
  app_rejected_at: string | null;
  credentials_rejected_at: string | null;
  refresh_lease_id: string | null;
  next_sync_at: string;
  expires_at: string;
  client_id: string | null;
};
const row = async (userId: number) =>
  (await env.DB.prepare('SELECT * FROM trakt_connections WHERE user_id = ?').bind(userId).first<Row>())!;

function messageFor(userId: number, attempts = 1) {
  return createMessageBatch('trakt-sync', [
    {
      id: `msg-${userId}`,
      timestamp: new Date(),
      attempts,
      body: { user_id: userId, enqueued_at: new Date().toISOString() },
    },
  ]);
}

async function deliver(userId: number, attempts = 1) {
  const batch = messageFor(userId, attempts);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

async function counter(name: string): Promise<number> {
  return (
    (await env.DB.prepare('SELECT value FROM ops_counters WHERE name = ?').bind(name).first<{ value: number }>())
      ?.value ?? 0
  );
}

describe('the Trakt app behind a connection is deleted', () => {
  it('is its own state: tokens kept, auth-status and sync-status say so with the way out', async () => {
    const user = await connectedUser(sim);
    const before = await row(user.id);
    const rejectedBefore = await counter('connections:app_rejected');
    await sim.deleteApp(user.app.client_id);

    const sync = await call('POST', '/trakt/fetch-latest-movies/', { token: user.access });
    expectError(sync, 403, APP_REJECTED);
    const after = await row(user.id);
    expect(after).toMatchObject({
      status: 'active',
      token_version: before.token_version,
      sealed_tokens: before.sealed_tokens, // every token kept
    });
    expect(after.app_rejected_at).not.toBeNull();
    expect(Date.parse(after.next_sync_at)).toBeGreaterThanOrEqual(Date.now() + APP_REJECTED_RECHECK_MS - 60_000);
    expect(await counter('connections:app_rejected')).toBe(rejectedBefore + 1);

    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body).toEqual({
      authenticated: false,
      auth_url: 'http://api.test/trakt/authenticate/',
      reason: 'app_rejected',
      message: APP_REJECTED,
    });
    const status = await call('GET', '/trakt/sync-status/', { token: user.access });
    expect(status.body).toMatchObject({ connected: false, status: 'app_rejected', message: APP_REJECTED });
    expect(APP_REJECTED).toMatch(/^The Trakt app behind this connection no longer works/);
    expect(APP_REJECTED).toMatch(/new Trakt app/);
    expect(APP_REJECTED).toMatch(/import your Trakt data export/);
  });

  it('background syncs stop: the queue acknowledges instead of retrying, the cron does not claim it for a day', async () => {
    const user = await connectedUser(sim);
    await sim.deleteApp(user.app.client_id);
    await sim.clearRequests();
    const result = await deliver(user.id);
    expect(result.explicitAcks).toEqual([`msg-${user.id}`]);
    expect(result.retryMessages).toEqual([]);
    expect((await sim.requests()).filter((r) => r.host.startsWith('api.trakt'))).toHaveLength(1); // one call, no retries
    const { next_sync_at } = await row(user.id);
    expect(Date.parse(next_sync_at)).toBeGreaterThan(Date.now() + APP_REJECTED_RECHECK_MS - 60_000);
    expect((await call('GET', '/trakt/sync-status/', { token: user.access })).body.last_error).toBe(APP_REJECTED);
  });

  it('ends when a call succeeds again (Trakt restored the app)', async () => {
    const user = await connectedUser(sim);
    await sim.deleteApp(user.app.client_id);
    expectError(await call('GET', '/trakt/watching/', { token: user.access }), 403, APP_REJECTED);
    expect((await row(user.id)).app_rejected_at).not.toBeNull();
    await sim.createApp({ client_id: user.app.client_id, client_secret: user.app.client_secret });
    expect((await call('GET', '/trakt/watching/', { token: user.access })).status).toBe(200);
    expect((await row(user.id)).app_rejected_at).toBeNull();
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(true);
    expect((await call('GET', '/trakt/sync-status/', { token: user.access })).body.status).toBe('active');
  });

  it('ends when the credentials change: the next background sync is due at once', async () => {
    const user = await connectedUser(sim);
    await sim.deleteApp(user.app.client_id);
    await call('GET', '/trakt/watching/', { token: user.access });
    const newApp = await createTraktApp(sim);
    await call('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: newApp.client_id, api_key: newApp.client_secret },
    });
    const after = await row(user.id);
    expect(after.app_rejected_at).toBeNull();
    expect(Date.parse(after.next_sync_at)).toBeLessThanOrEqual(Date.now());
  });

  it('a refresh answering invalid_client is told apart: a deleted app vs a wrong secret', async () => {
    const deleted = await connectedUser(sim);
    await sim.deleteApp(deleted.app.client_id);
    await sim.clearRequests();
    expectError(await call('GET', '/trakt/refresh-token/', { token: deleted.access }), 403, APP_REJECTED);
    // The refresh, then one call without a user token asking whether Trakt still knows the client id.
    expect((await sim.requests()).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /oauth/token 401',
      'GET /sync/last_activities 403',
    ]);
    expect(await row(deleted.id)).toMatchObject({ status: 'active', refresh_lease_id: 'backoff' });
    expect((await row(deleted.id)).app_rejected_at).not.toBeNull();

    const wrongSecret = await connectedUser(sim);
    await call('POST', '/users/api-keys/', {
      token: wrongSecret.access,
      json: { service_name: 'trakt', service_user_id: wrongSecret.app.client_id, api_key: 'not-the-secret' },
    });
    expectError(await call('GET', '/trakt/refresh-token/', { token: wrongSecret.access }), 400, /client credentials/);
    expect((await row(wrongSecret.id)).app_rejected_at).toBeNull();
    expect((await row(wrongSecret.id)).credentials_rejected_at).not.toBeNull();
  });

  it("a firewall's HTML 403 is transient: nothing is marked, the connection goes on", async () => {
    const user = await connectedUser(sim);
    const before = await row(user.id);
    await sim.addFault({ match: { path_prefix: '/users/me/watching' }, times: 1, kind: 'html_error', status: 403 });
    expectError(await call('GET', '/trakt/watching/', { token: user.access }), 503, FIREWALL_REFUSED);
    expect(await row(user.id)).toMatchObject({ ...before });
    // On the auth host too: a refresh meeting the firewall backs off, with no verdict on credentials or tokens.
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 1, kind: 'html_error', status: 403 });
    expectError(await call('GET', '/trakt/refresh-token/', { token: user.access }), 503);
    const after = await row(user.id);
    expect(after).toMatchObject({ status: 'active', sealed_tokens: before.sealed_tokens, refresh_lease_id: 'backoff' });
    expect(after.credentials_rejected_at).toBeNull();
    expect(after.app_rejected_at).toBeNull();
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body).toEqual({
      authenticated: true,
      token_expired: false,
      expires_at: before.expires_at,
    });
  });
});

describe('426 (VIP required) and 420 (an account limit)', () => {
  it.each([
    ['426', VIP_REQUIRED],
    ['420', ACCOUNT_LIMIT],
  ] as const)('%s: a JSON error naming the cause, sent once, acknowledged by the queue', async (kind, message) => {
    const user = await connectedUser(sim);
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 10, kind });
    await sim.clearRequests();
    const res = await call('POST', '/trakt/fetch-latest-movies/', { token: user.access });
    expectError(res, 403, message);
    if (kind === '426') expect(res.body.details).toEqual({ trakt_status: 426, upgrade_url: 'https://trakt.tv/vip' });
    else expect(res.body.details).toEqual({ trakt_status: 420 });
    expect((await sim.counters())['GET /sync/last_activities']).toBe(1); // no retries
    const result = await deliver(user.id);
    expect(result.explicitAcks).toEqual([`msg-${user.id}`]);
    expect(result.retryMessages).toEqual([]);
    expect((await sim.counters())['GET /sync/last_activities']).toBe(2);
    expect((await row(user.id)).status).toBe('active');
  });
});

describe('stuck connections (issue 26, Low 7)', () => {
  it('rows in refresh backoff are left out of the refresh list, so they no longer crowd out the rest', async () => {
    await sim.config({ expires_in: 600 }); // every token below expires within the cron's horizon
    const stuck = await connectedUser(sim);
    const healthy = await connectedUser(sim);
    await call('POST', '/users/api-keys/', {
      token: stuck.access,
      json: { service_name: 'trakt', service_user_id: stuck.app.client_id, api_key: 'not-the-secret' },
    });
    expectError(await call('GET', '/trakt/refresh-token/', { token: stuck.access }), 400, /client credentials/);
    expect((await row(stuck.id)).refresh_lease_id).toBe('backoff');
    const now = Date.now();
    const listed = (await listConnectionsToRefresh(database(env.DB), now + 3600_000, 100, now)).map((r) => r.userId);
    expect(listed).toContain(healthy.id); // positive control
    expect(listed).not.toContain(stuck.id);
    // Once the backoff is over it is listed again (the next refresh attempt is due).
    const later = now + 31 * 60_000;
    const relisted = (await listConnectionsToRefresh(database(env.DB), later + 3600_000, 100, later)).map(
      (r) => r.userId,
    );
    expect(relisted).toContain(stuck.id);
  });

  it('a sync meeting rejected client credentials is acknowledged, not retried into the dead-letter queue', async () => {
    await sim.config({ expires_in: 60 }); // the token is inside its refresh margin: the sync must refresh
    const user = await connectedUser(sim);
    await call('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: user.app.client_id, api_key: 'not-the-secret' },
    });
    await sim.expireAccountTokens(user.traktUsername);
    const result = await deliver(user.id, 1);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toEqual([`msg-${user.id}`]);
    expect((await call('GET', '/trakt/sync-status/', { token: user.access })).body.last_error).toMatch(
      /client credentials/,
    );
  });
});
