/**
 * Workerd-side benchmarks: upstream calls per sync (simulator counters) and D1 rows read/written
 * (D1's own `meta`, via test/support/d1-meter.ts) per sync kind and per read-endpoint page.
 * Run with `npm run bench` (or `npx vitest run -c vitest.bench.config.ts`). Assertions are sanity
 * checks only (a no-op sync is exactly one call, a second user costs no TMDB call, …), never timing.
 * Every dependent step lives in one `it`, so nothing relies on storage surviving between tests.
 * The figures are printed as one `@@BENCH@@ {json}` line per test, which bench/run.ts collects.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { runBackgroundChunk } from '../src/jobs/queue';
import { call, type JsonResponse } from '../test/support/api';
import { meterD1 } from '../test/support/d1-meter';
import { drainEnrichQueue } from '../test/support/enrich-queue';
import { connectedUser } from '../test/support/trakt';
import { BENCH_MARKER, type ReadRow, readTable, type SyncRow, syncTable } from './format';

/** The large account: 5,000 movies; 300 shows × 3 seasons × 10 episodes. */
const LARGE = { movies: 5000, shows: 300, seasons_per_show: 3, episodes_per_season: 10 } as const;
/** The TMDB account: every title and season fits in one run's TMDB budget (300 calls). */
const SHARED = {
  seed: 'bench-shared',
  movies: 100,
  shows: 20,
  seasons_per_show: 3,
  episodes_per_season: 10,
} as const;

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
  // Continuations are driven by the benchmark itself, never by Miniflare's queue consumer.
  vi.spyOn(env.SYNC_QUEUE, 'send').mockResolvedValue(undefined as never);
});
afterEach(() => {
  vi.restoreAllMocks();
  sim.restore();
});

async function storeTmdbKey(access: string) {
  expect(
    (
      await call('POST', '/users/api-keys/', {
        token: access,
        json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY },
      })
    ).status,
  ).toBe(201);
}

const sum = (counters: Record<string, number>, tmdb: boolean) =>
  Object.entries(counters)
    .filter(([key]) => key.includes(' /3/') === tmdb)
    .reduce((n, [, v]) => n + v, 0);

/** Runs one API call with fresh counters and the D1 meter on; returns the row for the table. */
async function measureSync(
  scenario: string,
  path: string,
  access: string,
): Promise<{ row: SyncRow; res: JsonResponse }> {
  await sim.clearRequests();
  const started = Date.now();
  const { result: res, meter } = await meterD1(() => call('GET', path, { token: access }));
  const ms = Date.now() - started;
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const counters = await sim.counters();
  const requests = await sim.requests();
  const limited = (tmdb: boolean) =>
    requests.filter((r) => r.status === 429 && r.path.startsWith('/3/') === tmdb).length;
  expect(limited(false)).toBe(0); // never over Trakt's 1000 GET / 5 min
  const row: SyncRow = {
    scenario,
    endpoint: path,
    trakt_calls: sum(counters, false),
    tmdb_calls: sum(counters, true),
    tmdb_429: limited(true),
    tmdb_ok: requests.filter((r) => r.path.startsWith('/3/') && r.status !== 429).length,
    rows_read: meter.rowsRead,
    rows_written: meter.rowsWritten,
    writes_by_table: Object.fromEntries([...meter.writesByTable].sort()),
    statements: meter.statements.length,
    counters,
    wall_ms: ms,
    plays_added: res.body.plays_added,
    plays_removed: res.body.plays_removed,
  };
  return { row, res };
}

async function measureRead(
  scenario: string,
  path: string,
  access: string,
  check: (body: any) => void,
): Promise<ReadRow> {
  await sim.clearRequests();
  const { result: res, meter } = await meterD1(() => call('GET', path, { token: access }));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  check(res.body);
  expect(await sim.requests()).toEqual([]); // the read path never calls upstream
  expect(meter.rowsWritten).toBe(0);
  const items = res.body.movies?.length ?? res.body.shows?.length ?? res.body.episodes?.length ?? 0;
  return {
    scenario,
    endpoint: path,
    items_returned: items,
    rows_read: meter.rowsRead,
    rows_written: meter.rowsWritten,
    statements: meter.statements.length,
  };
}

/** Titles of the user's collection that have no TMDB cache row yet (posters missing). */
async function unenriched(userId: number) {
  const one = async (q: string) => (await env.DB.prepare(q).bind(userId).first<{ n: number }>())!.n;
  return {
    movies: await one(
      "SELECT count(*) AS n FROM movies m LEFT JOIN tmdb_titles t ON t.kind = 'movie' AND t.tmdb_id = m.tmdb_ref " +
        'WHERE m.user_id = ? AND t.tmdb_id IS NULL',
    ),
    shows: await one(
      "SELECT count(*) AS n FROM shows s LEFT JOIN tmdb_titles t ON t.kind = 'tv' AND t.tmdb_id = s.tmdb_ref WHERE " +
        's.user_id = ? AND t.tmdb_id IS NULL',
    ),
  };
}

function emit(name: string, data: unknown) {
  console.log(`${BENCH_MARKER} ${JSON.stringify({ name, data })}`);
}

describe('sync and read cost on a large account', () => {
  it(`5,000 movies; 300 shows × 3 seasons × 10 episodes: read pages after a complete (chunked) sync`, async () => {
    const setupStarted = Date.now();
    const user = await connectedUser(sim, { seed: 'bench-large', ...LARGE });
    await storeTmdbKey(user.access);
    const truth = await sim.summary(user.traktUsername);
    const catalog = await sim.catalog(user.traktUsername);

    // Sync it completely, chunk by chunk as the queue would (costs per chunk: bench/chunked-sync.bench.test.ts).
    for (let chunks = 0; chunks < 200; chunks++)
      if ((await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] })).complete) break;
    const backlogAfterFirst = await unenriched(user.id);
    const backlogAfterNoop = backlogAfterFirst;
    const rows: SyncRow[] = [];

    // 5. Read pages (D1 only).
    const movieCount = truth.movies_watched;
    const showCount = truth.shows_watched;
    const lastMoviePage = Math.ceil(movieCount / 10);
    const lastShowPage = Math.ceil(showCount / 10);
    const show = catalog.shows[0]!;
    const reads: ReadRow[] = [];
    const page = (n: number) => (body: any) => {
      expect(body.page).toBe(n);
      expect((body.movies ?? body.shows).length).toBe(10);
    };
    reads.push(
      await measureRead('movies page 1', '/trakt/get-stored-movies/?page=1&page_size=10', user.access, page(1)),
    );
    reads.push(
      await measureRead('movies page 300', '/trakt/get-stored-movies/?page=300&page_size=10', user.access, page(300)),
    );
    reads.push(
      await measureRead(
        `movies last page (${lastMoviePage})`,
        `/trakt/get-stored-movies/?page=${lastMoviePage}&page_size=10`,
        user.access,
        page(lastMoviePage),
      ),
    );
    reads.push(
      await measureRead(
        'movies page 1, page_size 100',
        '/trakt/get-stored-movies/?page=1&page_size=100',
        user.access,
        (b) => expect(b.movies).toHaveLength(100),
      ),
    );
    reads.push(await measureRead('shows page 1', '/trakt/get-stored-shows/?page=1&page_size=10', user.access, page(1)));
    reads.push(
      await measureRead(
        `shows last page (${lastShowPage})`,
        `/trakt/get-stored-shows/?page=${lastShowPage}&page_size=10`,
        user.access,
        page(lastShowPage),
      ),
    );
    reads.push(
      await measureRead(
        `seasons+episodes of one show (${show.seasons.length} seasons)`,
        `/trakt/get-watched-seasons-episodes/?trakt_id=${show.trakt}`,
        user.access,
        (b) => expect(b.episodes.length).toBeGreaterThan(0),
      ),
    );
    reads.push(
      await measureRead('sync-status', '/trakt/sync-status/', user.access, (b) =>
        expect(b.counts.movies).toBe(movieCount),
      ),
    );

    const data = {
      account: { ...LARGE, summary: truth },
      setup_ms: Date.now() - setupStarted,
      sync: rows,
      reads,
      tmdb_backlog: { after_first_sync: backlogAfterFirst, after_noop_sync: backlogAfterNoop },
    };
    emit('large', data);
    console.log(readTable(reads));
  }, 1_800_000);
});

describe('TMDB cache across users', () => {
  it('first user pays one call per uncached title/season; a second user with the same titles pays 0', async () => {
    const rows: SyncRow[] = [];
    const backfillCalls: number[] = [];
    for (const who of ['first user', 'second user (same titles)']) {
      const user = await connectedUser(sim, { ...SHARED });
      await storeTmdbKey(user.access);
      const movies = await measureSync(who, '/trakt/fetch-latest-movies/', user.access);
      const shows = await measureSync(who, '/trakt/fetch-latest-shows/', user.access);
      rows.push(movies.row, shows.row);
      // The trakt-enrich queue drains what the fetches' budget left (one invocation at a time).
      await sim.clearRequests();
      await drainEnrichQueue();
      backfillCalls.push(sum(await sim.counters(), true));
      const flag = await env.DB.prepare('SELECT tmdb_backlog AS n FROM sync_state WHERE user_id = ?')
        .bind(user.id)
        .first<{ n: number }>();
      expect(flag!.n).toBe(0);
    }
    const [firstMovies, firstShows, secondMovies, secondShows] = rows;
    const seasons = SHARED.shows * SHARED.seasons_per_show;
    // Answered calls (a 429 is retried, so counters may include a few extra attempts).
    // Per movie: /movie (+ /find when Trakt's tmdb id is null); per show: /tv (+ /find); per season: 1.
    expect(firstMovies!.tmdb_ok).toBeLessThanOrEqual(SHARED.movies * 2);
    expect(firstShows!.tmdb_ok).toBeLessThanOrEqual(SHARED.shows * 2 + seasons);
    expect(firstShows!.counters['GET /3/tv/:id/season/:n/episode/:e'] ?? 0).toBe(0);
    expect(secondMovies!.tmdb_calls + secondShows!.tmdb_calls).toBe(0);
    expect(backfillCalls[1]).toBe(0);
    emit('tmdb', { account: SHARED, sync: rows, backfill_tmdb_calls: backfillCalls });
    console.log(syncTable(rows));
  });
});
