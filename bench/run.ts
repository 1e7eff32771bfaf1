/**
 * `npm run bench`: runs the workerd benchmarks (vitest.bench.config.ts) and the HTTP throughput
 * script, then rewrites the figures section of BENCHMARKS.md (between the `bench:figures`
 * markers) with the tables, the date and the machine. Everything else in BENCHMARKS.md is prose
 * kept by hand.
 *
 *   npm run bench                 # both, rewrite BENCHMARKS.md
 *   npm run bench -- --no-write   # both, print only
 *   npm run bench -- --skip-throughput
 *   npm run bench -- --fleet-only       # only bench/fleet.bench.test.ts and its section
 *   npm run bench -- --import-only      # only bench/import.bench.test.ts and its section
 *   npm run bench -- --cpu-only         # only bench/cpu.ts (CPU per invocation) and its section
 *   npm run bench -- --skip-cpu
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { runCpu } from './cpu.ts';
import { CPU_END, CPU_START, cpuSection } from './cpu-format.ts';
import { type CronFigures, FLEET_END, FLEET_START, type FleetModelFigures, fleetSection } from './fleet-format.ts';
import {
  BENCH_MARKER,
  type ChunkedRow,
  callsTable,
  chunkedTable,
  d1SyncTable,
  type HistoryApiRow,
  historyApiTable,
  type ReadRow,
  readTable,
  type SyncRow,
  throughputTable,
} from './format.ts';
import { IMPORT_END, IMPORT_START, type ImportCpu, type ImportFigures, importSection } from './import-format.ts';
import { runThroughput, type ThroughputResult } from './throughput.ts';

const ROOT = resolve(import.meta.dirname, '..');
const DOC = join(ROOT, 'BENCHMARKS.md');
const START = '<!-- bench:figures:start -->';
const END = '<!-- bench:figures:end -->';
const args = new Set(process.argv.slice(2));

type LargeData = {
  account: Record<string, unknown> & { summary: Record<string, any> };
  setup_ms: number;
  sync: SyncRow[];
  reads: ReadRow[];
  tmdb_backlog: {
    after_first_sync: { movies: number; shows: number };
    after_noop_sync: { movies: number; shows: number };
  };
};
type TmdbData = { account: Record<string, unknown>; sync: SyncRow[] };
type ChunkedData = {
  accounts: Array<{
    label: string;
    account: { movies: number; shows: number; episodes: number; plays: number };
    first_sync_wall_ms: number;
    rows: ChunkedRow[];
  }>;
};

/** Runs the workerd bench files, streaming their output, and collects the `@@BENCH@@` lines. */
function runWorkerdBench(files: string[] = []): Promise<Record<string, unknown>> {
  return new Promise((resolveRun, reject) => {
    const vitest = join(ROOT, 'node_modules/vitest/vitest.mjs');
    const child = spawn(process.execPath, [vitest, 'run', '-c', 'vitest.bench.config.ts', ...files], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    const results: Record<string, unknown> = {};
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      buffer += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const at = line.indexOf(BENCH_MARKER);
        if (at >= 0) {
          const parsed = JSON.parse(line.slice(at + BENCH_MARKER.length)) as { name: string; data: unknown };
          results[parsed.name] = parsed.data;
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolveRun(results) : reject(new Error(`vitest -c vitest.bench.config.ts exited with ${code}`)),
    );
  });
}

/**
 * bench/import-cpu.ts in Node: bundled with esbuild first, since it imports src/ modules (extensionless imports,
 * which Node's type stripping does not resolve). Returns its `@@BENCH@@` figures.
 */
async function runImportCpu(): Promise<ImportCpu> {
  const dir = mkdtempSync(join(tmpdir(), 'import-cpu-'));
  const outfile = join(dir, 'import-cpu.mjs');
  try {
    await build({
      entryPoints: [join(ROOT, 'bench/import-cpu.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile,
      logLevel: 'silent',
    });
    const output = await new Promise<string>((resolveRun, reject) => {
      const child = spawn(process.execPath, [outfile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolveRun(text) : reject(new Error(`import-cpu exited with ${code}`))));
    });
    const line = output.split('\n').find((l) => l.includes(BENCH_MARKER));
    if (!line) throw new Error('bench/import-cpu.ts printed no figures');
    return (JSON.parse(line.slice(line.indexOf(BENCH_MARKER) + BENCH_MARKER.length)) as { data: ImportCpu }).data;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function machineName(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.version}`;
}

type HistoryApiData = { account: Record<string, unknown>; plays: number; rows: HistoryApiRow[] };

function figures(
  large: LargeData,
  tmdb: TmdbData,
  chunked: ChunkedData,
  throughput: ThroughputResult | undefined,
  historyApi: HistoryApiData | undefined,
): string {
  const s = large.account.summary;
  const cpu = cpus();
  const sizes = chunked.accounts
    .map(
      (a) =>
        `**${a.label}**: ${a.account.movies} movies, ${a.account.shows} shows, ${a.account.episodes} watched ` +
        `episodes, ${a.account.plays} plays (first sync ${Math.round(a.first_sync_wall_ms / 1000)} s wall clock ` +
        'in workerd with the in-process simulator)',
    )
    .join('; ');
  const lines = [
    START,
    `_Generated by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} ` +
      `(${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.version}). ` +
      'Do not edit by hand: the next run rewrites this section._',
    '',
    '### 1. The chunked sync per invocation (`bench/chunked-sync.bench.test.ts`)',
    '',
    `Accounts (simulator seeds \`bench-l\`, \`bench-xl\`): ${sizes}. ` +
      'Defaults: SYNC_PAGES_PER_RUN 40, SYNC_SUBREQUEST_BUDGET 45 (35 upstream calls once the limiter round trips ' +
      'are counted); the user has a TMDB key, so the first sync queues its titles on `trakt-enrich`, whose runs are ' +
      'the backfill rows. Each chunk or run is one invocation, run as the queue consumer runs it. ' +
      '"D1 calls" counts each batch as one call (the statements in it in parentheses); "max batch" is the largest ' +
      "single D1 call. Heap is an estimate (largest chunk's Trakt pages as JSON × 3), not a measurement.",
    '',
    chunkedTable(chunked.accounts.flatMap((a) => a.rows.map((r) => ({ ...r, account: a.label })))),
    '',
    `TMDB cache across users (seed \`bench-shared\`: ${tmdb.account.movies} movies, ` +
      `${tmdb.account.shows} shows × ${tmdb.account.seasons_per_show} seasons, default 5% null-tmdb and 3% ` +
      "missing-on-TMDB titles; the fetches below, then the trakt-enrich queue drains the first user's TMDB backlog before " +
      'the second user syncs):',
    '',
    callsTable(tmdb.sync),
    '',
    '### 2. D1 rows read and written',
    '',
    'TMDB cache across users (same runs as above; `rows_written` counts index entries too, so one inserted row ' +
      'with two indexes is 3):',
    '',
    d1SyncTable(tmdb.sync),
    '',
    `Per read request on a large account (seed \`bench-large\`, ${s.movies_watched} movies, ${s.shows_watched} shows):`,
    '',
    readTable(large.reads),
    '',
    '### 3. HTTP throughput relative to `/health` (wrangler dev, same run)',
    '',
  ];
  if (throughput) {
    lines.push(
      `${throughput.machine}. One user with ${throughput.seeded_movies} movies and 30 shows (seeded and synced ` +
        `through the simulator); ${throughput.requests} requests per endpoint in ${throughput.rounds} interleaved ` +
        `rounds (each starting further along the list), ${throughput.concurrency} in flight, from Node to 127.0.0.1; load average ` +
        `${throughput.load_average.before.toFixed(1)} → ${throughput.load_average.after.toFixed(1)} (the machine ` +
        'is shared, so absolute figures vary between runs; compare the ratios).',
      '',
      throughputTable(throughput.rows),
    );
  } else {
    lines.push('_Skipped in this run (`--skip-throughput`)._');
  }
  if (historyApi) {
    const a = historyApi.account;
    lines.push(
      '',
      '### 4. History API on the XL account',
      '',
      `XL account (seed \`${a.seed}\`): ${a.movies} movies and ${a.shows} shows × ${a.seasons_per_show} seasons ` +
        `× ${a.episodes_per_season} episodes, ${a.plays_per_item} plays each plus rewatches: ` +
        `**${historyApi.plays} plays**. D1 rows and time from D1's own \`meta\` (Miniflare's SQLite on this machine):`,
      '',
      historyApiTable(historyApi.rows),
    );
  }
  lines.push('', END);
  return lines.join('\n');
}

const cpuOnly = args.has('--cpu-only');
const fleetOnly = args.has('--fleet-only');
const importOnly = args.has('--import-only');
const loadBefore = loadavg()[0] ?? 0;
const bench = cpuOnly
  ? {}
  : await runWorkerdBench(fleetOnly ? ['bench/fleet.bench.test.ts'] : importOnly ? ['bench/import.bench.test.ts'] : []);
const sections: Array<[string, string, string]> = [];
if (cpuOnly || (!fleetOnly && !importOnly && !args.has('--skip-cpu'))) {
  sections.push([CPU_START, CPU_END, cpuSection(await runCpu())]);
}
if (!importOnly && !cpuOnly) {
  const crons = [bench.cron_25000, bench.cron_100000] as Array<CronFigures | undefined>;
  const fleetModel = bench.fleet_model as FleetModelFigures | undefined;
  if (crons.some((c) => !c) || !fleetModel) throw new Error('the fleet benchmarks printed no figures');
  // Production limits (the wrangler.toml defaults), as the model used.
  sections.push([FLEET_START, FLEET_END, fleetSection(crons as CronFigures[], fleetModel, { trakt: 15, tmdb: 35 })]);
}
if (!fleetOnly && !cpuOnly) {
  const imported = bench.import as ImportFigures | undefined;
  if (!imported) throw new Error('the import benchmark printed no figures');
  const load = { machine: machineName(), before: loadBefore, after: loadavg()[0] ?? 0 };
  sections.push([IMPORT_START, IMPORT_END, importSection(imported, await runImportCpu(), load)]);
}
if (!fleetOnly && !importOnly && !cpuOnly) {
  const large = bench.large as LargeData | undefined;
  const tmdb = bench.tmdb as TmdbData | undefined;
  const chunked = bench.chunked as ChunkedData | undefined;
  if (!large || !tmdb || !chunked) throw new Error('the workerd benchmarks printed no figures');
  const throughput = args.has('--skip-throughput') ? undefined : await runThroughput();
  sections.unshift([
    START,
    END,
    figures(large, tmdb, chunked, throughput, bench.history_api as HistoryApiData | undefined),
  ]);
}
if (args.has('--no-write')) {
  console.log(`\n${sections.map(([, , text]) => text).join('\n\n')}`);
} else {
  let doc = readFileSync(DOC, 'utf8');
  for (const [start, end, text] of sections) {
    const from = doc.indexOf(start);
    const to = doc.indexOf(end);
    if (from < 0 || to < from) throw new Error(`BENCHMARKS.md has no ${start} … ${end} section`);
    doc = doc.slice(0, from) + text + doc.slice(to + end.length);
  }
  writeFileSync(DOC, doc);
  // The generated tables, aligned as the lint (Biome) wants them.
  spawnSync(process.execPath, [join(ROOT, 'node_modules/@biomejs/biome/bin/biome'), 'format', '--write', DOC], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  console.log(`\nBENCHMARKS.md: figures sections rewritten.`);
}
