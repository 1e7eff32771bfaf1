/**
 * The import benchmark's figures (bench/import.bench.test.ts) as the BENCHMARKS.md section between the
 * `bench:import` markers: per path, invocations, D1 calls and rows, and the Worker's own time per invocation.
 * Pure code, so it type-checks under both tsconfigs.
 */
export const IMPORT_START = '<!-- bench:import:start -->';
export const IMPORT_END = '<!-- bench:import:end -->';

export type ImportInvocation = {
  d1_calls: number;
  statements: number;
  rows_read: number;
  rows_written: number;
  /** Wall time less the time awaiting D1 and R2: the invocation's own CPU time on this machine. */
  worker_ms: number;
  wall_ms: number;
  parts: { parse_ms?: number; validate_ms?: number; plan_ms?: number; inflate_ms?: number };
};

export type ImportFigures = {
  account: Record<string, unknown> & { plays: number; history_files: number; zip_bytes: number };
  batches: ImportInvocation[];
  again: ImportInvocation[];
  upload: ImportInvocation;
  queued: ImportInvocation[];
};

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const max = (values: number[]) => values.reduce((a, b) => Math.max(a, b), 0);
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}
const n = (value: number) => Math.round(value).toLocaleString('en-US');
const ms = (value: number) => value.toFixed(1);

function row(path: string, runs: ImportInvocation[], plays: number): string {
  const worker = runs.map((r) => r.worker_ms);
  const written = sum(runs.map((r) => r.rows_written));
  return (
    `| ${path} | ${runs.length} | ${max(runs.map((r) => r.d1_calls))} (${max(runs.map((r) => r.statements))}) | ` +
    `${n(sum(runs.map((r) => r.rows_read)))} / ${n(max(runs.map((r) => r.rows_read)))} | ` +
    `${n(written)} / ${n(max(runs.map((r) => r.rows_written)))} | ${plays ? (written / plays).toFixed(1) : '–'} | ` +
    `${ms(percentile(worker, 0.5))} / ${ms(percentile(worker, 0.95))} / ${ms(max(worker))} |`
  );
}

function partsRow(path: string, runs: ImportInvocation[]): string {
  const part = (key: keyof ImportInvocation['parts']) => {
    const values = runs.map((r) => r.parts[key]).filter((v): v is number => v !== undefined);
    return values.length ? ms(percentile(values, 0.5)) : '–';
  };
  return `| ${path} | ${part('inflate_ms')} | ${part('parse_ms')} | ${part('validate_ms')} | ${part('plan_ms')} |`;
}

export function importSection(figures: ImportFigures): string {
  const a = figures.account;
  const plays = a.plays;
  const written = sum([...figures.batches, figures.upload, ...figures.queued].map((r) => r.rows_written)) / 2;
  return [
    IMPORT_START,
    '',
    "### 6. Importing Trakt's export (workerd, D1 meter; `bench/import.bench.test.ts`)",
    '',
    `The simulator's export of one account (seed \`${String(a.seed)}\`): **${n(plays)} plays** (Trakt's cap is ` +
      `100,000) in ${a.history_files} \`watched-history-N.json\` files of 1,000, a ${(a.zip_bytes / 1e6).toFixed(1)} MB ` +
      'ZIP. Three paths, each invocation metered on its own: the batches the dashboard and `npm run import` send ' +
      '(one file per `POST /trakt/import/history/`), the same batches again (every play already stored), and the ZIP ' +
      'upload (`POST /trakt/import/`) followed by its `trakt-import` queue messages (one file each). "Worker ms" is ' +
      "wall time less the time awaiting D1 and R2, i.e. the invocation's own CPU time on this machine (in local " +
      'workerd the clock runs during computation); it includes Hono, the JWT check, JSON, zod and SQL building. ' +
      'D1 calls count a batch as one call (its statements in parentheses).',
    '',
    '| Path | invocations | D1 calls max (statements) | rows read total / max | rows written total / max | rows written per play | Worker ms per invocation median / p95 / max |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    row('batches of 1,000 (dashboard, CLI)', figures.batches, plays),
    row('the same batches again (all stored)', figures.again, 0),
    row('ZIP upload (`POST /trakt/import/`, 202)', [figures.upload], 0),
    row('ZIP: one file per queue message', figures.queued, plays),
    '',
    'The CPU parts of one file (median ms, timed directly in the same isolate):',
    '',
    '| Path | inflate | JSON.parse | validate (zod) | plan + build SQL |',
    '| --- | --- | --- | --- | --- |',
    partsRow('batch', figures.batches),
    partsRow('queue message', figures.queued),
    '',
    `Importing the whole history writes about ${n(written)} D1 rows (index entries and the stats triggers included); ` +
      `at Workers Free's 100,000 rows written a day that is ${Math.ceil(written / 100_000)} days of the daily ` +
      'allowance (a first sync of the same history costs the same rows).',
    '',
    IMPORT_END,
  ].join('\n');
}
