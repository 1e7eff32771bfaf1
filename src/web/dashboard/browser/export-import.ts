/**
 * @module
 * The dashboard's "Import a Trakt export" panel: the ZIP from trakt.tv (Settings → Data → Export) is read in
 * the browser, its history files inflated with `DecompressionStream` (src/import/zip.ts, the same reader the
 * API uses), and their items sent to `POST /trakt/import/history/` in batches of at most 1,000, one history file
 * at a time, with a progress bar. Nothing but the history leaves the browser.
 *
 * A history file that cannot be read (malformed JSON, an item that is no play) is reported with its name and the
 * item's index before any of its batches is sent, so it contributes nothing; files sent before it stay. The
 * import is idempotent (Trakt history ids), so choosing the file again finishes an interrupted import. While a
 * sync is writing the account (409), the batch waits for Retry-After and is sent again.
 */
import {
  firstShapeProblem,
  historyFiles,
  historySizeProblem,
  itemProblem,
  MAX_HISTORY_FILE_BYTES,
  MAX_IMPORT_BATCH_ITEMS,
  missingHistoryMessage,
} from '../../../import/export-files';
import { entryBytes, inflateEntry, readZipDirectory, ZipError } from '../../../import/zip';
import { type Api, ApiFailure } from './api';
import { byId } from './dom';
import type { ImportBatch } from './types';

type Totals = ImportBatch;

/** How often a batch is sent again while the account is busy (409) before the import gives up. */
const BUSY_RETRIES = 10;

class ImportStopped extends Error {}

const wait = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

async function sendBatch(api: Api, items: unknown[]): Promise<Totals> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await api.sendWithStatus<Totals>('POST', '/trakt/import/history/', items)).body;
    } catch (error) {
      if (error instanceof ApiFailure && error.status === 409 && attempt < BUSY_RETRIES) {
        await wait(error.retryAfter ?? 30);
        continue;
      }
      throw error;
    }
  }
}

/** Reads the export and sends its history; reports progress through `show`. */
async function importExport(
  api: Api,
  file: File,
  show: (text: string, done: number, total: number) => void,
): Promise<Totals & { files: number }> {
  const archive = new Uint8Array(await file.arrayBuffer());
  let entries: ReturnType<typeof readZipDirectory>;
  try {
    entries = readZipDirectory(archive);
  } catch (error) {
    throw new ImportStopped(error instanceof ZipError ? error.message : 'The file could not be read as a ZIP');
  }
  const history = historyFiles(entries);
  if (history.length === 0) throw new ImportStopped(missingHistoryMessage(entries.map((e) => e.name)));
  const tooLarge = historySizeProblem(history);
  if (tooLarge) throw new ImportStopped(tooLarge);

  const total = history.reduce((sum, entry) => sum + entry.size, 0);
  let done = 0;
  const totals: Totals = { added: 0, skipped: 0 };
  for (const [index, entry] of history.entries()) {
    let items: unknown;
    try {
      const bytes = await inflateEntry(entryBytes(archive, entry), entry, MAX_HISTORY_FILE_BYTES);
      items = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (error) {
      const reason = error instanceof ZipError ? error.message : `${entry.name}: not a valid JSON file`;
      throw new ImportStopped(reason);
    }
    const problem = firstShapeProblem(items);
    if (problem) throw new ImportStopped(itemProblem(entry.name, problem.index, problem.problem));
    const list = items as unknown[];
    for (let start = 0; start < list.length; start += MAX_IMPORT_BATCH_ITEMS) {
      const batch = list.slice(start, start + MAX_IMPORT_BATCH_ITEMS);
      let result: Totals;
      try {
        result = await sendBatch(api, batch);
      } catch (error) {
        // The API names the item by its index in the batch; say where it is in the file.
        const message = error instanceof Error ? error.message : String(error);
        const located = message.replace(/^Invalid request body: (\d+)/, (_, i: string) => `item ${start + Number(i)}`);
        throw new ImportStopped(`${entry.name}: ${located}`);
      }
      totals.added += result.added;
      totals.skipped += result.skipped;
      const fraction = list.length === 0 ? 1 : Math.min(1, (start + batch.length) / list.length);
      show(
        `File ${index + 1} of ${history.length}: ${totals.added} plays added, ${totals.skipped} already stored`,
        done + entry.size * fraction,
        total,
      );
    }
    done += entry.size;
    show(
      `File ${index + 1} of ${history.length}: ${totals.added} plays added, ${totals.skipped} already stored`,
      done,
      total,
    );
  }
  return { ...totals, files: history.length };
}

/**
 * Wires the panel (`#import-file`, `#import-progress`, `#import-status`). `onImported` runs after an import
 * that added plays (to redraw the stats and the grid).
 */
export function setupExportImport(api: Api, onImported: () => Promise<unknown>): void {
  const input = byId<HTMLInputElement>('import-file');
  const progress = byId<HTMLProgressElement>('import-progress');
  const status = byId('import-status');
  const say = (text: string, state: 'running' | 'done' | 'failed') => {
    status.textContent = text;
    status.dataset.state = state;
  };
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    if (!file) return;
    input.disabled = true;
    progress.hidden = false;
    progress.max = 1;
    progress.value = 0;
    say(`Reading ${file.name}…`, 'running');
    try {
      const result = await importExport(api, file, (text, done, total) => {
        progress.max = total;
        progress.value = done;
        say(text, 'running');
      });
      progress.value = progress.max;
      say(
        `Import complete: ${result.added} plays added, ${result.skipped} already stored ` +
          `(${result.files} history ${result.files === 1 ? 'file' : 'files'}).`,
        'done',
      );
      if (result.added > 0) await onImported();
    } catch (error) {
      const reason =
        error instanceof ImportStopped || error instanceof ApiFailure
          ? error.message
          : 'The API could not be reached; check your connection and try again.';
      say(`Import stopped: ${reason}. Files sent before it are stored; choose the file again to continue.`, 'failed');
    } finally {
      input.disabled = false;
      input.value = '';
    }
  });
}
