/**
 * @module
 * The pure decisions of login and registration throttling: given a counter's state and `now`,
 * is the subject locked, and what is its state after one more failure (or registration)?
 * No I/O here; src/auth/login-throttle.ts reads and writes the counters.
 *
 * A failure streak: failures count toward one streak while each comes within
 * LOGIN_FAILURE_WINDOW_MS of the previous failure or of the end of the lock in force. So
 * "10 failures within 15 minutes" always trips the limit, and waiting out a lock plus the window
 * starts afresh, while an attacker who retries as soon as each lock ends keeps doubling it.
 */
import {
  LOGIN_FAILURE_WINDOW_MS,
  LOGIN_LOCKOUT_BASE_SECONDS,
  LOGIN_LOCKOUT_MAX_SECONDS,
  REGISTRATION_WINDOW_MS,
  REGISTRATIONS_PER_ADDRESS,
} from '../config';

/** One counter (times in epoch milliseconds). */
export type CounterState = {
  count: number;
  lockouts: number;
  startedAt: number;
  lastAt: number;
  lockedUntil: number | null;
};

export function freshCounter(now: number): CounterState {
  return { count: 0, lockouts: 0, startedAt: now, lastAt: now, lockedUntil: null };
}

/** Seconds until the lock ends (rounded up), or 0 when not locked. */
export function lockedForSeconds(state: CounterState | undefined, now: number): number {
  if (!state?.lockedUntil || state.lockedUntil <= now) return 0;
  return Math.ceil((state.lockedUntil - now) / 1000);
}

/** The streak in force at `now`: the stored one, or a fresh one once the window has passed quietly. */
export function currentStreak(state: CounterState | undefined, now: number): CounterState {
  if (!state) return freshCounter(now);
  const quietSince = Math.max(state.lastAt, state.lockedUntil ?? 0);
  return now - quietSince >= LOGIN_FAILURE_WINDOW_MS ? freshCounter(now) : state;
}

/** The n-th lockout of a streak lasts BASE · 2^(n-1) seconds, capped at the maximum. */
export function lockoutSeconds(lockouts: number): number {
  return Math.min(LOGIN_LOCKOUT_MAX_SECONDS, LOGIN_LOCKOUT_BASE_SECONDS * 2 ** Math.max(0, lockouts - 1));
}

/**
 * The streak after one more failure. `limitReached(count)` says whether the limit is reached with
 * this failure counted; every failure from then on adds a lockout, so the wait doubles.
 */
export function afterFailure(
  streak: CounterState,
  now: number,
  limitReached: (countWithThisFailure: number) => boolean,
): CounterState {
  const count = streak.count + 1;
  if (!limitReached(count)) return { ...streak, count, lastAt: now };
  const lockouts = streak.lockouts + 1;
  return { ...streak, count, lockouts, lastAt: now, lockedUntil: now + lockoutSeconds(lockouts) * 1000 };
}

/** A registration attempt from one address: allowed (with the counter after it) or refused for a while. */
export function registrationDecision(
  state: CounterState | undefined,
  now: number,
): { allowed: true; next: CounterState } | { allowed: false; retryAfterSeconds: number } {
  const window = state && now - state.startedAt < REGISTRATION_WINDOW_MS ? state : freshCounter(now);
  if (window.count >= REGISTRATIONS_PER_ADDRESS) {
    return { allowed: false, retryAfterSeconds: Math.ceil((window.startedAt + REGISTRATION_WINDOW_MS - now) / 1000) };
  }
  return { allowed: true, next: { ...window, count: window.count + 1, lastAt: now } };
}

/**
 * The throttling key of a client address: IPv4 as is; IPv6 by its /64 prefix, since one
 * subscriber usually holds a whole /64 and could otherwise rotate through it.
 */
export function addressKey(address: string): string {
  const trimmed = address.trim().toLowerCase();
  if (!trimmed.includes(':')) return trimmed;
  const [head = '', tail] = trimmed.split('::', 2) as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  const prefix = groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '') || '0');
  return `${prefix.join(':')}::/64`;
}
