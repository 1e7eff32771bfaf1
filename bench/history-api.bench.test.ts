/**
 * Workerd-side benchmarks of the history API (issue #14) on the XL account (~60,000 plays):
 * history page 1 vs page 500 (rows read), stats (D1 time and rows, UTC, ?tz= in the user's stats
 * zone and in another zone, and setting the stats zone), the cost of a
 * 304, a sync with one new play and the first stats read after it (the rollups are kept by triggers in
 * the sync's batch), and the export (every play, in constant-size chunks).
 * Figures come from D1's own `meta` (rows_read, duration) via test/support/d1-meter.ts; the
 * assertions are sanity checks only, never timing. Printed as one `@@BENCH@@` line for bench/run.ts.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { EXPORT_CHUNK_ROWS } from '../src/history/plays-list';
import { runSync } from '../src/sync/service';
import { call } from '../test/support/api';
import { meterD1 } from '../test/support/d1-meter';
import { connectedUser } from '../test/support/trakt';
import { BENCH_MARKER, type HistoryApiRow } from './format';

/** ~60,000 plays: 12,000 movies and 40 shows × 5 seasons × 40 episodes, three plays each (plus rewatches). */
const XL = {
  seed: 'bench-xl',
  movies: 12_000,
  shows: 40,
  seasons_per_show: 5,
  episodes_per_season: 40,
  plays_per_item: 3,
} as const;

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

describe('history API on the XL account', () => {
  it('history page 1 vs page 500, stats, 304, export', async () => {
    const user = await connectedUser(sim, XL);
    // The first sync in one go (its chunked cost is bench/chunked-sync.bench.test.ts's subject).
    const initial = await runSync(env, user.id, {
      kinds: ['movies', 'shows'],
      pagesPerRun: 1_000,
      subrequestBudget: 2_000,
    });
    expect(initial.complete).toBe(true);
    const plays = (await call('GET', '/trakt/sync-status/', { token: user.access })).body.counts.plays as number;
    expect(plays).toBeGreaterThan(50_000);
    const rows: HistoryApiRow[] = [];
    const measure = async (scenario: string, path: string, headers: Record<string, string> = {}) => {
      const { result, meter } = await meterD1(() => call('GET', path, { token: user.access, headers }));
      expect([200, 304]).toContain(result.status);
      expect(meter.statements.length).toBeGreaterThan(0);
      rows.push({
        scenario,
        endpoint: path.replace(/cursor=[^&]+/, 'cursor=…'),
        status: result.status,
        rows_read: meter.rowsRead,
        d1_ms: Math.round(meter.durationMs * 100) / 100,
        statements: meter.statements.length,
        max_rows_per_statement: 0,
      });
      return result;
    };

    // Warm-up (the first read after the bulk writes pays for a cold page cache), then history
    // page 1, then walk to page 500 (limit 20 → 10,000 plays deep) and measure it.
    for (const path of ['/trakt/history/?limit=20', '/trakt/stats/']) await call('GET', path, { token: user.access });
    const first = await measure('history page 1', '/trakt/history/?limit=20');
    let cursor = first.body.next_cursor as string;
    for (let page = 2; page < 500; page++) {
      cursor = (await call('GET', `/trakt/history/?limit=20&cursor=${cursor}`, { token: user.access })).body
        .next_cursor;
    }
    const deep = await measure('history page 500', `/trakt/history/?limit=20&cursor=${cursor}`);
    expect(deep.body.items).toHaveLength(20);
    await measure('history page 1, type=episodes', '/trakt/history/?type=episodes&limit=20');
    await measure(
      'history page 1, one show',
      `/trakt/history/?trakt_id=${
        deep.body.items.at(-1).show?.ids.trakt ?? deep.body.items.at(-1).movie.ids.trakt
      }&limit=20`,
    );

    // Stats from the rollups; ?tz= in a zone other than the user's stats zone reads every play once.
    const stats = await measure('stats (UTC)', '/trakt/stats/');
    expect(stats.body.movies.plays + stats.body.episodes.plays).toBe(plays);
    const exactBerlin = await measure('stats ?tz=Europe/Berlin, not the stats zone', '/trakt/stats/?tz=Europe/Berlin');
    // Setting the stats zone counts its grid once from every play; ?tz= in it then reads the grid.
    const setZone = await meterD1(() =>
      call('PATCH', '/users/me/', { token: user.access, json: { time_zone: 'Europe/Berlin' } }),
    );
    expect(setZone.result.status).toBe(200);
    rows.push({
      scenario: 'set the stats zone (counts its grid from every play)',
      endpoint: 'PATCH /users/me/ {"time_zone":"Europe/Berlin"}',
      status: setZone.result.status,
      rows_read: setZone.meter.rowsRead,
      d1_ms: Math.round(setZone.meter.durationMs * 100) / 100,
      statements: setZone.meter.statements.length,
      max_rows_per_statement: 0,
    });
    const zoned = await measure('stats ?tz=Europe/Berlin, the stats zone', '/trakt/stats/?tz=Europe/Berlin');
    expect(zoned.body).toEqual(exactBerlin.body);
    expect(rows.at(-1)!.rows_read).toBeLessThan(2_000);

    // 304: a single indexed read.
    const tag = stats.headers.get('ETag')!;
    const notModified = await measure('stats, If-None-Match (304)', '/trakt/stats/', { 'If-None-Match': tag });
    expect(notModified.status).toBe(304);
    const historyTag = first.headers.get('ETag')!;
    await measure('history, If-None-Match (304)', '/trakt/history/?limit=20', { 'If-None-Match': historyTag });

    await measure('get-stored-movies sort=title', '/trakt/get-stored-movies/?sort=title&order=asc&page_size=20');
    await measure('get-stored-movies q=tide', '/trakt/get-stored-movies/?q=tide&page_size=20');

    // Export: every play, in keyset chunks of EXPORT_CHUNK_ROWS.
    const exported = await meterD1(() => call('GET', '/trakt/export/?format=csv', { token: user.access }));
    const lines = (exported.result.body as string).split('\r\n').length - 2; // header + trailing CRLF
    expect(lines).toBe(plays);
    const chunkStatements = exported.meter.statements.filter((s) => s.includes('from "plays"'));
    expect(chunkStatements.length).toBe(Math.floor(plays / EXPORT_CHUNK_ROWS) + 1);
    rows.push({
      scenario: `export (csv, ${plays} rows, ${Math.round((exported.result.body as string).length / 1024)} KiB)`,
      endpoint: '/trakt/export/?format=csv',
      status: exported.result.status,
      rows_read: exported.meter.rowsRead,
      d1_ms: Math.round(exported.meter.durationMs * 100) / 100,
      statements: exported.meter.statements.length,
      max_rows_per_statement: EXPORT_CHUNK_ROWS,
    });

    // A sync with one new play: its batch moves the rollups (one upsert of the buckets the play touches) and
    // bumps the version; the first stats read after it costs what any read does.
    await sim.addPlay(user.traktUsername, {
      type: 'movie',
      trakt_id: (await sim.catalog(user.traktUsername)).movies[0]!.trakt,
    });
    const sync = await meterD1(() => call('GET', '/trakt/fetch-latest-movies/', { token: user.access }));
    expect(sync.result.status).toBe(200);
    expect(sync.meter.statements.some((sql) => sql.includes('INSERT INTO play_stats'))).toBe(true);
    expect(sync.meter.statements.some((sql) => sql.includes('user_data_versions'))).toBe(true);
    expect(sync.meter.rowsRead).toBeLessThan(2_000);
    rows.push({
      scenario: 'incremental movie sync (1 new play), whole sync',
      endpoint: '/trakt/fetch-latest-movies/',
      status: 200,
      rows_read: sync.meter.rowsRead,
      d1_ms: Math.round(sync.meter.durationMs * 100) / 100,
      statements: sync.meter.statements.length,
      max_rows_per_statement: 0,
    });
    const after = await measure('stats (UTC), first read after that sync', '/trakt/stats/');
    expect(after.body.movies.plays).toBe(stats.body.movies.plays + 1);
    expect(rows.at(-1)!.rows_read).toBeLessThan(2_000);
    const afterZoned = await measure(
      'stats ?tz=Europe/Berlin (stats zone), after that sync',
      '/trakt/stats/?tz=Europe/Berlin',
    );
    expect(afterZoned.body.movies.plays).toBe(stats.body.movies.plays + 1);
    expect(rows.at(-1)!.rows_read).toBeLessThan(2_000);

    console.log(`${BENCH_MARKER} ${JSON.stringify({ name: 'history_api', data: { account: XL, plays, rows } })}`);
    console.table(rows);
  });
});
