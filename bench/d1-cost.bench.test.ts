/**
 * D1 cost per play (issue 25): a first sync plus the whole TMDB backfill it queues, "all-in", on the
 * L and XL accounts, from D1's own `meta` of every statement the Worker runs (test/support/d1-meter.ts).
 * Each sync chunk runs as the queue consumer runs it, then every `trakt-enrich` message it queued is
 * delivered through the Worker's queue handler until none is left. Also: the enrichment's linearity
 * (half of L against L: the same seed, half the titles and plays), and where the rows go (by table for
 * writes, by statement for reads).
 *
 * Asserts the issue's targets: ≤ 6 rows written and ≤ 10 rows read per play on L and XL, enrichment
 * of a library twice as large at most 2.2× the rows, and, unchanged, an incremental sync of 3 new plays
 * (after the backfill) at ≤ 4 Trakt calls and < 500 rows read, its enrichment included. Prints one `@@BENCH@@` line (bench/run.ts).
 *
 *   npx vitest run -c vitest.bench.config.ts bench/d1-cost.bench.test.ts            # L, XL and linearity
 *   npx vitest run -c vitest.bench.config.ts bench/d1-cost.bench.test.ts -t 'L '    # only L
 */
import { env } from 'cloudflare:workers';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { type ContinuationMessage, runSync, type SyncKind } from '../src/sync/service';
import { enrichAfterSync } from '../src/tmdb/runner';
import { call } from '../test/support/api';
import { type D1Meter, meterD1 } from '../test/support/d1-meter';
import { deliverEnrichMessage, enrichQueue } from '../test/support/enrich-queue';
import { connectedUser } from '../test/support/trakt';
import { BENCH_MARKER, type D1CostRow } from './format';

const L = { seed: 'bench-l', movies: 5000, shows: 300, seasons_per_show: 6, episodes_per_season: 10 } as const;
const HALF_L = { ...L, movies: 2500, shows: 150 } as const;
const XL = {
  seed: 'bench-xl',
  movies: 5000,
  shows: 800,
  seasons_per_show: 6,
  episodes_per_season: 12,
  rewatch_fraction: 0.21,
} as const;

const TARGET_WRITTEN_PER_PLAY = 6;
const TARGET_READ_PER_PLAY = 10;
const TARGET_LINEAR = 2.2;
/** Unchanged by issue 25: an incremental sync of 3 new plays. */
const TARGET_INCREMENTAL_TRAKT_CALLS = 4;
const TARGET_INCREMENTAL_ROWS_READ = 500;

let sim: Simulator;
let queued: ContinuationMessage[];
beforeEach(() => {
  sim = installSimulator();
  queued = [];
  vi.spyOn(env.SYNC_QUEUE, 'send').mockImplementation(async (body) => {
    queued.push(body as ContinuationMessage);
    return undefined as never;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  sim.restore();
});

type Tally = {
  invocations: number;
  rowsRead: number;
  rowsWritten: number;
  writesByTable: Record<string, number>;
  readsByStatement: Record<string, number>;
};
const tally = (): Tally => ({ invocations: 0, rowsRead: 0, rowsWritten: 0, writesByTable: {}, readsByStatement: {} });

/** A statement's shape for the reads breakdown: its first words, whitespace folded. */
const shape = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 90);

function add(into: Tally, meter: D1Meter) {
  into.invocations += 1;
  into.rowsRead += meter.rowsRead;
  into.rowsWritten += meter.rowsWritten;
  for (const [table, n] of meter.writesByTable) into.writesByTable[table] = (into.writesByTable[table] ?? 0) + n;
  for (const { sql, rowsRead } of meter.readsByStatement)
    if (rowsRead > 0) into.readsByStatement[shape(sql)] = (into.readsByStatement[shape(sql)] ?? 0) + rowsRead;
}

/** The first sync, chunk by chunk as the queue delivers its continuations. */
async function firstSync(userId: number): Promise<Tally> {
  const t = tally();
  queued = [];
  let next: { kinds: SyncKind[]; expect?: ContinuationMessage['expect'] } = { kinds: ['movies', 'shows'] };
  for (let i = 0; i < 400; i++) {
    const { result: outcome, meter } = await meterD1(async () => {
      const outcome = await runSync(env, userId, { kinds: next.kinds, background: true, expect: next.expect });
      await enrichAfterSync(env, outcome, { background: true });
      return outcome;
    });
    add(t, meter);
    if (outcome.complete) return t;
    const message = queued.at(-1)!;
    next = { kinds: message.kinds, expect: message.expect };
  }
  throw new Error('the first sync did not complete in 400 chunks');
}

/** Every `trakt-enrich` message, one per invocation, until none is left. */
async function backfill(): Promise<Tally> {
  const t = tally();
  for (let i = 0; enrichQueue.length > 0 && i < 3_000; i++) {
    const message = enrichQueue.shift()!;
    const { result, meter } = await meterD1(() =>
      deliverEnrichMessage(message.body, { env: { ...env, LOG_LEVEL: 'warn' } }),
    );
    expect(result.acked).toBe(true);
    add(t, meter);
  }
  expect(enrichQueue).toEqual([]);
  return t;
}

async function measure(label: string, account: Record<string, unknown>): Promise<D1CostRow & { detail: unknown }> {
  // Each library's backfill starts from an empty TMDB cache: the cache is shared by every user, so whichever
  // account ran second would otherwise find its titles cached (L/2's are L's) and cost a fraction.
  await env.DB.batch(
    ['tmdb_titles', 'tmdb_seasons', 'tmdb_external_ids'].map((table) => env.DB.prepare(`DELETE FROM ${table}`)),
  );
  const user = await connectedUser(sim, account);
  const stored = await call('POST', '/users/api-keys/', {
    token: user.access,
    json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY },
  });
  expect(stored.status).toBe(201);
  const summary = await sim.summary(user.traktUsername);
  const plays = summary.history_items.total as number;
  enrichQueue.length = 0;
  const sync = await firstSync(user.id);
  const enrichment = await backfill();
  // Exactly Trakt's plays are stored, and nothing is left waiting for TMDB.
  const count = await env.DB.prepare('SELECT count(*) AS n FROM plays WHERE user_id = ?')
    .bind(user.id)
    .first<{ n: number }>();
  expect(count!.n).toBe(plays);
  const top = (record: Record<string, number>, n: number) =>
    Object.fromEntries(
      Object.entries(record)
        .sort((a, b) => b[1] - a[1])
        .slice(0, n),
    );
  const detail = {
    sync: { writes: top(sync.writesByTable, 20), reads: top(sync.readsByStatement, 8) },
    enrichment: { writes: top(enrichment.writesByTable, 20), reads: top(enrichment.readsByStatement, 8) },
  };
  console.log(`${label}: ${JSON.stringify(detail, null, 1)}`);
  // Then 3 new plays (2 movies, 1 episode) and the next background sync of both kinds, all-in.
  const catalog = await sim.catalog(user.traktUsername);
  await sim.advanceClock(60);
  await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[0]!.trakt });
  await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[1]!.trakt });
  await sim.addPlay(user.traktUsername, {
    type: 'episode',
    trakt_id: catalog.shows[0]!.seasons[0]!.episodes[0]!.trakt,
  });
  await sim.clearRequests();
  const incremental = tally();
  const { result: after, meter: incrementalMeter } = await meterD1(async () => {
    const outcome = await runSync(env, user.id, { kinds: ['movies', 'shows'], background: true });
    await enrichAfterSync(env, outcome, { background: true });
    return outcome;
  });
  add(incremental, incrementalMeter);
  for (let i = 0; enrichQueue.length > 0 && i < 10; i++) {
    const { meter } = await meterD1(() => deliverEnrichMessage(enrichQueue.shift()!.body, { env }));
    add(incremental, meter);
  }
  expect(after.complete).toBe(true);
  const traktCalls = Object.entries(await sim.counters())
    .filter(([route]) => !route.includes(' /3/'))
    .reduce((n, [, count]) => n + count, 0);
  const written = sync.rowsWritten + enrichment.rowsWritten;
  const read = sync.rowsRead + enrichment.rowsRead;
  return {
    account: label,
    plays,
    movies: summary.movies_watched,
    shows: summary.shows_watched,
    episodes: summary.episodes_watched,
    sync_chunks: sync.invocations,
    enrichment_runs: enrichment.invocations,
    sync_rows_written: sync.rowsWritten,
    sync_rows_read: sync.rowsRead,
    enrichment_rows_written: enrichment.rowsWritten,
    enrichment_rows_read: enrichment.rowsRead,
    rows_written: written,
    rows_read: read,
    written_per_play: Math.round((written / plays) * 100) / 100,
    read_per_play: Math.round((read / plays) * 100) / 100,
    incremental_trakt_calls: traktCalls,
    incremental_rows_read: incremental.rowsRead,
    incremental_rows_written: incremental.rowsWritten,
    detail,
  };
}

const results: Record<string, D1CostRow & { detail: unknown }> = {};

describe('D1 cost per play, first sync + TMDB backfill (all-in)', () => {
  for (const [label, account] of [
    ['L', L],
    ['XL', XL],
  ] as const) {
    it(`${label} account`, async () => {
      const row = await measure(label, account);
      results[label] = row;
      expect(row.written_per_play, 'rows written per play').toBeLessThanOrEqual(TARGET_WRITTEN_PER_PLAY);
      expect(row.read_per_play, 'rows read per play').toBeLessThanOrEqual(TARGET_READ_PER_PLAY);
      expect(row.incremental_trakt_calls, 'Trakt calls of an incremental sync').toBeLessThanOrEqual(
        TARGET_INCREMENTAL_TRAKT_CALLS,
      );
      expect(row.incremental_rows_read, 'rows read by an incremental sync').toBeLessThan(TARGET_INCREMENTAL_ROWS_READ);
    }, 3_600_000);
  }

  it('L/2 against L: enrichment is linear', async () => {
    const half = await measure('L/2', HALF_L);
    results['L/2'] = half;
    const full = results.L ?? (await measure('L', L));
    results.L ??= full;
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    expect(ratio(full.enrichment_rows_read, half.enrichment_rows_read)).toBeLessThanOrEqual(TARGET_LINEAR);
    expect(ratio(full.enrichment_rows_written, half.enrichment_rows_written)).toBeLessThanOrEqual(TARGET_LINEAR);
    expect(ratio(full.rows_read, half.rows_read)).toBeLessThanOrEqual(TARGET_LINEAR);
    expect(ratio(full.rows_written, half.rows_written)).toBeLessThanOrEqual(TARGET_LINEAR);
  }, 3_600_000);

  afterAll(() => {
    const rows = ['L/2', 'L', 'XL'].flatMap((label) => (results[label] ? [results[label]] : []));
    console.log(`${BENCH_MARKER}${JSON.stringify({ name: 'd1cost', data: { rows } })}`);
  });
});
