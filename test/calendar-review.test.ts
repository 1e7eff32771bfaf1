/**
 * The calendar of upcoming episodes (issue 28 §3) and the year in review (§4).
 * Calendar: air dates from the TMDB data enrichment already fetches (season data, next_episode_to_air), no
 * Trakt call, valid iCalendar parsed by a real parser (ical.js, tests only), stable UIDs, the 60-day window.
 * Review: figures that agree with the history, computed at most once per data version, ETag/304, shared.
 */
import { env } from 'cloudflare:workers';
import ICAL from 'ical.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { forgetHandles } from '../src/sharing/edge-cache';
import { call, expectError } from './support/api';
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

const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

async function syncedUser() {
  const user = await connectedUser(sim, {
    movies: 3,
    shows: 1,
    seasons_per_show: 1,
    episodes_per_season: 3,
    null_tmdb_fraction: 0,
    missing_on_tmdb_fraction: 0,
  });
  await ok(
    api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }),
    201,
  );
  return user;
}

describe('calendar.ics', () => {
  it('lists the next 60 days of episodes from next_episode_to_air and season data, as valid iCalendar with stable UIDs', async () => {
    const user = await syncedUser();
    const show = (await sim.catalog(user.traktUsername)).shows[0]!;
    const schedule = (episodes: Array<{ season: number; number: number; air_date: string; name?: string }>) =>
      sim.admin('POST', '/tmdb/schedule', { tmdb_id: show.tmdb_record_id, episodes });
    const handle = `cal-${crypto.randomUUID()}`;
    /** TMDB changed: the cached show and seasons go stale, a new play makes the next sync enrich the show again. */
    const resync = async (episode: number) => {
      await forgetHandles([handle]);
      await env.DB.prepare(
        "UPDATE tmdb_titles SET fetched_at = '2000-01-01T00:00:00.000Z' WHERE kind = 'tv' AND tmdb_id = ?",
      )
        .bind(show.tmdb_record_id)
        .run();
      await env.DB.prepare("UPDATE tmdb_seasons SET fetched_at = '2000-01-01T00:00:00.000Z' WHERE tmdb_show_id = ?")
        .bind(show.tmdb_record_id)
        .run();
      // Watched lately (a show counts as being watched with a play in the last year); a later activity time, so
      // the sync sees something moved even within the same second.
      await sim.advanceClock(60);
      await sim.addPlay(user.traktUsername, { type: 'episode', trakt_id: show.seasons[0]!.episodes[episode]!.trakt });
      const synced = await read(api(user.access).trakt['fetch-latest-shows'].$post());
      expect(synced.status).toBe(200);
      await forgetHandles([handle]);
    };
    const events = async () => {
      await sim.clearRequests();
      const res = await call('GET', `/u/${handle}/calendar.ics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('Content-Type')).toMatch(/^text\/calendar/);
      expect((await sim.requests()).filter((r) => r.host.includes('trakt') || r.host.includes('tmdb'))).toEqual([]);
      const calendar = new ICAL.Component(ICAL.parse(res.body));
      expect(calendar.name).toBe('vcalendar');
      expect(calendar.getFirstPropertyValue('version')).toBe('2.0');
      expect(calendar.getFirstPropertyValue('prodid')).toEqual(expect.any(String));
      return calendar.getAllSubcomponents('vevent').map((e) => new ICAL.Event(e));
    };
    await ok(api(user.access).users.me.sharing.$put({ json: { handle, parts: ['calendar'] } }));

    // 1. TMDB announces season 2: next_episode_to_air is in the window, its second episode is not.
    await schedule([
      { season: 2, number: 1, air_date: day(10), name: 'Return' },
      { season: 2, number: 2, air_date: day(90), name: 'Too far' },
    ]);
    await resync(0);
    const first = await events();
    expect(first.map((e) => [e.summary, e.startDate.toString()])).toEqual([[`${show.title} 2x01: Return`, day(10)]]);
    expect(first[0]!.startDate.isDate).toBe(true);
    expect(first[0]!.uid).toBe(`tmdb-tv-${show.tmdb_record_id}-s2e1@api.test`);
    expect(first[0]!.description).toMatch(/TMDB/);

    // 2. The date moves: the same UID, so calendar apps update the event instead of adding one.
    await schedule([{ season: 2, number: 1, air_date: day(12), name: 'Return' }]);
    await resync(1);
    const moved = await events();
    expect(moved.map((e) => [e.uid, e.startDate.toString()])).toEqual([[first[0]!.uid, day(12)]]);

    // 3. An episode of a season the user watches (season data the enrichment fetched) airs in the window.
    await schedule([{ season: 1, number: 3, air_date: day(4) }]);
    await resync(2);
    const fromSeason = await events();
    expect(fromSeason.map((e) => [e.uid, e.startDate.toString()])).toEqual([
      [`tmdb-tv-${show.tmdb_record_id}-s1e3@api.test`, day(4)],
    ]);
    expect(fromSeason[0]!.summary).toMatch(new RegExp(`^${show.title} 1x03: `));
  });
});

describe('GET /trakt/review/:year/', () => {
  it('agrees with the history, is computed once per data version, answers 304, and is shared as review/<year>.json', async () => {
    const user = await syncedUser();
    expect((await read(api(user.access).trakt['fetch-latest-movies'].$post())).status).toBe(200);
    expect((await read(api(user.access).trakt['fetch-latest-shows'].$post())).status).toBe(200);
    const history = await read(api(user.access).trakt.history.$get({ query: { limit: '100' } }));
    const year = Number(history.body.items[0]!.watched_at.slice(0, 4));
    const inYear = history.body.items.filter((i) => i.watched_at.startsWith(String(year)));
    const reviewOf = (headers?: Record<string, string>) =>
      read(api(user.access, headers).trakt.review[':year'].$get({ param: { year: String(year) } }));

    const first = await meterD1(() => reviewOf());
    expectStatus(first.result, 200);
    const review = first.result.body;
    expect(review.year).toBe(year);
    expect(review.plays.total).toBe(inYear.length);
    expect(review.plays.movies).toBe(inYear.filter((i) => i.type === 'movie').length);
    expect(review.by_month).toHaveLength(12);
    expect(review.by_month.reduce((n, m) => n + m.plays, 0)).toBe(inYear.length);
    expect(review.last_play?.watched_at).toBe(inYear[0]!.watched_at);
    expect(review.first_play?.watched_at).toBe(inYear.at(-1)!.watched_at);
    const days = new Map<string, number>();
    for (const i of inYear) days.set(i.watched_at.slice(0, 10), (days.get(i.watched_at.slice(0, 10)) ?? 0) + 1);
    expect(review.busiest_day?.plays).toBe(Math.max(...days.values()));
    expect(review.longest_streak?.days).toBeGreaterThanOrEqual(1);
    const plays = review.top_titles.map((t) => t.plays);
    expect(plays).toEqual([...plays].sort((a, b) => b - a));
    expect(review.titles.movies + review.titles.shows).toBeGreaterThan(0);

    // Stored: the next read is two primary-key lookups (no play is read again).
    const second = await meterD1(() => reviewOf());
    expect(second.result.body).toEqual(review);
    expect(second.meter.statements.some((s) => /FROM plays/i.test(s))).toBe(false);
    expect(first.meter.statements.some((s) => /FROM plays/i.test(s))).toBe(true);
    const etag = second.result.headers.get('ETag')!;
    expect((await reviewOf({ 'If-None-Match': etag })).status).toBe(304);

    expectError(await call('GET', '/trakt/review/1800/', { token: user.access }), 400, /year must be/);
    expect((await call('GET', `/trakt/review/${year}/`)).status).toBe(401);

    const handle = `rev-${crypto.randomUUID().slice(0, 8)}`;
    await ok(api(user.access).users.me.sharing.$put({ json: { handle, parts: ['review'] } }));
    const shared = await call('GET', `/u/${handle}/review/${year}.json`);
    expect(shared.status).toBe(200);
    expect(shared.body).toEqual(review);
    const page = await call('GET', `/u/${handle}/review/${year}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Type')).toMatch(/^text\/html/);
    expect((await call('GET', `/u/${handle}/review/abcd.json`)).status).toBe(404);
  });
});
