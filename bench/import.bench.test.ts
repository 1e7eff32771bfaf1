/**
 * Importing Trakt's export of a 100,000-play account (Trakt's cap), in workerd against local D1 and R2, invocation
 * by invocation:
 * - **batches**: what the dashboard and `npm run import` send, one `POST /trakt/import/history/` per history file
 *   (1,000 items), each one Worker invocation;
 * - **ZIP**: `POST /trakt/import/` (the upload) and then one `trakt-import` queue message per file, delivered one
 *   by one through the Worker's queue handler;
 * - **again**: the same batches once more (every play already stored).
 * Per invocation: D1 calls and statements and rows read and written (D1's own `meta`, test/support/d1-meter.ts),
 * and the Worker's own time: wall time less the time spent awaiting D1 and R2 reads and writes (in local workerd the clock runs
 * during computation, so on an idle machine that is the invocation's CPU time; on a busy one it is inflated by
 * waiting for a core). The CPU time itself is measured by bench/import-cpu.ts. Prints one `@@BENCH@@` line.
 */
import { env } from 'cloudflare:workers';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { historyFiles, MAX_HISTORY_FILE_BYTES } from '../src/import/export-files';
import type { ImportMessage } from '../src/import/service';
import { entryBytes, inflateEntry, readZipDirectory } from '../src/import/zip';
import { call, registerAndLogin } from '../test/support/api';
import { meterD1 } from '../test/support/d1-meter';
import { deliverImportMessage, importQueue } from '../test/support/import-queue';
import { BENCH_MARKER } from './format';
import { IMPORT_ACCOUNT } from './import-account';
import type { ImportFigures, ImportInvocation } from './import-format';

const ACCOUNT = IMPORT_ACCOUNT;

let sim: Simulator;
beforeAll(() => {
  sim = installSimulator();
});
afterAll(() => sim.restore());

const since = (started: number) => performance.now() - started;

/** Times R2 reads and writes (I/O, not the Worker's CPU) while it runs. */
function meterR2() {
  const meter = { waitMs: 0 };
  const timed = <T>(run: () => Promise<T>) => {
    const started = performance.now();
    return run().finally(() => {
      meter.waitMs += since(started);
    });
  };
  const get = env.IMPORTS.get.bind(env.IMPORTS);
  const put = env.IMPORTS.put.bind(env.IMPORTS);
  const spies = [
    vi
      .spyOn(env.IMPORTS, 'get')
      .mockImplementation(((...args: Parameters<R2Bucket['get']>) => timed(() => get(...args))) as R2Bucket['get']),
    vi
      .spyOn(env.IMPORTS, 'put')
      .mockImplementation(((...args: Parameters<R2Bucket['put']>) => timed(() => put(...args))) as R2Bucket['put']),
  ];
  return {
    meter,
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}

async function measured(block: () => Promise<void>): Promise<ImportInvocation> {
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
    batches.push(figures);
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
    again.push(figures);
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
  for (const message of messages) {
    const figures = await measured(async () => {
      const delivery = await deliverImportMessage(message);
      expect(delivery.acked).toBe(true);
    });
    queued.push(figures);
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
    upload,
    queued,
  };
  console.log(`${BENCH_MARKER}${JSON.stringify({ name: 'import', data })}`);
});
