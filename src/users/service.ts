/**
 * @module
 * Accounts of this API: registration and credential checks.
 */
import { eq, sql } from 'drizzle-orm';
import { decoyPasswordHash, hashPassword, verifyPassword } from '../crypto/password';
import { type Database, isoNow } from '../db/client';
import { users } from '../db/schema';
import { ApiError } from '../http/errors';

export async function registerUser(db: Database, username: string, password: string, now = Date.now()) {
  const passwordHash = await hashPassword(password);
  const [created] = await db
    .insert(users)
    .values({ username, passwordHash, createdAt: isoNow(now) })
    .onConflictDoNothing()
    .returning({ id: users.id, username: users.username });
  if (!created) throw new ApiError(409, 'A user with that username already exists');
  return created;
}

/**
 * Returns the user id for valid credentials. An unknown username costs the same PBKDF2 work as
 * a known one (a decoy hash is verified), so timing does not reveal which usernames exist.
 */
export async function authenticateUser(db: Database, username: string, password: string): Promise<number> {
  const decoy = await decoyPasswordHash();
  const user = await db.query.users.findFirst({
    columns: { id: true, passwordHash: true },
    where: sql`lower(${users.username}) = lower(${username})`,
  });
  const valid = await verifyPassword(password, user?.passwordHash ?? decoy);
  if (!user || !valid) throw new ApiError(401, 'Invalid username or password');
  return user.id;
}

export async function findUser(db: Database, userId: number) {
  return db.query.users.findFirst({
    columns: { id: true, username: true, createdAt: true },
    where: eq(users.id, userId),
  });
}
