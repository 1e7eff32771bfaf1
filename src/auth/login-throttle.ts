/**
 * @module
 * Login and registration throttling in D1. Owns `login_throttle` and `login_failure_usernames`.
 *
 * - An account (by lower-cased username, so unknown usernames behave exactly like known ones) is
 *   locked after LOGIN_FAILURES_PER_ACCOUNT failures in a streak, from any address.
 * - A client address (`CF-Connecting-IP`; IPv6 by /64) is locked for every login once it has
 *   failed against LOGIN_USERNAMES_PER_ADDRESS distinct usernames in its streak.
 * - Each failure past a limit doubles the wait, up to LOGIN_LOCKOUT_MAX_SECONDS.
 * - A locked attempt is refused before the password hash is computed, so it costs no PBKDF2.
 *
 * The account's failure is charged BEFORE the password is checked and refunded (the counter is
 * reset) when it turns out right. So a burst of parallel guesses cannot all slip past the check
 * before any failure is recorded: the 11th concurrent guess finds the lock. Every write is a
 * compare-and-set on the row's `revision`, so concurrent writers never lose an increment.
 * Why D1 and not KV or the Rate Limiting binding: KV has no compare-and-set and is eventually
 * consistent, and the binding's 10 s / 60 s windows cannot express 15-minute streaks or 1-hour locks.
 */
import { and, count, eq, gte, sql } from 'drizzle-orm';
import {
  LOGIN_FAILURE_WINDOW_MS,
  LOGIN_FAILURES_PER_ACCOUNT,
  LOGIN_LOCKOUT_MAX_SECONDS,
  LOGIN_USERNAMES_PER_ADDRESS,
  REGISTRATION_WINDOW_MS,
} from '../config';
import { type Database, isoNow } from '../db/client';
import { loginFailureUsernames, loginThrottle } from '../db/schema';
import { ApiError } from '../http/errors';
import {
  addressKey,
  afterFailure,
  type CounterState,
  currentStreak,
  lockedForSeconds,
  registrationDecision,
} from './throttle-policy';

export const TOO_MANY_LOGINS = 'Too many login attempts; try again later';
export const TOO_MANY_REGISTRATIONS = 'Too many registrations from this address; try again later';

/** Compare-and-set retries before a contended counter is treated as an attack in progress. */
const MAX_WRITE_ATTEMPTS = 5;
/** After this long without activity no counter can matter any more (longest lock + the window). */
export const THROTTLE_STALE_AFTER_MS = Math.max(
  LOGIN_LOCKOUT_MAX_SECONDS * 1000 + LOGIN_FAILURE_WINDOW_MS,
  REGISTRATION_WINDOW_MS,
);
export const MAX_THROTTLE_ROWS_PRUNED_PER_RUN = 1000;

/** Who is trying: the username as typed and the client address (absent outside Cloudflare's edge). */
export type LoginAttempt = { username: string; address?: string };

type Row = typeof loginThrottle.$inferSelect;

const accountSubject = (username: string) => `account:${username.toLowerCase()}`;
const addressSubject = (address: string) => `ip:${addressKey(address)}`;
const registerSubject = (address: string) => `register:${addressKey(address)}`;

function toState(row: Row): CounterState {
  return {
    count: row.count,
    lockouts: row.lockouts,
    startedAt: Date.parse(row.startedAt),
    lastAt: Date.parse(row.lastAt),
    lockedUntil: row.lockedUntil ? Date.parse(row.lockedUntil) : null,
  };
}

function tooManyLogins(retryAfter: number): ApiError {
  return new ApiError(429, TOO_MANY_LOGINS, { retryAfter: Math.max(1, retryAfter) });
}

async function readRow(db: Database, subject: string): Promise<Row | undefined> {
  return db.query.loginThrottle.findFirst({ where: eq(loginThrottle.subject, subject) });
}

/** Writes `next` if the row is still at the revision it was read at; false when someone else wrote first. */
async function writeIfUnchanged(
  db: Database,
  subject: string,
  read: Row | undefined,
  next: CounterState,
): Promise<boolean> {
  const values = {
    count: next.count,
    lockouts: next.lockouts,
    startedAt: isoNow(next.startedAt),
    lastAt: isoNow(next.lastAt),
    lockedUntil: next.lockedUntil === null ? null : isoNow(next.lockedUntil),
  };
  const written = read
    ? await db
        .update(loginThrottle)
        .set({ ...values, revision: read.revision + 1 })
        .where(and(eq(loginThrottle.subject, subject), eq(loginThrottle.revision, read.revision)))
        .returning({ subject: loginThrottle.subject })
    : await db
        .insert(loginThrottle)
        .values({ subject, ...values, revision: 1 })
        .onConflictDoNothing()
        .returning({ subject: loginThrottle.subject });
  return written.length > 0;
}

/**
 * Refuses the attempt (429, Retry-After) while its account or address is locked; otherwise charges
 * the account one failure, to be reset by `passwordCheckSucceeded` if the password is right.
 */
async function admitAndCharge(db: Database, attempt: LoginAttempt, now: number): Promise<void> {
  const account = accountSubject(attempt.username);
  if (attempt.address) {
    const row = await readRow(db, addressSubject(attempt.address));
    const wait = lockedForSeconds(row && toState(row), now);
    if (wait > 0) throw tooManyLogins(wait);
  }
  for (let tries = 0; tries < MAX_WRITE_ATTEMPTS; tries++) {
    const row = await readRow(db, account);
    const streak = currentStreak(row && toState(row), now);
    const wait = lockedForSeconds(streak, now);
    if (wait > 0) throw tooManyLogins(wait);
    const next = afterFailure(streak, now, (failures) => failures >= LOGIN_FAILURES_PER_ACCOUNT);
    if (await writeIfUnchanged(db, account, row, next)) return;
  }
  throw tooManyLogins(1);
}

/** A right password resets the account's counter (the address keeps its own). */
async function passwordCheckSucceeded(db: Database, attempt: LoginAttempt): Promise<void> {
  await db.delete(loginThrottle).where(eq(loginThrottle.subject, accountSubject(attempt.username)));
}

/** A wrong password: the account was charged up front; count the username against the address. */
async function passwordCheckFailed(db: Database, attempt: LoginAttempt, now: number): Promise<void> {
  if (!attempt.address) return;
  const address = addressKey(attempt.address);
  const subject = addressSubject(attempt.address);
  await db
    .insert(loginFailureUsernames)
    .values({ address, username: attempt.username.toLowerCase(), failedAt: isoNow(now) })
    .onConflictDoUpdate({
      target: [loginFailureUsernames.address, loginFailureUsernames.username],
      set: { failedAt: isoNow(now) },
    });
  for (let tries = 0; tries < MAX_WRITE_ATTEMPTS; tries++) {
    const row = await readRow(db, subject);
    const streak = currentStreak(row && toState(row), now);
    const [distinct] = await db
      .select({ usernames: count() })
      .from(loginFailureUsernames)
      .where(
        and(eq(loginFailureUsernames.address, address), gte(loginFailureUsernames.failedAt, isoNow(streak.startedAt))),
      );
    const limitReached = (distinct?.usernames ?? 0) >= LOGIN_USERNAMES_PER_ADDRESS;
    if (
      await writeIfUnchanged(
        db,
        subject,
        row,
        afterFailure(streak, now, () => limitReached),
      )
    )
      return;
  }
}

/**
 * Runs a password check under the throttle: refused with 429 before `check` runs (no PBKDF2)
 * while locked; a falsy result counts as a failure, a truthy one resets the account's counter.
 */
export async function throttledPasswordCheck<T>(
  db: Database,
  attempt: LoginAttempt,
  check: () => Promise<T | undefined>,
  now = Date.now(),
): Promise<T | undefined> {
  await admitAndCharge(db, attempt, now);
  const result = await check();
  if (result) await passwordCheckSucceeded(db, attempt);
  else await passwordCheckFailed(db, attempt, now);
  return result;
}

/** Counts a registration attempt from the address; 429 (Retry-After) past REGISTRATIONS_PER_ADDRESS per window. */
export async function chargeRegistration(db: Database, address: string | undefined, now = Date.now()): Promise<void> {
  if (!address) return;
  const subject = registerSubject(address);
  for (let tries = 0; tries < MAX_WRITE_ATTEMPTS; tries++) {
    const row = await readRow(db, subject);
    const decision = registrationDecision(row && toState(row), now);
    if (!decision.allowed) {
      throw new ApiError(429, TOO_MANY_REGISTRATIONS, { retryAfter: Math.max(1, decision.retryAfterSeconds) });
    }
    if (await writeIfUnchanged(db, subject, row, decision.next)) return;
  }
  throw new ApiError(429, TOO_MANY_REGISTRATIONS, { retryAfter: 1 });
}

/** Statements forgetting a username's counters (account deletion), for the caller's batch. */
export function forgetUsername(db: Database, username: string) {
  const lower = username.toLowerCase();
  return [
    db.delete(loginThrottle).where(eq(loginThrottle.subject, accountSubject(lower))),
    db.delete(loginFailureUsernames).where(eq(loginFailureUsernames.username, lower)),
  ];
}

/** Deletes counters that can no longer matter (cron), then usernames of addresses without a counter. */
export async function pruneLoginThrottle(db: Database, now: number): Promise<number> {
  const cutoff = isoNow(now - THROTTLE_STALE_AFTER_MS);
  const counters = await db.run(
    sql`DELETE FROM login_throttle WHERE subject IN (SELECT subject FROM login_throttle
        WHERE last_at < ${cutoff} LIMIT ${MAX_THROTTLE_ROWS_PRUNED_PER_RUN})`,
  );
  const usernames = await db.run(
    sql`DELETE FROM login_failure_usernames WHERE rowid IN (SELECT f.rowid FROM login_failure_usernames f
        WHERE f.failed_at < ${cutoff}
          AND NOT EXISTS (SELECT 1 FROM login_throttle t WHERE t.subject = 'ip:' || f.address)
        LIMIT ${MAX_THROTTLE_ROWS_PRUNED_PER_RUN})`,
  );
  return (counters.meta.changes ?? 0) + (usernames.meta.changes ?? 0);
}
