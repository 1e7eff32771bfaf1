/**
 * CPU time of the Worker-side work of one import batch (one 1,000-play history file), measured with
 * `process.cpuUsage()` in Node (the same V8 as workerd), so the figure is CPU time, not wall time on a shared
 * machine: inflating the file (the queue path), `JSON.parse` of the body, zod validation (`importBatch`), the
 * write plan (`toPlayRow`, `historyWrites`: metadata, rows, their JSON parameters) and compiling the statements to
 * SQL (drizzle). D1's work is not the Worker's CPU; Hono's routing and the JWT check are not included.
 *
 * The data is the benchmark account's export (bench/import.bench.test.ts), built with the simulator's own modules.
 * Each file is measured three times and the least CPU kept (contention only ever adds). bench/run.ts bundles this
 * file with esbuild (it imports src/ modules) and runs it with Node; it prints one `@@BENCH@@` line.
 */
import { SQLiteAsyncDialect } from 'drizzle-orm/sqlite-core';
import { createAccount } from '../simulator/src/accounts';
import { createSimulator } from '../simulator/src/app';
import { BASE_DATE_MS } from '../simulator/src/dataset';
import { exportFiles } from '../simulator/src/export';
import { type ExportHistoryItem, importBatch } from '../src/import/items';
import { inflateEntry } from '../src/import/zip';
import type { RollupContext } from '../src/readmodel/write-hooks';
import { historyWrites } from '../src/sync/history-writes';
import { toPlayRow } from '../src/sync/plan';
import { BENCH_MARKER } from './format';
import { IMPORT_ACCOUNT } from './import-account';

const dialect = new SQLiteAsyncDialect({ casing: 'snake_case' });
const cpuMs = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

async function deflateRaw(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

type Parts = { inflate: number; parse: number; validate: number; plan: number; sql: number };

async function measure(body: string, compressed: Uint8Array): Promise<Parts> {
  let start = process.cpuUsage();
  await inflateEntry(
    compressed,
    {
      name: 'f',
      method: 8,
      compressedSize: compressed.length,
      size: new TextEncoder().encode(body).length,
      dataOffset: 0,
    },
    1 << 24,
  );
  const inflate = cpuMs(start);
  start = process.cpuUsage();
  const data = JSON.parse(body) as unknown;
  const parse = cpuMs(start);
  start = process.cpuUsage();
  const items = importBatch.parse(data) as ExportHistoryItem[];
  const validate = cpuMs(start);
  start = process.cpuUsage();
  const movies = items.filter((i) => i.type === 'movie');
  const episodes = items.filter((i) => i.type === 'episode');
  const writes = [
    historyWrites(1, 'movies', movies, movies.map(toPlayRow), [], NOTHING_COUNTED),
    historyWrites(1, 'shows', episodes, episodes.map(toPlayRow), [], NOTHING_COUNTED),
  ];
  const plan = cpuMs(start);
  start = process.cpuUsage();
  for (const statement of writes.flatMap((w) => w?.statements ?? [])) dialect.sqlToQuery(statement);
  const sql = cpuMs(start);
  return { inflate, parse, validate, plan, sql };
}

/** A new account's context: none of the titles is counted in the stats yet, no local zone. */
const NOTHING_COUNTED: RollupContext = {
  counted: { movies: new Map(), shows: new Map(), seasons: new Map() },
  grid: null,
};

const sim = createSimulator();
const account = createAccount(sim.state, {
  username: IMPORT_ACCOUNT.username,
  seed: IMPORT_ACCOUNT.seed,
  movies: IMPORT_ACCOUNT.movies,
  shows: IMPORT_ACCOUNT.shows,
  seasonsPerShow: IMPORT_ACCOUNT.seasons_per_show,
  episodesPerSeason: IMPORT_ACCOUNT.episodes_per_season,
  playsPerItem: IMPORT_ACCOUNT.plays_per_item,
  rewatchFraction: IMPORT_ACCOUNT.rewatch_fraction,
  nullTmdbFraction: 0.05,
  missingOnTmdbFraction: 0.03,
  historyStart: Date.parse('2021-01-01T00:00:00.000Z'),
  historyEnd: BASE_DATE_MS,
});
const files = Object.entries(exportFiles(account, sim.state.catalog, { now: Date.now() }))
  .filter(([name]) => name.startsWith('watched-history-'))
  .map(([, text]) => text);
const batches: Array<Parts & { total: number }> = [];
for (const body of files) {
  const compressed = await deflateRaw(body);
  let best: (Parts & { total: number }) | undefined;
  for (let round = 0; round < 3; round++) {
    const parts = await measure(body, compressed);
    const total = parts.parse + parts.validate + parts.plan + parts.sql;
    if (!best || total < best.total) best = { ...parts, total };
  }
  batches.push(best!);
}
console.log(`${BENCH_MARKER}${JSON.stringify({ name: 'import_cpu', data: { files: files.length, batches } })}`);
