/**
 * HTTP throughput of the read endpoints relative to `/health`, measured in the same run.
 *
 *   node bench/throughput.ts            (or as part of `npm run bench`)
 *
 * Starts the simulator and the API with `wrangler dev` on free 127.0.0.1 ports (the e2e
 * harness's startStack: temp local D1/KV, migrations applied), seeds one synced user through the
 * simulator, then drives a bounded, self-terminating load from this process: for each endpoint,
 * a short warm-up, then REQUESTS requests with CONCURRENCY in flight (stopping early after
 * MAX_SECONDS per batch), in ROUNDS interleaved rounds. Only 127.0.0.1 is ever called. Both
 * wrangler process groups are killed at the end, whatever happens. `wrangler dev` is not
 * production: the figures are ratios to /health, for comparing endpoints with each other on the
 * same machine, not absolute capacity.
 */
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type StackInfo, startStack } from '../simulator/support/stack.ts';
import type { ThroughputRow } from './format.ts';
import { json, must } from './http.ts';

export const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1500);
export const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const WARMUP = 200;
const ROUNDS = 5;
const MAX_SECONDS = 30;
/** The seeded user: a few hundred movies and some shows. */
export const SEED_ACCOUNT = {
  seed: 'bench-throughput',
  movies: 300,
  shows: 30,
  seasons_per_show: 3,
  episodes_per_season: 10,
} as const;

/**
 * Registers an API user, connects it to a seeded simulator account through the real OAuth flow,
 * and runs its first sync.
 */
async function seedUser(info: StackInfo): Promise<{ token: string; showTraktId: number; movies: number }> {
  const sim = (path: string, body?: unknown) =>
    json(`${info.simUrl}/_sim${path}`, body === undefined ? 'GET' : 'POST', body);
  const api = (method: string, path: string, body?: unknown, token?: string) =>
    json(`${info.apiUrl}${path}`, method, body, token);
  const app = await sim('/apps', { redirect_uris: [info.redirectUri] });
  const username = `bench_${Date.now().toString(36)}`;
  must((await sim('/accounts', { username, ...SEED_ACCOUNT })).status === 201, 'create account', username);
  await sim('/session', { username });
  const password = 'correct horse battery staple';
  must((await api('POST', '/users/register/', { username, password })).status === 201, 'register', username);
  const token = (await api('POST', '/users/token/', { username, password })).body.access as string;
  must(
    (
      await api(
        'POST',
        '/users/api-keys/',
        { service_name: 'trakt', service_user_id: app.body.client_id, api_key: app.body.client_secret },
        token,
      )
    ).status === 201,
    'store trakt app',
    null,
  );
  must(
    (await api('POST', '/users/api-keys/', { service_name: 'tmdb', api_key: 'sim-tmdb-key' }, token)).status === 201,
    'store tmdb key',
    null,
  );
  const auth = await api('GET', '/trakt/authenticate/', undefined, token);
  const redirect = await fetch(auth.body.auth_url as string, { redirect: 'manual' });
  const location = new URL(redirect.headers.get('location') ?? 'http://invalid/');
  // A GET of the callback never links: the signed-in user POSTs the code and state with their JWT.
  const callback = await api(
    'POST',
    '/trakt/oauth-callback/',
    { code: location.searchParams.get('code'), state: location.searchParams.get('state') },
    token,
  );
  must(callback.status === 200, 'oauth callback', callback.body);
  for (const kind of ['movies', 'shows']) {
    const sync = await api('GET', `/trakt/fetch-latest-${kind}/`, undefined, token);
    must(sync.status === 200, `sync ${kind}`, sync.body);
  }
  const shows = await api('GET', '/trakt/get-stored-shows/?page=1&page_size=1', undefined, token);
  const movies = await api('GET', '/trakt/get-stored-movies/?page=1&page_size=1', undefined, token);
  return {
    token,
    showTraktId: shows.body.shows[0].show.ids.trakt as number,
    movies: movies.body.total_items as number,
  };
}

/**
 * The fetches queued the rest of the TMDB work on `trakt-enrich`, which `wrangler dev` runs in the
 * background, each run bumping the user's data version. Measuring during it would compete for the
 * CPU and make the 304 row's tag stale, so wait until the ETag holds still for SETTLED_MS.
 */
const SETTLED_MS = 8_000;
const SETTLE_TIMEOUT_MS = 180_000;
async function settledTag(url: string, token: string): Promise<string | null> {
  const tagNow = async () => (await fetch(url, { headers: { Authorization: `Bearer ${token}` } })).headers.get('ETag');
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let tag = await tagNow();
  let since = Date.now();
  while (Date.now() - since < SETTLED_MS) {
    must(Date.now() < deadline, 'TMDB enrichment settles', tag);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const next = await tagNow();
    if (next !== tag) [tag, since] = [next, Date.now()];
  }
  return tag;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;

/** REQUESTS GETs with CONCURRENCY in flight (stops early after MAX_SECONDS); latencies in ms. */
async function load(
  url: string,
  token: string | undefined,
  count: number,
  extra: { headers?: Record<string, string>; status?: number } = {},
) {
  const headers: Record<string, string> = { ...extra.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  const expected = extra.status ?? 200;
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const deadline = performance.now() + MAX_SECONDS * 1000;
  const started = performance.now();
  const worker = async () => {
    while (issued < count && performance.now() < deadline) {
      issued += 1;
      const t0 = performance.now();
      try {
        const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status !== expected) errors += 1;
      } catch {
        errors += 1;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { latencies, errors, seconds, rps: latencies.length / seconds };
}

export type ThroughputResult = {
  rows: ThroughputRow[];
  machine: string;
  requests: number;
  concurrency: number;
  rounds: number;
  seeded_movies: number;
  load_average: { before: number; after: number };
};

export async function runThroughput(log: (line: string) => void = console.log): Promise<ThroughputResult> {
  log('throughput: starting simulator + API with wrangler dev…');
  const { info, stop } = await startStack();
  const onSignal = () => {
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const url of [info.apiUrl, info.simUrl]) must(new URL(url).hostname === '127.0.0.1', 'loopback only', url);
    log(
      `throughput: API ${info.apiUrl}, simulator ${info.simUrl}; seeding ${SEED_ACCOUNT.movies} movies, ` +
        `${SEED_ACCOUNT.shows} shows…`,
    );
    const user = await seedUser(info);
    const statsTag = await settledTag(`${info.apiUrl}/trakt/stats/`, user.token);
    must(!!statsTag, 'stats ETag', statsTag);
    type Endpoint = { path: string; auth: boolean; label?: string; headers?: Record<string, string>; status?: number };
    const endpoints: Endpoint[] = [
      { path: '/health', auth: false },
      { path: '/trakt/get-stored-movies/?page=1&page_size=10', auth: true },
      { path: '/trakt/get-stored-movies/?sort=title&order=asc&page_size=10', auth: true },
      { path: '/trakt/get-stored-shows/?page=1&page_size=10', auth: true },
      { path: `/trakt/get-watched-seasons-episodes/?trakt_id=${user.showTraktId}`, auth: true },
      { path: '/trakt/sync-status/', auth: true },
      { path: '/trakt/history/?limit=20', auth: true },
      { path: '/trakt/history/?type=episodes&limit=20', auth: true },
      { path: '/trakt/stats/', auth: true },
      {
        path: '/trakt/stats/',
        label: '/trakt/stats/ (If-None-Match → 304)',
        auth: true,
        headers: { 'If-None-Match': statsTag! },
        status: 304,
      },
    ];
    const keyOf = (e: Endpoint) => e.label ?? e.path;
    const loadBefore = loadavg()[0]!;
    for (const e of endpoints) await load(`${info.apiUrl}${e.path}`, e.auth ? user.token : undefined, WARMUP, e);
    // ROUNDS interleaved rounds (each endpoint REQUESTS / ROUNDS requests per round), so drift in
    // the machine's load (other processes on a shared 2-core box) hits every endpoint alike. Each round
    // starts further along the list, so no endpoint is always measured at the same point of a round
    // (right after a warm-up, or after nine other batches have filled the isolate's heap).
    type Acc = { latencies: number[]; errors: number; seconds: number; roundRps: number[] };
    const acc = new Map<string, Acc>(
      endpoints.map((e) => [keyOf(e), { latencies: [], errors: 0, seconds: 0, roundRps: [] }]),
    );
    const stride = Math.max(1, Math.floor(endpoints.length / ROUNDS));
    for (let round = 1; round <= ROUNDS; round++) {
      const order = endpoints.map((_, i) => endpoints[(i + (round - 1) * stride) % endpoints.length]!);
      for (const e of order) {
        const r = await load(
          `${info.apiUrl}${e.path}`,
          e.auth ? user.token : undefined,
          Math.ceil(REQUESTS / ROUNDS),
          e,
        );
        const a = acc.get(keyOf(e))!;
        a.latencies.push(...r.latencies);
        a.errors += r.errors;
        a.seconds += r.seconds;
        a.roundRps.push(r.rps);
      }
      log(
        `throughput: round ${round}/${ROUNDS}: ${endpoints
          .map((e) => `${keyOf(e).split('?')[0]} ${acc.get(keyOf(e))!.roundRps.at(-1)!.toFixed(0)} req/s`)
          .join(', ')}`,
      );
    }
    const loadAfter = loadavg()[0]!;
    const stats = (a: Acc) => {
      const sorted = [...a.latencies].sort((x, y) => x - y);
      return {
        requests: sorted.length,
        errors: a.errors,
        rps: sorted.length / a.seconds,
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
      };
    };
    const health = acc.get('/health')!;
    const base = stats(health);
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const rows: ThroughputRow[] = endpoints.map((e) => {
      const a = acc.get(keyOf(e))!;
      const s = stats(a);
      return {
        endpoint: keyOf(e).replace(/trakt_id=\d+/, 'trakt_id=<show>'),
        requests: s.requests,
        errors: s.errors,
        rps: s.rps,
        p50_ms: s.p50,
        p95_ms: s.p95,
        rps_ratio: s.rps / base.rps,
        p50_ratio: s.p50 / base.p50,
        p95_ratio: s.p95 / base.p95,
        rps_ratio_round_median: median(a.roundRps.map((r, i) => r / health.roundRps[i]!)),
      };
    });
    const cpu = cpus();
    return {
      rows,
      machine: `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${process.platform}`,
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      rounds: ROUNDS,
      seeded_movies: user.movies,
      load_average: { before: loadBefore, after: loadAfter },
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  const { throughputTable } = await import('./format.ts');
  const result = await runThroughput();
  console.log(
    `\n${result.machine}; ${result.requests} requests per endpoint in ${result.rounds} rounds, concurrency ` +
      `${result.concurrency}; load average ${result.load_average.before.toFixed(1)} → ` +
      `${result.load_average.after.toFixed(1)}\n`,
  );
  console.log(throughputTable(result.rows));
}
