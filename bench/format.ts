/**
 * Shared by the workerd bench files and the Node runner: row types and markdown tables.
 * Pure code (no Node or Workers APIs), so it type-checks under both tsconfigs.
 */
export const BENCH_MARKER = '@@BENCH@@';

export type SyncRow = {
  scenario: string;
  endpoint: string;
  trakt_calls: number;
  tmdb_calls: number;
  /** TMDB requests answered 429 (then retried by the client); included in tmdb_calls. */
  tmdb_429: number;
  /** TMDB requests not answered 429. */
  tmdb_ok: number;
  rows_read: number;
  rows_written: number;
  writes_by_table: Record<string, number>;
  statements: number;
  counters: Record<string, number>;
  wall_ms: number;
  plays_added?: number;
  plays_removed?: number;
};

/** One scenario of the chunked-sync benchmark: maxima per invocation (chunk) and totals over the sync. */
export type ChunkedRow = {
  scenario: string;
  chunks: number;
  trakt_max: number;
  trakt_total: number;
  tmdb_max: number;
  tmdb_total: number;
  upstream_max: number;
  d1_calls_max: number;
  d1_statements_max: number;
  rows_read_max_batch: number;
  rows_read_total: number;
  rows_written_max_batch: number;
  rows_written_total: number;
  heap_estimate_mb: number;
};

export function chunkedTable(rows: Array<ChunkedRow & { account: string }>): string {
  const header =
    '| Account | Scenario | chunks | Trakt max / total | TMDB max / total | upstream max per invocation | D1 calls ' +
    'max (statements) | rows read max batch / total | rows written max batch / total | heap est. MB |';
  const lines = [header, '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(
      `| ${r.account} | ${r.scenario} | ${r.chunks} | ${r.trakt_max} / ${r.trakt_total} | ${r.tmdb_max} / ` +
        `${r.tmdb_total} | ${r.upstream_max} | ${r.d1_calls_max} (${r.d1_statements_max}) | ` +
        `${r.rows_read_max_batch} / ${r.rows_read_total} | ${r.rows_written_max_batch} / ${r.rows_written_total} | ` +
        `${r.heap_estimate_mb} |`,
    );
  }
  return lines.join('\n');
}

export type ReadRow = {
  scenario: string;
  endpoint: string;
  items_returned: number;
  rows_read: number;
  rows_written: number;
  statements: number;
};

/** One request of the history API bench (bench/history-api.bench.test.ts). */
export type HistoryApiRow = {
  scenario: string;
  endpoint: string;
  status: number;
  rows_read: number;
  /** D1's own meta.duration, summed over the request's statements. */
  d1_ms: number;
  statements: number;
  /** Export only: the chunk size (rows per D1 read), which bounds memory. */
  max_rows_per_statement: number;
};

export type ThroughputRow = {
  endpoint: string;
  requests: number;
  errors: number;
  rps: number;
  p50_ms: number;
  p95_ms: number;
  rps_ratio: number;
  p50_ratio: number;
  p95_ratio: number;
  /** Median over rounds of (endpoint req/s ÷ /health req/s in the same round). */
  rps_ratio_round_median: number;
};

const kind = (endpoint: string) =>
  endpoint.includes('movies') ? 'movies' : endpoint.includes('shows') ? 'shows' : endpoint;

function table(header: string[], rows: Array<Array<string | number>>): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const traktDetail = (counters: Record<string, number>) =>
  Object.entries(counters)
    .filter(([k]) => !k.includes(' /3/'))
    .map(([k, v]) => `${k.replace(/^GET /, '')} ×${v}`)
    .join(', ');
const tmdbDetail = (counters: Record<string, number>) =>
  Object.entries(counters)
    .filter(([k]) => k.includes(' /3/'))
    .map(([k, v]) => `${k.replace(/^GET \/3/, '')} ×${v}`)
    .join(', ');
const writes = (w: Record<string, number>) =>
  Object.entries(w)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ') || '–';

/** Upstream calls per sync. */
export function callsTable(rows: SyncRow[]): string {
  return table(
    [
      'Scenario',
      'Kind',
      'Trakt GETs',
      'of which',
      'TMDB calls',
      'of which 429 (retried)',
      'TMDB detail (incl. retries)',
    ],
    rows.map((r) => [
      r.scenario,
      kind(r.endpoint),
      r.trakt_calls,
      traktDetail(r.counters),
      r.tmdb_calls,
      r.tmdb_429,
      tmdbDetail(r.counters) || '–',
    ]),
  );
}

/** D1 rows per sync. */
export function d1SyncTable(rows: SyncRow[]): string {
  return table(
    [
      'Scenario',
      'Kind',
      'D1 rows read',
      'D1 rows written',
      'written by table',
      'statements',
      'wall ms (workerd, in-process sim)',
    ],
    rows.map((r) => [
      r.scenario,
      kind(r.endpoint),
      r.rows_read,
      r.rows_written,
      writes(r.writes_by_table),
      r.statements,
      r.wall_ms,
    ]),
  );
}

export function syncTable(rows: SyncRow[]): string {
  return `${callsTable(rows)}\n\n${d1SyncTable(rows)}`;
}

export function readTable(rows: ReadRow[]): string {
  return table(
    ['Read', 'Request', 'items returned', 'D1 rows read', 'rows read per item', 'D1 rows written', 'statements'],
    rows.map((r) => [
      r.scenario,
      `\`${r.endpoint}\``,
      r.items_returned,
      r.rows_read,
      r.items_returned ? (r.rows_read / r.items_returned).toFixed(1) : '–',
      r.rows_written,
      r.statements,
    ]),
  );
}

export function throughputTable(rows: ThroughputRow[]): string {
  return table(
    [
      'Endpoint',
      'requests',
      'errors',
      'req/s',
      'req/s vs /health',
      '(median of per-round ratios)',
      'p50 ms',
      'p50 vs /health',
      'p95 ms',
      'p95 vs /health',
    ],
    rows.map((r) => [
      `\`${r.endpoint}\``,
      r.requests,
      r.errors,
      r.rps.toFixed(0),
      r.rps_ratio.toFixed(2),
      r.rps_ratio_round_median.toFixed(2),
      r.p50_ms.toFixed(1),
      r.p50_ratio.toFixed(2),
      r.p95_ms.toFixed(1),
      r.p95_ratio.toFixed(2),
    ]),
  );
}

export function historyApiTable(rows: HistoryApiRow[]): string {
  return table(
    ['Scenario', 'Request', 'status', 'D1 rows read', 'D1 time (ms)', 'statements', 'rows per chunk'],
    rows.map((r) => [
      r.scenario,
      `\`${r.endpoint}\``,
      r.status,
      r.rows_read,
      r.d1_ms.toFixed(2),
      r.statements,
      r.max_rows_per_statement || '–',
    ]),
  );
}

/** One account of the D1 cost benchmark (bench/d1-cost.bench.test.ts): first sync + TMDB backfill, all-in. */
export type D1CostRow = {
  account: string;
  plays: number;
  movies: number;
  shows: number;
  episodes: number;
  sync_chunks: number;
  enrichment_runs: number;
  sync_rows_written: number;
  sync_rows_read: number;
  enrichment_rows_written: number;
  enrichment_rows_read: number;
  rows_written: number;
  rows_read: number;
  written_per_play: number;
  read_per_play: number;
  /** Then 3 new plays: the incremental sync's Trakt calls and D1 rows (its enrichment included). */
  incremental_trakt_calls?: number;
  incremental_rows_read?: number;
  incremental_rows_written?: number;
};
