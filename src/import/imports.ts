/**
 * @module
 * The one owner of `trakt_imports` (migration 0013): each user's latest upload of Trakt's export and
 * where it stands, file by file. Every read and write of that table goes through here.
 *
 * - `claimImport`: one statement that creates the user's import, replacing a finished one (or one
 *   that stalled), and refuses while another is queued or running, so two uploads can never run
 *   at once for one user.
 * - `fileImported`: the statement a file's import batch ends with (same D1 transaction as its
 *   plays): the file is done, the counters move, and the import is `done` after its last file.
 *   Guarded: a file that is no longer pending (a queue message delivered twice) changes nothing.
 * - `failImport`: the import is `failed` with its error; files committed before stay committed.
 */
import { and, desc, eq, type SQL, sql } from 'drizzle-orm';
import { type Database, isoNow } from '../db/client';
import { traktImports } from '../db/schema';

export type ImportStatus = 'queued' | 'running' | 'done' | 'failed';
export type FileStatus = 'pending' | 'done' | 'failed';

/** One history file of an import, as stored in `trakt_imports.files`. */
export type ImportFile = {
  name: string;
  /** Where the file's compressed bytes are in the stored archive (`object_key`), and how to inflate them. */
  offset: number;
  compressed_size: number;
  size: number;
  method: number;
  status: FileStatus;
  plays_seen: number;
  plays_added: number;
  plays_skipped: number;
};

export type ImportRow = typeof traktImports.$inferSelect;

/** What the API answers about an import (`{"import": …}`). */
export type ImportView = {
  id: string;
  status: ImportStatus;
  files: Array<Pick<ImportFile, 'name' | 'status' | 'plays_seen' | 'plays_added' | 'plays_skipped'>>;
  plays_seen: number;
  plays_added: number;
  plays_skipped: number;
  error: string | null;
};

export function filesOf(row: ImportRow): ImportFile[] {
  return JSON.parse(row.files) as ImportFile[];
}

export function importView(row: ImportRow): ImportView {
  return {
    id: row.id,
    status: row.status as ImportStatus,
    files: filesOf(row).map((f) => ({
      name: f.name,
      status: f.status,
      plays_seen: f.plays_seen,
      plays_added: f.plays_added,
      plays_skipped: f.plays_skipped,
    })),
    plays_seen: row.playsSeen,
    plays_added: row.playsAdded,
    plays_skipped: row.playsSkipped,
    error: row.error,
  };
}

export const isActive = (status: string) => status === 'queued' || status === 'running';

/**
 * Creates the user's import, replacing the previous one unless that one is still queued or running
 * and has moved since `staleBefore`. Returns the new row, or undefined when an active import is in
 * the way (the caller answers 409).
 */
export async function claimImport(
  db: Database,
  input: {
    id: string;
    userId: number;
    status: 'queued' | 'running';
    files: ImportFile[];
    objectKey: string | null;
    now: number;
    staleBefore: number;
  },
): Promise<ImportRow | undefined> {
  const now = isoNow(input.now);
  const values = {
    id: input.id,
    userId: input.userId,
    status: input.status,
    files: JSON.stringify(input.files),
    playsSeen: 0,
    playsAdded: 0,
    playsSkipped: 0,
    error: null,
    objectKey: input.objectKey,
    createdAt: now,
    updatedAt: now,
    finishedAt: null,
  };
  const rows = await db
    .insert(traktImports)
    .values(values)
    .onConflictDoUpdate({
      target: traktImports.userId,
      set: values,
      setWhere: sql`${traktImports.status} NOT IN ('queued', 'running') OR ${traktImports.updatedAt} < ${isoNow(input.staleBefore)}`,
    })
    .returning();
  return rows[0];
}

/** The user's latest import. */
export async function readLatestImport(db: Database, userId: number): Promise<ImportRow | undefined> {
  return db.query.traktImports.findFirst({
    where: eq(traktImports.userId, userId),
    orderBy: desc(traktImports.createdAt),
  });
}

/** An import by id, only if it is the user's. */
export async function readImport(db: Database, userId: number, id: string): Promise<ImportRow | undefined> {
  return db.query.traktImports.findFirst({
    where: and(eq(traktImports.id, id), eq(traktImports.userId, userId)),
  });
}

/**
 * The statement that records a committed file, to run in the batch that wrote its plays. Returns
 * (`RETURNING`) the import's status and archive after it: `done` once no other file is pending.
 */
export function fileImported(
  importId: string,
  index: number,
  counts: { seen: number; added: number; skipped: number },
  now: number,
): SQL {
  const at = `$[${index}]`;
  const last = sql`NOT EXISTS (SELECT 1 FROM json_each(trakt_imports.files) AS f
    WHERE f.key <> ${index} AND json_extract(f.value, '$.status') = 'pending')`;
  return sql`UPDATE trakt_imports SET
      files = json_set(files, ${`${at}.status`}, 'done', ${`${at}.plays_seen`}, ${counts.seen},
        ${`${at}.plays_added`}, ${counts.added}, ${`${at}.plays_skipped`}, ${counts.skipped}),
      plays_seen = plays_seen + ${counts.seen}, plays_added = plays_added + ${counts.added},
      plays_skipped = plays_skipped + ${counts.skipped},
      status = CASE WHEN ${last} THEN 'done' ELSE 'running' END,
      finished_at = CASE WHEN ${last} THEN ${isoNow(now)} END,
      object_key = CASE WHEN ${last} THEN NULL ELSE object_key END,
      updated_at = ${isoNow(now)}
    WHERE id = ${importId} AND status IN ('queued', 'running')
      AND json_extract(files, ${`${at}.status`}) = 'pending'
    RETURNING status`;
}

/**
 * Marks an active import failed with its error (and the file that failed, if one did). Files
 * committed before stay committed and are listed as done. Returns whether it was still active.
 */
export async function failImport(
  db: Database,
  importId: string,
  error: string,
  now: number,
  fileIndex?: number,
): Promise<boolean> {
  const files = fileIndex === undefined ? sql`files` : sql`json_set(files, ${`$[${fileIndex}].status`}, 'failed')`;
  const rows = await db.all<{ id: string }>(sql`UPDATE trakt_imports SET status = 'failed', error = ${error},
      files = ${files}, finished_at = ${isoNow(now)}, updated_at = ${isoNow(now)}, object_key = NULL
    WHERE id = ${importId} AND status IN ('queued', 'running') RETURNING id`);
  return rows.length > 0;
}

/** Account deletion: the user's import rows. */
export function deleteUserImports(userId: number): SQL {
  return sql`DELETE FROM trakt_imports WHERE user_id = ${userId}`;
}
