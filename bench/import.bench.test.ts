/**
 * Importing Trakt's export of a 100,000-play account (Trakt's cap), in workerd against local D1 and R2, invocation
 * by invocation:
 * - **batches**: what the dashboard and `npm run import` send, one `POST /trakt/import/history/` per history file
 *   (1,000 items), each one Worker invocation;
 * - **ZIP**: `POST /trakt/import/` (the upload) and then one `trakt-import` queue message per file, delivered one
 *   by one through the Worker's queue handler;
 * - **again**: the same batches once more (every play already stored).
 * Per invocation: D1 calls and statements and rows read and written (D1's own `meta`, test/support/d1-meter.ts),
 * and the Worker's own time: wall time less the time spent awaiting D1 and R2. In local workerd the clock runs
 * during computation, so that difference is the invocation's CPU time on this machine (JSON, zod, planning,
 * statement building, inflating, Hono, JWT). Its parts are timed directly too. Prints one `@@BENCH@@` line.
 */
import { env } from 'cloudflare:workers';
import { SQLiteAsyncDialect } from 'drizzle-orm/sqlite-core';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { historyFiles, MAX_HISTORY_FILE_BYTES } from '../src/import/export-files';
import { type ExportHistoryItem, importBatch } from '../src/import/items';
import type { ImportMessage } from '../src/import/service';
import { entryBytes, inflateEntry, readZipDirectory } from '../src/import/zip';
import { historyWrites } from '../src/sync/history-writes';
import { toPlayRow } from '../src/sync/plan';
import { call, registerAndLogin } from '../test/support/api';
import { meterD1 } from '../test/support/d1-meter';
import { deliverImportMessage, importQueue } from '../test/support/import-queue';
import { BENCH_MARKER } from './format';
import type { ImportFigures, ImportInvocation } from './import-format';

/** About 100,000 plays: 5,000 movies watched twice (plus rewatches), 880 shows of 8 × 12 episodes. */
const ACCOUNT = {
  username: 'bench_import',
  seed: 'bench-import',
  movies: 5000,
  shows: 880,
  seasons_per_show: 8,
  episodes_per_season: 12,
  plays_per_item: 2,
  rewatch_fraction: 0.05,
} as const;

let sim: Simulator;
beforeAll(() => {
  sim = installSimulator();
});
afterAll(() => sim.restore());

const dialect = new SQLiteAsyncDialect({ casing: 'snake_case' });
const since = (started: number) => performance.now() - started;

/** Times R2 reads (I/O, not the Worker's CPU) while it runs. */
function meterR2() {
  const meter = { waitMs: 0 };
  const original = env.IMPORTS.get.bind(env.IMPORTS);
  const spy = vi.spyOn(env.IMPORTS, 'get').mockImplementation((async (...args: Parameters<R2Bucket['get']>) => {
    const started = performance.now();
    try {
      return await original(...args);
    } finally {
      meter.waitMs += since(started);
    }
  }) as R2Bucket['get']);
  return { meter, restore: () => spy.mockRestore() };
}

async function measured(block: () => Promise<void>): Promise<Omit<ImportInvocation, 'parts'>> {
  const r2 = meterR2();
  const started = performance.now();
  const { meter } = await meterD1(block);
  const wall = since(started);
  r2.restore();
  return {
    d1_calls: meter.calls.length,
    statements: meter.statements.length,
    rows_read: meter.rowsRead,
    rows_written: meter.rowsWritten,
    worker_ms: Math.max(0, wall - meter.waitMs - r2.meter.waitMs),
    wall_ms: wall,
  };
}

/** The CPU parts of one batch, timed directly: parsing the body, validating it, planning and building the SQL. */
function batchParts(body: string): ImportInvocation['parts'] {
  let started = performance.now();
  const data = JSON.parse(body) as unknown;
  const parse = since(started);
  started = performance.now();
  const items = importBatch.parse(data) as ExportHistoryItem[];
  const validate = since(started);
  started = performance.now();
  const movies = items.filter((i) => i.type === 'movie');
  const episodes = items.filter((i) => i.type === 'episode');
  const writes = [
    historyWrites(1, 'movies', movies, movies.map(toPlayRow), []),
    historyWrites(1, 'shows', episodes, episodes.map(toPlayRow), []),
  ];
  for (const statement of writes.flatMap((w) => w?.statements ?? [])) dialect.sqlToQuery(statement);
  const plan = since(started);
  return { parse_ms: parse, validate_ms: validate, plan_ms: plan };
}

it('imports a 100,000-play export as batches, as a ZIP through the queue, and again', async () => {
  await sim.createAccount(ACCOUNT);
  const summary = await sim.summary(ACCOUNT.username);
  expect(summary.total_plays).toBeGreaterThan(95_000);
  expect(summary.total_plays).toBeLessThanOrEqual(100_000);
  const zip = await sim.exportZip(ACCOUNT.username);
  const history = historyFiles(readZipDirectory(zip));
  const files: string[] = [];
  for (const entry of history)
    files.push(new TextDecoder().decode(await inflateEntry(entryBytes(zip, entry), entry, MAX_HISTORY_FILE_BYTES)));

  // Batches, as the dashboard and the CLI send them: one history file per request.
  const batcher = await registerAndLogin();
  const batches: ImportInvocation[] = [];
  for (const body of files) {
    const parts = batchParts(body);
    let added = 0;
    const figures = await measured(async () => {
      const res = await call('POST', '/trakt/import/history/', {
        token: batcher.access,
        body,
        headers: { 'Content-Type': 'application/json' },
      });
      expect(res.status).toBe(200);
      added = res.body.added;
    });
    expect(added).toBeGreaterThan(0);
    batches.push({ ...figures, parts });
  }

  // The same batches again: every play already stored.
  const again: ImportInvocation[] = [];
  for (const body of files) {
    const figures = await measured(async () => {
      const res = await call('POST', '/trakt/import/history/', {
        token: batcher.access,
        body,
        headers: { 'Content-Type': 'application/json' },
      });
      expect(res.body.added).toBe(0);
    });
    again.push({ ...figures, parts: batchParts(body) });
  }

  // The ZIP: the upload, then one queue message per file.
  const uploader = await registerAndLogin();
  importQueue.length = 0;
  const upload = await measured(async () => {
    const res = await call('POST', '/trakt/import/', {
      token: uploader.access,
      body: zip,
      headers: { 'Content-Type': 'application/zip' },
    });
    expect(res.status).toBe(202);
  });
  const messages: ImportMessage[] = importQueue.map((m) => m.body);
  expect(messages).toHaveLength(history.length);
  const queued: ImportInvocation[] = [];
  for (const [index, message] of messages.entries()) {
    const entry = history[index]!;
    const started = performance.now();
    const text = new TextDecoder().decode(await inflateEntry(entryBytes(zip, entry), entry, MAX_HISTORY_FILE_BYTES));
    const inflate = since(started);
    const parts = batchParts(text);
    const figures = await measured(async () => {
      const delivery = await deliverImportMessage(message);
      expect(delivery.acked).toBe(true);
    });
    queued.push({ ...figures, parts: { ...parts, inflate_ms: inflate } });
  }
  const done = await call('GET', '/trakt/import/', { token: uploader.access });
  expect(done.body.import).toMatchObject({ status: 'done', plays_added: summary.total_plays });

  const stored = (userId: number) =>
    env.DB.prepare('SELECT movie_play_count + episode_play_count AS plays FROM sync_state WHERE user_id = ?')
      .bind(userId)
      .first<{ plays: number }>();
  expect((await stored(batcher.id))?.plays).toBe(summary.total_plays);
  expect((await stored(uploader.id))?.plays).toBe(summary.total_plays);

  const data: ImportFigures = {
    account: { ...ACCOUNT, plays: summary.total_plays, history_files: history.length, zip_bytes: zip.length },
    batches,
    again,
    upload: { ...upload, parts: {} },
    queued,
  };
  console.log(`${BENCH_MARKER}${JSON.stringify({ name: 'import', data })}`);
});
