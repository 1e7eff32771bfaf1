/**
 * @module
 * The items of the export's history files, validated before anything is written. Their shape is
 * `GET /sync/history`'s (the same movie, show and episode objects the sync reads, so an imported
 * play is stored exactly like a synced one), but stricter, since a file must contribute all of its
 * items or none: `type` is `movie` (with a `movie`) or `episode` (with an `episode` and a `show`),
 * and `id` is Trakt's history id, which makes every import idempotent. Extra fields (the export's
 * `plex` ids, `aired_episodes`, …) are ignored.
 */
import { z } from 'zod';
import { episodeRef, movieRef, showRef } from '../trakt/upstream-schemas';
import { itemProblem, MAX_IMPORT_BATCH_ITEMS } from './export-files';

const watchedAt = z
  .string()
  .refine((value) => !Number.isNaN(Date.parse(value)), 'watched_at must be a timestamp (ISO-8601)');
const common = {
  id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  watched_at: watchedAt,
  action: z.string().max(32),
};

export const exportHistoryItem = z.discriminatedUnion(
  'type',
  [
    z.object({ ...common, type: z.literal('movie'), movie: movieRef }),
    z.object({ ...common, type: z.literal('episode'), episode: episodeRef, show: showRef }),
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown item type ${JSON.stringify((issue.input as { type?: unknown } | undefined)?.type ?? null)} ` +
          '(expected "movie" or "episode")'
        : undefined,
  },
);
export type ExportHistoryItem = z.infer<typeof exportHistoryItem>;

/** The body of `POST /trakt/import/history/`: one export file's items (or a slice of one). */
export const importBatch = z
  .array(exportHistoryItem)
  .min(1, 'the batch is empty')
  .max(MAX_IMPORT_BATCH_ITEMS, `at most ${MAX_IMPORT_BATCH_ITEMS} items per batch`);

export type ParsedFile = { ok: true; items: ExportHistoryItem[] } | { ok: false; error: string };

/**
 * One history file of an uploaded ZIP, all or nothing: malformed JSON, a top level that is not an
 * array, or any invalid item makes the whole file fail, with its name and the item's index.
 */
export function parseHistoryFile(name: string, text: string): ParsedFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `${name}: malformed JSON (${error instanceof Error ? error.message : 'parse error'})` };
  }
  if (!Array.isArray(data)) return { ok: false, error: `${name}: expected a JSON array of history items` };
  const parsed = z.array(exportHistoryItem).safeParse(data);
  if (parsed.success) return { ok: true, items: parsed.data };
  const issue = parsed.error.issues[0]!;
  const [index, ...path] = issue.path;
  const where = path.length > 0 ? `${path.map(String).join('.')}: ` : '';
  return { ok: false, error: itemProblem(name, Number(index), `${where}${issue.message}`) };
}
