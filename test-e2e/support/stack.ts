/**
 * @module
 * Starts the real stack for end-to-end tests: the upstream simulator and the API, each in its
 * own `wrangler dev` on a free port (never the developer's 8787/8788), isolated from the
 * developer's state: the API gets its vars via `--var`, its secrets from a temp `--env-file`
 * (freshly generated, so `.dev.vars` is never read for them) and a temp `--persist-to` D1/KV
 * directory with the migrations applied. `stop()` kills both process groups; the global setup
 * calls it even when tests fail, and an exit hook covers a crashing runner.
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
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
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

function startWrangler(name: string, args: string[], logDir: string): ChildProcess {
  const log = createWriteStream(join(logDir, `${name}.log`));
  const child = spawn(process.execPath, [WRANGLER, ...args], { cwd: ROOT, env: wranglerEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function waitFor(url: string, child: ChildProcess, name: string, logDir: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}; see ${join(logDir, `${name}.log`)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not become ready at ${url} within ${STARTUP_TIMEOUT_MS / 1000}s; see ${join(logDir, `${name}.log`)}`);
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

export async function startStack(): Promise<{ info: StackInfo; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'trakt-e2e-'));
  const persist = join(dir, 'state');
  const [apiPort, simPort, apiInspector, simInspector] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const simUrl = `http://127.0.0.1:${simPort}`;
  const redirectUri = `${apiUrl}/trakt/oauth-helper/`;

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

  const migrate = spawnSync(process.execPath, [WRANGLER, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist], { cwd: ROOT, env: wranglerEnv, encoding: 'utf8' });
  if (migrate.status !== 0) throw new Error(`D1 migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);

  const sim = startWrangler('simulator', ['dev', '-c', 'simulator/wrangler.toml', '--ip', '127.0.0.1', '--port', String(simPort), '--inspector-port', String(simInspector), '--persist-to', join(dir, 'sim-state'), '--show-interactive-dev-session=false'], dir);
  const api = startWrangler(
    'api',
    [
      'dev',
      '--ip', '127.0.0.1',
      '--port', String(apiPort),
      '--inspector-port', String(apiInspector),
      '--persist-to', persist,
      '--env-file', envFile,
      '--show-interactive-dev-session=false',
      '--var', `TRAKT_API_URL:${simUrl}`,
      '--var', `TRAKT_AUTH_URL:${simUrl}`,
      '--var', `TMDB_API_URL:${simUrl}/3`,
      '--var', `TRAKT_REDIRECT_URI:${redirectUri}`,
      '--var', 'UPSTREAM_TIMEOUT_MS:5000',
    ],
    dir,
  );

  const stop = async () => {
    await Promise.all([stopChild(api), stopChild(sim)]);
    if (!process.env.E2E_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all([waitFor(`${simUrl}/_sim/config`, sim, 'simulator', dir), waitFor(`${apiUrl}/health`, api, 'api', dir)]);
  } catch (error) {
    process.env.E2E_KEEP_LOGS = '1';
    await stop();
    throw error;
  }
  return { info: { apiUrl, simUrl, redirectUri, logDir: dir }, stop };
}
