/**
 * @module
 * Starts the real stack for end-to-end tests: the upstream simulator and the API, each in its
 * own `wrangler dev` on a free port (never the developer's 8787/8788), isolated from the
 * developer's state: the API gets its vars via `--var`, its secrets from a temp `--env-file`
 * (freshly generated, so `.dev.vars` is never read for them) and a temp `--persist-to` D1/KV
 * directory with the migrations applied. `stop()` kills both process groups; the global setup
 * calls it even when tests fail, and an exit hook covers a crashing runner.
 *
 * `npm run demo` (scripts/demo.ts) starts the same stack with options: fixed ports, the OAuth
 * callback as redirect URI, `--test-scheduled`, extra vars and a snapshot of the simulator.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export type StackInfo = {
  apiUrl: string;
  simUrl: string;
  /** TRAKT_REDIRECT_URI of the API: the helper page, so Trakt's redirect lands back on it. */
  redirectUri: string;
  /** Where the wrangler logs go (printed when startup fails). */
  logDir: string;
};

export type StackOptions = {
  /** Ports for the API and the simulator (default: free ports). */
  apiPort?: number;
  simPort?: number;
  /** Path of the API that TRAKT_REDIRECT_URI points at (default: the OAuth helper page). */
  redirectPath?: string;
  /** Pass `--test-scheduled`, so `GET /__scheduled?cron=…` runs the Cron Trigger. */
  testScheduled?: boolean;
  /** Extra `--var NAME:value` for the API (after the defaults, so they win). */
  vars?: Record<string, string>;
  /**
   * Run the simulator from a bundle built once, so edits under simulator/ can't reload it and wipe
   * its in-memory state.
   */
  snapshotSimulator?: boolean;
  /** Keep the temp dir (logs, local D1/KV state) after stop(). */
  keepLogs?: boolean;
};

const ROOT = resolve(import.meta.dirname, '../..');
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const STARTUP_TIMEOUT_MS = 90_000;

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

const children = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the whole group: wrangler and its workerd
  } catch {
    // already gone
  }
}

process.on('exit', () => {
  for (const child of children) killGroup(child, 'SIGKILL');
});

const wranglerEnv = { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' };

function startWrangler(
  name: string,
  args: string[],
  logDir: string,
  env: NodeJS.ProcessEnv = wranglerEnv,
): ChildProcess {
  const log = createWriteStream(join(logDir, `${name}.log`));
  const child = spawn(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function waitFor(url: string, child: ChildProcess, name: string, logDir: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited with ${child.exitCode}; see ${join(logDir, `${name}.log`)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${name} did not become ready at ${url} within ${STARTUP_TIMEOUT_MS / 1000}s; see ${join(logDir, `${name}.log`)}`,
  );
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  killGroup(child, 'SIGTERM');
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5_000).unref());
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    killGroup(child, 'SIGKILL');
    await exited;
  }
}

export type Stack = {
  info: StackInfo;
  /** Stops both servers and removes the temp dir (unless kept by an option or E2E_KEEP_LOGS). */
  stop: (options?: { keepLogs?: boolean }) => Promise<void>;
  /** Resolves with a message if either server exits before stop() is called. */
  exited: Promise<string>;
};

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'trakt-e2e-'));
  const persist = join(dir, 'state');
  const [apiPort, simPort, apiInspector, simInspector] = await Promise.all([
    options.apiPort ?? freePort(),
    options.simPort ?? freePort(),
    freePort(),
    freePort(),
  ]);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const simUrl = `http://127.0.0.1:${simPort}`;
  const redirectUri = `${apiUrl}${options.redirectPath ?? '/trakt/oauth-helper/'}`;

  const envFile = join(dir, 'api.env');
  writeFileSync(
    envFile,
    [
      `JWT_SECRET=${randomBytes(48).toString('base64url')}`,
      `ENCRYPTION_KEYS=k1:${randomBytes(32).toString('base64')}`,
      'TRAKT_CLIENT_ID=',
      'TRAKT_CLIENT_SECRET=',
      'TMDB_API_KEY=',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  const migrate = spawnSync(
    process.execPath,
    [WRANGLER, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist],
    { cwd: ROOT, env: wranglerEnv, encoding: 'utf8' },
  );
  if (migrate.status !== 0) throw new Error(`D1 migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);

  // The simulator keeps all its state in memory, so a reload (wrangler dev rebuilds whenever a
  // file under simulator/ changes) forgets every app, account and token. With `snapshotSimulator`
  // it runs from a bundle built once into the temp dir (`--no-bundle`), which nothing edits.
  let simEntry: string[] = [];
  let simEnv: NodeJS.ProcessEnv = wranglerEnv;
  if (options.snapshotSimulator) {
    const outdir = join(dir, 'sim-build');
    const build = spawnSync(
      process.execPath,
      [WRANGLER, 'deploy', '--dry-run', '--outdir', outdir, '-c', 'simulator/wrangler.toml'],
      { cwd: ROOT, env: wranglerEnv, encoding: 'utf8' },
    );
    if (build.status !== 0) throw new Error(`Building the simulator failed:\n${build.stdout}\n${build.stderr}`);
    simEntry = [join(outdir, 'index.js'), '--no-bundle'];
    simEnv = { ...wranglerEnv, WRANGLER_CI_DISABLE_CONFIG_WATCHING: 'true' };
  }
  const sim = startWrangler(
    'simulator',
    [
      'dev',
      ...simEntry,
      '-c',
      'simulator/wrangler.toml',
      '--ip',
      '127.0.0.1',
      '--port',
      String(simPort),
      '--inspector-port',
      String(simInspector),
      '--persist-to',
      join(dir, 'sim-state'),
      '--show-interactive-dev-session=false',
    ],
    dir,
    simEnv,
  );
  const api = startWrangler(
    'api',
    [
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(apiPort),
      '--inspector-port',
      String(apiInspector),
      '--persist-to',
      persist,
      '--env-file',
      envFile,
      '--show-interactive-dev-session=false',
      '--var',
      `TRAKT_API_URL:${simUrl}`,
      '--var',
      `TRAKT_AUTH_URL:${simUrl}`,
      '--var',
      `TMDB_API_URL:${simUrl}/3`,
      '--var',
      `TMDB_IMAGE_BASE_URL:${simUrl}/t/p`,
      '--var',
      `TRAKT_REDIRECT_URI:${redirectUri}`,
      '--var',
      'UPSTREAM_TIMEOUT_MS:5000',
      ...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
      ...(options.testScheduled ? ['--test-scheduled'] : []),
    ],
    dir,
  );

  let stopping = false;
  const exited = new Promise<string>((resolveExit) => {
    for (const [name, child] of [
      ['simulator', sim],
      ['api', api],
    ] as const) {
      child.once('exit', (code, signal) => {
        if (!stopping) resolveExit(`${name} exited (${signal ?? `code ${code}`}); see ${join(dir, `${name}.log`)}`);
      });
    }
  });
  let keep = !!options.keepLogs;
  const stop = async (stopOptions: { keepLogs?: boolean } = {}) => {
    stopping = true;
    await Promise.all([stopChild(api), stopChild(sim)]);
    if (!keep && !stopOptions.keepLogs && !process.env.E2E_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all([
      waitFor(`${simUrl}/_sim/config`, sim, 'simulator', dir),
      waitFor(`${apiUrl}/health`, api, 'api', dir),
    ]);
  } catch (error) {
    keep = true;
    await stop();
    throw error;
  }
  return { info: { apiUrl, simUrl, redirectUri, logDir: dir }, stop, exited };
}
