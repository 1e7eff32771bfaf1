/**
 * CPU per invocation (issue 25, "CPU per invocation"): what one invocation of each kind costs the
 * machine that runs the Worker, against Workers Free's 10 ms.
 *
 *   node bench/cpu.ts            (or as part of `npm run bench`; `npm run bench -- --cpu-only`)
 *
 * Method: the API runs in `wrangler dev` (one workerd process: the Worker's isolate, and local D1, KV,
 * Queues and R2 beside it). Its CPU time is read from Linux's scheduler (`/proc/<pid>/task/<tid>/schedstat`,
 * nanoseconds on a CPU, summed over every thread of every workerd process of the API's process group) before
 * and after a window of N invocations of one kind, run one at a time. From each window the same
 * number of `GET /health` invocations is subtracted (measured in the same run: the HTTP, routing and
 * logging every request pays, which is not the endpoint's own work), and for background windows the
 * idle rate of the process times the window's length. What is left is an UPPER bound of the Worker's
 * own CPU: it still includes local D1's SQLite work, which in production runs in D1, not in the
 * Worker's isolate. Background invocations (sync chunks, enrichment runs) are counted from the API's
 * own log lines (`"event":"sync"` per chunk, `"event":"queue_message"` per delivery), and the status
 * polls that wait for them are subtracted at their measured cost.
 *
 * Only 127.0.0.1 is called (the simulator stands in for Trakt and TMDB). Both wrangler process groups
 * are killed at the end, whatever happens.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import { type StackInfo, startStack } from '../simulator/support/stack.ts';
import { type Json, json, must } from './http.ts';

/** The bench-l account of bench/chunked-sync.bench.test.ts: 22,201 plays, 4 chunks at the defaults. */
export const CPU_ACCOUNT = { seed: 'bench-l', movies: 5000, shows: 300, seasons_per_show: 6, episodes_per_season: 10 };
const READS = Number(process.env.BENCH_CPU_READS ?? 100);
const LOGINS = Number(process.env.BENCH_CPU_LOGINS ?? 10);
const IMPORT_BATCHES = 5;
const POLL_MS = 2_000;
const SETTLED_MS = 8_000;
const BACKGROUND_TIMEOUT_MS = 900_000;

export type CpuRow = {
  invocation: string;
  count: number;
  /** CPU ms per invocation, /health's and idle's share taken out (upper bound: includes local D1). */
  cpu_ms: number;
  /** The same before taking /health out. */
  gross_ms: number;
};

export type CpuResult = {
  rows: CpuRow[];
  health_ms: number;
  idle_ms_per_s: number;
  machine: string;
  load_average: { before: number; after: number };
  account: { plays: number; chunks: number; enrichment_runs: number };
};

/** Nanoseconds on a CPU of every thread of every workerd in the API's process group. */
function processCpuNs(group: number): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const [, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) !== group || !comm.startsWith('workerd')) continue;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return total;
}

/** Counts the API's log lines of one event (and, for queue messages, one queue) since `from` bytes. */
function logLines(info: StackInfo, from: number, match: (line: Json) => boolean): { count: number; size: number } {
  const text = readFileSync(join(info.logDir, 'api.log'), 'utf8');
  let count = 0;
  for (const line of text.slice(from).split('\n')) {
    const at = line.indexOf('{"level"');
    if (at < 0) continue;
    try {
      if (match(JSON.parse(line.slice(at)) as Json)) count += 1;
    } catch {
      // a line that is not one of ours
    }
  }
  return { count, size: text.length };
}

const logSize = (info: StackInfo) => readFileSync(join(info.logDir, 'api.log'), 'utf8').length;

export async function runCpu(log: (line: string) => void = console.log): Promise<CpuResult> {
  log('cpu: starting simulator + API with wrangler dev…');
  // No daily D1 budget: the first sync below writes more than a Free day's default budget.
  const { info, stop } = await startStack({
    snapshotSimulator: true,
    vars: { D1_DAILY_ROWS_WRITTEN_BUDGET: '0', D1_DAILY_ROWS_READ_BUDGET: '0' },
  });
  const onSignal = () => {
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const loadBefore = loadavg()[0] ?? 0;
  try {
    for (const url of [info.apiUrl, info.simUrl]) must(new URL(url).hostname === '127.0.0.1', 'loopback only', url);
    must(processCpuNs(info.apiProcessGroup) > 0, "the API's workerd process", info.apiProcessGroup);
    const api = (method: string, path: string, body?: unknown, token?: string) =>
      json(`${info.apiUrl}${path}`, method, body, token);
    const sim = (method: string, path: string, body?: unknown) => json(`${info.simUrl}/_sim${path}`, method, body);
    const cpuNow = () => processCpuNs(info.apiProcessGroup);

    /** CPU ns of `count` sequential calls of `run`. */
    const window = async (count: number, run: (i: number) => Promise<unknown>) => {
      const before = cpuNow();
      for (let i = 0; i < count; i++) await run(i);
      return cpuNow() - before;
    };

    // Idle rate and /health first: what every other figure is corrected by.
    const idleStart = cpuNow();
    const idleT0 = Date.now();
    await new Promise((r) => setTimeout(r, 5_000));
    const idleNsPerMs = (cpuNow() - idleStart) / (Date.now() - idleT0);
    const healthCount = READS * 3;
    await window(50, () => api('GET', '/health'));
    const healthNs = (await window(healthCount, () => api('GET', '/health'))) / healthCount;
    log(`cpu: idle ${(idleNsPerMs / 1e3).toFixed(2)} ms/s, /health ${(healthNs / 1e6).toFixed(2)} ms`);

    const rows: CpuRow[] = [];
    const row = (invocation: string, count: number, grossNs: number) => {
      const gross = grossNs / count;
      rows.push({ invocation, count, gross_ms: gross / 1e6, cpu_ms: Math.max(0, gross - healthNs) / 1e6 });
      log(`cpu: ${invocation}: ${(gross / 1e6).toFixed(2)} ms gross over ${count}`);
    };

    // Account and API user.
    const username = `cpu_${Date.now().toString(36)}`;
    const password = 'correct horse battery staple';
    const app = await sim('POST', '/apps', { redirect_uris: [info.redirectUri] });
    must((await sim('POST', '/accounts', { username, ...CPU_ACCOUNT })).status === 201, 'create account', username);
    const summary = (await sim('GET', `/accounts/${username}/summary`)).body;
    await sim('POST', '/session', { username });
    must((await api('POST', '/users/register/', { username, password })).status === 201, 'register', username);

    row(
      'login (POST /users/token/, PBKDF2-SHA256 100,000 iterations)',
      LOGINS,
      await window(LOGINS, () => api('POST', '/users/token/', { username, password })),
    );
    const token = (await api('POST', '/users/token/', { username, password })).body.access as string;
    const stored = await api(
      'POST',
      '/users/api-keys/',
      { service_name: 'trakt', service_user_id: app.body.client_id, api_key: app.body.client_secret },
      token,
    );
    must(stored.status === 201, 'store the Trakt app', stored.body);
    // Status polls during background windows cost this much each (measured before the connection: the same read).
    const statusNs = (await window(READS, () => api('GET', '/trakt/sync-status/', undefined, token))) / READS;

    /** Waits until `settled()` holds for SETTLED_MS; returns the number of polls made. */
    const waitBackground = async (settled: () => Promise<boolean>) => {
      const deadline = Date.now() + BACKGROUND_TIMEOUT_MS;
      let polls = 0;
      let since: number | null = null;
      for (;;) {
        must(Date.now() < deadline, 'background work finishes', null);
        await new Promise((r) => setTimeout(r, POLL_MS));
        polls += 1;
        if (await settled()) {
          since ??= Date.now();
          if (Date.now() - since >= SETTLED_MS) return polls;
        } else since = null;
      }
    };
    const background = async (
      label: string,
      start: () => Promise<void>,
      settled: () => Promise<boolean>,
      invocations: (from: number) => number,
      /** CPU of known foreground work inside the window, taken out. */
      foregroundNs = 0,
    ) => {
      const from = logSize(info);
      const t0 = Date.now();
      const before = cpuNow();
      await start();
      const polls = await waitBackground(settled);
      const ns = cpuNow() - before - foregroundNs - polls * statusNs - idleNsPerMs * (Date.now() - t0);
      const count = invocations(from);
      must(count > 0, `${label}: invocations`, count);
      row(label, count, ns);
      return count;
    };

    // 1. The first sync, no TMDB key (its chunks are Trakt and D1 only): the OAuth callback queues it at once, for
    // both kinds, and its chunks continue through the queue until every play is stored.
    const totalPlays = Number(summary.total_plays);
    const chunks = await background(
      'first-sync chunk (SYNC_PAGES_PER_RUN 40; the callback queues it, continuations follow)',
      async () => {
        const auth = await api('GET', '/trakt/authenticate/', undefined, token);
        const redirect = await fetch(auth.body.auth_url as string, { redirect: 'manual' });
        const landed = new URL(redirect.headers.get('location') ?? 'http://invalid/');
        const linked = await api(
          'POST',
          '/trakt/oauth-callback/',
          { code: landed.searchParams.get('code'), state: landed.searchParams.get('state') },
          token,
        );
        must(linked.status === 200, 'oauth callback', linked.body);
      },
      async () => {
        const status = (await api('GET', '/trakt/sync-status/', undefined, token)).body;
        return (
          status.counts?.plays === totalPlays &&
          status.in_progress === false &&
          Object.keys(status.progress ?? {}).length === 0
        );
      },
      (from) => logLines(info, from, (l) => l.event === 'sync').count,
    );

    // 3. Each read endpoint, once enrichment has settled.
    const shows = await api('GET', '/trakt/get-stored-shows/?page=1&page_size=1', undefined, token);
    const showTraktId = shows.body.shows[0].show.ids.trakt as number;
    const reads = [
      '/trakt/get-stored-movies/?page=1&page_size=10',
      '/trakt/get-stored-shows/?page=1&page_size=10',
      `/trakt/get-watched-seasons-episodes/?trakt_id=${showTraktId}`,
      '/trakt/sync-status/',
      '/trakt/auth-status/',
      '/trakt/history/?limit=20',
      '/trakt/stats/',
      '/users/me/',
    ];
    for (const path of reads) {
      await window(10, () => api('GET', path, undefined, token));
      row(
        `GET ${path.replace(/trakt_id=\d+/, 'trakt_id=<show>')}`,
        READS,
        await window(READS, () => api('GET', path, undefined, token)),
      );
    }

    // 4. Import batches of 1,000 items (the export's own files) for a user without any connection or TMDB key.
    const zip = await fetch(`${info.simUrl}/_sim/accounts/${username}/export.zip?per_file=1000`);
    must(zip.ok, 'export.zip', zip.status);
    const files = unzipSync(new Uint8Array(await zip.arrayBuffer()));
    const batches = Object.keys(files)
      .filter((name) => /^watched-history-\d+\.json$/.test(name))
      .sort()
      .slice(0, IMPORT_BATCHES)
      .map((name) => JSON.parse(new TextDecoder().decode(files[name])) as unknown[]);
    must(batches.length === IMPORT_BATCHES && batches.every((b) => b.length === 1000), 'export files', batches.length);
    const newUser = async (prefix: string) => {
      const name = `${prefix}_${Date.now().toString(36)}`;
      must((await api('POST', '/users/register/', { username: name, password })).status === 201, 'register', name);
      return (await api('POST', '/users/token/', { username: name, password })).body.access as string;
    };
    const importAll = (userToken: string) => async (i: number) => {
      const res = await api('POST', '/trakt/import/history/', batches[i], userToken);
      must(res.status === 200, 'import batch', res.body);
    };
    const importNs = await window(IMPORT_BATCHES, importAll(await newUser('cpu_import')));
    row('import batch of 1,000 items (POST /trakt/import/history/, new plays)', IMPORT_BATCHES, importNs);

    // 5. Enrichment: the same import for a user with a TMDB key queues its titles on trakt-enrich. The window
    // holds the imports (their cost, measured above, is taken out) and every enrichment run until the user's
    // data version holds still.
    const enricher = await newUser('cpu_enrich');
    must(
      (await api('POST', '/users/api-keys/', { service_name: 'tmdb', api_key: 'sim-tmdb-key' }, enricher)).status ===
        201,
      'store the TMDB key',
      null,
    );
    let lastTag: string | null = null;
    const runs = await background(
      'enrichment run (trakt-enrich deliveries after an import of 5,000 plays)',
      async () => {
        for (let i = 0; i < IMPORT_BATCHES; i++) await importAll(enricher)(i);
      },
      async () => {
        const tag = (
          await fetch(`${info.apiUrl}/trakt/stats/`, { headers: { Authorization: `Bearer ${enricher}` } })
        ).headers.get('ETag');
        const same = tag === lastTag;
        lastTag = tag;
        return same;
      },
      (from) => logLines(info, from, (l) => l.event === 'queue_message' && String(l.queue).includes('enrich')).count,
      importNs,
    );

    const cpu = cpus();
    return {
      rows,
      health_ms: healthNs / 1e6,
      idle_ms_per_s: idleNsPerMs / 1e3,
      machine: `${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.version}`,
      load_average: { before: loadBefore, after: loadavg()[0] ?? 0 },
      account: { plays: Number(summary.total_plays), chunks, enrichment_runs: runs },
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  const { cpuSection } = await import('./cpu-format.ts');
  console.log(`\n${cpuSection(await runCpu())}`);
}
