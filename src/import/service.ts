/**
 * @module
 * Importing Trakt's data export, for users with or without a Trakt connection.
 *
 * Two ways in:
 * - `importBatch` (`POST /trakt/import/history/`): up to 1,000 export items that the dashboard or the
 *   CLI unzipped on the user's side; one D1 batch, answered at once.
 * - `startImport` (`POST /trakt/import/`): the ZIP as downloaded. Its central directory is read and
 *   every declared size checked before anything is inflated (not a ZIP → 400, no history file →
 *   400 naming it, too large → 413). A small export (INLINE_IMPORT_BYTES of history) is imported
 *   within the request (200). A larger one continues in the background (202): only the history
 *   files' compressed bytes are kept, back to back, as one object in the IMPORTS R2 bucket, and one
 *   `trakt-import` queue message per file imports that file in its own invocation
 *   (`importQueuedFile`), so no invocation inflates or validates more than one file.
 *
 * A history file is all or nothing: it is inflated (stopping at its declared size), decoded, parsed
 * and every item validated before anything is written, and its plays and its "done" mark are one
 * D1 transaction. A file that fails ends the import as `failed`, naming the file and the item;
 * files committed before stay (the import lists them as done). Retrying means uploading again:
 * plays already stored are skipped by history id, so the retry completes what was missing.
 */
import { IMPORT_STALE_MS, INLINE_IMPORT_BYTES } from '../config';
import { randomToken } from '../crypto/bytes';
import { type Database, database, isoNow } from '../db/client';
import { ApiError } from '../http/errors';
import { describeError, log } from '../observability/log';
import { historyFiles, historySizeProblem, MAX_HISTORY_FILE_BYTES, missingHistoryMessage } from './export-files';
import {
  claimImport,
  failImport,
  fileImported,
  filesOf,
  type ImportFile,
  type ImportView,
  importView,
  isActive,
  readImport,
  readLatestImport,
} from './imports';
import { type ExportHistoryItem, parseHistoryFile } from './items';
import { enrichImported, writeImportedPlays } from './write';
import { entryBytes, inflateEntry, readZipDirectory, type ZipEntry, ZipError } from './zip';

export const IMPORT_QUEUE_NAME = 'trakt-import';
/** Deliveries of one file's message; must be wrangler.toml's `max_retries` + 1 for the `trakt-import` consumer. */
export const IMPORT_MAX_ATTEMPTS = 6;
/** Queues' `sendBatch` takes at most 100 messages. */
const SEND_BATCH = 100;

export const IMPORT_IN_PROGRESS = 'An import is already running for this account; see GET /trakt/import/';

/** One `trakt-import` message: import one history file of an uploaded export. */
export type ImportMessage = {
  user_id: number;
  import_id: string;
  /** Index into the import's `files`. */
  file: number;
  enqueued_at: string;
  deferrals?: number;
};

function zipFailure(error: unknown): never {
  if (error instanceof ZipError) throw new ApiError(error.kind === 'too_large' ? 413 : 400, error.message);
  throw error;
}

/** `POST /trakt/import/history/`: stores the batch's new plays; answers how many were added and skipped. */
export async function importBatch(
  env: Env,
  db: Database,
  userId: number,
  items: readonly ExportHistoryItem[],
  now = Date.now(),
): Promise<{ added: number; skipped: number }> {
  const written = await writeImportedPlays(env, db, userId, items, { now });
  if (written.added > 0) await enrichImported(env, userId, written, now);
  return { added: written.added, skipped: written.skipped };
}

export async function latestImport(db: Database, userId: number): Promise<ImportView | undefined> {
  const row = await readLatestImport(db, userId);
  return row ? importView(row) : undefined;
}

type FileOutcome = { ok: true; finished: boolean } | { ok: false; status: 400 | 413; error: string };

/**
 * Imports one history file from its stored (compressed) bytes: inflate, decode, parse and validate
 * the whole file, then write its new plays and mark it done in one batch.
 */
async function importFile(
  env: Env,
  db: Database,
  userId: number,
  importId: string,
  index: number,
  file: ImportFile,
  stored: Uint8Array,
  now: number,
): Promise<FileOutcome> {
  const entry: ZipEntry = {
    name: file.name,
    method: file.method,
    compressedSize: file.compressed_size,
    size: file.size,
    dataOffset: 0,
  };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(
      await inflateEntry(stored, entry, MAX_HISTORY_FILE_BYTES),
    );
  } catch (error) {
    if (error instanceof ZipError)
      return { ok: false, status: error.kind === 'too_large' ? 413 : 400, error: error.message };
    if (error instanceof TypeError) return { ok: false, status: 400, error: `${file.name} is not UTF-8 text` };
    throw error;
  }
  const parsed = parseHistoryFile(file.name, text);
  if (!parsed.ok) return { ok: false, status: 400, error: parsed.error };
  const written = await writeImportedPlays(env, db, userId, parsed.items, {
    now,
    extra: (counts) => [fileImported(importId, index, counts, now)],
  });
  if (written.added > 0) await enrichImported(env, userId, written, now);
  const after = written.extraResults[0]?.results[0] as { status?: string } | undefined;
  return { ok: true, finished: after?.status === 'done' };
}

async function deleteArchive(env: Env, key: string | null) {
  if (!key) return;
  await env.IMPORTS.delete(key).catch((error: unknown) =>
    // Left behind: the bucket's lifecycle rule (README "Deploying") removes it.
    log.warn('import_archive_delete_failed', { key, ...describeError(error) }),
  );
}

/**
 * `POST /trakt/import/`: checks the ZIP, then imports it within the request (`finished`) or starts
 * the background import. Throws ApiError 400 / 409 / 413 / 503.
 */
export async function startImport(
  env: Env,
  db: Database,
  userId: number,
  archive: Uint8Array,
  now = Date.now(),
): Promise<{ finished: boolean; view: ImportView }> {
  let entries: ZipEntry[];
  try {
    entries = readZipDirectory(archive);
  } catch (error) {
    zipFailure(error);
  }
  const history = historyFiles(entries);
  if (history.length === 0)
    throw new ApiError(
      400,
      missingHistoryMessage(entries.map((e) => e.name)),
      entries.length > 0 ? { details: { files: entries.map((e) => e.name).slice(0, 100) } } : {},
    );
  const tooLarge = historySizeProblem(history);
  if (tooLarge) throw new ApiError(413, tooLarge);

  const inline = history.reduce((sum, entry) => sum + entry.size, 0) <= INLINE_IMPORT_BYTES;
  const id = randomToken(12);
  let offset = 0;
  const files: ImportFile[] = history.map((entry) => {
    const file: ImportFile = {
      name: entry.name,
      offset,
      compressed_size: entry.compressedSize,
      size: entry.size,
      method: entry.method,
      status: 'pending',
      plays_seen: 0,
      plays_added: 0,
      plays_skipped: 0,
    };
    offset += entry.compressedSize;
    return file;
  });
  const objectKey = inline ? null : `imports/${userId}/${id}`;
  const row = await claimImport(db, {
    id,
    userId,
    status: inline ? 'running' : 'queued',
    files,
    objectKey,
    now,
    staleBefore: now - IMPORT_STALE_MS,
  });
  if (!row) throw new ApiError(409, IMPORT_IN_PROGRESS, { retryAfter: 60 });

  if (inline) {
    for (const [index, file] of files.entries()) {
      let outcome: FileOutcome;
      try {
        outcome = await importFile(env, db, userId, id, index, file, entryBytes(archive, history[index]!), now);
      } catch (error) {
        if (error instanceof ApiError) {
          // A sync holds the lease (409), or D1 refused the file's batch (503): the file stays not imported.
          await failImport(db, id, `${file.name}: ${error.message}`, now, index);
          throw error;
        }
        log.error('import_failed', { user_id: userId, ...describeError(error) });
        await failImport(db, id, `${file.name} could not be imported; try again`, now, index);
        throw new ApiError(503, 'The import failed; try again shortly', { retryAfter: 30 });
      }
      if (!outcome.ok) {
        await failImport(db, id, outcome.error, now, index);
        throw new ApiError(outcome.status, outcome.error);
      }
    }
    const done = await readImport(db, userId, id);
    return { finished: true, view: importView(done ?? row) };
  }

  try {
    // Only the history files are kept (their compressed bytes, back to back); ratings, lists and the rest are not.
    const kept = new Uint8Array(offset);
    for (const [index, entry] of history.entries()) kept.set(entryBytes(archive, entry), files[index]!.offset);
    await env.IMPORTS.put(objectKey!, kept, { customMetadata: { user_id: String(userId), import_id: id } });
    const messages = files.map(
      (_, file): ImportMessage => ({ user_id: userId, import_id: id, file, enqueued_at: isoNow(now) }),
    );
    for (let i = 0; i < messages.length; i += SEND_BATCH) {
      await env.IMPORT_QUEUE.sendBatch(
        messages.slice(i, i + SEND_BATCH).map((body) => ({ body, contentType: 'json' as const })),
      );
    }
  } catch (error) {
    log.error('import_start_failed', { user_id: userId, ...describeError(error) });
    await failImport(db, id, 'The upload could not be queued for import; try again', now);
    await deleteArchive(env, objectKey);
    throw new ApiError(503, 'The import could not be started; try again shortly', { retryAfter: 30 });
  }
  return { finished: false, view: importView(row) };
}

export type QueuedFileOutcome = 'imported' | 'finished' | 'stale' | 'failed';

export function isImportMessage(body: unknown): body is ImportMessage {
  const message = body as ImportMessage;
  return (
    typeof body === 'object' &&
    body !== null &&
    Number.isSafeInteger(message.user_id) &&
    typeof message.import_id === 'string' &&
    Number.isSafeInteger(message.file) &&
    message.file >= 0
  );
}

/**
 * One `trakt-import` message: imports its file unless the import ended or the file is already done
 * (a re-delivery). A file that cannot be read, parsed or validated fails the import. Throws on
 * transient failures (D1, R2) and ApiError 409 while a sync holds the user's lease: the consumer
 * retries or defers the message.
 */
export async function importQueuedFile(env: Env, message: ImportMessage, now = Date.now()): Promise<QueuedFileOutcome> {
  const db = database(env.DB);
  const row = await readImport(db, message.user_id, message.import_id);
  if (!row || !isActive(row.status)) return 'stale';
  const file = filesOf(row)[message.file];
  if (file?.status !== 'pending') return 'stale';
  const object = row.objectKey
    ? await env.IMPORTS.get(row.objectKey, { range: { offset: file.offset, length: file.compressed_size } })
    : null;
  if (!object) {
    await failImport(db, row.id, 'The uploaded ZIP is no longer stored; upload it again', now, message.file);
    return 'failed';
  }
  const stored = new Uint8Array(await object.arrayBuffer());
  const outcome = await importFile(env, db, message.user_id, row.id, message.file, file, stored, now);
  if (!outcome.ok) {
    await failImport(db, row.id, outcome.error, now, message.file);
    await deleteArchive(env, row.objectKey);
    return 'failed';
  }
  if (!outcome.finished) return 'imported';
  await deleteArchive(env, row.objectKey);
  return 'finished';
}

/** The last delivery of a file's message failed: the import ends as `failed`, saying how to finish it. */
export async function giveUpQueuedFile(env: Env, message: ImportMessage, reason: string, now = Date.now()) {
  const db = database(env.DB);
  const row = await readImport(db, message.user_id, message.import_id);
  if (!row || !isActive(row.status)) return;
  const name = filesOf(row)[message.file]?.name ?? 'A history file';
  const error = `${name} could not be imported (${reason}); upload the ZIP again to finish the import`;
  if (await failImport(db, row.id, error, now, message.file)) await deleteArchive(env, row.objectKey);
}

/** Account deletion: every stored archive of the user, including any a lost cleanup left behind. */
export async function deleteUserImportArchives(env: Env, userId: number) {
  const prefix = `imports/${userId}/`;
  let cursor: string | undefined;
  do {
    const page = await env.IMPORTS.list({ prefix, cursor });
    if (page.objects.length > 0) await env.IMPORTS.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
}
