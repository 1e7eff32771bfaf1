/**
 * @module
 * Facts about Trakt's data export (Settings → Data → Export on trakt.tv: a ZIP of JSON files) that
 * every importer here shares: the Worker, the dashboard and the CLI. No imports, so the browser
 * bundle and Node's type stripping take it as it is.
 *
 * The watch history is in `watched-history-1.json`, `watched-history-2.json`, … (JSON arrays of
 * `GET /sync/history` items, 1,000 per file); the other files (`watched-movies.json`,
 * `watched-shows.json`, `ratings-*.json`, `lists-*.json`, …) are not needed for the history and
 * are never inflated. As the peers' importers do, a file may also be `watched-history.json`, and
 * may sit in a folder of the ZIP (a re-zipped export); macOS `__MACOSX/` copies are ignored.
 */

/** Items one `POST /trakt/import/history/` takes (one export file). */
export const MAX_IMPORT_BATCH_ITEMS = 1_000;
/** Largest history file inflated (Trakt's files of 1,000 plays are about 0.4 MB). */
export const MAX_HISTORY_FILE_BYTES = 8 * 1024 * 1024;
/** All history files of one export together, as declared (Trakt caps a history at 100,000 plays). */
export const MAX_HISTORY_BYTES = 128 * 1024 * 1024;

const HISTORY_FILE = /^watched-history(?:-(\d{1,6}))?\.json$/;

/** The page number of a history file (`watched-history.json` is 0), or null for any other file. */
export function historyFileNumber(path: string): number | null {
  if (path.startsWith('__MACOSX/') || path.includes('/__MACOSX/')) return null;
  const base = path.slice(path.lastIndexOf('/') + 1);
  const match = HISTORY_FILE.exec(base);
  if (!match) return null;
  return match[1] === undefined ? 0 : Number(match[1]);
}

/** The export's history files, in page order (then by name). */
export function historyFiles<T extends { name: string }>(entries: readonly T[]): T[] {
  return entries
    .map((entry) => ({ entry, number: historyFileNumber(entry.name) }))
    .filter((e): e is { entry: T; number: number } => e.number !== null)
    .sort((a, b) => a.number - b.number || (a.entry.name < b.entry.name ? -1 : 1))
    .map((e) => e.entry);
}

/** The 400 text for an archive without history files, naming what is missing and what was found. */
export function missingHistoryMessage(names: readonly string[]): string {
  const shown = names.slice(0, 8).join(', ');
  const found = names.length === 0 ? 'it is empty' : `it has ${shown}${names.length > 8 ? ', …' : ''}`;
  return (
    `No watched-history-N.json in the ZIP (${found}). Upload the ZIP from Trakt's Settings → Data → Export ` +
    'as downloaded'
  );
}

/** The largest declared history, checked before inflating; null when within the limits. */
export function historySizeProblem(files: ReadonlyArray<{ name: string; size: number }>): string | null {
  const big = files.find((file) => file.size > MAX_HISTORY_FILE_BYTES);
  if (big)
    return `${big.name} is ${big.size} bytes uncompressed; the limit is ${MAX_HISTORY_FILE_BYTES} bytes per history file`;
  const total = files.reduce((sum, file) => sum + file.size, 0);
  if (total > MAX_HISTORY_BYTES)
    return `The history files are ${total} bytes uncompressed; the limit is ${MAX_HISTORY_BYTES} bytes`;
  return null;
}

/** Where an item of the export is wrong: `<file>: item <index>: <problem>` (index from 0). */
export function itemProblem(file: string | null, index: number, problem: string): string {
  return `${file ? `${file}: ` : ''}item ${index}: ${problem}`;
}

type Shape = Record<string, unknown>;
const isObject = (value: unknown): value is Shape => typeof value === 'object' && value !== null;

/**
 * A quick check of a history file's items on the user's side (dashboard, CLI) before any batch of
 * the file is sent, so a file with a bad item contributes nothing even when it is sent in several
 * batches. The API validates every item again (src/import/items.ts); this only finds the shapes
 * that cannot be a play. Returns the first problem, or null.
 */
export function firstShapeProblem(items: unknown): { index: number; problem: string } | null {
  if (!Array.isArray(items)) return { index: 0, problem: 'the file is not a JSON array' };
  for (let index = 0; index < items.length; index++) {
    const item: unknown = items[index];
    if (!isObject(item)) return { index, problem: 'not an object' };
    if (!Number.isSafeInteger(item.id)) return { index, problem: 'id must be an integer (Trakt history id)' };
    if (typeof item.watched_at !== 'string') return { index, problem: 'watched_at must be a timestamp' };
    if (item.type === 'movie') {
      if (!isObject(item.movie)) return { index, problem: 'a movie item needs a movie' };
    } else if (item.type === 'episode') {
      if (!isObject(item.episode) || !isObject(item.show))
        return { index, problem: 'an episode item needs an episode and a show' };
    } else {
      return { index, problem: `unknown item type ${JSON.stringify(item.type)} (expected "movie" or "episode")` };
    }
  }
  return null;
}
