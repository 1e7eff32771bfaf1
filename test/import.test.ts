/**
 * Importing Trakt's data export (issue 24, src/import/): the ZIP upload (within the request and in the
 * background through the `trakt-import` queue, with the archive in R2), the batch endpoint the dashboard
 * and the CLI use, and how imports live with the sync. Against real D1, R2 and queues, with the simulator's
 * export of an account (`GET /_sim/accounts/:name/export.zip`) as the input.
 */
import { env } from 'cloudflare:workers';
import { unzipSync, zipSync } from 'fflate';
import type { InferRequestType } from 'hono/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import type { HistoryClient } from '../src/client';
import { MAX_BODY_BYTES } from '../src/config';
import { IMPORT_MAX_ATTEMPTS } from '../src/import/service';
import { readZipDirectory } from '../src/import/zip';
import { call, expectError, registerAndLogin } from './support/api';
import { api, expectStatus, ok, read } from './support/client';
import { drainEnrichQueue, enrichQueue } from './support/enrich-queue';
import { deliverImportMessage, drainImportQueue, importQueue } from './support/import-queue';
import { connectedUser } from './support/trakt';
import { lieAboutSize, zipOf } from './support/zips';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const ZIP = { 'Content-Type': 'application/zip' };

function upload(token: string, zip: Uint8Array, path = '/trakt/import/') {
  return call('POST', path, { token, body: zip, headers: ZIP });
}

/** A simulator account and its export ZIP (history files of `perFile` items). */
async function exportOf(account: Parameters<Simulator['createAccount']>[0], perFile?: number) {
  await sim.createAccount(account);
  return sim.exportZip(account.username, { perFile });
}

let accounts = 0;
const traktName = () => `exporter_${++accounts}_${Math.random().toString(36).slice(2, 7)}`;

/** Every history row of a user in comparable form (no row ids or user ids). */
async function historyRows(userId: number) {
  const all = async (sql: string) => (await env.DB.prepare(sql).bind(userId).all()).results;
  return {
    movies: await all(`SELECT trakt_id, title, year, slug, imdb_id, tmdb_id, tmdb_ref, plays, last_watched_at
      FROM movies WHERE user_id = ? ORDER BY trakt_id`),
    shows: await all(`SELECT trakt_id, title, year, slug, imdb_id, tvdb_id, tmdb_id, tmdb_ref, aired_episodes, plays,
      last_watched_at FROM shows WHERE user_id = ? ORDER BY trakt_id`),
    // Watched episodes and their seasons: an episode only started (paused, plays 0), and a season of nothing else,
    // come from Trakt's playback, which the export lacks.
    seasons: await all(`SELECT s.trakt_id AS show, se.season_number FROM seasons se JOIN shows s ON s.id = se.show_id
      WHERE s.user_id = ? AND EXISTS (SELECT 1 FROM episodes e WHERE e.season_id = se.id AND e.plays > 0)
      ORDER BY 1, 2`),
    episodes: await all(`SELECT s.trakt_id AS show, se.season_number, e.episode_number, e.trakt_id, e.title, e.plays,
      e.last_watched_at FROM episodes e JOIN seasons se ON se.id = e.season_id JOIN shows s ON s.id = se.show_id
      WHERE s.user_id = ? AND e.plays > 0 ORDER BY 1, 2, 3`),
    plays: await all(`SELECT history_id, media_type, watched_at, action, movie_trakt_id, show_trakt_id, season_number,
      episode_number, episode_trakt_id FROM plays WHERE user_id = ? ORDER BY history_id`),
    rollups: await all(`SELECT dimension, bucket, plays FROM play_stats WHERE user_id = ? AND plays > 0
      ORDER BY dimension, bucket`),
  };
}

/** The stored totals (sync_state) and the same figures counted from the rows: they must agree. */
async function totals(userId: number) {
  const one = async (sql: string) => (await env.DB.prepare(sql).bind(userId).first<{ n: number }>())?.n ?? 0;
  const stored = await env.DB.prepare(
    'SELECT movie_count, show_count, episode_count, movie_play_count, episode_play_count FROM sync_state WHERE user_id = ?',
  )
    .bind(userId)
    .first();
  const counted = {
    movie_count: await one('SELECT count(*) AS n FROM movies WHERE user_id = ?'),
    show_count: await one('SELECT count(*) AS n FROM shows WHERE user_id = ?'),
    episode_count: await one(
      'SELECT count(*) AS n FROM episodes e JOIN seasons se ON se.id = e.season_id JOIN shows s ON s.id = se.show_id WHERE s.user_id = ? AND e.plays > 0',
    ),
    movie_play_count: await one("SELECT count(*) AS n FROM plays WHERE user_id = ? AND media_type = 'movie'"),
    episode_play_count: await one("SELECT count(*) AS n FROM plays WHERE user_id = ? AND media_type = 'episode'"),
  };
  return { stored, counted };
}

async function expectExactTotals(userId: number) {
  const { stored, counted } = await totals(userId);
  expect(stored).toEqual(counted);
  return counted;
}

async function expectMatchesTrakt(userId: number, traktUsername: string) {
  const truth = await sim.summary(traktUsername);
  const counted = await expectExactTotals(userId);
  expect(counted).toEqual({
    movie_count: truth.movies_watched,
    show_count: truth.shows_watched,
    episode_count: truth.episodes_watched,
    movie_play_count: truth.history_items.movies,
    episode_play_count: truth.history_items.episodes,
  });
}

const importRow = (userId: number) =>
  env.DB.prepare('SELECT * FROM trakt_imports WHERE user_id = ?').bind(userId).first<Record<string, unknown>>();

describe('POST /trakt/import/ (the export ZIP)', () => {
  it('imports a small export within the request, with no Trakt connection, and every read serves it', async () => {
    const user = await registerAndLogin();
    const username = traktName();
    const zip = await exportOf({ username, movies: 6, shows: 2, seasons_per_show: 2, episodes_per_season: 3 });
    expect(readZipDirectory(zip).map((e) => e.name)).toContain('watched-history-1.json');

    const res = await upload(user.access, zip);
    expect(res.status).toBe(200);
    const truth = await sim.summary(username);
    expect(res.body).toEqual({
      import: {
        id: expect.any(String),
        status: 'done',
        files: [
          {
            name: 'watched-history-1.json',
            status: 'done',
            plays_seen: truth.total_plays,
            plays_added: truth.total_plays,
            plays_skipped: 0,
          },
        ],
        plays_seen: truth.total_plays,
        plays_added: truth.total_plays,
        plays_skipped: 0,
        error: null,
      },
    });
    expect(importQueue).toHaveLength(0); // nothing left for the background
    await expectMatchesTrakt(user.id, username);
    expect((await importRow(user.id))?.object_key).toBeNull();

    // Every read serves the imported plays.
    const movies = await read(api(user.access).trakt['get-stored-movies'].$get({ query: { page_size: '100' } }));
    expect(movies.body.movies).toHaveLength(truth.movies_watched);
    const shows = await read(api(user.access).trakt['get-stored-shows'].$get({ query: {} }));
    expect(shows.body.shows).toHaveLength(truth.shows_watched);
    const showId = shows.body.shows[0]!.show.ids.trakt;
    const detail = await read(
      api(user.access).trakt['get-watched-seasons-episodes'].$get({ query: { trakt_id: String(showId) } }),
    );
    expect(detail.status).toBe(200);
    expect(detail.body.episodes.length).toBeGreaterThan(0);
    const history = await read(api(user.access).trakt.history.$get({ query: { limit: '100' } }));
    expect(history.body.items).toHaveLength(truth.total_plays);
    const stats = await read(api(user.access).trakt.stats.$get({ query: {} }));
    expect(stats.body.movies.plays + stats.body.episodes.plays).toBe(truth.total_plays);
    const exported = await read(api(user.access).trakt.export.$get({ query: {} }));
    expect(exported.body).toHaveLength(truth.total_plays);
    const status = await read(api(user.access).trakt['sync-status'].$get());
    expect(status.body).toMatchObject({ connected: false, counts: { plays: truth.total_plays } });
    const latest = await read(api(user.access).trakt.import.$get());
    expect(latest.body).toEqual(res.body);
  });

  it('asks for TMDB enrichment of the imported titles, as a sync does, and the run enriches them', async () => {
    const user = await registerAndLogin();
    await ok(
      api(user.access).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }),
      201,
    );
    const username = traktName();
    const zip = await exportOf({
      username,
      movies: 3,
      shows: 1,
      seasons_per_show: 1,
      episodes_per_season: 2,
      null_tmdb_fraction: 0,
      missing_on_tmdb_fraction: 0,
    });
    expect((await upload(user.access, zip)).status).toBe(200);
    const catalog = await sim.catalog(username);
    expect(enrichQueue).toHaveLength(1);
    expect(enrichQueue[0]!.body).toMatchObject({
      user_id: user.id,
      movies: expect.arrayContaining(catalog.movies.map((m) => m.trakt)),
      shows: catalog.shows.map((s) => s.trakt),
    });
    await drainEnrichQueue();
    const movies = await read(api(user.access).trakt['get-stored-movies'].$get({ query: {} }));
    for (const entry of movies.body.movies) expect(entry.movie.image_url).toEqual(expect.stringContaining('/w500/'));
    const stats = await read(api(user.access).trakt.stats.$get({ query: {} }));
    expect(stats.body.movies.minutes).toBeGreaterThan(0);
  });

  it('imports a larger export in the background: one queue message per file, the archive in R2 until done', async () => {
    const user = await registerAndLogin();
    const username = traktName();
    const zip = await exportOf(
      { username, movies: 40, shows: 4, seasons_per_show: 2, episodes_per_season: 8, plays_per_item: 2 },
      25,
    );
    const truth = await sim.summary(username);
    const fileCount = Math.ceil(truth.total_plays / 25);
    // Large enough to leave the request: pad the history with a file that declares a big (true) size.
    const res = await upload(user.access, withPaddingFile(zip));
    expect(res.status).toBe(202);
    expect(res.body.import).toMatchObject({ status: 'queued', plays_seen: 0, error: null });
    expect(res.body.import.files).toHaveLength(fileCount + 1);
    expect(importQueue.map((m) => m.body.file)).toEqual([...Array(fileCount + 1).keys()]);

    const row = await importRow(user.id);
    const key = String(row?.object_key);
    expect(key).toBe(`imports/${user.id}/${res.body.import.id}`);
    const object = await env.IMPORTS.head(key);
    // Only the history files are kept, not the ratings, lists and the rest.
    const historyBytes = readZipDirectory(withPaddingFile(zip))
      .filter((e) => e.name.startsWith('watched-history-'))
      .reduce((n, e) => n + e.compressedSize, 0);
    expect(object?.size).toBe(historyBytes);

    // Half the files: running, counted so far.
    const half = Math.floor(importQueue.length / 2);
    for (let i = 0; i < half; i++) await deliverImportMessage(importQueue.shift()!.body);
    const midway = await read(api(user.access).trakt.import.$get());
    expect(midway.body.import.status).toBe('running');
    expect(midway.body.import.files.filter((f: { status: string }) => f.status === 'done')).toHaveLength(half);

    const deliveries = await drainImportQueue();
    expect(deliveries.every((d) => d.acked)).toBe(true);
    const done = await read(api(user.access).trakt.import.$get());
    expect(done.body.import).toMatchObject({
      status: 'done',
      plays_seen: truth.total_plays + 1,
      plays_added: truth.total_plays + 1,
      plays_skipped: 0,
      error: null,
    });
    expect(await env.IMPORTS.head(key)).toBeNull();
    expect((await importRow(user.id))?.object_key).toBeNull();
    expect((await totals(user.id)).stored).toMatchObject({ movie_play_count: truth.history_items.movies + 1 });
    await expectExactTotals(user.id);
  });

  it('stores the same rows as a sync of the same account', async () => {
    const username = traktName();
    // One Trakt account: synced into one user, its export imported into another.
    // Large enough (about 2,000 plays, 700 KB of history) for the import to continue in the background.
    const synced = await connectedUser(sim, {
      username,
      movies: 800,
      shows: 5,
      seasons_per_show: 2,
      episodes_per_season: 10,
      plays_per_item: 2,
      rewatch_fraction: 0.3,
    });
    expect((await read(api(synced.access).trakt['fetch-latest-movies'].$post())).status).toBe(200);
    expect((await read(api(synced.access).trakt['fetch-latest-shows'].$post())).status).toBe(200);
    const imported = await registerAndLogin();
    const res = await upload(imported.access, await sim.exportZip(username));
    expect(res.status).toBe(202);
    await drainImportQueue();

    const a = await historyRows(synced.id);
    const b = await historyRows(imported.id);
    expect(a.plays.length).toBeGreaterThan(40);
    for (const table of Object.keys(a) as Array<keyof typeof a>) expect(b[table], table).toEqual(a[table]);
    expect((await totals(imported.id)).stored).toEqual((await totals(synced.id)).stored);
    const statsA = await read(api(synced.access).trakt.stats.$get({ query: {} }));
    const statsB = await read(api(imported.access).trakt.stats.$get({ query: {} }));
    expect(statsB.body).toEqual(statsA.body);
  });

  it('is idempotent: importing again adds nothing, and a newer export adds only the new plays', async () => {
    const user = await registerAndLogin();
    const username = traktName();
    const zip = await exportOf({ username, movies: 5, shows: 1, seasons_per_show: 1, episodes_per_season: 3 });
    const first = await upload(user.access, zip);
    expect(first.status).toBe(200);
    const before = await historyRows(user.id);
    const version = await dataVersion(user.id);

    const again = await upload(user.access, zip);
    expect(again.body.import).toMatchObject({
      status: 'done',
      plays_added: 0,
      plays_skipped: first.body.import.plays_seen,
    });
    expect(await historyRows(user.id)).toEqual(before);
    expect(await dataVersion(user.id)).toBe(version); // nothing changed: the ETags stay
    await expectExactTotals(user.id);

    const catalog = await sim.catalog(username);
    await sim.addPlay(username, { type: 'movie', trakt_id: catalog.movies[0]!.trakt });
    await sim.addPlay(username, { type: 'episode', trakt_id: catalog.shows[0]!.seasons[0]!.episodes[0]!.trakt });
    const newer = await upload(user.access, await sim.exportZip(username));
    expect(newer.body.import).toMatchObject({ plays_added: 2, plays_skipped: first.body.import.plays_seen });
    await expectMatchesTrakt(user.id, username);
  });

  it('import then sync, and sync then import, never store a play twice', async () => {
    // Import first, then connect the same Trakt account and sync: the first sync (a full pass) finds every play stored.
    const user = await connectedUser(sim, { movies: 8, shows: 2, seasons_per_show: 2, episodes_per_season: 3 });
    expect((await upload(user.access, await sim.exportZip(user.traktUsername))).status).toBe(200);
    const movies = await read(api(user.access).trakt['fetch-latest-movies'].$post());
    const shows = await read(api(user.access).trakt['fetch-latest-shows'].$post());
    expect(movies.body).toMatchObject({ plays_added: 0, plays_removed: 0 });
    expect(shows.body).toMatchObject({ plays_added: 0, plays_removed: 0 });
    await expectMatchesTrakt(user.id, user.traktUsername);

    // Sync first, then import: every play is skipped.
    const other = await connectedUser(sim, { movies: 8, shows: 2, seasons_per_show: 2, episodes_per_season: 3 });
    await read(api(other.access).trakt['fetch-latest-movies'].$post());
    await read(api(other.access).trakt['fetch-latest-shows'].$post());
    const synced = await historyRows(other.id);
    const res = await upload(other.access, await sim.exportZip(other.traktUsername));
    expect(res.body.import).toMatchObject({ plays_added: 0, plays_skipped: synced.plays.length });
    expect(await historyRows(other.id)).toEqual(synced);
    await expectMatchesTrakt(other.id, other.traktUsername);
  });

  it('sync, a newer export imported, then an incremental sync: nothing twice, totals agree with Trakt', async () => {
    const user = await connectedUser(sim, { movies: 6, shows: 1, seasons_per_show: 1, episodes_per_season: 4 });
    await read(api(user.access).trakt['fetch-latest-movies'].$post());
    await read(api(user.access).trakt['fetch-latest-shows'].$post());
    const catalog = await sim.catalog(user.traktUsername);
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[1]!.trakt });
    await sim.addPlay(user.traktUsername, {
      type: 'episode',
      trakt_id: catalog.shows[0]!.seasons[0]!.episodes[1]!.trakt,
    });
    const res = await upload(user.access, await sim.exportZip(user.traktUsername));
    expect(res.body.import.plays_added).toBe(2);
    await sim.clearRequests();
    const movies = await read(api(user.access).trakt['fetch-latest-movies'].$post());
    const shows = await read(api(user.access).trakt['fetch-latest-shows'].$post());
    expectStatus(movies, 200);
    expectStatus(shows, 200);
    expect(movies.body.plays_added + shows.body.plays_added).toBe(0);
    await expectMatchesTrakt(user.id, user.traktUsername);
    // Trakt's activity moved for plays the import already stored: an incremental sync whose totals agree, not a
    // full re-read of the history (which would also fetch the watched lists).
    const counters = await sim.counters();
    expect(counters['GET /sync/watched/movies']).toBeUndefined();
    expect(counters['GET /sync/watched/shows']).toBeUndefined();
    expect(counters['GET /users/:id/stats']).toBe(2); // the totals check, once per kind
  });

  it('a full reconcile removes imported plays the connected Trakt account does not have', async () => {
    const user = await connectedUser(sim, { movies: 4, shows: 1, seasons_per_show: 1, episodes_per_season: 2 });
    // An export of another account (other history ids and titles), then the first sync of the connected one.
    const stranger = traktName();
    expect((await upload(user.access, await exportOf({ username: stranger, movies: 3, shows: 0 }))).status).toBe(200);
    await read(api(user.access).trakt['fetch-latest-movies'].$post());
    await read(api(user.access).trakt['fetch-latest-shows'].$post());
    await expectMatchesTrakt(user.id, user.traktUsername);
  });
});

describe('POST /trakt/import/ refuses bad input', () => {
  it('answers 415 without application/zip, 401 without a JWT, and works with and without the trailing slash', async () => {
    const user = await registerAndLogin();
    const zip = zipOf({ 'watched-history-1.json': '[]' });
    expectError(await call('POST', '/trakt/import/', { body: zip, headers: ZIP }), 401);
    expectError(
      await call('POST', '/trakt/import/', { token: user.access, json: [] }),
      415,
      'Content-Type must be application/zip',
    );
    const bare = await upload(user.access, zip, '/trakt/import');
    expect(bare.status).toBe(200);
    expect(bare.body.import).toMatchObject({ status: 'done', plays_seen: 0 });
    expect((await read(api(user.access).trakt.import.$get())).status).toBe(200);
    const windows = await call('POST', '/trakt/import/', {
      token: user.access,
      body: zip,
      headers: { 'Content-Type': 'application/x-zip-compressed' },
    });
    expect(windows.status).toBe(200);
  });

  it('GET answers 404 before any import', async () => {
    const user = await registerAndLogin();
    expectError(await call('GET', '/trakt/import/', { token: user.access }), 404, /No import yet/);
  });

  it('not a ZIP → 400; no watched-history file → 400 naming it; nothing recorded', async () => {
    const user = await registerAndLogin();
    expectError(await upload(user.access, new TextEncoder().encode('{"hello": "json"}')), 400, /not a ZIP/);
    const noHistory = zipOf({ 'watched-movies.json': '[]', 'ratings-movies.json': '[]' });
    const res = await upload(user.access, noHistory);
    expectError(
      res,
      400,
      /No watched-history-N\.json in the ZIP \(it has watched-movies\.json, ratings-movies\.json\)/,
    );
    expect(await importRow(user.id)).toBeNull();
  });

  it('a history file declaring more than the limit, or all of them together → 413 before inflating', async () => {
    const user = await registerAndLogin();
    const zip = zipOf({ 'watched-history-1.json': '[]' });
    expectError(await upload(user.access, lieAboutSize(zip, 'watched-history-1.json', 9 << 20)), 413, /limit is/);
    const many = zipOf(
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`watched-history-${i + 1}.json`, '[]'])),
    );
    let forged = many;
    for (let i = 0; i < 20; i++) forged = lieAboutSize(forged, `watched-history-${i + 1}.json`, 7 << 20);
    expectError(await upload(user.access, forged), 413, /The history files are \d+ bytes uncompressed/);
    expect(await importRow(user.id)).toBeNull();
  });

  it('a ZIP bomb that lies about its size is stopped at the declared size: 413, nothing stored', async () => {
    const user = await registerAndLogin();
    const bomb = lieAboutSize(
      zipOf({ 'watched-history-1.json': `[${' '.repeat(2_000_000)}]` }),
      'watched-history-1.json',
      2_000,
    );
    const res = await upload(user.access, bomb);
    expectError(res, 413, /inflates past its declared size of 2000 bytes/);
    expect(await importRow(user.id)).toMatchObject({ status: 'failed' });
    expect((await totals(user.id)).counted.movie_play_count).toBe(0);
  });

  it('the upload itself over the ZIP limit → 413; other routes keep their 64 KB', async () => {
    const user = await registerAndLogin();
    const res = await call('POST', '/trakt/import/', {
      token: user.access,
      body: new Uint8Array(33 * 1024 * 1024),
      headers: ZIP,
    });
    expectError(res, 413, /Request body too large/);
    const big = 'x'.repeat(MAX_BODY_BYTES + 1);
    expectError(
      await call('POST', '/users/api-keys/', { token: user.access, json: { service_name: 'tmdb', api_key: big } }),
      413,
      `Request body too large (limit ${MAX_BODY_BYTES} bytes)`,
    );
  });

  it('within the request: malformed JSON or an unknown item type → 400 with the file and index; earlier files stay', async () => {
    const user = await registerAndLogin();
    const good = [movieItem(101, 9001), movieItem(102, 9002)];
    const bad = [movieItem(103, 9003), { ...movieItem(104, 9004), type: 'show' }];
    const res = await upload(
      user.access,
      zipOf({ 'watched-history-1.json': JSON.stringify(good), 'watched-history-2.json': JSON.stringify(bad) }),
    );
    expectError(
      res,
      400,
      'watched-history-2.json: item 1: type: unknown item type "show" (expected "movie" or "episode")',
    );
    const status = await read(api(user.access).trakt.import.$get());
    expect(status.body.import).toMatchObject({
      status: 'failed',
      plays_added: 2,
      error: expect.stringMatching(/^watched-history-2\.json: item 1/),
      files: [
        { name: 'watched-history-1.json', status: 'done', plays_added: 2 },
        { name: 'watched-history-2.json', status: 'failed', plays_added: 0 },
      ],
    });
    // The failed file contributed nothing, not even its valid first item.
    const plays = await read(api(user.access).trakt.history.$get({ query: {} }));
    expect(plays.body.items.map((i: { id: number }) => i.id).sort()).toEqual([101, 102]);

    const malformed = await upload(user.access, zipOf({ 'watched-history-1.json': '[{"id": 1, "watched_at"' }));
    expectError(malformed, 400, /^watched-history-1\.json: malformed JSON/);

    // A retry with the file fixed completes the import: only the missing plays are added.
    const fixed = zipOf({
      'watched-history-1.json': JSON.stringify(good),
      'watched-history-2.json': JSON.stringify([movieItem(103, 9003), movieItem(104, 9004)]),
    });
    const retry = await upload(user.access, fixed);
    expect(retry.body.import).toMatchObject({ status: 'done', plays_added: 2, plays_skipped: 2 });
    await expectExactTotals(user.id);
  });

  it('in the background: a file that fails ends the import as failed, naming it; files before it stay', async () => {
    const user = await registerAndLogin();
    const filler = Array.from({ length: 600 }, (_, i) => movieItem(1000 + i, 7000 + (i % 50)));
    const files = {
      'watched-history-1.json': JSON.stringify(filler.slice(0, 300)),
      'watched-history-2.json': JSON.stringify([...filler.slice(300, 500), { ...movieItem(5, 1), type: 'season' }]),
      'watched-history-3.json': JSON.stringify(filler.slice(500)),
    };
    const res = await upload(user.access, withPaddingFile(zipOf(files)));
    expect(res.status).toBe(202);
    const key = String((await importRow(user.id))?.object_key);
    await drainImportQueue();
    const status = await read(api(user.access).trakt.import.$get());
    expect(status.body.import).toMatchObject({
      status: 'failed',
      plays_added: 300,
      error: 'watched-history-2.json: item 200: type: unknown item type "season" (expected "movie" or "episode")',
    });
    expect(status.body.import.files.map((f: { status: string }) => f.status)).toEqual([
      'done',
      'failed',
      'pending',
      'pending',
    ]);
    expect(await env.IMPORTS.head(key)).toBeNull();
    await expectExactTotals(user.id);
  });

  it('one import at a time per user: 409 while one is queued', async () => {
    const user = await registerAndLogin();
    const zip = withPaddingFile(zipOf({ 'watched-history-1.json': JSON.stringify([movieItem(1, 1)]) }));
    expect((await upload(user.access, zip)).status).toBe(202);
    expectError(await upload(user.access, zip), 409, /already running/);
    await drainImportQueue();
    expect((await upload(user.access, zip)).status).toBe(202);
  });
});

describe('the trakt-import queue consumer', () => {
  it('a re-delivered file changes nothing; a message of an ended import is dropped', async () => {
    const user = await registerAndLogin();
    const zip = withPaddingFile(
      zipOf({ 'watched-history-1.json': JSON.stringify([movieItem(1, 1), movieItem(2, 2)]) }),
    );
    expect((await upload(user.access, zip)).status).toBe(202);
    const first = importQueue[0]!.body;
    expect((await deliverImportMessage(first)).acked).toBe(true);
    const after = await read(api(user.access).trakt.import.$get());
    expect((await deliverImportMessage(first)).acked).toBe(true);
    expect((await read(api(user.access).trakt.import.$get())).body).toEqual(after.body);
    await drainImportQueue();
    expect((await deliverImportMessage(first)).acked).toBe(true);
    await expectExactTotals(user.id);
  });

  it('waits for a running sync without spending a retry (the sync lease)', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    const zip = withPaddingFile(zipOf({ 'watched-history-1.json': JSON.stringify([movieItem(1, 1)]) }));
    expect((await upload(user.access, zip)).status).toBe(202);
    const message = importQueue.shift()!.body;
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind: 'hold' });
    const syncing = read(api(user.access).trakt['fetch-latest-movies'].$post());
    await sim.whenHeld();
    const delivery = await deliverImportMessage(message);
    expect(delivery).toMatchObject({ acked: true, retried: false });
    // Put back with a delay (Retry-After of the lease plus jitter), not retried.
    expect(importQueue.at(-1)).toEqual({ body: { ...message, deferrals: 1 }, delaySeconds: expect.any(Number) });
    expect(importQueue.at(-1)!.delaySeconds).toBeGreaterThanOrEqual(30);
    // A batch from the dashboard meanwhile: 409 with Retry-After.
    const batch = await read(importBatch(user.access, [movieItem(9, 9)]));
    expectError(batch, 409, /already running/);
    expect(batch.headers.get('Retry-After')).toBe('30');
    await sim.releaseHeld();
    expect((await syncing).status).toBe(200);
    await drainImportQueue();
    expect((await read(api(user.access).trakt.import.$get())).body.import.status).toBe('done');
    await expectExactTotals(user.id);
  });

  it("waits for the next day when the day's D1 budget for background work is spent: no retry, nothing lost", async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    const zip = withPaddingFile(
      zipOf({ 'watched-history-1.json': JSON.stringify([movieItem(1, 1), movieItem(2, 2)]) }),
    );
    expect((await upload(user.access, zip)).status).toBe(202);
    const message = importQueue.shift()!.body;
    // Today's budget is spent (the counter says so): the file is not read, and waits in the queue for 00:00 UTC.
    const spent = { ...env, D1_DAILY_ROWS_WRITTEN_BUDGET: '1000' } as Env;
    const today = new Date().toISOString().slice(0, 10);
    await env.DB.prepare(
      `INSERT INTO d1_usage (day, rows_read, rows_written, updated_at) VALUES (?1, 0, 1000, ?2)
        ON CONFLICT (day) DO UPDATE SET rows_written = rows_written + 1000`,
    )
      .bind(today, new Date().toISOString())
      .run();
    const paused = await deliverImportMessage(message, { env: spent });
    expect(paused).toMatchObject({ acked: true, retried: false });
    // The same message (no deferral counted), delayed to just after midnight UTC (Queues allow 12 hours at most).
    const midnight = Date.parse(`${today}T00:00:00.000Z`) + 86_400_000;
    const untilMidnight = Math.ceil((midnight - Date.now()) / 1000);
    expect(importQueue.at(-1)).toEqual({ body: message, delaySeconds: expect.any(Number) });
    expect(importQueue.at(-1)!.delaySeconds).toBeGreaterThanOrEqual(Math.min(43_200, untilMidnight));
    expect(importQueue.at(-1)!.delaySeconds).toBeLessThanOrEqual(43_200);
    const status = await read(api(user.access).trakt['sync-status'].$get());
    expect(status.body.paused_until).toBe(new Date(midnight).toISOString());
    expect(status.body.paused_reason).toMatch(/database budget/);
    expect((await read(api(user.access).trakt.import.$get())).body.import.status).toBe('queued');
    expect((await totals(user.id)).counted.movie_play_count).toBe(0);
    // The next day (a budget with room): the same message imports the file.
    await drainImportQueue();
    expect((await read(api(user.access).trakt.import.$get())).body.import.status).toBe('done');
    expect((await expectExactTotals(user.id)).movie_play_count).toBe(3); // the two, and the padding file's one
  });

  it('retries a failing file, and its last attempt marks the import failed with how to finish it', async () => {
    const user = await registerAndLogin();
    const zip = withPaddingFile(zipOf({ 'watched-history-1.json': JSON.stringify([movieItem(1, 1)]) }));
    expect((await upload(user.access, zip)).status).toBe(202);
    const message = importQueue.shift()!.body;
    const failing = vi.spyOn(env.IMPORTS, 'get').mockRejectedValue(new Error('R2 is down'));
    const retry = await deliverImportMessage(message, { attempts: 1 });
    expect(retry).toMatchObject({ acked: false, retried: true });
    expect((await read(api(user.access).trakt.import.$get())).body.import.status).toBe('queued');
    const last = await deliverImportMessage(message, { attempts: IMPORT_MAX_ATTEMPTS });
    expect(last).toMatchObject({ acked: true, retried: false });
    failing.mockRestore();
    const status = await read(api(user.access).trakt.import.$get());
    expect(status.body.import).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^watched-history-1\.json could not be imported .*upload the ZIP again/),
    });
    // Uploading again completes it.
    expect((await upload(user.access, zip)).status).toBe(202);
    await drainImportQueue();
    expect((await read(api(user.access).trakt.import.$get())).body.import.status).toBe('done');
  });

  it('a bomb found in the background fails the import with the reason', async () => {
    const user = await registerAndLogin();
    const bomb = lieAboutSize(
      zipOf({ 'watched-history-1.json': `[${' '.repeat(3_000_000)}]` }),
      'watched-history-1.json',
      600_000,
    );
    expect((await upload(user.access, bomb)).status).toBe(202);
    await drainImportQueue();
    const status = await read(api(user.access).trakt.import.$get());
    expect(status.body.import).toMatchObject({
      status: 'failed',
      error: 'watched-history-1.json inflates past its declared size of 600000 bytes',
    });
  });
});

describe('POST /trakt/import/history/ (batches from the dashboard and the CLI)', () => {
  it('stores a batch and answers added and skipped; again, everything is skipped', async () => {
    const user = await registerAndLogin();
    const items = [movieItem(11, 501), movieItem(12, 501), episodeItem(13, 900, 1, 1), episodeItem(14, 900, 1, 2)];
    const first = await read(importBatch(user.access, items));
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ added: 4, skipped: 0 });
    const again = await read(importBatch(user.access, [...items, items[0]!]));
    expect(again.body).toEqual({ added: 0, skipped: 5 });
    const stored = await read(api(user.access).trakt['get-stored-movies'].$get({ query: {} }));
    expect(stored.body.movies[0]).toMatchObject({ plays: 2 });
    await expectExactTotals(user.id);
  });

  it('an invalid item → 400 naming its index, and nothing of the batch is stored', async () => {
    const user = await registerAndLogin();
    const items = [movieItem(21, 1), { ...movieItem(22, 2), type: 'list' }];
    const res = await call('POST', '/trakt/import/history/', { token: user.access, json: items });
    expectError(res, 400, 'Invalid request body: 1.type: unknown item type "list" (expected "movie" or "episode")');
    expect((await totals(user.id)).counted.movie_play_count).toBe(0);
    expectError(await call('POST', '/trakt/import/history/', { token: user.access, json: [] }), 400, /empty/);
    const tooMany = Array.from({ length: 1001 }, (_, i) => movieItem(i + 1, 1));
    expectError(
      await call('POST', '/trakt/import/history/', { token: user.access, json: tooMany }),
      400,
      /at most 1000/,
    );
    expectError(await call('POST', '/trakt/import/history/', { json: [movieItem(1, 1)] }), 401);
  });

  it('a batch D1 refuses (e.g. the Free daily write allowance) → 503, nothing stored, the next batch works', async () => {
    const user = await registerAndLogin();
    const refused = vi.spyOn(env.DB, 'batch').mockRejectedValueOnce(new Error('D1_ERROR: too many rows written'));
    const res = await call('POST', '/trakt/import/history/', { token: user.access, json: [movieItem(31, 3)] });
    expectError(res, 503, /did not store these plays .*renews at 00:00 UTC/);
    expect(res.headers.get('Retry-After')).toBe('60');
    refused.mockRestore();
    expect((await totals(user.id)).counted.movie_play_count).toBe(0);
    const retry = await read(importBatch(user.access, [movieItem(31, 3)]));
    expect(retry.body).toEqual({ added: 1, skipped: 0 });
    await expectExactTotals(user.id);
  });

  it('takes a 1,000-item batch far over 64 KB', async () => {
    const user = await registerAndLogin();
    const items = Array.from({ length: 1000 }, (_, i) =>
      i % 2 ? movieItem(i + 1, 100 + (i % 40)) : episodeItem(i + 1, 300 + (i % 7), 1 + (i % 3), 1 + (i % 20)),
    );
    expect(JSON.stringify(items).length).toBeGreaterThan(200_000);
    const res = await read(importBatch(user.access, items));
    expect(res.body).toEqual({ added: 1000, skipped: 0 });
    await expectExactTotals(user.id);
  });
});

describe('account deletion', () => {
  it('removes the import rows and the stored archives', async () => {
    const user = await registerAndLogin();
    const zip = withPaddingFile(zipOf({ 'watched-history-1.json': JSON.stringify([movieItem(1, 1)]) }));
    expect((await upload(user.access, zip)).status).toBe(202);
    const key = String((await importRow(user.id))?.object_key);
    await env.IMPORTS.put(`imports/${user.id}/left-behind`, 'x');
    expect(await env.IMPORTS.head(key)).not.toBeNull();
    const res = await read(api(user.access).users.me.$delete({ json: { password: user.password } }));
    expect(res.status).toBe(204);
    expect(await importRow(user.id)).toBeNull();
    expect((await env.IMPORTS.list({ prefix: `imports/${user.id}/` })).objects).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

async function dataVersion(userId: number) {
  return (await env.DB.prepare('SELECT version FROM user_data_versions WHERE user_id = ?').bind(userId).first())
    ?.version;
}

/** One batch of history items, as the dashboard and the CLI send it. */
function importBatch(token: string, items: ImportItems) {
  return api(token).trakt.import.history.$post({ json: items });
}
type ImportItems = InferRequestType<HistoryClient['trakt']['import']['history']['$post']>['json'];

function movieItem(historyId: number, traktId: number) {
  return {
    id: historyId,
    watched_at: new Date(Date.UTC(2024, 0, 1) + historyId * 3_600_000).toISOString(),
    action: 'watch',
    type: 'movie' as const,
    movie: {
      title: `Movie ${traktId}`,
      year: 2001,
      ids: { trakt: traktId, slug: `movie-${traktId}`, imdb: `tt${traktId}`, tmdb: traktId, plex: { guid: 'abc' } },
    },
  };
}

function episodeItem(historyId: number, showId: number, season: number, number: number) {
  return {
    id: historyId,
    watched_at: new Date(Date.UTC(2024, 0, 1) + historyId * 3_600_000).toISOString(),
    action: 'scrobble',
    type: 'episode' as const,
    episode: { season, number, title: `Episode ${number}`, ids: { trakt: showId * 10_000 + season * 100 + number } },
    show: {
      title: `Show ${showId}`,
      year: 2010,
      ids: { trakt: showId, slug: `show-${showId}`, tvdb: showId, tmdb: showId },
    },
  };
}

/**
 * The export plus a last history file of one movie play padded with whitespace to 600 KB: its history
 * then declares more than INLINE_IMPORT_BYTES, so the import continues in the background.
 */
function withPaddingFile(zip: Uint8Array): Uint8Array {
  const files = unzipSync(zip);
  const count = Object.keys(files).filter((name) => name.startsWith('watched-history-')).length;
  const padded = `[${JSON.stringify(movieItem(999_999, 424_242))}${' '.repeat(600_000)}]`;
  files[`watched-history-${count + 1}.json`] = new TextEncoder().encode(padded) as Uint8Array<ArrayBuffer>;
  return zipSync(files);
}
