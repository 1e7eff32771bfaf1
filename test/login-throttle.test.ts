/**
 * Login and registration throttling: thresholds, Retry-After, doubling, reset on success,
 * isolation between accounts, the per-address limit, and that a refused attempt runs no PBKDF2.
 * Over HTTP with `CF-Connecting-IP` as Cloudflare's edge sets it; doubling and expiry through the
 * service with an injected clock (real D1, no sleeps).
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  chargeRegistration,
  pruneLoginThrottle,
  THROTTLE_STALE_AFTER_MS,
  TOO_MANY_LOGINS,
  throttledPasswordCheck,
} from '../src/auth/login-throttle';
import { openSession, pruneExpiredSessions } from '../src/auth/sessions';
import {
  LOGIN_FAILURE_WINDOW_MS,
  LOGIN_FAILURES_PER_ACCOUNT,
  LOGIN_USERNAMES_PER_ADDRESS,
  REFRESH_TOKEN_TTL_SECONDS,
  REGISTRATIONS_PER_ADDRESS,
} from '../src/config';
import { database } from '../src/db/client';
import { ApiError } from '../src/http/errors';
import { call, expectError, registerAndLogin, uniqueName } from './support/api';
import { api, read } from './support/client';

let addressCounter = 0;
/** A fresh client address per test, so tests never share an address counter. */
const newAddress = () => `198.51.100.${++addressCounter}`;

/** A login from `address` (as Cloudflare's edge sets CF-Connecting-IP), through the typed client. */
function login(username: string, password: string, address: string) {
  return read(api(undefined, { 'CF-Connecting-IP': address }).users.token.$post({ json: { username, password } }));
}

async function failLogins(username: string, address: string, times: number) {
  for (let i = 0; i < times; i++) expectError(await login(username, 'wrong password', address), 401);
}

/** Counts PBKDF2 derivations (100,000 iterations each) made during `block`. */
async function pbkdf2Runs<T>(block: () => Promise<T>): Promise<{ result: T; runs: number }> {
  const derive = vi.spyOn(crypto.subtle, 'deriveBits');
  try {
    const result = await block();
    return { result, runs: derive.mock.calls.length };
  } finally {
    derive.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('per-account login throttling', () => {
  it('locks an account after 10 failures: 429 with Retry-After, from any address, without running PBKDF2', async () => {
    const user = await registerAndLogin();
    const attacker = newAddress();
    await failLogins(user.username, attacker, LOGIN_FAILURES_PER_ACCOUNT);

    // Positive control: an attempt that is let through does derive a key.
    const other = await registerAndLogin();
    const allowed = await pbkdf2Runs(() => login(other.username, other.password, attacker));
    expect(allowed.result.status).toBe(200);
    expect(allowed.runs).toBe(1);

    const refused = await pbkdf2Runs(() => login(user.username, user.password, attacker));
    expectError(refused.result, 429, TOO_MANY_LOGINS);
    expect(refused.result.body).toEqual({ error: 'Too many login attempts; try again later' });
    expect(Number(refused.result.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(Number(refused.result.headers.get('Retry-After'))).toBeLessThanOrEqual(60);
    expect(refused.runs).toBe(0);

    // The right password from another address is refused too: the lock is the account's.
    const elsewhere = await pbkdf2Runs(() => login(user.username, user.password, newAddress()));
    expectError(elsewhere.result, 429, TOO_MANY_LOGINS);
    expect(elsewhere.runs).toBe(0);
  });

  it('lets the 10th attempt through (nine failures are below the limit) and refuses the 11th', async () => {
    const user = await registerAndLogin();
    const address = newAddress();
    await failLogins(user.username, address, LOGIN_FAILURES_PER_ACCOUNT - 1);
    expect((await login(user.username, user.password, address)).status).toBe(200);
  });

  it('a successful login resets the account counter', async () => {
    const user = await registerAndLogin();
    const address = newAddress();
    await failLogins(user.username, address, LOGIN_FAILURES_PER_ACCOUNT - 1);
    expect((await login(user.username, user.password, address)).status).toBe(200);
    await failLogins(user.username, address, LOGIN_FAILURES_PER_ACCOUNT - 1);
    expect((await login(user.username, user.password, address)).status).toBe(200);
    await failLogins(user.username, address, LOGIN_FAILURES_PER_ACCOUNT);
    expectError(await login(user.username, user.password, address), 429);
  });

  it('keeps accounts apart: locking one does not affect another, even from the same address', async () => {
    const victim = await registerAndLogin();
    const bystander = await registerAndLogin();
    const address = newAddress();
    await failLogins(victim.username, address, LOGIN_FAILURES_PER_ACCOUNT);
    expectError(await login(victim.username, victim.password, address), 429);
    expect((await login(bystander.username, bystander.password, address)).status).toBe(200);
    expect((await login(bystander.username, bystander.password, newAddress())).status).toBe(200);
  });

  it('throttles an unknown username exactly like a known one (no account-existence oracle)', async () => {
    const ghost = uniqueName('ghost');
    const address = newAddress();
    await failLogins(ghost, address, LOGIN_FAILURES_PER_ACCOUNT);
    const res = await login(ghost, 'wrong password', address);
    expectError(res, 429, TOO_MANY_LOGINS);
    expect(res.headers.get('Retry-After')).toBeTruthy();
  });

  it('counts a username case-insensitively', async () => {
    const user = await registerAndLogin(uniqueName('MixedCase'));
    const address = newAddress();
    for (let i = 0; i < LOGIN_FAILURES_PER_ACCOUNT; i++) {
      const typed = i % 2 ? user.username.toUpperCase() : user.username.toLowerCase();
      expectError(await login(typed, 'wrong password', address), 401);
    }
    expectError(await login(user.username, user.password, address), 429);
  });
});

describe('lock duration (service, injected clock)', () => {
  const db = () => database(env.DB);
  const fail = (username: string, now: number) =>
    throttledPasswordCheck(db(), { username }, async () => undefined, now);
  async function retryAfterAt(username: string, now: number): Promise<number | undefined> {
    try {
      await throttledPasswordCheck(db(), { username }, async () => 'ok', now);
      return undefined;
    } catch (error) {
      if (error instanceof ApiError && error.status === 429) return error.retryAfter;
      throw error;
    }
  }

  it('starts at 60 s and doubles with every further failure, up to 1 hour', async () => {
    const username = uniqueName('doubling');
    let now = Date.parse('2030-01-01T00:00:00.000Z');
    for (let i = 0; i < LOGIN_FAILURES_PER_ACCOUNT; i++) await fail(username, now);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const wait = await retryAfterAt(username, now);
      expect(wait, `lockout ${i + 1}`).toBeTypeOf('number');
      waits.push(wait!);
      now += wait! * 1000; // the lock has just ended: the next attempt is let through and fails
      expect(await retryAfterAt(username, now - 1000)).toBeGreaterThan(0);
      await fail(username, now);
    }
    expect(waits).toEqual([60, 120, 240, 480, 960, 1920, 3600, 3600]);
  });

  it('forgets a streak once the lock has ended and 15 quiet minutes have passed', async () => {
    const username = uniqueName('quiet');
    const start = Date.parse('2030-02-01T00:00:00.000Z');
    for (let i = 0; i < LOGIN_FAILURES_PER_ACCOUNT; i++) await fail(username, start);
    expect(await retryAfterAt(username, start)).toBe(60);
    const afterQuiet = start + 60_000 + LOGIN_FAILURE_WINDOW_MS;
    // Nine fresh failures are below the limit again; before the window passed, one more would have locked.
    for (let i = 0; i < LOGIN_FAILURES_PER_ACCOUNT - 1; i++) await fail(username, afterQuiet);
    expect(await retryAfterAt(username, afterQuiet)).toBeUndefined();
  });

  it('keeps counting failures spread over less than 15 minutes apart', async () => {
    const username = uniqueName('spread');
    let now = Date.parse('2030-03-01T00:00:00.000Z');
    for (let i = 0; i < LOGIN_FAILURES_PER_ACCOUNT; i++) {
      await fail(username, now);
      now += LOGIN_FAILURE_WINDOW_MS / 10;
    }
    expect(await retryAfterAt(username, now - LOGIN_FAILURE_WINDOW_MS / 10)).toBeGreaterThan(0);
  });
});

describe('per-address login throttling', () => {
  it('locks an address that failed against 20 different usernames, for every login from it', async () => {
    const user = await registerAndLogin();
    const address = newAddress();
    for (let i = 0; i < LOGIN_USERNAMES_PER_ADDRESS; i++) {
      expectError(await login(uniqueName('spray'), 'wrong password', address), 401);
    }
    const refused = await pbkdf2Runs(() => login(user.username, user.password, address));
    expectError(refused.result, 429, TOO_MANY_LOGINS);
    expect(Number(refused.result.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(refused.runs).toBe(0);
    // The same account from another address is fine: the address is locked, not the account.
    expect((await login(user.username, user.password, newAddress())).status).toBe(200);
  });

  it('does not lock an address below 20 distinct usernames, however many failures', async () => {
    const user = await registerAndLogin();
    const address = newAddress();
    const names = Array.from({ length: LOGIN_USERNAMES_PER_ADDRESS - 1 }, () => uniqueName('few'));
    for (const name of names) expectError(await login(name, 'wrong password', address), 401);
    for (const name of names.slice(0, 5)) expectError(await login(name, 'wrong password', address), 401);
    expect((await login(user.username, user.password, address)).status).toBe(200);
  });

  it('treats addresses of one IPv6 /64 as one client', async () => {
    const user = await registerAndLogin();
    for (let i = 0; i < LOGIN_USERNAMES_PER_ADDRESS; i++) {
      expectError(await login(uniqueName('v6'), 'wrong password', `2001:db8:77:1::${(i + 1).toString(16)}`), 401);
    }
    expectError(await login(user.username, user.password, '2001:db8:77:1:ffff::1'), 429);
    expect((await login(user.username, user.password, '2001:db8:77:2::1')).status).toBe(200);
  });
});

describe('registration throttling', () => {
  it('allows 100 registrations per address per hour, then 429 without running PBKDF2', async () => {
    const address = newAddress();
    const register = () =>
      read(
        api(undefined, { 'CF-Connecting-IP': address }).users.register.$post({
          json: { username: uniqueName('reg'), password: 'long enough pw' },
        }),
      );
    // 99 attempts charged through the owner module (no 99 PBKDF2 runs in the test), the 100th over HTTP.
    const db = database(env.DB);
    for (let i = 0; i < REGISTRATIONS_PER_ADDRESS - 1; i++) await chargeRegistration(db, address);
    const last = await pbkdf2Runs(register);
    expect(last.result.status).toBe(201);
    expect(last.runs).toBe(1);

    const refused = await pbkdf2Runs(register);
    expectError(refused.result, 429, 'Too many registrations from this address; try again later');
    const retryAfter = Number(refused.result.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(refused.runs).toBe(0);

    // Another address is unaffected.
    const elsewhere = await read(
      api(undefined, { 'CF-Connecting-IP': newAddress() }).users.register.$post({
        json: { username: uniqueName('reg'), password: 'long enough pw' },
      }),
    );
    expect(elsewhere.status).toBe(201);
  });

  it('opens a new window after an hour', async () => {
    const address = newAddress();
    const db = database(env.DB);
    const start = Date.parse('2030-04-01T00:00:00.000Z');
    for (let i = 0; i < REGISTRATIONS_PER_ADDRESS; i++) await chargeRegistration(db, address, start);
    await expect(chargeRegistration(db, address, start + 1000)).rejects.toMatchObject({ status: 429 });
    await expect(chargeRegistration(db, address, start + 3600_000)).resolves.toBeUndefined();
  });
});

describe('password confirmations count toward throttling', () => {
  it('10 wrong current passwords on POST /users/me/password/ lock logins too', async () => {
    const user = await registerAndLogin();
    const address = newAddress();
    for (let i = 0; i < LOGIN_FAILURES_PER_ACCOUNT; i++) {
      expectError(
        await call('POST', '/users/me/password/', {
          token: user.access,
          json: { current_password: 'not it at all', new_password: 'a brand new password' },
          headers: { 'CF-Connecting-IP': address },
        }),
        403,
        'current_password is incorrect',
      );
    }
    expectError(await login(user.username, user.password, newAddress()), 429, TOO_MANY_LOGINS);
    const refused = await read(
      api(user.access).users.me.password.$post({
        json: { current_password: user.password, new_password: 'a brand new password' },
      }),
    );
    expectError(refused, 429, TOO_MANY_LOGINS);
  });
});

describe('cron pruning (injected clock)', () => {
  const db = () => database(env.DB);
  const rows = async (query: string, ...params: unknown[]) =>
    (await env.DB.prepare(query)
      .bind(...params)
      .first<{ n: number }>())!.n;

  it('deletes counters and address usernames idle past the longest lock plus the window, no others', async () => {
    const old = Date.parse('2020-01-01T00:00:00.000Z');
    const stale = uniqueName('stale');
    const recent = uniqueName('recent');
    const address = newAddress();
    await throttledPasswordCheck(db(), { username: stale, address }, async () => undefined, old);
    await throttledPasswordCheck(
      db(),
      { username: recent, address: newAddress() },
      async () => undefined,
      old + 60_000,
    );
    const count = () =>
      rows(
        'SELECT (SELECT count(*) FROM login_throttle WHERE subject IN (?, ?)) + ' +
          '(SELECT count(*) FROM login_failure_usernames WHERE username IN (?, ?)) AS n',
        `account:${stale}`,
        `account:${recent}`,
        stale,
        recent,
      );
    expect(await count()).toBe(4); // per username: its account counter and its row under the address
    await pruneLoginThrottle(db(), old + THROTTLE_STALE_AFTER_MS + 30_000);
    expect(await rows('SELECT count(*) AS n FROM login_throttle WHERE subject = ?', `account:${stale}`)).toBe(0);
    expect(await rows('SELECT count(*) AS n FROM login_failure_usernames WHERE username = ?', stale)).toBe(0);
    expect(await rows('SELECT count(*) AS n FROM login_throttle WHERE subject = ?', `account:${recent}`)).toBe(1);
    expect(await rows('SELECT count(*) AS n FROM login_failure_usernames WHERE username = ?', recent)).toBe(1);
  });

  it('deletes expired sessions only', async () => {
    const user = await registerAndLogin();
    const old = Date.parse('2020-01-01T00:00:00.000Z');
    const expired = await openSession(db(), user.id, old);
    const live = await openSession(db(), user.id, old + 60_000);
    expect(await pruneExpiredSessions(db(), old + REFRESH_TOKEN_TTL_SECONDS * 1000 + 1)).toBeGreaterThanOrEqual(1);
    expect(await rows('SELECT count(*) AS n FROM sessions WHERE id = ?', expired)).toBe(0);
    expect(await rows('SELECT count(*) AS n FROM sessions WHERE id = ?', live)).toBe(1);
  });
});
