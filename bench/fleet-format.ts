/**
 * Markdown for the fleet figures (bench/fleet.bench.test.ts): the cron's claim and fan-out at
 * scale, and the simulated fleet hour. Pure code, type-checked under both tsconfigs; bench/run.ts
 * writes it between the `bench:fleet` markers of BENCHMARKS.md.
 */

export type CronRunFigures = {
  run: number;
  claimed: number;
  send_batch_calls: number;
  largest_batch: number;
  rows_read: number;
  rows_written: number;
  statements: number;
  wall_ms: number;
  delay_min_s: number;
  delay_max_s: number;
  starts_peak_per_second: number;
  starts_mean_per_second: number;
};
export type CronFigures = { users: number; cap: number; burst: CronRunFigures[] };

export type FleetProfile = { name: string; share: number; traktCalls: number; tmdbCalls: number };
export type FleetModelRow = {
  users: number;
  interval_minutes: number;
  trakt_rps_limit: number;
  tmdb_rps_limit: number;
  syncs_due: number;
  syncs_completed: number;
  deferrals: number;
  trakt_calls: number;
  tmdb_calls: number;
  trakt_peak_per_second: number;
  trakt_mean_per_second: number;
  tmdb_peak_per_second: number;
  tmdb_mean_per_second: number;
  peak_syncs_in_flight: number;
  delay_p50_minutes: number;
  delay_p95_minutes: number;
  delay_max_minutes: number;
  backlog_at_end: number;
  enrich_deferrals: number;
  enrich_wait_p95_minutes: number;
  enrich_waiting_at_end: number;
  trakt_demand_ratio: number;
};
export type FleetModelFigures = { mix: FleetProfile[]; results: FleetModelRow[] };

export const FLEET_START = '<!-- bench:fleet:start -->';
export const FLEET_END = '<!-- bench:fleet:end -->';

const n = (value: number) => value.toLocaleString('en');

function table(header: string[], rows: Array<Array<string | number>>): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function fleetSection(crons: CronFigures[], model: FleetModelFigures, limits: { trakt: number; tmdb: number }) {
  const mean = (pick: (p: FleetProfile) => number) => model.mix.reduce((sum, p) => sum + p.share * pick(p), 0);
  const traktPerSync = mean((p) => p.traktCalls);
  const tmdbPerSync = mean((p) => p.tmdbCalls);
  const cronRows = crons.flatMap((c) =>
    c.burst.map((r) => {
      const traktDemand = r.starts_mean_per_second * traktPerSync;
      const tmdbDemand = r.starts_mean_per_second * tmdbPerSync;
      return [
        n(c.users),
        r.run + 1,
        n(r.claimed),
        n(r.rows_read),
        n(r.rows_written),
        r.statements,
        r.send_batch_calls,
        `${r.delay_min_s}–${r.delay_max_s} s`,
        `${r.starts_mean_per_second} / ${r.starts_peak_per_second}`,
        `${traktDemand.toFixed(1)} → ${Math.min(traktDemand, limits.trakt).toFixed(1)}`,
        `${tmdbDemand.toFixed(1)} → ${Math.min(tmdbDemand, limits.tmdb).toFixed(1)}`,
        n(r.wall_ms),
      ];
    }),
  );
  const modelRows = model.results.map((r) => [
    n(r.users),
    r.interval_minutes,
    `${r.trakt_demand_ratio}×`,
    n(r.syncs_due),
    n(r.syncs_completed),
    n(r.deferrals),
    `${r.trakt_peak_per_second} / ${r.trakt_mean_per_second}`,
    `${r.tmdb_peak_per_second} / ${r.tmdb_mean_per_second}`,
    r.peak_syncs_in_flight,
    `${r.delay_p50_minutes} / ${r.delay_p95_minutes} / ${r.delay_max_minutes}`,
    n(r.backlog_at_end),
    `${r.enrich_wait_p95_minutes} / ${n(r.enrich_deferrals)} / ${n(r.enrich_waiting_at_end)}`,
  ]);
  return [
    FLEET_START,
    '',
    `### 4. The cron at scale (workerd, D1 meter; \`bench/fleet.bench.test.ts\`)`,
    '',
    'Every user overdue at the same instant (a first deploy, or after an outage), one run every 15 minutes until ' +
      `all are claimed; claim cap ${n(crons[0]?.cap ?? 0)} per run. \`sendBatch\` is recorded, not delivered. ` +
      "Sync starts per second come from the messages' delays; the upstream rates multiply them by the mix below " +
      `(${traktPerSync.toFixed(2)} Trakt and ${tmdbPerSync.toFixed(2)} TMDB calls per sync) and show what the ` +
      `limiters (${limits.trakt} and ${limits.tmdb} per second) let through.`,
    '',
    table(
      [
        'due users',
        'run',
        'claimed',
        'D1 rows read',
        'D1 rows written',
        'statements',
        'sendBatch calls',
        'delays',
        'sync starts/s (mean / peak second)',
        'Trakt req/s demanded → sent',
        'TMDB req/s demanded → sent',
        'wall ms',
      ],
      cronRows,
    ),
    '',
    '### 5. A simulated fleet hour under the limiters (`bench/fleet-model.ts`)',
    '',
    `Mix per background sync: ${model.mix
      .map((p) => `${Math.round(p.share * 100)}% ${p.name} (${p.traktCalls} Trakt, ${p.tmdbCalls} TMDB calls)`)
      .join('; ')}. Limits ${limits.trakt} Trakt and ${limits.tmdb} TMDB requests per second; figures are for the ` +
      'last simulated hour (after 2 hours of warm-up, 5 at the 240-minute interval). "Demand" is the Trakt calls ' +
      'the fleet needs per hour ÷ what the limit allows. TMDB calls run after the sync, from the `trakt-enrich` ' +
      'queue (at most 2 runs at once, 8 calls in flight each); "wait" is from the sync queuing them to the run ' +
      'finishing.',
    '',
    table(
      [
        'users',
        'interval (min)',
        'Trakt demand',
        'syncs due',
        'completed',
        'deferrals',
        'Trakt req/s (peak / mean)',
        'TMDB req/s (peak / mean)',
        'syncs in flight (peak)',
        'due → done, min (p50 / p95 / max)',
        'backlog at the end',
        'enrichment: wait p95 min / deferrals / waiting at the end',
      ],
      modelRows,
    ),
    '',
    FLEET_END,
  ].join('\n');
}
