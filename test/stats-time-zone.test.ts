/**
 * The stats time zone (issue #14, `?tz=` stats under 2,000 rows): PATCH /users/me sets a zone, the
 * grid of that zone is counted once and then kept by the `plays` triggers (migration 0011) through
 * syncs that add and remove plays, across DST transitions and in half-hour zones. Checked against
 * Intl per play (test/support/local-time.ts), never against our own SQL. Also: what a read costs,
 * other zones and UTC, clearing, stale rules (new zone data, a new year) and the zone rules themselves.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { database } from '../src/db/client';
import { readStats } from '../src/history/stats-read';
import { ISO_MAX, ISO_MIN, zoneRules } from '../src/readmodel/time-zones';
import { call, expectError } from './support/api';
import { api, ok, read } from './support/client';
import { meterD1 } from './support/d1-meter';
import { gridOf } from './support/local-time';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

type Account = Parameters<typeof connectedUser>[1];
const ACCOUNT: Account = {
  movies: 40,
  shows: 2,
  seasons_per_show: 2,
  episodes_per_season: 3,
  rewatch_fraction: 0.5,
  history_start: '2023-06-01T00:00:00.000Z',
};

/**
 * Instants around the zones' transitions: Berlin goes to CEST at 2024-03-31 01:00Z and back at
 * 2024-10-27 01:00Z; Adelaide (+10:30 / +09:30) leaves daylight time at 2024-04-06 16:30Z; a
 * Monday night that is Tuesday in both.
 */
const EDGES = [
  '2024-03-31T00:30:00.000Z',
  '2024-03-31T01:30:00.000Z',
  '2024-10-27T00:30:00.000Z',
  '2024-10-27T01:30:00.000Z',
  '2024-04-06T16:00:00.000Z',
  '2024-04-06T17:00:00.000Z',
  '2024-07-01T22:30:00.000Z',
];

async function syncedUser(account: Account) {
  const user = await connectedUser(sim, account);
  await ok(
    api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }),
    201,
  );
  await sync(user.access);
  return user;
}

async function sync(token: string) {
  await ok(api(token).trakt['fetch-latest-movies'].$get());
  await ok(api(token).trakt['fetch-latest-shows'].$get());
}

async function addPlays(username: string, instants: string[]) {
  const movieId = (await sim.catalog(username)).movies[0]!.trakt;
  for (const watched_at of instants) await sim.addPlay(username, { type: 'movie', trakt_id: movieId, watched_at });
  await sim.advanceClock(60); // Trakt's activity times move on, so the next sync looks
}

async function setZone(token: string, time_zone: string | null) {
  return (await ok(api(token).users.me.$patch({ json: { time_zone } }))).body;
}

async function storedGridRows(userId: number): Promise<number> {
  return (await env.DB.prepare(
    "SELECT count(*) AS n FROM play_stats WHERE user_id = ? AND dimension = 'local_weekday_hour' AND plays > 0",
  )
    .bind(userId)
    .first<{ n: number }>())!.n;
}

const stats = (token: string, zone: string) => read(api(token).trakt.stats.$get({ query: { tz: zone } }));
const me = async (token: string) => (await ok(api(token).users.me.$get())).body;

describe('the stats time zone', () => {
  it('keeps the grid of the chosen zone exact as syncs add and remove plays, across DST transitions', async () => {
    const user = await syncedUser(ACCOUNT);
    await addPlays(user.traktUsername, EDGES.slice(0, 2));
    await sync(user.access);
    expect((await me(user.access)).time_zone).toBeNull();

    // Any spelling Intl accepts; the canonical name is stored and shown.
    expect((await setZone(user.access, 'europe/berlin')).time_zone).toBe('Europe/Berlin');
    expect((await me(user.access)).time_zone).toBe('Europe/Berlin');
    const counted = await stats(user.access, 'Europe/Berlin');
    expect(counted.body.by_weekday_hour).toEqual(gridOf(await sim.plays(user.traktUsername), 'Europe/Berlin'));

    // Plays that arrive afterwards are counted by the triggers, in the sync's own batches.
    await addPlays(user.traktUsername, EDGES.slice(2));
    await sync(user.access);
    let truth = await sim.plays(user.traktUsername);
    const { result, meter } = await meterD1(() => stats(user.access, 'Europe/Berlin'));
    expect(result.body.by_weekday_hour).toEqual(gridOf(truth, 'Europe/Berlin'));
    expect(meter.calls).toHaveLength(1);
    expect(meter.rowsWritten).toBe(0);
    // By hand: 2024-10-27 00:30Z is Sunday 02:30 CEST, 01:30Z is Sunday 02:30 CET: both in one cell.
    expect(result.body.by_weekday_hour[6]![2]).toBeGreaterThanOrEqual(2);
    expect(result.body.by_weekday_hour[6]![1]).toBeGreaterThanOrEqual(1); // 2024-03-31 00:30Z: 01:30 CET
    expect(result.body.by_weekday_hour[6]![3]).toBeGreaterThanOrEqual(1); // 2024-03-31 01:30Z: 03:30 CEST
    expect(result.body.by_weekday_hour[1]![0]).toBeGreaterThanOrEqual(1); // Monday 22:30Z: Tuesday 00:30

    // Removed plays leave their cells (the full reconcile of the next sync deletes them).
    const removed = truth.filter((p) => EDGES.includes(p.watched_at)).slice(0, 3);
    expect(removed).toHaveLength(3);
    for (const play of removed) await sim.removePlay(user.traktUsername, play.id);
    await sim.advanceClock(60);
    await sync(user.access);
    truth = await sim.plays(user.traktUsername);
    expect(truth).toHaveLength(result.body.movies.plays + result.body.episodes.plays - 3);
    expect((await stats(user.access, 'Europe/Berlin')).body.by_weekday_hour).toEqual(gridOf(truth, 'Europe/Berlin'));

    // Everything else in the answer is the zone-independent figures.
    const utc = (await ok(api(user.access).trakt.stats.$get({ query: {} }))).body;
    expect(utc.by_weekday_hour).toEqual(gridOf(truth, 'UTC'));
    const berlin = (await stats(user.access, 'Europe/Berlin')).body;
    expect({ ...berlin, by_weekday_hour: utc.by_weekday_hour, time_zone: 'UTC' }).toEqual(utc);

    // Setting the same zone again counts nothing; a cleared history empties the grid, and the next sync refills it.
    const again = await meterD1(() => setZone(user.access, 'Europe/Berlin'));
    expect(again.meter.rowsWritten).toBe(0);
    await ok(api(user.access).trakt.history.$delete(), 204);
    expect(await storedGridRows(user.id)).toBe(0);
    expect((await stats(user.access, 'Europe/Berlin')).body.by_weekday_hour).toEqual(gridOf([], 'Europe/Berlin'));
    await sync(user.access);
    expect(await storedGridRows(user.id)).toBeGreaterThan(0);
    expect((await stats(user.access, 'Europe/Berlin')).body.by_weekday_hour).toEqual(gridOf(truth, 'Europe/Berlin'));
  });

  it('reads the stored grid in its zone (rows independent of the plays) and every play in any other', async () => {
    const user = await syncedUser({ ...ACCOUNT, movies: 400, shows: 0 });
    await setZone(user.access, 'Australia/Adelaide');
    const truth = await sim.plays(user.traktUsername);
    expect(truth.length).toBeGreaterThan(500);

    const own = await meterD1(() => stats(user.access, 'Australia/Adelaide'));
    expect(own.result.body.by_weekday_hour).toEqual(gridOf(truth, 'Australia/Adelaide'));
    const utc = await meterD1(() => read(api(user.access).trakt.stats.$get({ query: {} })));
    // One round trip, and what it reads beyond the UTC read is the stored grid plus a few probes.
    expect(own.meter.calls).toHaveLength(1);
    expect(own.meter.rowsRead - utc.meter.rowsRead).toBeLessThanOrEqual((await storedGridRows(user.id)) + 8);
    expect(own.meter.rowsRead).toBeLessThan(truth.length);

    // Another zone is computed from the plays: exact, and it reads every one of them.
    const other = await meterD1(() => stats(user.access, 'Asia/Kathmandu'));
    expect(other.result.body.by_weekday_hour).toEqual(gridOf(truth, 'Asia/Kathmandu'));
    expect(other.meter.rowsRead).toBeGreaterThanOrEqual(truth.length);
    expect(other.meter.rowsWritten).toBe(0);
  });

  it('moves the grid to a new zone, and drops it when cleared (null or UTC); other users keep theirs', async () => {
    const user = await syncedUser(ACCOUNT);
    const neighbour = await syncedUser({ ...ACCOUNT, seed: 'neighbour' });
    await addPlays(user.traktUsername, EDGES);
    await sync(user.access);
    const truth = await sim.plays(user.traktUsername);
    await setZone(user.access, 'Europe/Berlin');
    await setZone(neighbour.access, 'Europe/Berlin');

    expect((await setZone(user.access, 'Australia/Adelaide')).time_zone).toBe('Australia/Adelaide');
    const adelaide = (await stats(user.access, 'Australia/Adelaide')).body.by_weekday_hour;
    expect(adelaide).toEqual(gridOf(truth, 'Australia/Adelaide'));
    // By hand: 2024-04-06 16:00Z is Sunday 02:30 ACDT, 17:00Z is Sunday 02:30 ACST.
    expect(adelaide[6]![2]).toBeGreaterThanOrEqual(2);
    // The Berlin grid is gone: Berlin is now computed from the plays, and still exact.
    expect((await stats(user.access, 'Europe/Berlin')).body.by_weekday_hour).toEqual(gridOf(truth, 'Europe/Berlin'));

    for (const clear of [null, 'UTC', 'Etc/UTC']) {
      await setZone(user.access, 'Asia/Kolkata');
      expect(await storedGridRows(user.id)).toBeGreaterThan(0);
      expect((await setZone(user.access, clear)).time_zone).toBeNull();
      expect(await storedGridRows(user.id)).toBe(0);
      expect((await stats(user.access, 'Asia/Kolkata')).body.by_weekday_hour).toEqual(gridOf(truth, 'Asia/Kolkata'));
    }

    // The neighbour's grid only ever counted the neighbour's plays.
    const neighbourTruth = await sim.plays(neighbour.traktUsername);
    expect((await stats(neighbour.access, 'Europe/Berlin')).body.by_weekday_hour).toEqual(
      gridOf(neighbourTruth, 'Europe/Berlin'),
    );
    expect(neighbourTruth.length).not.toBe(truth.length);
  });

  it('replaces a grid counted with rules that are no longer current (exact on that read, cheap after)', async () => {
    const user = await syncedUser(ACCOUNT);
    await addPlays(user.traktUsername, EDGES);
    await sync(user.access);
    const truth = await sim.plays(user.traktUsername);
    await setZone(user.access, 'Europe/Berlin');
    // As if the grid had been counted with other zone data, and wrongly.
    await env.DB.batch([
      env.DB.prepare("UPDATE stats_time_zones SET rules = 'Europe/Berlin#00000000' WHERE user_id = ?").bind(user.id),
      env.DB.prepare(
        "UPDATE play_stats SET plays = plays + 7 WHERE user_id = ? AND dimension = 'local_weekday_hour'",
      ).bind(user.id),
    ]);

    // A recount that fails (here: its table is gone) leaves the answer exact and the stale grid for the next read.
    await env.DB.prepare('ALTER TABLE time_zone_offsets RENAME TO time_zone_offsets_away').run();
    const failed = await stats(user.access, 'Europe/Berlin');
    await env.DB.prepare('ALTER TABLE time_zone_offsets_away RENAME TO time_zone_offsets').run();
    expect(failed.status).toBe(200);
    expect(failed.body.by_weekday_hour).toEqual(gridOf(truth, 'Europe/Berlin'));
    const stale = await env.DB.prepare('SELECT rules FROM stats_time_zones WHERE user_id = ?')
      .bind(user.id)
      .first<{ rules: string }>();
    expect(stale!.rules).toBe('Europe/Berlin#00000000');

    const repaired = await meterD1(() => stats(user.access, 'Europe/Berlin'));
    expect(repaired.result.body.by_weekday_hour).toEqual(gridOf(truth, 'Europe/Berlin'));
    expect(repaired.meter.rowsWritten).toBeGreaterThan(0);
    const rules = await env.DB.prepare('SELECT rules FROM stats_time_zones WHERE user_id = ?')
      .bind(user.id)
      .first<{ rules: string }>();
    expect(rules!.rules).toBe(zoneRules('Europe/Berlin', Date.now()).id);
    const after = await meterD1(() => stats(user.access, 'Europe/Berlin'));
    expect(after.result.body.by_weekday_hour).toEqual(gridOf(truth, 'Europe/Berlin'));
    expect(after.meter.rowsWritten).toBe(0);
    expect(after.meter.calls).toHaveLength(1);

    // A new year moves the rules' horizon past new transitions: the first read then counts again.
    const nextYear = Date.now() + 366 * 86_400_000;
    expect(zoneRules('Europe/Berlin', nextYear).id).not.toBe(rules!.rules);
    const next = await readStats(database(env.DB), user.id, 'Europe/Berlin', nextYear);
    expect(next.body.by_weekday_hour).toEqual(gridOf(truth, 'Europe/Berlin'));
    const moved = await env.DB.prepare('SELECT rules FROM stats_time_zones WHERE user_id = ?')
      .bind(user.id)
      .first<{ rules: string }>();
    expect(moved!.rules).toBe(zoneRules('Europe/Berlin', nextYear).id);
  });

  it('refuses an unknown zone or a missing field (400) and anonymous callers (401)', async () => {
    const user = await syncedUser({ ...ACCOUNT, movies: 3, shows: 0 });
    expectError(
      await call('PATCH', '/users/me/', { token: user.access, json: { time_zone: 'Mars/Olympus_Mons' } }),
      400,
      /Unknown time zone 'Mars\/Olympus_Mons'/,
    );
    expectError(await call('PATCH', '/users/me/', { token: user.access, json: {} }), 400);
    expectError(await call('PATCH', '/users/me/', { json: { time_zone: 'Europe/Berlin' } }), 401);
    expect((await me(user.access)).time_zone).toBeNull();
  });
});

describe('zone rules', () => {
  const now = Date.UTC(2026, 10, 22);

  it('cover every instant with contiguous intervals, with the transitions Intl knows', () => {
    for (const zone of ['Europe/Berlin', 'Australia/Adelaide', 'Asia/Kathmandu', 'America/Sao_Paulo']) {
      const { intervals } = zoneRules(zone, now);
      expect(intervals[0]![0]).toBe(ISO_MIN);
      expect(intervals.at(-1)![1]).toBe(ISO_MAX);
      for (let i = 1; i < intervals.length; i++) expect(intervals[i]![0]).toBe(intervals[i - 1]![1]);
    }
    const berlin = zoneRules('Europe/Berlin', now).intervals;
    expect(berlin).toContainEqual(['2024-03-31T01:00:00.000Z', '2024-10-27T01:00:00.000Z', 120]);
    // Rules reach past the current year: the transitions of 2028 are known in 2026.
    expect(berlin.some(([from]) => from.startsWith('2028-'))).toBe(true);
    expect(zoneRules('Asia/Kathmandu', now).intervals.at(-1)![2]).toBe(345);
    expect(zoneRules('Australia/Adelaide', now).intervals).toContainEqual([
      '2024-04-06T16:30:00.000Z',
      '2024-10-05T16:30:00.000Z',
      570,
    ]);
  });

  it('are named by their content: a new year changes the name in a DST zone only', () => {
    const next = now + 366 * 86_400_000;
    expect(zoneRules('europe/berlin', now).id).toBe(zoneRules('Europe/Berlin', now).id);
    expect(zoneRules('Europe/Berlin', now).id).toMatch(/^Europe\/Berlin#[0-9a-f]{8}$/);
    expect(zoneRules('Europe/Berlin', next).id).not.toBe(zoneRules('Europe/Berlin', now).id);
    expect(zoneRules('Asia/Tokyo', next).id).toBe(zoneRules('Asia/Tokyo', now).id);
    expect(() => zoneRules('Mars/Olympus_Mons', now)).toThrow(RangeError);
  });
});
