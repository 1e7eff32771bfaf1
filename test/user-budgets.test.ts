/**
 * Per-user budgets (issue 26, Medium 2): every endpoint that calls Trakt or writes KV answers 429 with
 * Retry-After once a user is over its budget, before anything reaches Trakt, KV or the app-wide limiter;
 * the device flow's `interval` is enforced here; and a client id that never completed a token exchange
 * is paced under the user's own limiter key, never the shared `trakt:<client id>`.
 *
 * The suite's bindings loosen every budget (USER_BUDGET_SCALE=1000); these tests hand the Worker the
 * real budgets (scale 1) through its env.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { BUDGETS, decide, deviceTokenRule, scaled } from '../src/budgets/policy';
import { traktLimiterKey } from '../src/trakt/context';
import { call, expectError, registerAndLogin } from './support/api';
import { connectedUser, createTraktApp, storeTraktCredentials } from './support/trakt';
import { callWith } from './support/worker';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  vi.restoreAllMocks();
  sim.restore();
});

const REAL = { USER_BUDGET_SCALE: '1' };
const real = (method: string, path: string, token: string) => callWith(REAL, method, path, { token });

describe('the budget rule (GCRA)', () => {
  it('lets a burst through, then one request per interval, with an exact Retry-After', () => {
    const rule = { burst: 3, everyMs: 10_000 };
    let tat: number | undefined;
    const at = (now: number) => {
      const decision = decide(tat, now, rule);
      tat = decision.tatMs;
      return decision;
    };
    expect([at(0), at(0), at(0)].map((d) => d.allowed)).toEqual([true, true, true]);
    expect(at(0)).toEqual({ allowed: false, tatMs: 30_000, retryAfterSeconds: 10 });
    expect(at(9_999).allowed).toBe(false); // a refusal does not move the schedule
    expect(at(10_000).allowed).toBe(true);
    expect(at(10_000)).toMatchObject({ allowed: false, retryAfterSeconds: 10 });
    expect(at(60_000).allowed).toBe(true); // idle time refills up to the burst, not beyond
    expect([at(60_000), at(60_000), at(60_000)].map((d) => d.allowed)).toEqual([true, true, false]);
  });

  it('the device poll has no burst: one per interval', () => {
    const first = decide(undefined, 0, deviceTokenRule(5));
    expect(first.allowed).toBe(true);
    expect(decide(first.tatMs, 4_999, deviceTokenRule(5))).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    expect(decide(first.tatMs, 5_000, deviceTokenRule(5)).allowed).toBe(true);
    expect(scaled(deviceTokenRule(5), 1000).burst).toBe(1000); // scaling is for BUDGETS; the poll is never scaled
  });
});

describe('every endpoint that calls Trakt or writes KV has a per-user budget', () => {
  // `spent`: requests of that budget connecting the user already made (connectedUser authorizes once).
  it.each([
    ['GET', '/trakt/watching/', 'watching', 0],
    ['GET', '/trakt/refresh-token/', 'refresh_token', 0],
    ['GET', '/trakt/authenticate/', 'authorize', 1],
    ['POST', '/trakt/fetch-latest-movies/', 'sync_now', 0],
    ['DELETE', '/trakt/auth/', 'disconnect', 0],
  ] as const)(
    '%s %s: 429 with Retry-After after its burst, without calling Trakt',
    async (method, path, budget, spent) => {
      const user = await connectedUser(sim);
      const other = await connectedUser(sim);
      const { burst } = BUDGETS[budget];
      for (let i = spent; i < burst; i++) expect((await real(method, path, user.access)).status).not.toBe(429);
      await sim.clearRequests();
      const refused = await real(method, path, user.access);
      expectError(refused, 429, /^Too many requests of this kind; retry after \d+ seconds$/);
      const retryAfter = Number(refused.headers.get('Retry-After'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(Math.ceil(BUDGETS[budget].everyMs / 1000));
      expect(await sim.requests()).toEqual([]); // nothing reached Trakt
      // Another user's budget is their own.
      expect((await real(method, path, other.access)).status).not.toBe(429);
    },
  );

  it('POST /trakt/oauth-callback/ and POST /trakt/device/code/ are budgeted too', async () => {
    const app = await createTraktApp(sim);
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    for (let i = 0; i < BUDGETS.oauth_callback.burst; i++) {
      const res = await callWith(REAL, 'POST', '/trakt/oauth-callback/', {
        token: user.access,
        json: { code: 'x', state: 'A'.repeat(43) },
      });
      expect(res.status).toBe(400);
    }
    expectError(
      await callWith(REAL, 'POST', '/trakt/oauth-callback/', {
        token: user.access,
        json: { code: 'x', state: 'A'.repeat(43) },
      }),
      429,
    );
    for (let i = 0; i < BUDGETS.device_code.burst; i++) {
      expect((await real('POST', '/trakt/device/code/', user.access)).status).toBe(200);
    }
    await sim.clearRequests();
    expectError(await real('POST', '/trakt/device/code/', user.access), 429);
    expect(await sim.requests()).toEqual([]);
  });

  it('GET /trakt/authenticate/ writes at most its burst of OAuth states to KV', async () => {
    const app = await createTraktApp(sim);
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    const mine = async () =>
      (await env.KV.list<{ user_id: number }>({ prefix: 'oauth_state:' })).keys.filter(
        (k) => k.metadata?.user_id === user.id,
      ).length;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await real('GET', '/trakt/authenticate/', user.access)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(BUDGETS.authorize.burst);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20 - BUDGETS.authorize.burst);
    expect(await mine()).toBe(BUDGETS.authorize.burst);
  });
});

describe("the device flow's interval is enforced here", () => {
  it('a poll sooner than `interval` answers 429 without asking Trakt; after the interval it goes through', async () => {
    const app = await createTraktApp(sim);
    const user = await registerAndLogin();
    await storeTraktCredentials(user.access, app);
    const code = await call('POST', '/trakt/device/code/', { token: user.access });
    expect(code.body.interval).toBe(5);
    expect((await call('POST', '/trakt/device/token/', { token: user.access })).status).toBe(202);
    await sim.clearRequests();
    const tooSoon = await call('POST', '/trakt/device/token/', { token: user.access });
    expectError(tooSoon, 429, 'Polling too fast; wait before polling again');
    expect(Number(tooSoon.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    expect(Number(tooSoon.headers.get('Retry-After'))).toBeLessThanOrEqual(5);
    expect(await sim.requests()).toEqual([]);

    await sim.approveDevice(code.body.user_code, (await sim.createAccount({ username: `dev_${user.id}` })).username);
    await sim.advanceClock(5);
    const realNow = Date.now;
    Date.now = () => realNow() + 5_000;
    try {
      expect((await call('POST', '/trakt/device/token/', { token: user.access })).status).toBe(200);
    } finally {
      Date.now = realNow;
    }
  });
});

describe('the limiter key of a client id', () => {
  it('shared only for the deployment app or an app this user completed a token exchange with', () => {
    const own = { clientId: 'abc', source: 'user' as const };
    expect(traktLimiterKey(own, 7, null)).toBe('trakt-user:7');
    expect(traktLimiterKey(own, 7, 'other')).toBe('trakt-user:7');
    expect(traktLimiterKey(own, 7, 'abc')).toBe('trakt:abc');
    expect(traktLimiterKey({ clientId: 'abc', source: 'deployment' }, 7, null)).toBe('trakt:abc');
  });

  it("storing another user's client id never reaches that app's shared limiter", async () => {
    const owner = await connectedUser(sim);
    const borrower = await registerAndLogin();
    // Client ids are public: the borrower stores the owner's, with a secret of their own invention.
    await call('POST', '/users/api-keys/', {
      token: borrower.access,
      json: { service_name: 'trakt', service_user_id: owner.app.client_id, api_key: 'not-the-secret' },
    });
    const limiterNames = vi.spyOn(env.RATE_LIMITER, 'getByName');
    expect((await call('POST', '/trakt/device/code/', { token: borrower.access })).status).toBe(200);
    expect((await call('POST', '/trakt/device/token/', { token: borrower.access })).status).toBe(400); // Trakt: wrong secret
    const borrowed = limiterNames.mock.calls.map(([name]) => name);
    expect(borrowed.length).toBeGreaterThan(0);
    expect(new Set(borrowed)).toEqual(new Set([`trakt-user:${borrower.id}`]));

    // The owner, whose connection completed an exchange with the app, shares its key.
    limiterNames.mockClear();
    expect((await call('GET', '/trakt/watching/', { token: owner.access })).status).toBe(200);
    expect(new Set(limiterNames.mock.calls.map(([name]) => name))).toEqual(new Set([`trakt:${owner.app.client_id}`]));
  });
});
