/**
 * @module
 * The owner of `sharing_profiles`: a user's opt-in public handle and the parts they share. Every read
 * and write of the table goes through here. Handles are stored lower-case and are unique; changing
 * the handle (or deleting the row) retires the old one at once in D1 (edge copies: ./edge-cache.ts).
 */
import { eq, type SQL, sql } from 'drizzle-orm';
import type { SHARE_PARTS } from '../config';
import { type Database, isoNow } from '../db/client';
import { sharingProfiles, userDataVersions } from '../db/schema';
import { ApiError } from '../http/errors';

export type SharePart = (typeof SHARE_PARTS)[number];

export type SharingSetting = { handle: string; parts: SharePart[]; updatedAt: string };

function parseParts(raw: string): SharePart[] {
  try {
    const parts = JSON.parse(raw) as unknown;
    return Array.isArray(parts) ? (parts.filter((p) => typeof p === 'string') as SharePart[]) : [];
  } catch {
    return [];
  }
}

export async function readSharing(db: Database, userId: number): Promise<SharingSetting | undefined> {
  const [row] = await db.select().from(sharingProfiles).where(eq(sharingProfiles.userId, userId)).limit(1);
  return row ? { handle: row.handle, parts: parseParts(row.parts), updatedAt: row.updatedAt } : undefined;
}

export const HANDLE_TAKEN = 'That handle is taken';

/**
 * Turns sharing on or changes it. Returns the handle it replaced (to drop from the edge cache), if any.
 * A handle held by another user answers 409, whatever the case it was written in.
 */
export async function saveSharing(
  db: Database,
  userId: number,
  setting: { handle: string; parts: readonly SharePart[] },
  now: number,
): Promise<{ previousHandle?: string }> {
  const handle = setting.handle.toLowerCase();
  const parts = JSON.stringify([...new Set(setting.parts)]);
  const previous = await readSharing(db, userId);
  const [holder] = await db
    .select({ userId: sharingProfiles.userId })
    .from(sharingProfiles)
    .where(eq(sharingProfiles.handle, handle))
    .limit(1);
  if (holder && holder.userId !== userId) throw new ApiError(409, HANDLE_TAKEN);
  const at = isoNow(now);
  try {
    await db
      .insert(sharingProfiles)
      .values({ userId, handle, parts, createdAt: at, updatedAt: at })
      .onConflictDoUpdate({ target: sharingProfiles.userId, set: { handle, parts, updatedAt: at } });
  } catch (error) {
    // Another user took it between the check and the write.
    const text = `${(error as Error)?.message ?? ''} ${((error as Error)?.cause as Error | undefined)?.message ?? ''}`;
    if (/UNIQUE constraint failed/i.test(text)) throw new ApiError(409, HANDLE_TAKEN);
    throw error;
  }
  return { previousHandle: previous && previous.handle !== handle ? previous.handle : undefined };
}

/** Turns sharing off. Returns the handle that was retired, if there was one. */
export async function deleteSharing(db: Database, userId: number): Promise<string | undefined> {
  const [row] = await db
    .delete(sharingProfiles)
    .where(eq(sharingProfiles.userId, userId))
    .returning({ handle: sharingProfiles.handle });
  return row?.handle;
}

/** Account deletion's statement for this table. */
export function deleteUserSharing(userId: number): SQL {
  return sql`DELETE FROM sharing_profiles WHERE user_id = ${userId}`;
}

/** What a public request needs to know about a handle: its user, the parts, the data version. */
export type HandleRecord = { userId: number; parts: SharePart[]; version: number };

/** One indexed read: the handle's owner, parts and data version (undefined: no such handle). */
export async function resolveHandle(db: Database, handle: string): Promise<HandleRecord | undefined> {
  const [row] = await db
    .select({ userId: sharingProfiles.userId, parts: sharingProfiles.parts, version: userDataVersions.version })
    .from(sharingProfiles)
    .leftJoin(userDataVersions, eq(userDataVersions.userId, sharingProfiles.userId))
    .where(eq(sharingProfiles.handle, handle.toLowerCase()))
    .limit(1);
  return row ? { userId: row.userId, parts: parseParts(row.parts), version: row.version ?? 0 } : undefined;
}
