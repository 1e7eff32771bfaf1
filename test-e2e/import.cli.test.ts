/**
 * `npm run import` (scripts/import.ts) against the running API and simulator: the simulator's export of an account
 * imported with progress, again (nothing added), the password asked on stdin, and the failures with their messages
 * and exit codes (not a ZIP, a bad item after a good file, a wrong password, no file given).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { api, apiUser, sim, stack, unique } from './support/http';

const SCRIPT = join(resolve(import.meta.dirname, '..'), 'scripts/import.ts');
const dir = mkdtempSync(join(tmpdir(), 'import-cli-'));

type Run = { code: number | null; stdout: string; stderr: string };

function cli(args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [SCRIPT, '--api', stack().apiUrl, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, IMPORT_PASSWORD: '' },
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI timed out.\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, 90_000);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(stdin);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

async function exportFile(username: string): Promise<string> {
  const res = await fetch(`${stack().simUrl}/_sim/accounts/${username}/export.zip`);
  expect(res.status).toBe(200);
  const path = join(dir, `${username}.zip`);
  writeFileSync(path, Buffer.from(await res.arrayBuffer()));
  return path;
}

const plays = async (access: string) => {
  const stats = await api<{ movies: { plays: number }; episodes: { plays: number } }>('GET', '/trakt/stats/', {
    token: access,
  });
  return stats.body.movies.plays + stats.body.episodes.plays;
};

describe('npm run import', () => {
  it('imports an export with progress; again, everything is already stored', async () => {
    const traktUser = unique('cli_export');
    await sim('POST', '/accounts', { username: traktUser, movies: 700, shows: 6, plays_per_item: 2 });
    const summary = await sim<{ total_plays: number }>('GET', `/accounts/${traktUser}/summary`);
    const files = Math.ceil(summary.total_plays / 1000);
    expect(files).toBeGreaterThan(1);
    const path = await exportFile(traktUser);
    const user = await apiUser();

    const run = await cli([path, '--user', user.username, '--password', user.password]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Importing ${files} history files from ${path}`);
    expect(run.stdout).toMatch(
      /\[ {1,2}\d{2}%\] watched-history-1\.json: 1000 plays \(total 1000 added, 0 already stored\)/,
    );
    expect(run.stdout).toContain(`[100%] watched-history-${files}.json`);
    expect(run.stdout).toContain(`Done: ${summary.total_plays} plays added, 0 already stored.`);
    expect(await plays(user.access)).toBe(summary.total_plays);

    // The password asked on stdin (not echoed when it is a terminal; here a pipe).
    const again = await cli([path, '--user', user.username], `${user.password}\n`);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('API password: ');
    expect(again.stdout).toContain(`Done: 0 plays added, ${summary.total_plays} already stored.`);
  });

  it('stops with the reason and exit code 1; usage errors exit 2', async () => {
    const user = await apiUser();
    const notZip = join(dir, 'notes.zip');
    writeFileSync(notZip, 'just text');
    const refused = await cli([notZip, '--user', user.username, '--password', user.password]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Import stopped:');
    expect(refused.stderr).toContain('The file is not a ZIP archive');

    const movie = (id: number) => ({
      id,
      watched_at: '2024-05-01T20:00:00.000Z',
      action: 'watch',
      type: 'movie',
      movie: { title: `Film ${id}`, year: 2001, ids: { trakt: 8_000 + id } },
    });
    const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const bad = join(dir, 'bad.zip');
    writeFileSync(
      bad,
      zipSync({
        'watched-history-1.json': encode([movie(1)]),
        'watched-history-2.json': encode([movie(2), { ...movie(3), type: 'season' }]),
      }),
    );
    const stopped = await cli([bad, '--user', user.username, '--password', user.password]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain('watched-history-2.json: item 1: unknown item type "season"');
    expect(stopped.stderr).toContain('The 1 history files before it are stored');
    expect(await plays(user.access)).toBe(1);

    const wrong = await cli([bad, '--user', user.username, '--password', 'not the password']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`Signing in as ${user.username} failed`);

    const usage = await cli([]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Give exactly one export ZIP');
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: npm run import -- <export.zip>');
  });
});
