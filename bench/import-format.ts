/**
 * The import benchmarks' figures (bench/import.bench.test.ts in workerd, bench/import-cpu.ts in Node) as the
 * BENCHMARKS.md section between the `bench:import` markers. Pure code, so it type-checks under both tsconfigs.
 */
export const IMPORT_START = '<!-- bench:import:start -->';
export const IMPORT_END = '<!-- bench:import:end -->';

export type ImportInvocation = {
  d1_calls: number;
  statements: number;
  rows_read: number;
  rows_written: number;
  /** Wall time less the time awaiting D1 and R2 (inflated by a busy machine; see `ImportCpu` for CPU time). */
  worker_ms: number;
  wall_ms: number;
};

export type ImportFigures = {
  account: Record<string, unknown> & { plays: number; history_files: number; zip_bytes: number };
  batches: ImportInvocation[];
  again: ImportInvocation[];
  upload: ImportInvocation;
  queued: ImportInvocation[];
};

/** CPU milliseconds per history file of 1,000 plays (process.cpuUsage in Node). */
export type ImportCpu = {
  files: number;
  batches: Array<{ inflate: number; parse: number; validate: number; plan: number; sql: number; total: number }>;
};

export type MachineLoad = { machine: string; before: number; after: number };

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const max = (values: number[]) => values.reduce((a, b) => Math.max(a, b), 0);
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}
const n = (value: number) => Math.round(value).toLocaleString('en-US');
const ms = (value: number) => value.toFixed(1);
const spread = (values: number[]) =>
  `${ms(percentile(values, 0.5))} / ${ms(percentile(values, 0.95))} / ${ms(max(values))}`;

function row(path: string, runs: ImportInvocation[], plays: number): string {
  const written = sum(runs.map((r) => r.rows_written));
  return (
    `| ${path} | ${runs.length} | ${max(runs.map((r) => r.d1_calls))} (${max(runs.map((r) => r.statements))}) | ` +
    `${n(sum(runs.map((r) => r.rows_read)))} / ${n(max(runs.map((r) => r.rows_read)))} | ` +
    `${n(written)} / ${n(max(runs.map((r) => r.rows_written)))} | ${plays ? (written / plays).toFixed(1) : '–'} | ` +
    `${spread(runs.map((r) => r.worker_ms))} |`
  );
}

export function importSection(figures: ImportFigures, cpu: ImportCpu, load: MachineLoad): string {
  const a = figures.account;
  const plays = a.plays;
  const written = sum(figures.batches.map((r) => r.rows_written));
  const read = sum(figures.batches.map((r) => r.rows_read));
  const cpuOf = (key: keyof ImportCpu['batches'][number]) => cpu.batches.map((b) => b[key]);
  const batchCpu = cpuOf('total');
  const queuedCpu = cpu.batches.map((b) => b.total + b.inflate);
  return [
    IMPORT_START,
    '',
    "### 6. Importing Trakt's export (`bench/import.bench.test.ts`, `bench/import-cpu.ts`)",
    '',
    `The simulator's export of one account (seed \`${String(a.seed)}\`): **${n(plays)} plays** (Trakt's cap is ` +
      `100,000) in ${a.history_files} \`watched-history-N.json\` files of 1,000, a ${(a.zip_bytes / 1e6).toFixed(1)} MB ` +
      'ZIP. Three paths, each invocation metered on its own in workerd against local D1 and R2: the batches the ' +
      'dashboard and `npm run import` send (one file per `POST /trakt/import/history/`), the same batches again ' +
      '(every play already stored), and the ZIP upload (`POST /trakt/import/`) followed by its `trakt-import` queue ' +
      'messages (one file each). D1 calls count a batch as one call (its statements in parentheses). "Wall less ' +
      'waits" is wall time less the time awaiting D1 and R2; in local workerd the clock runs during computation, so ' +
      `it is CPU time plus any wait for a core: ${load.machine}, load average ${load.before.toFixed(1)} → ` +
      `${load.after.toFixed(1)} during the run, so read it as an upper bound.`,
    '',
    '| Path | invocations | D1 calls max (statements) | rows read total / max | rows written total / max | rows written per play | wall less waits, ms: median / p95 / max |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    row('batches of 1,000 (dashboard, CLI)', figures.batches, plays),
    row('the same batches again (all stored)', figures.again, 0),
    row('ZIP upload (`POST /trakt/import/`, 202)', [figures.upload], 0),
    row('ZIP: one file per queue message', figures.queued, plays),
    '',
    `CPU time of the Worker's own work per file of 1,000 plays (\`process.cpuUsage()\` in Node, the same V8; each of ` +
      `the ${cpu.files} files measured three times, the least kept): parsing the body, validating it with zod, ` +
      "planning the writes and building the SQL; inflating too for a queue message. D1's work is not the Worker's " +
      "CPU; Hono's routing and the JWT check are not included (they are in the column above).",
    '',
    '| per file, ms | inflate | JSON.parse | validate (zod) | plan the writes | build SQL | batch total | queue message total |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    `| median | ${ms(percentile(cpuOf('inflate'), 0.5))} | ${ms(percentile(cpuOf('parse'), 0.5))} | ` +
      `${ms(percentile(cpuOf('validate'), 0.5))} | ${ms(percentile(cpuOf('plan'), 0.5))} | ` +
      `${ms(percentile(cpuOf('sql'), 0.5))} | ${ms(percentile(batchCpu, 0.5))} | ${ms(percentile(queuedCpu, 0.5))} |`,
    `| p95 | ${ms(percentile(cpuOf('inflate'), 0.95))} | ${ms(percentile(cpuOf('parse'), 0.95))} | ` +
      `${ms(percentile(cpuOf('validate'), 0.95))} | ${ms(percentile(cpuOf('plan'), 0.95))} | ` +
      `${ms(percentile(cpuOf('sql'), 0.95))} | ${ms(percentile(batchCpu, 0.95))} | ${ms(percentile(queuedCpu, 0.95))} |`,
    '',
    `Importing the whole history writes ${n(written)} D1 rows and reads ${n(read)} (index entries and the stats ` +
      "triggers included, as for a first sync of the same plays); at Workers Free's 100,000 rows written and 5 M rows " +
      `read a day that is ${Math.ceil(written / 100_000)} days of the write allowance and ` +
      `${Math.ceil(read / 5_000_000)} of the read allowance.`,
    '',
    IMPORT_END,
  ].join('\n');
}
