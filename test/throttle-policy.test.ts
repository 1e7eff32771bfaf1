/**
 * Unit tests for the pure throttling decisions (src/auth/throttle-policy.ts): all inputs, `now`
 * included, are arguments.
 */
import { describe, expect, it } from 'vitest';
import {
  addressKey,
  afterFailure,
  currentStreak,
  freshCounter,
  lockedForSeconds,
  lockoutSeconds,
  registrationDecision,
} from '../src/auth/throttle-policy';
import { LOGIN_FAILURE_WINDOW_MS, REGISTRATION_WINDOW_MS, REGISTRATIONS_PER_ADDRESS } from '../src/config';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

describe('lockouts', () => {
  it('doubles from 60 s and caps at 1 hour', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(lockoutSeconds)).toEqual([60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
  });

  it('locks once the limit is reached with the failure counted, and reports the wait rounded up', () => {
    let streak = freshCounter(T0);
    for (let i = 1; i <= 2; i++) streak = afterFailure(streak, T0, (n) => n >= 3);
    expect(streak).toMatchObject({ count: 2, lockouts: 0, lockedUntil: null });
    expect(lockedForSeconds(streak, T0)).toBe(0);
    streak = afterFailure(streak, T0, (n) => n >= 3);
    expect(streak).toMatchObject({ count: 3, lockouts: 1, lockedUntil: T0 + 60_000 });
    expect(lockedForSeconds(streak, T0 + 500)).toBe(60);
    expect(lockedForSeconds(streak, T0 + 59_001)).toBe(1);
    expect(lockedForSeconds(streak, T0 + 60_000)).toBe(0);
  });
});

describe('streaks', () => {
  it('continue while failures come within the window of the last one or of the lock end', () => {
    const locked = { count: 10, lockouts: 1, startedAt: T0, lastAt: T0, lockedUntil: T0 + 60_000 };
    expect(currentStreak(locked, T0 + 60_000 + LOGIN_FAILURE_WINDOW_MS - 1)).toBe(locked);
    expect(currentStreak(locked, T0 + 60_000 + LOGIN_FAILURE_WINDOW_MS)).toEqual(
      freshCounter(T0 + 60_000 + LOGIN_FAILURE_WINDOW_MS),
    );
    const unlocked = { count: 3, lockouts: 0, startedAt: T0, lastAt: T0, lockedUntil: null };
    expect(currentStreak(unlocked, T0 + LOGIN_FAILURE_WINDOW_MS - 1)).toBe(unlocked);
    expect(currentStreak(unlocked, T0 + LOGIN_FAILURE_WINDOW_MS).count).toBe(0);
    expect(currentStreak(undefined, T0)).toEqual(freshCounter(T0));
  });
});

describe('registrations', () => {
  it('allows REGISTRATIONS_PER_ADDRESS per window, then refuses until the window ends', () => {
    let state = undefined as ReturnType<typeof freshCounter> | undefined;
    for (let i = 0; i < REGISTRATIONS_PER_ADDRESS; i++) {
      const decision = registrationDecision(state, T0 + i);
      expect(decision.allowed).toBe(true);
      if (decision.allowed) state = decision.next;
    }
    expect(state?.count).toBe(REGISTRATIONS_PER_ADDRESS);
    expect(registrationDecision(state, T0 + 1000)).toEqual({
      allowed: false,
      retryAfterSeconds: REGISTRATION_WINDOW_MS / 1000 - 1,
    });
    const next = registrationDecision(state, T0 + REGISTRATION_WINDOW_MS);
    expect(next).toMatchObject({ allowed: true, next: { count: 1, startedAt: T0 + REGISTRATION_WINDOW_MS } });
  });
});

describe('addressKey', () => {
  it('keeps IPv4 addresses and groups IPv6 by /64', () => {
    expect(addressKey(' 203.0.113.9 ')).toBe('203.0.113.9');
    expect(addressKey('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:0DB8:0000:0001:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('2001:db8:0:1::5')).not.toBe(addressKey('2001:db8:0:2::5'));
  });
});
