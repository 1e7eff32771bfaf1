/**
 * Workerd-side benchmark of the chunked sync on the issue's two account sizes (L and XL), through
 * the simulator: a first sync, a no-op, 3 new plays and 1 removed play. Each chunk is one
 * invocation, run as the queue consumer runs it (`runSync`, continuation by continuation), with
 * the simulator's counters cleared and the D1 meter on, so every figure is per invocation. It
 * asserts the issue's targets (no invocation over 50 upstream calls or 50 D1 calls; 3 new plays
 * ≤ 4 Trakt calls and < 500 rows read) and prints one `@@BENCH@@` line that bench/run.ts collects.
 *
 * Peak JS heap is estimated, not measured (workerd exposes no heap figure to the Worker): the
 * largest chunk's Trakt pages as JSON, times 3 for their parsed objects and the statements' JSON.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { type ContinuationMessage, runSync, type SyncKind } from '../src/sync/service';
import { enrichAfterSync } from '../src/tmdb/runner';
import { call } from '../test/support/api';
import { meterD1 } from '../test/support/d1-meter';
import { deliverEnrichMessage, enrichQueue } from '../test/support/enrich-queue';
import { connectedUser } from '../test/support/trakt';
import { BENCH_MARKER, type ChunkedRow } from './format';

/** 5,000 movies; 300 shows × 60 episodes, 7/8 of them watched (≈ 15,000 watched episodes). */
const L = { seed: 'bench-l', movies: 5000, shows: 300, seasons_per_show: 6, episodes_per_season: 10 } as const;
/** 5,000 movies; 800 shows × 72 episodes (≈ 50,000 watched); rewatches bring the plays to ≈ 60,000. */
const XL = {
  seed: 'bench-xl',
  movies: 5000,
  shows: 800,
  seasons_per_show: 6,
  episodes_per_season: 12,
  rewatch_fraction: 0.21,
} as const;
const FREE_LIMIT = 50;

let sim: Simulator;
let queued: ContinuationMessage[];
/** The delay of the last continuation: a chunk that stopped for the user's Trakt window waits for it to reset. */
let queuedDelaySeconds = 0;
beforeEach(() => {
  sim = installSimulator();
  queued = [];
  vi.spyOn(env.SYNC_QUEUE, 'send').mockImplementation(async (body, options) => {
    queued.push(body as ContinuationMessage);
    queuedDelaySeconds = options?.delaySeconds ?? 0;
    return undefined as never;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  sim.restore();
});

type Invocation = {
  trakt: number;
  tmdb: number;
  d1Calls: number;
  d1Statements: number;
  maxBatchRead: number;
  maxBatchWritten: number;
  rowsRead: number;
  rowsWritten: number;
  historyPages: number;
};

/** Runs one invocation with the simulator's counters cleared and the D1 meter on. */
async function metered<T>(run: () => Promise<T>) {
  await sim.clearRequests();
  const { result, meter } = await meterD1(run);
  const counters = await sim.counters();
  const count = (tmdb: boolean) =>
    Object.entries(counters)
      .filter(([key]) => key.includes(' /3/') === tmdb)
      .reduce((n, [, v]) => n + v, 0);
  const invocation: Invocation = {
    trakt: count(false),
    tmdb: count(true),
    d1Calls: meter.calls.length,
    d1Statements: meter.statements.length,
    maxBatchRead: Math.max(0, ...meter.calls.map((c) => c.rowsRead)),
    maxBatchWritten: Math.max(0, ...meter.calls.map((c) => c.rowsWritten)),
    rowsRead: meter.rowsRead,
    rowsWritten: meter.rowsWritten,
    historyPages: (counters['GET /sync/history/movies'] ?? 0) + (counters['GET /sync/history/episodes'] ?? 0),
  };
  return { result, invocation, meter };
}

async function invoke(userId: number, kinds: SyncKind[], background: boolean, expect?: ContinuationMessage['expect']) {
  // One invocation as the queue consumer (background) or a fetch endpoint runs it: the chunk, then its TMDB work.
  const { result, invocation, meter } = await metered(async () => {
    const outcome = await runSync(env, userId, { kinds, background, expect });
    await enrichAfterSync(env, outcome, { background });
    return outcome;
  });
  // The expensive statements of small syncs, to explain their row counts.
  if (meter.rowsRead < 20_000)
    for (const r of meter.readsByStatement.filter((x) => x.rowsRead > 100))
      console.log(`rows read ${r.rowsRead}: ${r.sql.replace(/\s+/g, ' ').slice(0, 160)}`);
  return { outcome: result, invocation };
}

/**
 * Runs the TMDB backfill the first sync queued on `trakt-enrich`, one message per invocation as the
 * consumer takes them (each run's own continuation included), metering each run like a sync chunk.
 */
async function backfill(name: string): Promise<ChunkedRow> {
  const invocations: Invocation[] = [];
  for (let i = 0; enrichQueue.length > 0 && i < 2_000; i++) {
    const message = enrichQueue.shift()!;
    const { result, invocation } = await metered(() => deliverEnrichMessage(message.body));
    expect(result.acked).toBe(true);
    invocations.push(invocation);
  }
  expect(enrichQueue).toEqual([]);
  return summarize(name, invocations, 0);
}

/** Runs a sync to its end, continuation by continuation, as the queue would deliver them. */
async function scenario(name: string, userId: number, pageBytes: number, background = true): Promise<ChunkedRow> {
  const invocations: Invocation[] = [];
  queued = [];
  let next: { kinds: SyncKind[]; expect?: ContinuationMessage['expect'] } = { kinds: ['movies', 'shows'] };
  for (let i = 0; i < 400; i++) {
    const { outcome, invocation } = await invoke(userId, next.kinds, background, next.expect);
    invocations.push(invocation);
    if (outcome.complete) break;
    const message = queued.at(-1)!;
    next = { kinds: message.kinds, expect: message.expect };
    // Delivered after its delay: Trakt's per-user window (the simulator's clock) has moved on by then.
    if (queuedDelaySeconds > 0) await sim.advanceClock(queuedDelaySeconds);
  }
  return summarize(name, invocations, pageBytes);
}

function summarize(name: string, invocations: Invocation[], pageBytes: number): ChunkedRow {
  const max = (f: (i: Invocation) => number) => Math.max(...invocations.map(f));
  const total = (f: (i: Invocation) => number) => invocations.reduce((n, i) => n + f(i), 0);
  const row: ChunkedRow = {
    scenario: name,
    chunks: invocations.length,
    trakt_max: max((i) => i.trakt),
    trakt_total: total((i) => i.trakt),
    tmdb_max: max((i) => i.tmdb),
    tmdb_total: total((i) => i.tmdb),
    upstream_max: max((i) => i.trakt + i.tmdb),
    d1_calls_max: max((i) => i.d1Calls),
    d1_statements_max: max((i) => i.d1Statements),
    rows_read_max_batch: max((i) => i.maxBatchRead),
    rows_read_total: total((i) => i.rowsRead),
    rows_written_max_batch: max((i) => i.maxBatchWritten),
    rows_written_total: total((i) => i.rowsWritten),
    heap_estimate_mb: Math.round(((max((i) => i.historyPages) * pageBytes * 3) / 1_048_576) * 10) / 10,
  };
  expect(row.upstream_max).toBeLessThanOrEqual(FREE_LIMIT);
  expect(row.d1_calls_max).toBeLessThan(FREE_LIMIT);
  return row;
}

async function measureAccount(label: string, account: Record<string, unknown>) {
  const user = await connectedUser(sim, account);
  expect(
    (
      await call('POST', '/users/api-keys/', {
        token: user.access,
        json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY },
      })
    ).status,
  ).toBe(201);
  const summary = await sim.summary(user.traktUsername);
  // One history page as Trakt sends it (250 plays), for the heap estimate.
  const token = (await sim.issueTokens({ username: user.traktUsername, client_id: user.app.client_id })).access_token;
  const page = await sim.trakt('/sync/history/episodes?limit=250', {
    accessToken: token,
    clientId: user.app.client_id,
  });
  const pageBytes = (await page.text()).length;
  const started = Date.now();
  const rows: ChunkedRow[] = [];
  enrichQueue.length = 0;
  rows.push(await scenario('first sync', user.id, pageBytes));
  const firstSyncMs = Date.now() - started;
  // The first sync's chunks made no TMDB call: they queued their titles on trakt-enrich, run here.
  expect(rows[0]!.tmdb_total).toBe(0);
  const enrichment = await backfill('TMDB backfill (trakt-enrich runs)');
  expect(enrichment.trakt_total).toBe(0);
  rows.push(enrichment);
  // The later syncs run as a manual fetch does: their cost is the sync's own (their few titles are enriched inline).
  rows.push(await scenario('no-op', user.id, pageBytes, false));
  const catalog = await sim.catalog(user.traktUsername);
  await sim.advanceClock(5);
  await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[0]!.trakt });
  await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[1]!.trakt });
  await sim.addPlay(user.traktUsername, {
    type: 'episode',
    trakt_id: catalog.shows[0]!.seasons[0]!.episodes[0]!.trakt,
  });
  const three = await scenario('3 new plays', user.id, pageBytes, false);
  expect(three.trakt_total).toBeLessThanOrEqual(4);
  expect(three.rows_read_total, JSON.stringify(three)).toBeLessThan(500);
  rows.push(three);
  await sim.advanceClock(5);
  const victim = (await sim.plays(user.traktUsername)).find((p) => p.type === 'movie')!;
  await sim.removePlay(user.traktUsername, victim.id);
  rows.push(await scenario('1 removed play', user.id, pageBytes, false));
  const stored = await env.DB.prepare('SELECT count(*) AS n FROM plays WHERE user_id = ?')
    .bind(user.id)
    .first<{ n: number }>();
  const truth = await sim.summary(user.traktUsername);
  expect(stored!.n).toBe(truth.history_items.total);
  return {
    label,
    account: {
      movies: summary.movies_watched,
      shows: summary.shows_watched,
      episodes: summary.episodes_watched,
      plays: summary.history_items.total,
    },
    first_sync_wall_ms: firstSyncMs,
    rows,
  };
}

describe('chunked sync, L and XL accounts', () => {
  it('first sync, no-op, 3 new plays, 1 removed play', async () => {
    const accounts = [await measureAccount('L', L), await measureAccount('XL', XL)];
    console.log(`${BENCH_MARKER}${JSON.stringify({ name: 'chunked', data: { accounts } })}`);
  }, 3_600_000);
});
