/**
 * @module
 * Accounts of this API: registration, credential checks (throttled) and password changes.
 * Owns the `users` table.
 */
import { eq, type SQL, sql } from 'drizzle-orm';
import { chargeRegistration, type LoginAttempt, throttledPasswordCheck } from '../auth/login-throttle';
import { closeAllSessions } from '../auth/sessions';
import { tokensValidAfter } from '../auth/token-revocation';
import { registrationMode } from '../config';
import { decoyPasswordHash, hashPassword, verifyPassword } from '../crypto/password';
import { type Database, isoNow } from '../db/client';
import { users } from '../db/schema';
import { ApiError } from '../http/errors';

export const REGISTRATION_CLOSED = 'Registration is closed';
export const INVALID_CREDENTIALS = 'Invalid username or password';

export async function hasAnyUser(db: Database): Promise<boolean> {
  const row = await db.query.users.findFirst({ columns: { id: true } });
  return row !== undefined;
}

/**
 * Creates an account. With `onlyIfFirst` (registration closed) the insert is conditional on an
 * empty table in the same statement, so two racing bootstrap registrations cannot both succeed.
 */
export async function registerUser(
  db: Database,
  username: string,
  password: string,
  options: { onlyIfFirst?: boolean; now?: number } = {},
) {
  const passwordHash = await hashPassword(password);
  const createdAt = isoNow(options.now);
  if (options.onlyIfFirst) {
    const [first] = await db.all<{ id: number; username: string }>(
      sql`INSERT INTO users (username, password_hash, created_at) SELECT ${username}, ${passwordHash}, ${createdAt}
          WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING id, username`,
    );
    if (!first) throw new ApiError(403, REGISTRATION_CLOSED);
    return first;
  }
  const [created] = await db
    .insert(users)
    .values({ username, passwordHash, createdAt })
    .onConflictDoNothing()
    .returning({ id: users.id, username: users.username });
  if (!created) throw new ApiError(409, 'A user with that username already exists');
  return created;
}

/**
 * Registration as every client gets it: the REGISTRATION mode (closed still admits the first account of an
 * empty database, so a fresh deployment can bootstrap), the per-address registration throttle, then the account.
 */
export async function registerAccount(
  env: Env,
  db: Database,
  input: { username: string; password: string },
  address: string | undefined,
) {
  const closed = registrationMode(env) === 'closed';
  if (closed && (await hasAnyUser(db))) throw new ApiError(403, REGISTRATION_CLOSED);
  await chargeRegistration(db, address);
  return registerUser(db, input.username, input.password, { onlyIfFirst: closed });
}

async function findCredentials(db: Database, where: SQL) {
  return db.query.users.findFirst({ columns: { id: true, username: true, passwordHash: true }, where });
}

/**
 * Returns the user id for valid credentials. An unknown username costs the same PBKDF2 work as
 * a known one (a decoy hash is verified), so timing does not reveal which usernames exist; and
 * it is throttled by the same counters, so a 429 does not reveal it either.
 */
export async function authenticateUser(db: Database, attempt: LoginAttempt, password: string): Promise<number> {
  const userId = await throttledPasswordCheck(db, attempt, async () => {
    const decoy = await decoyPasswordHash();
    const user = await findCredentials(db, sql`lower(${users.username}) = lower(${attempt.username})`);
    const valid = await verifyPassword(password, user?.passwordHash ?? decoy);
    return user && valid ? user.id : undefined;
  });
  if (!userId) throw new ApiError(401, INVALID_CREDENTIALS);
  return userId;
}

/**
 * Re-checks the signed-in user's password before a sensitive change, under the same throttle as
 * logins (a wrong one counts as a failure). Wrong → 403 with `message`.
 */
export async function confirmPassword(
  db: Database,
  userId: number,
  password: string,
  address: string | undefined,
  message: string,
): Promise<{ id: number; username: string }> {
  const user = await findCredentials(db, eq(users.id, userId));
  if (!user) throw new ApiError(401, 'User no longer exists', { headers: { 'WWW-Authenticate': 'Bearer' } });
  const confirmed = await throttledPasswordCheck(db, { username: user.username, address }, async () =>
    (await verifyPassword(password, user.passwordHash)) ? user : undefined,
  );
  if (!confirmed) throw new ApiError(403, message);
  return { id: user.id, username: user.username };
}

/**
 * Stores a new password hash and revokes every token issued before, in one transaction: the refresh
 * tokens (their sessions) and the access tokens (`tokens_valid_after`).
 */
export async function changePassword(
  db: Database,
  userId: number,
  newPassword: string,
  now: number = Date.now(),
): Promise<void> {
  const passwordHash = await hashPassword(newPassword);
  await db.batch([
    db
      .update(users)
      .set({ passwordHash, tokensValidAfter: tokensValidAfter(now) })
      .where(eq(users.id, userId)),
    closeAllSessions(db, userId),
  ]);
}

/** "Log out everywhere": revokes every refresh token and every access token issued so far, in one transaction. */
export async function logOutEverywhere(db: Database, userId: number, now: number = Date.now()): Promise<void> {
  await db.batch([
    db
      .update(users)
      .set({ tokensValidAfter: tokensValidAfter(now) })
      .where(eq(users.id, userId)),
    closeAllSessions(db, userId),
  ]);
}

export async function findUser(db: Database, userId: number) {
  return db.query.users.findFirst({
    columns: { id: true, username: true, createdAt: true },
    where: eq(users.id, userId),
  });
}

/** The access-token gate's columns, for a statement that already reads the user's row (the read endpoints' freshness row). */
export const tokenGateColumns = { tokensValidAfter: users.tokensValidAfter };

/** What the access-token gate needs from the user's row (one primary-key read); undefined when the user is gone. */
export async function readTokenGate(db: Database, userId: number) {
  return db.query.users.findFirst({ columns: { tokensValidAfter: true }, where: eq(users.id, userId) });
}

/** A statement deleting the account row itself, for the account-deletion batch (last, after its dependants). */
export function deleteUserRow(db: Database, userId: number) {
  return db.delete(users).where(eq(users.id, userId));
}
