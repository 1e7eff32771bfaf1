/** The chunked sync: resuming after a failure, continuations through the queue, totals check and reconcile. */
import { createMessageBatch } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, SIM_TRAKT_API_URL, type Simulator } from '../simulator/support/harness';
import { handleSyncMessage } from '../src/jobs/queue';
import { type ContinuationMessage, runSync, type SyncOptions } from '../src/sync/service';
import { api, ok, read } from './support/client';
import { connectedUser } from './support/trakt';

let sim: Simulator;
let sent: ContinuationMessage[];
beforeEach(() => {
  sim = installSimulator();
  sent = [];
  // Continuations are captured and delivered by the test, one at a time.
  vi.spyOn(env.SYNC_QUEUE, 'send').mockImplementation(async (body) => {
    sent.push(body as ContinuationMessage);
    return undefined as never;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  sim.restore();
});

const DAY_MS = 86_400_000;

/** Every history row of a user, keyed by Trakt ids (no autoincrement ids), for comparing two syncs. */
async function dump(userId: number) {
  const all = async (query: string) => (await env.DB.prepare(query).bind(userId).all()).results;
  return {
    movies: await all(
      `SELECT trakt_id, title, year, slug, imdb_id, tmdb_id, tmdb_ref, plays, last_watched_at, last_updated_at,
         progress, paused_at
       FROM movies WHERE user_id = ? ORDER BY trakt_id`,
    ),
    shows: await all(
      `SELECT trakt_id, title, year, slug, imdb_id, tvdb_id, tmdb_id, aired_episodes, plays, last_watched_at,
         last_updated_at, reset_at
       FROM shows WHERE user_id = ? ORDER BY trakt_id`,
    ),
    seasons: await all(
      `SELECT s.trakt_id, se.season_number FROM seasons se JOIN shows s ON s.id = se.show_id WHERE s.user_id = ?
       ORDER BY 1, 2`,
    ),
    episodes: await all(
      `SELECT s.trakt_id AS show, se.season_number, e.episode_number, e.trakt_id, e.title, e.plays, e.last_watched_at,
         e.progress, e.paused_at
       FROM episodes e JOIN seasons se ON se.id = e.season_id JOIN shows s ON s.id = se.show_id
       WHERE s.user_id = ? ORDER BY 1, 2, 3`,
    ),
    plays: await all(
      // History ids carry a per-account prefix in the simulator; the low digits number the plays.
      `SELECT history_id % 1000000000 AS play, media_type, watched_at, action, movie_trakt_id, show_trakt_id,
         season_number, episode_number, episode_trakt_id
       FROM plays WHERE user_id = ? ORDER BY play`,
    ),
    totals: await all(
      `SELECT movie_count, show_count, episode_count, movie_play_count, episode_play_count, movies_pass, shows_pass
       FROM sync_state WHERE user_id = ?`,
    ),
  };
}

/** Stored totals and rows must equal what Trakt reports. */
async function expectMatchesTrakt(userId: number, traktUsername: string) {
  const truth = await sim.summary(traktUsername);
  const one = async (query: string) => (await env.DB.prepare(query).bind(userId).first<{ n: number }>())!.n;
  const expected = {
    movies: truth.movies_watched,
    shows: truth.shows_watched,
    episodes: truth.episodes_watched,
    moviePlays: truth.history_items.movies,
    episodePlays: truth.history_items.episodes,
  };
  expect({
    movies: await one('SELECT count(*) AS n FROM movies WHERE user_id = ?'),
    shows: await one('SELECT count(*) AS n FROM shows WHERE user_id = ?'),
    episodes: await one(
      'SELECT count(*) AS n FROM episodes e JOIN seasons se ON se.id = e.season_id JOIN shows s ON s.id = se.show_id WHERE s.user_id = ? AND e.plays > 0',
    ),
    moviePlays: await one("SELECT count(*) AS n FROM plays WHERE user_id = ? AND media_type = 'movie'"),
    episodePlays: await one("SELECT count(*) AS n FROM plays WHERE user_id = ? AND media_type = 'episode'"),
  }).toEqual(expected);
  // The stored totals (kept by deltas, never counted) agree too.
  const state = await env.DB.prepare(
    'SELECT movie_count, show_count, episode_count, movie_play_count, episode_play_count FROM sync_state WHERE ' +
      'user_id = ?',
  )
    .bind(userId)
    .first();
  expect(state).toEqual({
    movie_count: expected.movies,
    show_count: expected.shows,
    episode_count: expected.episodes,
    movie_play_count: expected.moviePlays,
    episode_play_count: expected.episodePlays,
  });
}

/** Runs chunks until the sync is complete; returns how many it took. */
async function syncToEnd(userId: number, options: Omit<SyncOptions, 'kinds'> & { kinds?: SyncOptions['kinds'] }) {
  let kinds = options.kinds ?? (['movies', 'shows'] as SyncOptions['kinds']);
  for (let chunks = 1; chunks <= 200; chunks++) {
    const outcome = await runSync(env, userId, { ...options, kinds });
    if (outcome.complete) return chunks;
    kinds = Object.keys(outcome.progress) as SyncOptions['kinds']; // as a continuation message names them
  }
  throw new Error('the sync did not complete in 200 chunks');
}

describe('resuming a first sync', () => {
  it('fails at history page 40 of 68, then resumes at page 40 and fetches no earlier page', async () => {
    // 8,450 movies watched twice: 16,900 plays, 68 pages of 250.
    const user = await connectedUser(sim, { movies: 8450, shows: 0, plays_per_item: 2, rewatch_fraction: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/history/movies' }, after: 39, times: 10, kind: '500' });
    const big = { pagesPerRun: 200, subrequestBudget: 1000 } as const;
    await expect(runSync(env, user.id, { kinds: ['movies'], ...big })).rejects.toMatchObject({ status: 502 });
    const firstRun = (await sim.requests()).filter((r) => r.path === '/sync/history/movies' && r.status === 200);
    expect(firstRun).toHaveLength(39);
    expect(firstRun[0]!.query).toMatchObject({ page: '1', limit: '250' });
    expect(firstRun[0]!.query.end_at).toBeUndefined();

    const state = await env.DB.prepare('SELECT movies_pass, last_error FROM sync_state WHERE user_id = ?')
      .bind(user.id)
      .first<{ movies_pass: string; last_error: string }>();
    const pass = JSON.parse(state!.movies_pass);
    expect(pass).toMatchObject({ phase: 'history', pagesDone: 39, pagesKnown: 68 });
    expect(state!.last_error).toMatch(/unavailable/);
    const oldest = await env.DB.prepare('SELECT min(watched_at) AS at, count(*) AS n FROM plays WHERE user_id = ?')
      .bind(user.id)
      .first<{ at: string; n: number }>();
    expect(pass.cursor.endAt).toBe(oldest!.at);
    expect(oldest!.n).toBe(39 * 250 - 38); // consecutive pages share their boundary play

    await sim.clearFaults();
    await sim.clearRequests();
    const resumed = await runSync(env, user.id, { kinds: ['movies'], ...big });
    expect(resumed.complete).toBe(true);
    const history = (await sim.requests()).filter((r) => r.path === '/sync/history/movies');
    expect(history).toHaveLength(68 - 39); // pages 40…68
    expect(history[0]!.query).toMatchObject({ end_at: pass.cursor.endAt, page: '1' });
    for (const r of history) expect(Date.parse(r.query.end_at!)).toBeLessThanOrEqual(Date.parse(pass.cursor.endAt));
    expect((await sim.counters())['GET /sync/last_activities'] ?? 0).toBe(0); // a resumed pass does not start over
    await expectMatchesTrakt(user.id, user.traktUsername);
  }, 120_000);
});

describe('subrequest budget', () => {
  it('retried Trakt calls come out of the chunk budget: no chunk sends more requests than its calls may', async () => {
    // 16,900 plays: 68 history pages, so the default budget (35 calls a chunk) takes several chunks.
    const user = await connectedUser(sim, { movies: 8450, shows: 0, plays_per_item: 2, rewatch_fraction: 0 });
    // Two calls of the first chunk each fail twice (500) before their third attempt succeeds.
    await sim.addFault({ match: { path_prefix: '/sync/history/movies' }, after: 3, times: 2, kind: '500' });
    await sim.addFault({ match: { path_prefix: '/sync/history/movies' }, after: 10, times: 2, kind: '500' });
    const first = await runSync(env, user.id, { kinds: ['movies'] });
    expect(first.complete).toBe(false);
    const requests = await sim.requests();
    const trakt = requests.filter((r) => r.host === new URL(SIM_TRAKT_API_URL).host);
    // Positive control: retries happened in this chunk.
    expect(trakt.filter((r) => r.status === 500)).toHaveLength(4);
    // 35 requests in all (a chunk's calls at the default budget), the 4 retried attempts included: 4 pages fewer.
    expect(trakt).toHaveLength(35);
    expect(trakt.filter((r) => r.status === 200)).toHaveLength(31);

    await sim.clearRequests();
    const chunks = await syncToEnd(user.id, { kinds: ['movies'] });
    expect(chunks).toBeGreaterThan(1);
    await expectMatchesTrakt(user.id, user.traktUsername);
  }, 120_000);
});

describe('continuations through the queue', () => {
  it('a fetch answers 202 with progress (in sync-status); queued chunks finish it; re-deliveries no-op', async () => {
    const user = await connectedUser(sim, { movies: 700, shows: 0, plays_per_item: 1, rewatch_fraction: 0 });
    sent.length = 0; // the new connection's first sync, queued at once: this test runs the chunks itself
    const small = { ...env, SYNC_PAGES_PER_RUN: '2' } as Env;
    const outcome = await runSync(small, user.id, { kinds: ['movies'] });
    expect(outcome.complete).toBe(false);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ user_id: user.id, kinds: ['movies'] });

    const status = await ok(api(user.access).trakt['sync-status'].$get());
    expect(status.body.progress.movies).toMatchObject({ phase: 'history', mode: 'full', reason: 'first_sync' });
    expect(status.body.progress.movies?.pages_done).toBe(1);
    expect(status.body.progress.movies?.pages_known).toBe(3);
    expect(status.body.progress.movies?.plays_stored).toBe(250);

    // The endpoint runs the next chunk inline and answers 202 while more remains (default 40 pages: it finishes).
    const deliver = async (body: unknown, attempt = 1) => {
      const batch = createMessageBatch('trakt-sync', [
        { id: crypto.randomUUID(), timestamp: new Date(), attempts: attempt, body },
      ]);
      return handleSyncMessage(small, batch.messages[0]!);
    };
    expect(await deliver(sent[0])).toBe('continues');
    expect(sent).toHaveLength(2);
    const afterSecond = await dump(user.id);
    await sim.clearRequests();
    expect(await deliver(sent[0])).toBe('skipped_stale'); // re-delivered after it committed
    expect(await sim.requests()).toHaveLength(0);
    expect(await dump(user.id)).toEqual(afterSecond);

    let rounds = 0;
    while (rounds < 10 && (await deliver(sent.at(-1))) === 'continues') rounds += 1;
    expect(sent.length).toBeGreaterThan(2);
    await expectMatchesTrakt(user.id, user.traktUsername);
    expect((await ok(api(user.access).trakt['sync-status'].$get())).body.progress).toEqual({});
    const final = await dump(user.id);
    expect(await deliver(sent.at(-1))).toBe('skipped_stale');
    expect(await dump(user.id)).toEqual(final);
  }, 60_000);

  it('the fetch endpoint answers 202 with progress while a sync continues in the background', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    sent.length = 0; // the new connection's first sync, queued at once
    const mutable = env as unknown as Record<string, string>;
    const before = mutable.SYNC_PAGES_PER_RUN;
    mutable.SYNC_PAGES_PER_RUN = '1';
    try {
      const res = await read(api(user.access).trakt['fetch-latest-movies'].$get());
      expect(res.status).toBe(202);
      expect(res.body).toEqual({
        result: 'Sync started; it continues in the background',
        progress: {
          movies: {
            mode: 'full',
            reason: 'first_sync',
            phase: 'history',
            chunks: 1,
            pages_done: 0,
            pages_known: null,
            plays_stored: 0,
          },
        },
      });
      expect(sent).toHaveLength(1);
    } finally {
      mutable.SYNC_PAGES_PER_RUN = before!;
    }
  });
});

describe('new plays during a backfill', () => {
  it('are neither lost nor duplicated', async () => {
    const user = await connectedUser(sim, { movies: 300, shows: 10, seasons_per_show: 2, episodes_per_season: 10 });
    const catalog = await sim.catalog(user.traktUsername);
    const first = await runSync(env, user.id, { kinds: ['movies', 'shows'], pagesPerRun: 2 });
    expect(first.complete).toBe(false);
    await sim.advanceClock(5);
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[0]!.trakt });
    await sim.addPlay(user.traktUsername, {
      type: 'episode',
      trakt_id: catalog.shows[0]!.seasons[0]!.episodes[0]!.trakt,
    });
    const chunks = await syncToEnd(user.id, { pagesPerRun: 2 });
    expect(chunks).toBeGreaterThan(1);
    // The backfill's cursor walks down from where it started: the new plays come with the next incremental sync.
    await sim.clearRequests();
    const next = await runSync(env, user.id, { kinds: ['movies', 'shows'] });
    expect(next.complete).toBe(true);
    expect(next.result.movies!.plays_added + next.result.shows!.plays_added).toBeLessThanOrEqual(2);
    await expectMatchesTrakt(user.id, user.traktUsername);
    const again = await dump(user.id);
    await runSync(env, user.id, { kinds: ['movies', 'shows'] });
    expect(await dump(user.id)).toEqual(again);
  }, 60_000);
});

describe('removed and backdated plays', () => {
  it('the totals check catches them in an incremental sync (at most 3 + ⌈k/250⌉ calls otherwise)', async () => {
    const user = await connectedUser(sim, { movies: 40, shows: 0, plays_per_item: 2, rewatch_fraction: 0 });
    await syncToEnd(user.id, {});
    const catalog = await sim.catalog(user.traktUsername);

    // 3 new plays: last_activities, one history page, stats.
    await sim.advanceClock(5);
    for (const m of catalog.movies.slice(0, 3))
      await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: m.trakt });
    await sim.clearRequests();
    const incremental = await runSync(env, user.id, { kinds: ['movies'] });
    expect(incremental.result.movies).toMatchObject({ plays_added: 3, plays_removed: 0 });
    expect(await sim.counters()).toEqual({
      'GET /sync/last_activities': 1,
      'GET /sync/history/movies': 1,
      'GET /users/:id/stats': 1,
    });

    // A new play plus a removed one (the movie keeps a play): watched counts agree, play totals do not.
    await sim.advanceClock(5);
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[5]!.trakt });
    const victim = (await sim.plays(user.traktUsername)).find((p) => p.trakt_id === catalog.movies[6]!.trakt)!;
    await sim.removePlay(user.traktUsername, victim.id);
    await sim.clearRequests();
    const caught = await runSync(env, user.id, { kinds: ['movies'] });
    expect(caught.result.movies).toMatchObject({ plays_added: 1, plays_removed: 1 });
    expect((await sim.counters())['GET /users/:id/stats']).toBe(1);
    await expectMatchesTrakt(user.id, user.traktUsername);

    // A new play plus a backdated one.
    await sim.advanceClock(5);
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[7]!.trakt });
    await sim.addPlay(user.traktUsername, {
      type: 'movie',
      trakt_id: catalog.movies[8]!.trakt,
      watched_at: '2015-01-01T00:00:00.000Z',
    });
    const backdated = await runSync(env, user.id, { kinds: ['movies'] });
    expect(backdated.result.movies).toMatchObject({ plays_added: 2, plays_removed: 0 });
    await expectMatchesTrakt(user.id, user.traktUsername);
  });

  it('the weekly reconcile catches a removal and a backdated play that cancel out in the totals', async () => {
    const user = await connectedUser(sim, { movies: 20, shows: 0, plays_per_item: 2, rewatch_fraction: 0 });
    await syncToEnd(user.id, {});
    const catalog = await sim.catalog(user.traktUsername);
    await sim.advanceClock(5);
    await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[0]!.trakt });
    await sim.addPlay(user.traktUsername, {
      type: 'movie',
      trakt_id: catalog.movies[1]!.trakt,
      watched_at: '2015-01-01T00:00:00.000Z',
    });
    const victim = (await sim.plays(user.traktUsername)).find((p) => p.trakt_id === catalog.movies[2]!.trakt)!;
    await sim.removePlay(user.traktUsername, victim.id);
    const fooled = await runSync(env, user.id, { kinds: ['movies'], background: true });
    expect(fooled.result.movies).toMatchObject({ plays_added: 1, plays_removed: 0 });
    const stored = async (historyId: number) =>
      env.DB.prepare('SELECT 1 AS n FROM plays WHERE user_id = ? AND history_id = ?').bind(user.id, historyId).first();
    expect(await stored(victim.id)).not.toBeNull(); // not caught yet: the totals agree

    // A week later, the background run reconciles: full history, the removed play deleted, the backdated one stored.
    await sim.clearRequests();
    const weekLater = Date.now() + 8 * DAY_MS;
    const reconciled = await runSync(env, user.id, {
      kinds: ['movies'],
      background: true,
      now: () => weekLater,
    });
    expect(reconciled.complete).toBe(true);
    expect(reconciled.result.movies).toMatchObject({ plays_added: 1, plays_removed: 1 });
    expect((await sim.counters())['GET /sync/watched/movies']).toBe(1);
    expect(await stored(victim.id)).toBeNull();
    await expectMatchesTrakt(user.id, user.traktUsername);
    const state = await env.DB.prepare('SELECT movies_reconciled_at FROM sync_state WHERE user_id = ?')
      .bind(user.id)
      .first<{ movies_reconciled_at: string }>();
    expect(Date.parse(state!.movies_reconciled_at)).toBe(weekLater);
  });
});

describe('chunked and unchunked syncs', () => {
  it('store exactly the same rows', async () => {
    const account = {
      seed: 'twin-library',
      movies: 260,
      shows: 12,
      seasons_per_show: 2,
      episodes_per_season: 8,
      plays_per_item: 2,
      rewatch_fraction: 0.3,
    };
    const chunked = await connectedUser(sim, account);
    const whole = await connectedUser(sim, account);
    for (const user of [chunked, whole]) {
      const catalog = await sim.catalog(user.traktUsername);
      await sim.setPlayback(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[3]!.trakt, progress: 12.5 });
      await sim.setPlayback(user.traktUsername, {
        type: 'episode',
        trakt_id: catalog.shows[1]!.seasons[1]!.episodes[7]!.trakt,
        progress: 61,
      });
    }
    const chunks = await syncToEnd(chunked.id, { pagesPerRun: 1 });
    expect(chunks).toBeGreaterThan(5);
    expect(await syncToEnd(whole.id, { pagesPerRun: 1000, subrequestBudget: 1000 })).toBe(1);
    const a = await dump(chunked.id);
    const b = await dump(whole.id);
    expect(a.plays.length).toBeGreaterThan(500);
    expect(a.episodes.length).toBeGreaterThan(100);
    expect(a.movies.some((m) => m.progress === 12.5)).toBe(true);
    expect(a.episodes.some((e) => e.progress === 61)).toBe(true);
    for (const table of Object.keys(a) as Array<keyof typeof a>) expect(a[table], table).toEqual(b[table]);
    await expectMatchesTrakt(chunked.id, chunked.traktUsername);
  }, 120_000);
});
