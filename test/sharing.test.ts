/**
 * Public sharing (issue 28 §1): off by default; PUT/GET/DELETE /users/me/sharing; the public answers under
 * /u/:handle/ (CORS from anywhere, Cache-Control, ETag/304), served from the edge cache with 0 D1 rows
 * once cached and versioned by the data version; only the parts shared, with unknown handles and unshared
 * parts answering the same 404; a changed or deleted handle retired at once; feeds parsed by a real feed
 * parser; the widget framable without script; the card; now.json asking Trakt at most once a minute;
 * per-IP and per-handle limits on uncached hits; attribution of Trakt and TMDB.
 */
import { env } from 'cloudflare:workers';
import { parseFeed } from '@rowanmanning/feed-parser';
import type { InferRequestType } from 'hono/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import type { HistoryClient } from '../src/client';
import { forgetHandles } from '../src/sharing/edge-cache';
import { call, expectError, registerAndLogin } from './support/api';
import { api, expectStatus, ok, read } from './support/client';
import { meterD1 } from './support/d1-meter';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  sim.restore();
  vi.restoreAllMocks();
});

type SharePart = InferRequestType<HistoryClient['users']['me']['sharing']['$put']>['json']['parts'][number];
const ALL_PARTS: SharePart[] = ['recent', 'now', 'stats', 'calendar', 'review'];
let handleCounter = 0;
const newHandle = (prefix = 'fan') => `${prefix}-${++handleCounter}-${crypto.randomUUID().slice(0, 8)}`;

/** A synced user (movies and episodes, enriched from the simulator's TMDB). */
async function syncedUser(account: Record<string, unknown> = {}) {
  const user = await connectedUser(sim, {
    movies: 4,
    shows: 1,
    seasons_per_show: 1,
    episodes_per_season: 3,
    null_tmdb_fraction: 0,
    missing_on_tmdb_fraction: 0,
    ...account,
  });
  await ok(
    api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }),
    201,
  );
  expect((await read(api(user.access).trakt['fetch-latest-movies'].$post())).status).toBe(200);
  expect((await read(api(user.access).trakt['fetch-latest-shows'].$post())).status).toBe(200);
  return user;
}

async function share(access: string, handle: string, parts: SharePart[] = ALL_PARTS) {
  return ok(api(access).users.me.sharing.$put({ json: { handle, parts } }));
}

describe('sharing settings', () => {
  it('is off by default; PUT turns it on with URLs for the chosen parts; GET shows it; DELETE turns it off at once', async () => {
    const user = await registerAndLogin();
    expectError(await call('GET', '/users/me/sharing/', { token: user.access }), 404, 'Sharing is off');
    const handle = newHandle('Alice');
    const on = await share(user.access, handle, ['recent', 'stats']);
    expect(on.body).toEqual({
      handle: handle.toLowerCase(),
      parts: ['recent', 'stats'],
      urls: {
        recent: `http://api.test/u/${handle.toLowerCase()}/recent.json`,
        feed_atom: `http://api.test/u/${handle.toLowerCase()}/feed.atom`,
        feed_rss: `http://api.test/u/${handle.toLowerCase()}/feed.rss`,
        widget: `http://api.test/u/${handle.toLowerCase()}/widget`,
        stats: `http://api.test/u/${handle.toLowerCase()}/stats.json`,
        card: `http://api.test/u/${handle.toLowerCase()}/card.svg`,
      },
    });
    expect((await read(api(user.access).users.me.sharing.$get())).body).toEqual(on.body);
    expect((await call('GET', `/u/${handle}/recent.json`)).status).toBe(200);

    expect((await read(api(user.access).users.me.sharing.$delete())).status).toBe(204);
    expectError(await call('GET', `/u/${handle}/recent.json`), 404);
    expectError(await call('GET', '/users/me/sharing/', { token: user.access }), 404, 'Sharing is off');
  });

  it('validates the handle and the parts, and refuses a handle taken by another user (any case)', async () => {
    const user = await registerAndLogin();
    expectError(
      await call('PUT', '/users/me/sharing/', { token: user.access, json: { handle: 'a', parts: ['recent'] } }),
      400,
      /handle/,
    );
    expectError(
      await call('PUT', '/users/me/sharing/', {
        token: user.access,
        json: { handle: 'good-handle', parts: ['secrets'] },
      }),
      400,
      /parts/,
    );
    expectError(
      await call('PUT', '/users/me/sharing/', { token: user.access, json: { handle: 'good-handle', parts: [] } }),
      400,
    );
    const handle = newHandle('taken');
    await share(user.access, handle);
    const other = await registerAndLogin();
    expectError(
      await call('PUT', '/users/me/sharing/', {
        token: other.access,
        json: { handle: handle.toUpperCase(), parts: ['recent'] },
      }),
      409,
      'That handle is taken',
    );
    expect((await call('PUT', '/users/me/sharing/')).status).toBe(401);
  });

  it('changing the handle retires the old one at once', async () => {
    const user = await registerAndLogin();
    const first = newHandle('old');
    const second = newHandle('new');
    await share(user.access, first, ['recent']);
    expect((await call('GET', `/u/${first}/recent.json`)).status).toBe(200); // now cached at the edge
    await share(user.access, second, ['recent']);
    expectError(await call('GET', `/u/${first}/recent.json`), 404);
    expect((await call('GET', `/u/${second}/recent.json`)).status).toBe(200);
  });
});

describe('public answers', () => {
  it('recent.json: newest first, the public shape, CORS from anywhere, cacheable with an ETag and 304', async () => {
    const user = await syncedUser();
    const handle = newHandle();
    await share(user.access, handle, ['recent']);
    const res = await call('GET', `/u/${handle}/recent.json`, { headers: { Origin: 'https://someone-else.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect(res.headers.get('Cache-Control')).toBe('public, max-age=60');
    expect(res.headers.get('Link')).toMatch(/trakt\.tv.*themoviedb\.org/);
    const etag = res.headers.get('ETag')!;
    expect(etag).toMatch(/^W\/"\d+-[0-9a-f]+"$/);
    const history = await read(api(user.access).trakt.history.$get({ query: { limit: '100' } }));
    expect(res.body.plays).toHaveLength(history.body.items.length);
    expect(res.body.plays.map((p: { watched_at: string }) => p.watched_at)).toEqual(
      history.body.items.map((i: { watched_at: string }) => i.watched_at),
    );
    const episode = res.body.plays.find((p: { type: string }) => p.type === 'episode');
    expect(Object.keys(episode).sort()).toEqual(
      ['watched_at', 'type', 'title', 'year', 'show', 'season', 'episode', 'ids', 'poster_url'].sort(),
    );
    expect(episode.show).toEqual(expect.any(String));
    expect(episode.poster_url).toMatch(/^https:\/\/image\.tmdb\.org\/t\/p\/w500\//);
    const movie = res.body.plays.find((p: { type: string }) => p.type === 'movie');
    expect(movie).toMatchObject({ show: null, season: null, episode: null, ids: { trakt: expect.any(Number) } });

    const again = await call('GET', `/u/${handle}/recent.json`, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('a cached hit reads 0 D1 rows; an uncached one reads D1; a new data version is a new answer', async () => {
    const user = await syncedUser();
    const handle = newHandle();
    await share(user.access, handle, ['recent', 'stats']);
    const first = await meterD1(() => call('GET', `/u/${handle}/stats.json`));
    expect(first.result.status).toBe(200);
    expect(first.meter.rowsRead).toBeGreaterThan(0);
    for (const path of ['stats.json', 'recent.json']) await call('GET', `/u/${handle}/${path}`); // warm both
    const cached = await meterD1(() => call('GET', `/u/${handle}/stats.json`));
    expect(cached.result.status).toBe(200);
    expect(cached.result.body).toEqual(first.result.body);
    expect(cached.meter.calls).toEqual([]);
    expect(cached.meter.rowsRead).toBe(0);
    const cachedRecent = await meterD1(() => call('GET', `/u/${handle}/recent.json`));
    expect(cachedRecent.meter.rowsRead).toBe(0);

    // A new play: the next sync bumps the data version; once the edge's record of the handle lapses (30 s,
    // forced here), the next hit reads the new version's answer.
    const catalog = await sim.catalog(user.traktUsername);
    await sim.advanceClock(60); // a later activity time: the sync sees the change
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[0]!.trakt });
    const synced = await read(api(user.access).trakt['fetch-latest-movies'].$post());
    expectStatus(synced, 200);
    expect(synced.body.plays_added).toBe(1);
    await forgetHandles([handle]);
    const after = await call('GET', `/u/${handle}/stats.json`);
    expect(after.body.totals.plays).toBe(first.result.body.totals.plays + 1);
    expect(after.headers.get('ETag')).not.toBe(first.result.headers.get('ETag'));
  });

  it('unknown handles and parts not shared answer the same 404; only the owner’s own history is shown', async () => {
    const user = await syncedUser();
    const other = await syncedUser({ movies: 2, shows: 0 });
    const handle = newHandle();
    await share(user.access, handle, ['stats']);
    await share(other.access, newHandle('other'), ALL_PARTS);
    const unshared = await call('GET', `/u/${handle}/recent.json`);
    const unknown = await call('GET', `/u/no-such-handle-${crypto.randomUUID().slice(0, 8)}/recent.json`);
    expect(unshared.status).toBe(404);
    expect(unknown.status).toBe(404);
    const shape = (res: { body: { error: string } }) => res.body.error.replace(/\/u\/[^/]+\//, '/u/<handle>/');
    expect(shape(unshared)).toBe(shape(unknown));
    expect(Object.keys(unshared.body)).toEqual(Object.keys(unknown.body));
    for (const path of [
      'now.json',
      'feed.atom',
      'feed.rss',
      'widget',
      'calendar.ics',
      'review/2026.json',
      'review/2026',
    ])
      expect((await call('GET', `/u/${handle}/${path}`)).status, path).toBe(404);
    expect((await call('GET', `/u/${handle}/../etc`)).status).toBe(404);
    const stats = await call('GET', `/u/${handle}/stats.json`);
    const mine = await read(api(user.access).trakt.stats.$get({ query: {} }));
    expect(stats.body.totals.plays).toBe(mine.body.movies.plays + mine.body.episodes.plays);
    expect(stats.body.totals.movies).toBe(mine.body.movies.watched);
  });

  it('feed.atom and feed.rss parse with a real feed parser and carry the attribution', async () => {
    const user = await syncedUser();
    const handle = newHandle();
    await share(user.access, handle, ['recent']);
    const recent = await call('GET', `/u/${handle}/recent.json`);
    for (const [path, type] of [
      ['feed.atom', /^application\/atom\+xml/],
      ['feed.rss', /^application\/rss\+xml/],
    ] as const) {
      const res = await call('GET', `/u/${handle}/${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('Content-Type')).toMatch(type);
      const feed = parseFeed(res.body);
      expect(feed.title).toContain(handle);
      expect(feed.copyright).toMatch(/Trakt.*TMDB.*not endorsed or certified by TMDB/);
      expect(feed.items).toHaveLength(recent.body.plays.length);
      expect(feed.items[0]!.published?.toISOString()).toBe(recent.body.plays[0].watched_at);
      expect(feed.items[0]!.url).toMatch(/^https:\/\/trakt\.tv\/(movies|shows)\//);
      expect(new Set(feed.items.map((i) => i.id)).size).toBe(feed.items.length);
    }
  });

  it('widget: an HTML page without script, framable from any origin, with the attribution', async () => {
    const user = await syncedUser();
    const handle = newHandle();
    await share(user.access, handle, ['recent']);
    const res = await call('GET', `/u/${handle}/widget`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
    expect(res.headers.get('X-Frame-Options')).toBeNull();
    const csp = res.headers.get('Content-Security-Policy')!;
    expect(csp).toMatch(/frame-ancestors \*/);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).not.toMatch(/script-src|unsafe-inline/);
    expect(res.body).not.toMatch(/<script/i);
    expect(res.body).toMatch(/href="https:\/\/trakt\.tv"/);
    expect(res.body).toMatch(/not endorsed or certified by TMDB/);
    const recent = await call('GET', `/u/${handle}/recent.json`);
    expect((res.body.match(/<li>/g) ?? []).length).toBe(Math.min(10, recent.body.plays.length));
  });

  it('card.svg: a text card without script', async () => {
    const user = await syncedUser();
    const handle = newHandle();
    await share(user.access, handle, ['stats']);
    const res = await call('GET', `/u/${handle}/card.svg`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^image\/svg\+xml/);
    expect(res.headers.get('Cross-Origin-Resource-Policy')).toBe('cross-origin');
    expect(res.body).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(res.body).not.toMatch(/<script|<image|href=/i);
    const mine = await read(api(user.access).trakt.stats.$get({ query: {} }));
    expect(res.body).toContain(`${mine.body.movies.plays + mine.body.episodes.plays} plays`);
    expect(res.body).toMatch(/TMDB/);
  });

  it('now.json asks Trakt at most once a minute however many requests come', async () => {
    const user = await syncedUser();
    const handle = newHandle();
    await share(user.access, handle, ['now']);
    const catalog = await sim.catalog(user.traktUsername);
    await sim.startWatching(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[1]!.trakt });
    await sim.clearRequests();
    const first = await call('GET', `/u/${handle}/now.json`);
    expect(first.status).toBe(200);
    expect(first.body.watching).toMatchObject({ type: 'movie', ids: { trakt: catalog.movies[1]!.trakt }, show: null });
    await forgetHandles([handle]); // other locations: no edge copy, so they go to D1's copy
    for (let i = 0; i < 5; i++)
      await call('GET', `/u/${handle}/now.json`, { headers: { 'CF-Connecting-IP': `10.0.0.${i}` } });
    const watchingCalls = (await sim.requests()).filter((r) => r.path.endsWith('/watching'));
    expect(watchingCalls).toHaveLength(1);

    // A minute later Trakt is asked again (and now nothing plays).
    await sim.stopWatching(user.traktUsername);
    await env.DB.prepare("UPDATE shared_now_watching SET fetched_at = '2000-01-01T00:00:00.000Z' WHERE user_id = ?")
      .bind(user.id)
      .run();
    const later = await call('GET', `/u/${handle}/now.json?fresh=1`);
    expect(later.status).toBe(200);
  });

  it('limits uncached hits per IP (unknown handles included) and per handle; cached hits are free', async () => {
    const ip = `192.0.2.${Math.floor(Math.random() * 250)}`;
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    // The limiter counts in fixed 60 s windows: enough requests that a window boundary in the middle cannot hide it.
    for (let i = 0; i < 150 && !limited; i++) {
      const res = await call('GET', `/u/scan-${crypto.randomUUID().slice(0, 12)}/recent.json`, {
        headers: { 'CF-Connecting-IP': ip },
      });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(404);
    }
    expect(limited).toBeDefined();
    expectError(limited!, 429, 'Too many requests; try again later');
    expect(limited!.headers.get('Retry-After')).toBe('60');

    const user = await registerAndLogin();
    const handle = newHandle('busy');
    await share(user.access, handle, ['review']);
    let handleLimited = false;
    // Every year's JSON and page are distinct uncached answers: up to 262 of them, past any window boundary.
    for (let i = 0; i < 262 && !handleLimited; i++) {
      const year = 1970 + (i >> 1);
      const res = await call('GET', `/u/${handle}/review/${year}${i % 2 === 0 ? '.json' : ''}`, {
        headers: { 'CF-Connecting-IP': `198.51.100.${i % 200}` },
      });
      handleLimited = res.status === 429;
    }
    expect(handleLimited).toBe(true);
  });
});
