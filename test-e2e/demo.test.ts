/**
 * `npm run demo` from the repository root, as a user runs it on a fresh clone: `-- --once` and
 * `-- --once --cron` each start their own simulator + API (free ports, temp state), walk the
 * whole flow and exit. Both run at the same time (about 90 s together; they share nothing), and
 * neither uses the suite's shared stack. Checks the printed summary against the simulator's
 * seeded `demo` account (simulator/src/demo.ts: 200 movies, 20 shows), that the background
 * sync picked up the plays the demo added, and that both servers are gone afterwards.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

type Run = { code: number | null; stdout: string; stderr: string };

function demo(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    // Its own process group, so a timeout can signal npm, the demo and nothing else.
    const child = spawn(NPM, ['run', '--silent', 'demo', '--', ...args], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, name);
      } catch {
        // gone
      }
    };
    const timer = setTimeout(() => {
      signal('SIGTERM'); // the demo stops both servers on SIGTERM
      setTimeout(() => signal('SIGKILL'), 15_000).unref();
      reject(
        new Error(
          `npm run demo -- ${args.join(' ')} timed out after ` +
            `${timeoutMs / 1000}s.\nstdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** One "before → after (±delta)" figure of the background-sync line. */
const CHANGE = String.raw`(\d+) → (\d+) \(([+-]\d+)\)`;

function numbers(text: string, pattern: RegExp): number[] {
  const match = pattern.exec(text);
  if (!match) throw new Error(`no match for ${pattern} in:\n${text}`);
  return match.slice(1).map(Number);
}

async function isListening(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * What every successful run prints: the manual flow, counts matching the simulator, lists, curl
 * commands; servers gone after.
 */
async function expectSummary(run: Run) {
  expect(run.stderr).not.toContain('Demo failed');
  expect(run.code, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0);
  const out = run.stdout;
  expect(out).toContain('POST /trakt/oauth-callback/ → Successfully authenticated with Trakt!');

  const [movies, shows, episodes, plays] = numbers(
    out,
    /^Stored: (\d+) movies, (\d+) shows, (\d+) episodes, (\d+) plays/m,
  );
  const [simMovies, simShows, simEpisodes] = numbers(
    out,
    /^Simulator account "demo": (\d+) movies, (\d+) shows, (\d+) episodes watched → match$/m,
  );
  // simulator/src/demo.ts seeds `demo` with 200 movies and 20 shows × 3 seasons × 10 episodes
  // (a quarter watched half-way).
  expect([simMovies, simShows]).toEqual([200, 20]);
  expect(simEpisodes).toBeGreaterThan(0);
  expect([movies, shows, episodes]).toEqual([simMovies, simShows, simEpisodes]);
  expect(plays).toBeGreaterThanOrEqual(movies! + episodes!);

  const [movieTotal] = numbers(out, /^Most recent movies \((\d+) stored\):$/m);
  const [showTotal] = numbers(out, /^Most recent shows \((\d+) stored\):$/m);
  expect([movieTotal, showTotal]).toEqual([movies, shows]);
  // The demo points TMDB_IMAGE_BASE_URL at the simulator's image CDN, so the dashboard shows images offline.
  expect(out.match(/plays \d+ {2}http:\/\/127\.0\.0\.1:\d+\/t\/p\/w500\/\S+\.jpg$/gm)?.length).toBeGreaterThanOrEqual(
    5,
  );
  expect(out).toMatch(/^.+: \d+ seasons, \d+ watched episodes$/m);
  expect(out).toMatch(/^ {4}E01 .+http:\/\/127\.0\.0\.1:\d+\/t\/p\/w300\/\S+\.jpg$/m);

  const api = /^export API=(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)?.[1];
  const sim = /^Simulator {2}(http:\/\/127\.0\.0\.1:\d+)/m.exec(out)?.[1];
  expect(api).toBeDefined();
  expect(sim).toBeDefined();
  expect(out).toMatch(new RegExp(`^Dashboard {2}${api}/app/ {3}\\(sign in as demo / demo-[\\w-]+\\)$`, 'm'));
  expect(out).toMatch(/^export TOKEN=ey[\w-]+\.[\w-]+\.[\w-]+ /m);
  expect(out).toContain(
    'curl -s -H "Authorization: Bearer $TOKEN" "$API/trakt/get-stored-movies/?page=1&page_size=10"',
  );
  expect(out).toMatch(/Done in [\d.]+ s; stopping both servers \(--once\)\.$/m);
  // --once killed both servers.
  expect(await isListening(`${api}/health`)).toBe(false);
  expect(await isListening(`${sim}/_sim/config`)).toBe(false);
  return { movies: movies!, shows: shows!, episodes: episodes!, plays: plays! };
}

describe('npm run demo', () => {
  it('--once and --once --cron: the whole flow offline, then the background sync picks up new plays', {
    timeout: 240_000,
  }, async () => {
    const [once, cron] = await Promise.all([demo(['--once'], 200_000), demo(['--once', '--cron'], 230_000)]);

    const first = await expectSummary(once);
    expect(once.stdout).not.toContain('Background sync');

    const before = await expectSummary(cron);
    expect(before).toEqual(first); // same seeded account, same result
    const out = cron.stdout;
    expect(out).toMatch(/GET \/__scheduled\?cron=\*\/15\+\*\+\*\+\*\+\* → Ran scheduled event/);
    expect(out).toMatch(/the queue consumer synced the user at \d{4}-/);
    // The demo adds one movie play and two episode plays at the simulator before the cron.
    const [
      moviesBefore,
      moviesAfter,
      ,
      showsBefore,
      showsAfter,
      ,
      episodesBefore,
      episodesAfter,
      ,
      playsBefore,
      playsAfter,
      playsDelta,
    ] = numbers(
      out,
      new RegExp(
        `^Background sync picked up: movies ${CHANGE}, shows ${CHANGE}, episodes ${CHANGE}, plays ${CHANGE}$`,
        'm',
      ),
    );
    expect([moviesBefore, showsBefore, episodesBefore, playsBefore]).toEqual([
      before.movies,
      before.shows,
      before.episodes,
      before.plays,
    ]);
    expect([moviesAfter, showsAfter]).toEqual([before.movies, before.shows]);
    expect(playsAfter! - playsBefore!).toBe(3);
    expect(playsDelta).toBe(3);
    expect(episodesAfter! - episodesBefore!).toBeGreaterThanOrEqual(0);
    expect(out).toMatch(/^Last result: movies \+1 plays .*shows \+2 plays/m);
    // The rewatched movie is now the most recent one, with two plays.
    const watched = /watched at "Trakt": (.+) \(movie \d+\)$/m.exec(out)?.[1];
    const lists = out.slice(out.indexOf('Background sync picked up'));
    expect(lists).toMatch(
      new RegExp(
        `^Most recent movies \\(\\d+ stored\\):\\n {2}\\S+ \\S+ ` +
          `{2}${watched!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d{4}\\) +plays 2 `,
        'm',
      ),
    );
  });

  it('rejects an unknown option with exit code 2 and the usage', async () => {
    const run = await demo(['--bogus'], 30_000);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Usage: npm run demo -- [options]');
  });
});
