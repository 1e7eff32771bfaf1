/**
 * The rules a Trakt connection follows so that it is never lost while Trakt would still honour it
 * (one `describe` per rule, each against the simulator), the token store's edge cases (adoption of a
 * journaled set, a lost refresh lease, the wait deadline) and a concurrency run.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { MAX_UPSTREAM_TIMEOUT_MS, upstreamTimeoutMs } from '../src/config';
import { aadFor, keyRing, open } from '../src/crypto/envelope';
import { joinUrl } from '../src/trakt/client';
import { REFRESH_REFUSED } from '../src/trakt/connection.routes';
import { traktUserContext } from '../src/trakt/context';
import { refreshLeaseMs, SUPERSEDED_TOKEN_SET_TTL_SECONDS } from '../src/trakt/token-policy';
import { getAccessToken, type TokenStoreContext, withAccessToken } from '../src/trakt/tokens';
import { call, expectError, registerAndLogin } from './support/api';
import { api, read } from './support/client';
import { connectedUser, createTraktApp, storeTraktCredentials } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

type Row = {
  status: string;
  token_version: number;
  token_set_id: string;
  expires_at: string;
  refresh_lease_id: string | null;
  refresh_lease_until: string | null;
  pending_token_set_id: string | null;
  sealed_tokens: string | null;
  credentials_rejected_at: string | null;
  refresh_failures: number;
};
type TokenSet = { access_token: string; refresh_token: string; expires_in: number; created_at: number };

async function row(userId: number): Promise<Row> {
  const found = await env.DB.prepare('SELECT * FROM trakt_connections WHERE user_id = ?').bind(userId).first<Row>();
  expect(found).not.toBeNull();
  return found!;
}

async function openSet(userId: number, sealed: string): Promise<TokenSet> {
  return JSON.parse(await open(await keyRing(env), sealed, aadFor(userId, 'trakt_tokens'))) as TokenSet;
}

/** The connection's current token set, from its KV copy. */
async function currentSet(userId: number): Promise<TokenSet> {
  const { token_set_id } = await row(userId);
  const sealed = await env.KV.get(`trakt_tokens:${userId}:${token_set_id}`);
  expect(sealed).not.toBeNull();
  return openSet(userId, sealed!);
}

/** A token-store context as one isolate would have it, with `waitUntil` work collected for the test to await. */
async function storeContext(userId: number, overrides: Partial<TokenStoreContext> = {}) {
  const pending: Promise<unknown>[] = [];
  const ctx: TokenStoreContext = {
    ...(await traktUserContext(env, userId)),
    waitUntil: (p) => pending.push(p),
    ...overrides,
  };
  return { ctx, settled: () => Promise.all(pending) };
}

/** A KV namespace that deletes each key right before it is read: a key deleted (or expired) under the reader. */
function deletingBeforeRead(kv: KVNamespace): KVNamespace {
  return new Proxy(kv, {
    get(target, property) {
      if (property === 'get') {
        return async (key: string) => {
          await target.delete(key);
          return target.get(key);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as KVNamespace;
}

/** A KV namespace whose writes fail (an isolate dying right after D1, or KV refusing the write). */
function failingWrites(kv: KVNamespace): KVNamespace {
  return new Proxy(kv, {
    get(target, property) {
      if (property === 'put') return async () => Promise.reject(new Error('KV put failed'));
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as KVNamespace;
}

async function withFakeNow<T>(offsetMs: number, run: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + offsetMs;
  try {
    return await run();
  } finally {
    Date.now = realNow;
  }
}

describe('rule 1: only invalid_grant ends a connection, and only once the access token stops working', () => {
  it('keeps using the access token with a warning, until Trakt rejects it (401)', async () => {
    const user = await connectedUser(sim);
    const before = await currentSet(user.id);
    await sim.expireRefreshToken(before.access_token); // Trakt no longer honours the refresh token
    await sim.clearRequests();

    // Nothing was refreshed, so the refresh endpoint says so (a 4xx naming re-authorization), not 200.
    const refreshed = await call('GET', '/trakt/refresh-token/', { token: user.access });
    expectError(refreshed, 401, REFRESH_REFUSED);
    expect(refreshed.body.details).toEqual({
      works_until: (await row(user.id)).expires_at,
      auth_url: 'http://api.test/trakt/authenticate/',
    });
    expect(JSON.stringify(refreshed.body)).not.toContain(before.access_token);
    // Asked again, it says the same without sending the dead refresh token a second time.
    expectError(await call('GET', '/trakt/refresh-token/', { token: user.access }), 401, REFRESH_REFUSED);
    expect((await sim.counters())['POST /oauth/token']).toBe(1);
    const rejected = await row(user.id);
    expect(rejected.status).toBe('refresh_rejected');
    expect(await openSet(user.id, rejected.sealed_tokens!)).toEqual(before); // every token kept

    const status = await read(api(user.access).trakt['auth-status'].$get());
    expect(status.body).toEqual({
      authenticated: true,
      token_expired: false,
      expires_at: rejected.expires_at,
      warning: 'reauthorization_required_soon',
      works_until: rejected.expires_at,
      auth_url: 'http://api.test/trakt/authenticate/',
    });
    // Still working: Trakt accepts the access token, and nothing tries the dead refresh token again.
    expect((await read(api(user.access).trakt.watching.$get())).status).toBe(200);
    expect((await read(api(user.access).trakt['fetch-latest-movies'].$post())).status).toBe(200);
    expect((await sim.counters())['POST /oauth/token']).toBe(1);

    await sim.expireToken(before.access_token); // now Trakt rejects the access token too
    expectError(await read(api(user.access).trakt.watching.$get()), 401, /authorize again/);
    expect((await read(api(user.access).trakt['auth-status'].$get())).body).toEqual({
      authenticated: false,
      auth_url: 'http://api.test/trakt/authenticate/',
      reason: 'reauthorization_required',
    });
    expect((await sim.counters())['POST /oauth/token']).toBe(1);
  });

  it('…or until it expires', async () => {
    await sim.config({ expires_in: 1800 }); // expires within the API login's hour, so the fake clock keeps it valid
    const user = await connectedUser(sim);
    await sim.expireRefreshToken((await currentSet(user.id)).access_token);
    expectError(await call('GET', '/trakt/refresh-token/', { token: user.access }), 401, REFRESH_REFUSED);
    expect((await row(user.id)).status).toBe('refresh_rejected');
    const { expires_at } = await row(user.id);
    const afterExpiry = Date.parse(expires_at) - Date.now() + 1000;
    await withFakeNow(afterExpiry, async () => {
      expect((await read(api(user.access).trakt['auth-status'].$get())).body).toEqual({
        authenticated: false,
        auth_url: 'http://api.test/trakt/authenticate/',
        reason: 'reauthorization_required',
      });
      expectError(await read(api(user.access).trakt.watching.$get()), 401, /authorize again/);
    });
    expect((await row(user.id)).status).toBe('reauthorization_required');
  });
});

describe('rule 2: token grants are never retried blindly', () => {
  it('a refresh whose answer is lost (processed, then 502) is sent once; the set is kept, backs off', async () => {
    const user = await connectedUser(sim);
    const before = await row(user.id);
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 5, kind: 'process_then_502' });
    await sim.clearRequests();
    expectError(await read(api(user.access).trakt['refresh-token'].$get()), 502, /unavailable/);
    expect((await sim.counters())['POST /oauth/token']).toBe(1);
    const sends = await sim.refreshTokenSends();
    expect(sends).toEqual({ sends: 1, distinct: 1, sent_more_than_once: 0 });
    const after = await row(user.id);
    expect(after).toMatchObject({
      status: 'active',
      token_version: before.token_version,
      token_set_id: before.token_set_id,
      sealed_tokens: before.sealed_tokens,
      refresh_lease_id: 'backoff',
      refresh_failures: 1,
    });
    // Backing off: an immediate second try does not reach Trakt.
    expectError(await read(api(user.access).trakt['refresh-token'].$get()), 503, /failed recently/);
    expect((await sim.counters())['POST /oauth/token']).toBe(1);
  });

  it('after a transient failure (503, timeout) the next run succeeds, each refresh token sent once', async () => {
    const user = await connectedUser(sim);
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 1, kind: '503' });
    await sim.clearRequests();
    const first = await storeContext(user.id);
    const horizonMs = 2 * 86_400_000; // as the cron does: refresh ahead of expiry
    const kept = await getAccessToken(first.ctx, { horizonMs });
    expect(kept.accessToken).toBe((await currentSet(user.id)).access_token); // the old token, still valid
    expect((await row(user.id)).refresh_lease_id).toBe('backoff');

    // A timeout (the request hangs past UPSTREAM_TIMEOUT_MS) is no different, on a run after the backoff.
    const original = env.UPSTREAM_TIMEOUT_MS;
    Object.assign(env, { UPSTREAM_TIMEOUT_MS: '50' });
    try {
      await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 1, kind: 'hang' });
      const second = await storeContext(user.id, { now: () => Date.now() + 31_000 });
      expect((await getAccessToken(second.ctx, { horizonMs })).version).toBe(kept.version);
      expect((await row(user.id)).refresh_failures).toBe(2);
    } finally {
      Object.assign(env, { UPSTREAM_TIMEOUT_MS: original });
    }

    const third = await storeContext(user.id, { now: () => Date.now() + 31_000 + 61_000 });
    const fresh = await getAccessToken(third.ctx, { horizonMs });
    expect(fresh.version).toBe(kept.version + 1);
    expect((await sim.counters())['POST /oauth/token']).toBe(3);
    // The 503 and the hang answered before Trakt's token handler ran: only the last try reached it.
    expect(await sim.refreshTokenSends()).toEqual({ sends: 1, distinct: 1, sent_more_than_once: 0 });
    expect((await row(user.id)).refresh_failures).toBe(0);
  });

  it('a code exchange whose answer is lost is not sent again; nothing is connected', async () => {
    const app = await createTraktApp(sim);
    const account = await sim.createAccount({ username: `lost_${Date.now()}`, movies: 1, shows: 0 });
    await sim.setSession(account.username);
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    const auth = await read(api(user.access).trakt.authenticate.$get());
    const redirect = await sim.authorize(auth.body.auth_url);
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 5, kind: 'process_then_502' });
    await sim.clearRequests();
    expectError(
      await call('POST', '/trakt/oauth-callback/', {
        token: user.access,
        json: { code: redirect.code, state: redirect.state },
      }),
      502,
    );
    expect((await sim.counters())['POST /oauth/token']).toBe(1);
    expect((await read(api(user.access).trakt['auth-status'].$get())).body.authenticated).toBe(false);
  });
});

describe('rule 3: a client-credentials problem is reported and keeps every token', () => {
  // A firewall's HTML page is no verdict on the credentials: transient (test/trakt-2026-answers.test.ts).
  it.each([['a 401 invalid_client', { kind: 'invalid_client' as const }]])(
    '%s: auth-status says client_credentials_rejected while the access token works',
    async (_label, fault) => {
      const user = await connectedUser(sim);
      const before = await row(user.id);
      await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 1, ...fault });
      expectError(
        await call('GET', '/trakt/refresh-token/', { token: user.access }),
        400,
        'Trakt rejected the client credentials; check your Trakt client id and secret',
      );
      const after = await row(user.id);
      expect(after).toMatchObject({
        status: 'active',
        token_version: before.token_version,
        sealed_tokens: before.sealed_tokens,
        refresh_lease_id: 'backoff',
      });
      expect(after.credentials_rejected_at).not.toBeNull();
      expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body).toEqual({
        authenticated: true,
        token_expired: false,
        expires_at: before.expires_at,
        reason: 'client_credentials_rejected',
      });
      expect((await call('GET', '/trakt/watching/', { token: user.access })).status).toBe(200);
    },
  );

  it('a wrong client secret, rejected by the simulator: kept, then healed once the secret is fixed', async () => {
    await sim.config({ expires_in: 1800 }); // expires within the API login's hour, so the fake clock keeps it valid
    const user = await connectedUser(sim);
    const storeSecret = async (secret: string) => {
      const res = await read(
        api(user.access).users['api-keys'].$post({
          json: { service_name: 'trakt', service_user_id: user.app.client_id, api_key: secret },
        }),
      );
      expect(res.status).toBe(200); // replaced
    };
    await storeSecret('not-the-secret');
    await sim.clearRequests();
    expectError(await read(api(user.access).trakt['refresh-token'].$get()), 400, /client credentials/);
    const requests = await sim.requests();
    expect(requests.filter((r) => r.path === '/oauth/token').map((r) => r.status)).toEqual([401]);
    expect(await sim.refreshTokenSends()).toEqual({ sends: 1, distinct: 1, sent_more_than_once: 0 });

    const { expires_at } = await row(user.id);
    await withFakeNow(Date.parse(expires_at) - Date.now() + 1000, async () => {
      expect((await read(api(user.access).trakt['auth-status'].$get())).body).toEqual({
        authenticated: false,
        auth_url: 'http://api.test/trakt/authenticate/',
        reason: 'client_credentials_rejected',
      });
    });

    await storeSecret(user.app.client_secret);
    const later = await storeContext(user.id, { now: () => Date.now() + 31_000 });
    const fresh = await getAccessToken(later.ctx, { force: true });
    expect(fresh.version).toBe((await row(user.id)).token_version);
    expect((await row(user.id)).credentials_rejected_at).toBeNull();
    expect((await read(api(user.access).trakt['auth-status'].$get())).body.reason).toBeUndefined();
  });
});

describe('rule 4: the new pair is durable the moment Trakt answers; a KV miss is never final', () => {
  it('the refreshed set is sealed into D1 with the version that ends the lease, and KV holds the same', async () => {
    const user = await connectedUser(sim);
    const before = await row(user.id);
    const res = await read(api(user.access).trakt['refresh-token'].$get());
    expect(res.status).toBe(200);
    const after = await row(user.id);
    expect(after).toMatchObject({
      token_version: before.token_version + 1,
      refresh_lease_id: null,
      refresh_lease_until: null,
      pending_token_set_id: null,
    });
    expect(after.sealed_tokens).toMatch(/^v1\.k2\./);
    expect(after.sealed_tokens).not.toContain(res.body.access_token);
    expect((await openSet(user.id, after.sealed_tokens!)).access_token).toBe(res.body.access_token);
    expect((await currentSet(user.id)).access_token).toBe(res.body.access_token);
  });

  it('a KV key deleted under a reader: it falls back to the journal, puts it back, refreshes nothing', async () => {
    const user = await connectedUser(sim);
    const expected = await currentSet(user.id);
    const { token_set_id } = await row(user.id);
    await sim.clearRequests();
    const reader = await storeContext(user.id, { kv: deletingBeforeRead(env.KV) });
    const token = await withAccessToken(reader.ctx, async (accessToken) => accessToken);
    expect(token).toBe(expected.access_token);
    expect((await sim.counters())['POST /oauth/token'] ?? 0).toBe(0);
    expect(await env.KV.get(`trakt_tokens:${user.id}:${token_set_id}`)).not.toBeNull(); // put back
    expect((await row(user.id)).status).toBe('active');
  });

  it('a KV write that fails after Trakt answered loses nothing: the next reader gets the pair from D1', async () => {
    const user = await connectedUser(sim);
    const refresher = await storeContext(user.id, { kv: failingWrites(env.KV) });
    const fresh = await getAccessToken(refresher.ctx, { force: true });
    await refresher.settled().catch(() => undefined);
    await sim.clearRequests();
    const reader = await storeContext(user.id);
    const fromD1 = await getAccessToken(reader.ctx);
    expect(fromD1).toEqual({ accessToken: fresh.accessToken, expiresAt: fresh.expiresAt, version: fresh.version });
    expect((await sim.counters())['POST /oauth/token'] ?? 0).toBe(0);
    expect((await read(api(user.access).trakt.watching.$get())).status).toBe(200);
  });
});

describe('rule 5: old token sets expire; they are not deleted under a reader', () => {
  it('the superseded set stays readable in KV with a TTL of a few minutes', async () => {
    const user = await connectedUser(sim);
    const old = await row(user.id);
    const { ctx, settled } = await storeContext(user.id);
    await getAccessToken(ctx, { force: true });
    await settled();
    const oldKey = `trakt_tokens:${user.id}:${old.token_set_id}`;
    expect(await env.KV.get(oldKey)).toBe(old.sealed_tokens);
    const listed = await env.KV.list({ prefix: `trakt_tokens:${user.id}:` });
    const entry = listed.keys.find((k) => k.name === oldKey);
    expect(entry?.expiration).toBeGreaterThan(Date.now() / 1000);
    expect(entry!.expiration!).toBeLessThanOrEqual(Date.now() / 1000 + SUPERSEDED_TOKEN_SET_TTL_SECONDS + 5);
  });
});

describe('rule 6: the refresh lease outlasts the worst-case refresh', () => {
  it('is derived from UPSTREAM_TIMEOUT_MS, which is validated with a maximum', async () => {
    expect(upstreamTimeoutMs({ UPSTREAM_TIMEOUT_MS: '' })).toBe(10_000);
    expect(upstreamTimeoutMs({ UPSTREAM_TIMEOUT_MS: '2500' })).toBe(2500);
    for (const bad of ['0', '-1', '1.5', 'ten', String(MAX_UPSTREAM_TIMEOUT_MS + 1)]) {
      expect(() => upstreamTimeoutMs({ UPSTREAM_TIMEOUT_MS: bad })).toThrow(
        'Server is not configured: UPSTREAM_TIMEOUT_MS must be a whole number of milliseconds from 1 to ' +
          `${MAX_UPSTREAM_TIMEOUT_MS}`,
      );
    }
    expect(refreshLeaseMs(MAX_UPSTREAM_TIMEOUT_MS)).toBeGreaterThan(MAX_UPSTREAM_TIMEOUT_MS);

    const user = await connectedUser(sim);
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 1, kind: 'hold' });
    const { ctx } = await storeContext(user.id);
    const takenAt = Date.now();
    const refreshing = getAccessToken({ ...ctx, now: () => takenAt }, { force: true });
    await sim.whenHeld(1);
    const leased = await row(user.id);
    expect(Date.parse(leased.refresh_lease_until!) - takenAt).toBe(refreshLeaseMs(upstreamTimeoutMs(env)));
    expect(leased.pending_token_set_id).not.toBeNull();
    await sim.releaseHeld();
    expect((await refreshing).version).toBe(leased.token_version + 1);

    const original = env.UPSTREAM_TIMEOUT_MS;
    Object.assign(env, { UPSTREAM_TIMEOUT_MS: '600000' });
    try {
      expectError(await read(api(user.access).trakt.watching.$get()), 503, /UPSTREAM_TIMEOUT_MS/);
    } finally {
      Object.assign(env, { UPSTREAM_TIMEOUT_MS: original });
    }
  });
});

describe('rule 7: disconnect and refresh cannot interleave', () => {
  it('a disconnect during a refresh removes everything; the pair Trakt issued meanwhile is revoked', async () => {
    const user = await connectedUser(sim);
    const old = await currentSet(user.id);
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 1, kind: 'process_then_hold' });
    const refresher = await storeContext(user.id);
    const refreshing = getAccessToken(refresher.ctx, { force: true }).then(
      () => 'refreshed',
      (error: Error) => error.message,
    );
    await sim.whenHeld(1); // Trakt has rotated the pair; its answer is on the way

    const res = await read(api(user.access).trakt.auth.$delete());
    expect(res.body).toEqual({ disconnected: true, revoked_at_trakt: true });
    expect(await env.DB.prepare('SELECT 1 FROM trakt_connections WHERE user_id = ?').bind(user.id).first()).toBeNull();

    await sim.releaseHeld();
    expect(await refreshing).toBe('No Trakt token found');
    await refresher.settled();
    expect((await env.KV.list({ prefix: `trakt_tokens:${user.id}:` })).keys).toEqual([]);
    expect(await env.DB.prepare('SELECT 1 FROM trakt_connections WHERE user_id = ?').bind(user.id).first()).toBeNull();
    // Every access token Trakt issued for this account is dead: the old one and the one issued during the race.
    const issued = [...sim.instance.state.tokens.values()].filter((t) => t.username === user.traktUsername);
    expect(issued.length).toBe(2);
    expect(issued.map((t) => t.accessToken)).toContain(old.access_token);
    for (const token of issued) expect(await sim.tokenActive(token.accessToken)).toBe(false);
    expect((await sim.counters())['POST /oauth/revoke']).toBe(2);
  });
});

describe("rule 8: a GET never links an account; only the state owner's POST with their JWT does", () => {
  async function startAuthorization() {
    const app = await createTraktApp(sim);
    const account = await sim.createAccount({ username: `victim_${Date.now()}`, movies: 1, shows: 0 });
    await sim.setSession(account.username);
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    const auth = await read(api(user.access).trakt.authenticate.$get());
    const redirect = await sim.authorize(auth.body.auth_url);
    expect(redirect.code).toBeTruthy();
    return { user, redirect };
  }

  const ACCEPT_HEADERS = [
    undefined, // fetch(…, {mode: "no-cors"}) from another page
    '*/*',
    'image/avif,image/webp,image/*,*/*;q=0.8', // an <img src="…">
    'application/json',
    'text/html,application/xhtml+xml',
    '',
  ];

  it('a GET of the callback never links, whatever the headers (a crafted <img> or no-cors fetch)', async () => {
    // The attacker starts an authorization in their own API account; the victim, signed in to Trakt, loads the
    // auth_url through a page the attacker controls, and Trakt redirects with the victim's code and that state.
    const { user: attacker, redirect } = await startAuthorization();
    const stateHash = [
      ...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(redirect.state!))),
    ]
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('');
    await sim.clearRequests();
    for (const accept of ACCEPT_HEADERS) {
      const page = await call('GET', `/trakt/oauth-callback/?code=${redirect.code}&state=${redirect.state}`, {
        headers: accept === undefined ? {} : { Accept: accept },
      });
      expect(page.status).toBe(200);
      expect(page.headers.get('Content-Type')).toMatch(/text\/html/);
      expect(page.headers.get('Cache-Control')).toBe('no-store');
      expect(String(page.body)).not.toContain(redirect.code!); // shown by the page's script, never by the server
    }
    // Trakt never saw the code, nothing is linked, and the state was neither used nor read into a write.
    expect((await sim.counters())['POST /oauth/token'] ?? 0).toBe(0);
    expectError(await call('GET', '/trakt/refresh-token/', { token: attacker.access }), 401, 'No Trakt token found');
    expect((await call('GET', '/trakt/auth-status/', { token: attacker.access })).body.authenticated).toBe(false);
    expect(
      await env.DB.prepare('SELECT 1 FROM oauth_state_uses WHERE state_hash = ?').bind(stateHash).first(),
    ).toBeNull();
    expect(await env.KV.get(`oauth_state:${stateHash}`)).not.toBeNull();
  });

  it("the victim's own signed-in browser cannot link the crafted state either", async () => {
    const { user: attacker, redirect } = await startAuthorization();
    const victim = await registerAndLogin();
    // The page's confirmation button sends the code with the JWT of whoever is signed in: the victim.
    expectError(
      await call('POST', '/trakt/oauth-callback/', {
        token: victim.access,
        json: { code: redirect.code, state: redirect.state },
      }),
      400,
      /another user/,
    );
    for (const user of [attacker, victim]) {
      expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(false);
    }
    expect((await sim.counters())['POST /oauth/token'] ?? 0).toBe(0);
  });

  it('the state owner links by confirming: the POST with their JWT', async () => {
    const { user, redirect } = await startAuthorization();
    await call('GET', `/trakt/oauth-callback/?code=${redirect.code}&state=${redirect.state}`);
    const res = await call('POST', '/trakt/oauth-callback/', {
      token: user.access,
      json: { code: redirect.code, state: redirect.state },
    });
    expect(res.status).toBe(200);
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(true);
  });

  it('the device flow names the API account too', async () => {
    const app = await createTraktApp(sim);
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    const code = await read(api(user.access).trakt.device.code.$post());
    expect(code.status).toBe(200);
    expect(code.body.api_username).toBe(user.username);
  });
});

describe('base URLs with a path', () => {
  it('keeps the path prefix of TRAKT_AUTH_URL and TRAKT_API_URL', async () => {
    expect(joinUrl('https://proxy.example.com/trakt/', '/oauth/token').toString()).toBe(
      'https://proxy.example.com/trakt/oauth/token',
    );
    await sim.config({ path_prefix: '/trakt-proxy' });
    const original = { api: env.TRAKT_API_URL, auth: env.TRAKT_AUTH_URL };
    Object.assign(env, {
      TRAKT_API_URL: `${original.api}/trakt-proxy`,
      TRAKT_AUTH_URL: `${original.auth}/trakt-proxy`,
    });
    try {
      const user = await connectedUser(sim);
      const auth = await read(api(user.access).trakt.authenticate.$get());
      expect(new URL(auth.body.auth_url).pathname).toBe('/trakt-proxy/oauth/authorize');
      expect((await read(api(user.access).trakt['refresh-token'].$get())).status).toBe(200);
      expect((await read(api(user.access).trakt.watching.$get())).status).toBe(200);
      const paths = (await sim.requests()).map((r) => r.path);
      expect(paths).toContain('/oauth/token');
      expect(paths).toContain('/users/me/watching');
    } finally {
      Object.assign(env, { TRAKT_API_URL: original.api, TRAKT_AUTH_URL: original.auth });
    }
  });
});

describe('token store edge cases', () => {
  it('adopts a set journaled in D1 whose KV copy was never written, without refreshing again', async () => {
    const user = await connectedUser(sim);
    const dying = await storeContext(user.id, { kv: failingWrites(env.KV) });
    const fresh = await getAccessToken(dying.ctx, { force: true });
    await dying.settled().catch(() => undefined);
    const journaled = await row(user.id);
    expect(await env.KV.get(`trakt_tokens:${user.id}:${journaled.token_set_id}`)).toBeNull();

    await sim.clearRequests();
    const next = await storeContext(user.id);
    expect((await getAccessToken(next.ctx)).accessToken).toBe(fresh.accessToken);
    expect((await sim.counters())['POST /oauth/token'] ?? 0).toBe(0);
    expect(await env.KV.get(`trakt_tokens:${user.id}:${journaled.token_set_id}`)).toBe(journaled.sealed_tokens);
  });

  it('a lost refresh lease: the refresher Trakt answered still publishes over its successor rejection', async () => {
    const user = await connectedUser(sim);
    const start = await row(user.id);
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 1, kind: 'process_then_hold' });
    const slow = await storeContext(user.id);
    const slowRefresh = getAccessToken(slow.ctx, { force: true });
    await sim.whenHeld(1); // Trakt rotated the pair for the slow refresher; its answer is held

    // Past the slow refresher's lease, another caller takes it and sends the (now spent) refresh token.
    const lease = refreshLeaseMs(upstreamTimeoutMs(env));
    const successor = await storeContext(user.id, { now: () => Date.now() + lease + 1000 });
    const successorToken = await getAccessToken(successor.ctx, { force: true });
    expect(successorToken.reauthorizationRequiredSoon).toBe(true);
    expect((await row(user.id)).status).toBe('refresh_rejected');

    await sim.releaseHeld();
    const published = await slowRefresh;
    expect(published.version).toBe(start.token_version + 1);
    expect(await row(user.id)).toMatchObject({ status: 'active', token_version: start.token_version + 1 });
    expect((await read(api(user.access).trakt['auth-status'].$get())).body).toEqual({
      authenticated: true,
      token_expired: false,
      expires_at: (await row(user.id)).expires_at,
    });
    expect((await read(api(user.access).trakt.watching.$get())).status).toBe(200);
  });

  it('the wait deadline: a waiter gives up with a retryable 503 unless its token is still valid', async () => {
    const user = await connectedUser(sim);
    await sim.addFault({ match: { path_prefix: '/oauth/token' }, times: 1, kind: 'hold' });
    const holder = await storeContext(user.id);
    const holding = getAccessToken(holder.ctx, { force: true });
    await sim.whenHeld(1);

    // Waiters on a simulated clock that moves a second per poll: the deadline comes without real waiting.
    const ticking = () => {
      let now = Date.now();
      return {
        now: () => now,
        sleep: async () => {
          now += 1000;
        },
      };
    };
    const forced = await storeContext(user.id, ticking());
    const error = await getAccessToken(forced.ctx, { force: true }).catch((e: Error) => e);
    expect(error).toMatchObject({ status: 503, message: 'Trakt token refresh is taking too long; try again shortly' });
    expect((error as { retryAfter?: number }).retryAfter).toBe(5);
    const margin = await storeContext(user.id, ticking());
    // Inside the refresh margin (the cron's horizon) but not expired: it gets the current token at the deadline.
    const current = await getAccessToken(margin.ctx, { horizonMs: 2 * 86_400_000 });
    expect(current.accessToken).toBe((await currentSet(user.id)).access_token);

    await sim.releaseHeld();
    expect((await holding).version).toBe(current.version + 1);
  });
});

describe('concurrency', () => {
  it('3 rounds of 24 concurrent refreshes, syncs, status calls, reads: no token sent twice, no 5xx', async () => {
    const user = await connectedUser(sim, { movies: 20, shows: 2 });
    await sim.clearRequests();
    const requests: Array<() => ReturnType<typeof call>> = [
      () => read(api(user.access).trakt['refresh-token'].$get()),
      () => read(api(user.access).trakt['fetch-latest-movies'].$post()),
      () => read(api(user.access).trakt['auth-status'].$get()),
      () => read(api(user.access).trakt['get-stored-movies'].$get({ query: {} })),
      () => read(api(user.access).trakt.watching.$get()),
      () => read(api(user.access).trakt['sync-status'].$get()),
    ];
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      const responses = await Promise.all(Array.from({ length: 24 }, (_, i) => requests[i % requests.length]!()));
      statuses.push(...responses.map((r) => r.status));
    }
    expect(statuses).toHaveLength(72);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(36);
    const sends = await sim.refreshTokenSends();
    expect(sends.sends).toBeGreaterThanOrEqual(3); // positive control: refreshes did happen
    expect(sends.sent_more_than_once).toBe(0);
    expect((await read(api(user.access).trakt['auth-status'].$get())).body).toMatchObject({
      authenticated: true,
      token_expired: false,
    });
    expect((await row(user.id)).status).toBe('active');
  });
});
