/**
 * CPU milliseconds per invocation (issue 25: Workers Free allows 10 ms of CPU per invocation).
 *
 *   node bench/cpu.ts            (BENCH_CPU_REPEAT=… to change how many invocations each figure averages)
 *
 * Method: the API runs under `wrangler dev` (the e2e harness's startStack, against the simulator), and this
 * script reads the CPU time (user + system, /proc/<pid>/stat) of the API's workerd processes before and after
 * N sequential invocations of one kind; the same for N × `GET /health` in the same run; the figure is
 * (CPU of the kind − CPU of /health) / N: the Worker's own work for that invocation, without what any request
 * costs workerd (HTTP parsing, the entry worker, routing to the isolate). workerd runs the Worker, its local D1
 * (SQLite) and the Durable Object limiter in the same process, so D1's query execution is included: on Cloudflare
 * it is not the Worker's CPU, so these figures are upper bounds. The kernel counts CPU in clock ticks (10 ms);
 * N invocations make the error 10 ms / N. Invocations run one at a time, so nothing else runs in workerd
 * meanwhile (the background TMDB work the first sync queues is waited out first).
 *
 * Invocations: `GET /health` (the baseline), login (`POST /users/token/`, PBKDF2), each read endpoint on a synced
 * account of SEED_ACCOUNT, a first-sync chunk at the default SYNC_PAGES_PER_RUN (`fetch-latest-movies` of a new
 * user with a 2,000-play history, TMDB enrichment inline included), and an import batch of 1,000 items
 * (`POST /trakt/import/history/`, new plays each time). Prints a table and one `@@BENCH@@` line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { type StackInfo, startStack } from '../simulator/support/stack.ts';
import { BENCH_MARKER } from './format.ts';

const REPEAT = Number(process.env.BENCH_CPU_REPEAT ?? 60);
const CHUNK_REPEAT = Number(process.env.BENCH_CPU_CHUNKS ?? 6);
const IMPORT_REPEAT = Number(process.env.BENCH_CPU_IMPORTS ?? 6);
const SEED_ACCOUNT = { seed: 'bench-cpu', movies: 300, shows: 30, seasons_per_show: 3, episodes_per_season: 10 };
/** A first sync's chunk: 2,000 plays, 8 history pages, all in the first chunk (default SYNC_PAGES_PER_RUN 40). */
const CHUNK_ACCOUNT = { movies: 2000, shows: 0, plays_per_item: 1, rewatch_fraction: 0 };
const TICKS_PER_SECOND = 100;

type Json = Record<string, any>;

async function json(url: string, method = 'GET', body?: unknown, token?: string) {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: Json = {};
  try {
    parsed = text ? (JSON.parse(text) as Json) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

function must(ok: boolean, what: string, detail: unknown): void {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

/** CPU time (ms) of the workerd processes in the API's process group. */
function workerdCpuMs(groupLeader: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] = state (field 3); pgrp is field 5, utime 14, stime 15.
    if (Number(fields[2]) !== groupLeader || !comm.startsWith('workerd')) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

async function cpuOf(info: StackInfo, times: number, invoke: (i: number) => Promise<void>): Promise<number> {
  const before = workerdCpuMs(info.apiPid!);
  for (let i = 0; i < times; i++) await invoke(i);
  return (workerdCpuMs(info.apiPid!) - before) / times;
}

/** Registers, stores the simulator's Trakt app and TMDB key, and connects through the POST callback. */
async function connect(info: StackInfo, account: Record<string, unknown>) {
  const sim = (path: string, body?: unknown) =>
    json(`${info.simUrl}/_sim${path}`, body === undefined ? 'GET' : 'POST', body);
  const api = (method: string, path: string, body?: unknown, token?: string) =>
    json(`${info.apiUrl}${path}`, method, body, token);
  const app = await sim('/apps', { redirect_uris: [info.redirectUri] });
  const username = `cpu_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  must((await sim('/accounts', { username, ...account })).status === 201, 'create account', username);
  await sim('/session', { username });
  const password = 'correct horse battery staple';
  must((await api('POST', '/users/register/', { username, password })).status === 201, 'register', username);
  const token = (await api('POST', '/users/token/', { username, password })).body.access as string;
  const keys = [
    { service_name: 'trakt', service_user_id: app.body.client_id, api_key: app.body.client_secret },
    { service_name: 'tmdb', api_key: 'sim-tmdb-key' },
  ];
  for (const key of keys) must((await api('POST', '/users/api-keys/', key, token)).status === 201, 'key', key);
  const auth = await api('GET', '/trakt/authenticate/', undefined, token);
  const redirect = await fetch(auth.body.auth_url as string, { redirect: 'manual' });
  const location = new URL(redirect.headers.get('location') ?? 'http://invalid/');
  const linked = await api(
    'POST',
    '/trakt/oauth-callback/',
    { code: location.searchParams.get('code') ?? '', state: location.searchParams.get('state') ?? '' },
    token,
  );
  must(linked.status === 200, 'oauth callback', linked.body);
  return { username, password, token };
}

/** Waits until no sync of the user runs (a new connection's first sync is queued at once and runs in the background). */
async function idle(info: StackInfo, token: string): Promise<void> {
  for (let poll = 0; poll < 600; poll++) {
    const status = await json(`${info.apiUrl}/trakt/sync-status/`, 'GET', undefined, token);
    const body = status.body;
    if (body.last_sync_at && !body.in_progress && Object.keys(body.progress ?? {}).length === 0) return;
    if (body.paused_until) throw new Error(`background work paused: ${body.paused_reason}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the sync never ended');
}

/** Waits until the user's data version holds still (the background TMDB work the sync queued is done). */
async function settled(info: StackInfo, token: string): Promise<void> {
  const tag = async () =>
    (await fetch(`${info.apiUrl}/trakt/sync-status/`, { headers: { Authorization: `Bearer ${token}` } })).headers.get(
      'ETag',
    );
  let last = await tag();
  let since = Date.now();
  const deadline = Date.now() + 240_000;
  while (Date.now() - since < 8_000 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1_000));
    const next = await tag();
    if (next !== last) [last, since] = [next, Date.now()];
  }
}

function importItems(offset: number, count: number) {
  return Array.from({ length: count }, (_, i) => {
    const id = 9_000_000_000 + offset + i;
    return {
      id,
      watched_at: new Date(Date.UTC(2020, 0, 1) + (offset + i) * 60_000).toISOString(),
      action: 'watch',
      type: 'movie' as const,
      movie: {
        title: `Imported ${i % 400}`,
        year: 2001,
        ids: { trakt: 7_000_000 + (i % 400), slug: null, imdb: null, tmdb: null },
      },
    };
  });
}

export type CpuRow = { invocation: string; repeat: number; cpu_ms: number; cpu_ms_over_health: number };

export async function runCpu(log: (line: string) => void = console.log): Promise<CpuRow[]> {
  // Per-user endpoint budgets 1,000 times looser, and no daily D1 budget: the bench repeats what a user would not
  // (imports, first syncs), and a paused background sync would never end.
  const stack = await startStack({
    vars: {
      LOG_LEVEL: 'warn',
      USER_BUDGET_SCALE: '1000',
      D1_DAILY_ROWS_WRITTEN_BUDGET: '0',
      D1_DAILY_ROWS_READ_BUDGET: '0',
    },
  });
  const { info } = stack;
  must(info.apiPid !== undefined, 'api pid', info);
  try {
    const seeded = await connect(info, SEED_ACCOUNT);
    await idle(info, seeded.token);
    for (const kind of ['movies', 'shows'])
      must(
        (await json(`${info.apiUrl}/trakt/fetch-latest-${kind}/`, 'GET', undefined, seeded.token)).status === 200,
        'sync',
        kind,
      );
    await settled(info, seeded.token);
    const shows = await json(`${info.apiUrl}/trakt/get-stored-shows/?page_size=1`, 'GET', undefined, seeded.token);
    const showId = shows.body.shows[0].show.ids.trakt as number;
    const get = (path: string) => async () => {
      const res = await fetch(`${info.apiUrl}${path}`, { headers: { Authorization: `Bearer ${seeded.token}` } });
      await res.arrayBuffer();
      must(res.ok, path, res.status);
    };
    // Warm the isolate and every route once.
    const reads: Array<[string, string]> = [
      ['GET /trakt/get-stored-movies/ (page of 5)', '/trakt/get-stored-movies/'],
      ['GET /trakt/get-stored-movies/?page_size=100', '/trakt/get-stored-movies/?page_size=100'],
      ['GET /trakt/get-stored-shows/', '/trakt/get-stored-shows/'],
      ['GET /trakt/get-watched-seasons-episodes/', `/trakt/get-watched-seasons-episodes/?trakt_id=${showId}`],
      ['GET /trakt/history/?limit=100', '/trakt/history/?limit=100'],
      ['GET /trakt/stats/', '/trakt/stats/'],
      ['GET /trakt/sync-status/', '/trakt/sync-status/'],
      ['GET /trakt/export/ (all plays, JSON)', '/trakt/export/?format=json'],
    ];
    for (const [, path] of reads) await get(path)();
    const health = async () => {
      const res = await fetch(`${info.apiUrl}/health`);
      await res.arrayBuffer();
    };
    for (let i = 0; i < 20; i++) await health();

    const rows: CpuRow[] = [];
    const baseline = await cpuOf(info, REPEAT * 2, health);
    const add = (invocation: string, repeat: number, cpu: number) => {
      const row = { invocation, repeat, cpu_ms: round(cpu), cpu_ms_over_health: round(Math.max(0, cpu - baseline)) };
      rows.push(row);
      log(
        `${invocation.padEnd(48)} ${String(row.cpu_ms_over_health).padStart(8)} ms  (${row.cpu_ms} ms all-in, ${repeat}×)`,
      );
    };
    add('GET /health (baseline)', REPEAT * 2, baseline);
    add(
      'POST /users/token/ (login)',
      Math.ceil(REPEAT / 3),
      await cpuOf(info, Math.ceil(REPEAT / 3), async () => {
        const res = await json(`${info.apiUrl}/users/token/`, 'POST', {
          username: seeded.username,
          password: seeded.password,
        });
        must(res.status === 200, 'login', res.body);
      }),
    );
    for (const [label, path] of reads) add(label, REPEAT, await cpuOf(info, REPEAT, get(path)));

    // Import batches of 1,000 new plays (400 movies), each into the seeded account.
    add(
      'POST /trakt/import/history/ (1,000 items)',
      IMPORT_REPEAT,
      await cpuOf(info, IMPORT_REPEAT, async (i) => {
        const res = await json(
          `${info.apiUrl}/trakt/import/history/`,
          'POST',
          importItems(i * 1_000, 1_000),
          seeded.token,
        );
        must(res.status === 200, 'import batch', res.body);
      }),
    );
    await settled(info, seeded.token);

    // A first sync's chunk: a new user each time (connected beforehand, outside the measurement).
    const fresh = [];
    for (let i = 0; i < CHUNK_REPEAT; i++)
      fresh.push(await connect(info, { ...CHUNK_ACCOUNT, seed: `bench-cpu-${i}` }));
    // Their first syncs were queued at once (new connections): wait until those have run, then measure a fetch
    // that is a first sync again (its stored history cleared first, outside the measurement).
    for (const user of fresh) {
      await idle(info, user.token);
      await settled(info, user.token);
    }
    for (const user of fresh) {
      const cleared = await fetch(`${info.apiUrl}/trakt/history/`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${user.token}` },
      });
      must(cleared.status === 204, 'clear history', cleared.status);
    }
    add(
      'first-sync chunk (fetch-latest-movies, 2,000 plays)',
      CHUNK_REPEAT,
      await cpuOf(info, CHUNK_REPEAT, async (i) => {
        const res = await json(`${info.apiUrl}/trakt/fetch-latest-movies/`, 'GET', undefined, fresh[i]!.token);
        must(res.status === 200 || res.status === 202, 'first sync chunk', res.body);
      }),
    );
    log(
      `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    return rows;
  } finally {
    await stack.stop();
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await runCpu();
  console.log(`${BENCH_MARKER}${JSON.stringify({ name: 'cpu', data: { rows } })}`);
}
