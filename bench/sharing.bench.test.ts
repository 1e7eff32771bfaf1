/**
 * Workerd-side benchmark of the public answers (issue 28) on an account of ~10,000 plays: what one public hit
 * costs in D1 when it is fully cached at the edge (the handle's record and the answer), when only the answer is
 * missing (a new data version), and when nothing is cached; plus the year in review computed vs stored, and
 * what the webhook write hook adds to a sync with one new play. Figures from D1's own `meta` (rows_read,
 * rows_written) through the D1 meter; assertions are sanity checks only, never timing. Printed as a table and
 * as one `@@BENCH@@` line.
 *
 *   npx vitest run -c vitest.bench.config.ts bench/sharing.bench.test.ts
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { forgetHandles } from '../src/sharing/edge-cache';
import { runSync } from '../src/sync/service';
import { call } from '../test/support/api';
import { meterD1 } from '../test/support/d1-meter';
import { connectedUser } from '../test/support/trakt';
import { BENCH_MARKER } from './format';

const ACCOUNT = {
  seed: 'bench-share',
  movies: 2_000,
  shows: 10,
  seasons_per_show: 4,
  episodes_per_season: 20,
  plays_per_item: 3,
} as const;

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

type Row = {
  scenario: string;
  resource: string;
  status: number;
  d1_calls: number;
  rows_read: number;
  rows_written: number;
};

describe('public answers', () => {
  it('cost of a cached and an uncached public hit, the review, and the webhook hook', async () => {
    const user = await connectedUser(sim, ACCOUNT);
    const sync = await runSync(env, user.id, {
      kinds: ['movies', 'shows'],
      pagesPerRun: 1_000,
      subrequestBudget: 2_000,
    });
    expect(sync.complete).toBe(true);
    const plays = (await call('GET', '/trakt/sync-status/', { token: user.access })).body.counts.plays as number;
    const handle = `bench-${crypto.randomUUID().slice(0, 8)}`;
    await call('PUT', '/users/me/sharing/', {
      token: user.access,
      json: { handle, parts: ['recent', 'stats', 'calendar', 'review'] },
    });
    const year = new Date(
      (await call('GET', '/trakt/stats/', { token: user.access })).body.last_play_at,
    ).getUTCFullYear();
    const resources = [
      'recent.json',
      'stats.json',
      'feed.atom',
      'feed.rss',
      'widget',
      'card.svg',
      'calendar.ics',
      `review/${year}.json`,
    ];
    const rows: Row[] = [];
    const measure = async (scenario: string, resource: string) => {
      const { result, meter } = await meterD1(() =>
        call('GET', `/u/${handle}/${resource}`, { headers: { 'CF-Connecting-IP': `203.0.113.${rows.length % 250}` } }),
      );
      expect(result.status).toBe(200);
      rows.push({
        scenario,
        resource,
        status: result.status,
        d1_calls: meter.calls.length,
        rows_read: meter.rowsRead,
        rows_written: meter.rowsWritten,
      });
      return meter;
    };
    for (const resource of resources) {
      await forgetHandles([handle]);
      await measure('uncached (no record, no answer)', resource);
    }
    for (const resource of resources) {
      const meter = await measure('cached (record and answer at the edge)', resource);
      expect(meter.rowsRead).toBe(0);
    }
    // A new data version (a sync changed something): the record is re-read once, every answer is new.
    await env.DB.prepare('UPDATE user_data_versions SET version = version + 1 WHERE user_id = ?').bind(user.id).run();
    await forgetHandles([handle]);
    for (const resource of resources) await measure('new version (record re-read once, answer missing)', resource);

    // The review: computed once per data version, then stored.
    await env.DB.prepare('UPDATE user_data_versions SET version = version + 1 WHERE user_id = ?').bind(user.id).run();
    const computed = await meterD1(() => call('GET', `/trakt/review/${year}/`, { token: user.access }));
    const stored = await meterD1(() => call('GET', `/trakt/review/${year}/`, { token: user.access }));
    rows.push(
      {
        scenario: 'review, computed (first read of a version)',
        resource: `/trakt/review/${year}/`,
        status: computed.result.status,
        d1_calls: computed.meter.calls.length,
        rows_read: computed.meter.rowsRead,
        rows_written: computed.meter.rowsWritten,
      },
      {
        scenario: 'review, stored (same version)',
        resource: `/trakt/review/${year}/`,
        status: stored.result.status,
        d1_calls: stored.meter.calls.length,
        rows_read: stored.meter.rowsRead,
        rows_written: stored.meter.rowsWritten,
      },
    );

    // The webhook hook: a sync with one new play, without and with an endpoint for play.created.
    const catalog = await sim.catalog(user.traktUsername);
    const syncOnePlay = async (label: string, index: number) => {
      await sim.advanceClock(120); // a later activity time, so the sync sees something moved
      await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[index]!.trakt });
      const { result, meter } = await meterD1(() => runSync(env, user.id, { kinds: ['movies'] }));
      expect(result.result.movies?.plays_added).toBe(1);
      rows.push({
        scenario: label,
        resource: 'runSync(movies), 1 new play',
        status: 200,
        d1_calls: meter.calls.length,
        rows_read: meter.rowsRead,
        rows_written: meter.rowsWritten,
      });
    };
    await syncOnePlay('sync, no webhook', 0);
    await call('POST', '/users/me/webhooks/', {
      token: user.access,
      json: { url: 'https://hooks.example.com/x', events: ['play.created'] },
    });
    await syncOnePlay('sync, one play.created webhook (staged + dispatched)', 1);

    console.table(rows);
    console.log(`${BENCH_MARKER}${JSON.stringify({ name: 'sharing', data: { plays, rows } })}`);
  });
});
