/**
 * `npm run import -- <export.zip> [--api URL] [--user NAME]`: import Trakt's data export from the terminal.
 *
 * Reads the ZIP from trakt.tv (Settings → Data → Export) here, inflates its watched-history-N.json files with
 * the platform's DecompressionStream (src/import/zip.ts, the reader the API and the dashboard use), checks each
 * file, and sends its items to POST /trakt/import/history/ in batches of 1,000, one file at a time, printing
 * the progress. No Trakt app or connection is needed. Importing is idempotent (Trakt history ids): run it again
 * to finish an interrupted import, or with a newer export to add only the new plays.
 *
 * Plain Node 22 (type stripping; no dependencies): `node scripts/import.ts --help`. Exit codes: 0 imported,
 * 1 failed, 2 usage error or input needed but not available.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  firstShapeProblem,
  historyFiles,
  historySizeProblem,
  itemProblem,
  MAX_HISTORY_FILE_BYTES,
  MAX_IMPORT_BATCH_ITEMS,
  missingHistoryMessage,
} from '../src/import/export-files.ts';
import { entryBytes, inflateEntry, readZipDirectory, ZipError } from '../src/import/zip.ts';

const HELP = `Import Trakt's data export (the ZIP from trakt.tv Settings → Data → Export) into this API.

Usage: npm run import -- <export.zip> [options]

  --api <url>            API base URL (default http://localhost:8787)
  --user <name>          API username (asked for when missing)
  --password <password>  API password (or set IMPORT_PASSWORD; asked for when missing)
  --help, -h             show this help

Only the watch history is sent; plays already stored are skipped. Exit codes: 0 imported, 1 failed, 2 usage error.`;

const DEFAULT_API = 'http://localhost:8787';
/** How often a batch is sent again while the account is busy (a sync or another import: 409). */
const BUSY_RETRIES = 10;

class Failure extends Error {
  exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

type Options = { file: string; api: string; user?: string; password?: string };

const parseCli = (args: string[]) =>
  parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      api: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });

function parseOptions(argv: string[]): Options | 'help' {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    throw new Failure(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}`, 2);
  }
  if (parsed.values.help) return 'help';
  const [file, ...rest] = parsed.positionals;
  if (!file || rest.length > 0) throw new Failure(`Give exactly one export ZIP.\n\n${HELP}`, 2);
  return {
    file,
    api: (parsed.values.api ?? DEFAULT_API).replace(/\/+$/, ''),
    user: parsed.values.user,
    password: parsed.values.password ?? (process.env.IMPORT_PASSWORD || undefined),
  };
}

// ---- terminal input (hidden echo for the password) ----

class MutableStdout extends Writable {
  muted = false;
  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: () => void): void {
    if (!this.muted) process.stdout.write(chunk, encoding);
    callback();
  }
}

async function ask(question: string, flag: string, secret = false): Promise<string> {
  const output = new MutableStdout();
  const rl = createInterface({ input: process.stdin, output, terminal: process.stdin.isTTY === true });
  try {
    process.stdout.write(`${question}: `);
    output.muted = secret && process.stdin.isTTY === true;
    const next = await rl[Symbol.asyncIterator]().next();
    output.muted = false;
    if (secret && process.stdin.isTTY) process.stdout.write('\n');
    const value = next.done ? '' : String(next.value).trim();
    if (!value) throw new Failure(`No input available for "${question}": pass ${flag}`, 2);
    return value;
  } finally {
    rl.close();
  }
}

// ---- the API ----

type Reply = { status: number; body: Record<string, unknown> | null; retryAfter: number | null };

async function request(api: string, method: string, path: string, json: unknown, token?: string): Promise<Reply> {
  const headers: Record<string, string> = { Accept: 'application/json', 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(`${api}${path}`, {
      method,
      headers,
      body: JSON.stringify(json),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (error) {
    throw new Failure(
      `Cannot reach the API at ${api} (${error instanceof Error ? error.message : String(error)}). Is it running? ` +
        'Start it with: npm run dev',
    );
  }
  const text = await res.text();
  let body: Record<string, unknown> | null = null;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : null;
  } catch {
    body = null;
  }
  const retryAfter = Number(res.headers.get('Retry-After'));
  return { status: res.status, body, retryAfter: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null };
}

const errorOf = (reply: Reply) => (typeof reply.body?.error === 'string' ? reply.body.error : `HTTP ${reply.status}`);

function session(api: string, user: string, password: string) {
  let token: string | undefined;
  const signIn = async () => {
    const reply = await request(api, 'POST', '/users/token/', { username: user, password });
    if (reply.status !== 200 || typeof reply.body?.access !== 'string')
      throw new Failure(`Signing in as ${user} failed: ${errorOf(reply)}`);
    token = reply.body.access;
  };
  /** Sends one batch; signs in again once if the access token expired, waits while the account is busy. */
  const sendBatch = async (items: unknown[]): Promise<{ added: number; skipped: number }> => {
    let renewed = false;
    for (let busy = 0; ; ) {
      const reply = await request(api, 'POST', '/trakt/import/history/', items, token);
      if (reply.status === 200) return reply.body as { added: number; skipped: number };
      if (reply.status === 401 && !renewed) {
        renewed = true;
        await signIn();
        continue;
      }
      if (reply.status === 409 && busy++ < BUSY_RETRIES) {
        const seconds = reply.retryAfter ?? 30;
        process.stdout.write(`  the account is busy (${errorOf(reply)}); trying again in ${seconds} s\n`);
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        continue;
      }
      throw new Failure(errorOf(reply));
    }
  };
  return { signIn, sendBatch };
}

// ---- the import ----

/** History files fully sent so far (said when the import stops). */
let filesDone = 0;

async function run(options: Options): Promise<void> {
  let archive: Uint8Array;
  try {
    archive = new Uint8Array(await readFile(options.file));
  } catch (error) {
    throw new Failure(`Cannot read ${options.file}: ${error instanceof Error ? error.message : String(error)}`, 2);
  }
  let entries: ReturnType<typeof readZipDirectory>;
  try {
    entries = readZipDirectory(archive);
  } catch (error) {
    throw new Failure(`${options.file}: ${error instanceof ZipError ? error.message : String(error)}`);
  }
  const history = historyFiles(entries);
  if (history.length === 0) throw new Failure(missingHistoryMessage(entries.map((e) => e.name)));
  const tooLarge = historySizeProblem(history);
  if (tooLarge) throw new Failure(tooLarge);

  const user = options.user ?? (await ask('API username', '--user'));
  const password = options.password ?? (await ask('API password', '--password or IMPORT_PASSWORD', true));
  const api = session(options.api, user, password);
  await api.signIn();
  process.stdout.write(
    `Importing ${history.length} history files from ${options.file} into ${options.api} as ${user}\n`,
  );

  const totals = { added: 0, skipped: 0 };
  for (const [index, entry] of history.entries()) {
    let items: unknown;
    try {
      const bytes = await inflateEntry(entryBytes(archive, entry), entry, MAX_HISTORY_FILE_BYTES);
      items = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (error) {
      throw new Failure(error instanceof ZipError ? error.message : `${entry.name}: not a valid JSON file`);
    }
    const problem = firstShapeProblem(items);
    if (problem) throw new Failure(itemProblem(entry.name, problem.index, problem.problem));
    const list = items as unknown[];
    for (let start = 0; start < list.length; start += MAX_IMPORT_BATCH_ITEMS) {
      let result: { added: number; skipped: number };
      try {
        result = await api.sendBatch(list.slice(start, start + MAX_IMPORT_BATCH_ITEMS));
      } catch (error) {
        if (!(error instanceof Failure)) throw error;
        // The API names an item by its index in the batch; say where it is in the file.
        const located = error.message.replace(
          /^Invalid request body: (\d+)/,
          (_, i: string) => `item ${start + Number(i)}`,
        );
        throw new Failure(`${entry.name}: ${located}`);
      }
      totals.added += result.added;
      totals.skipped += result.skipped;
    }
    filesDone = index + 1;
    const percent = Math.round((filesDone / history.length) * 100);
    process.stdout.write(
      `[${String(percent).padStart(3)}%] ${entry.name}: ${list.length} plays ` +
        `(total ${totals.added} added, ${totals.skipped} already stored)\n`,
    );
  }
  process.stdout.write(`Done: ${totals.added} plays added, ${totals.skipped} already stored.\n`);
}

async function main(): Promise<number> {
  try {
    const options = parseOptions(process.argv.slice(2));
    if (options === 'help') {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    await run(options);
    return 0;
  } catch (error) {
    if (error instanceof Failure) {
      process.stderr.write(`Import stopped: ${error.message}\n`);
      if (filesDone > 0)
        process.stderr.write(
          `The ${filesDone} history files before it are stored; run the same command again to continue.\n`,
        );
      return error.exitCode;
    }
    process.stderr.write(`Unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main();
