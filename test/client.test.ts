/**
 * The typed client (src/client.ts, hono/client on AppType) against the Worker in workerd: every
 * read endpoint is called through it, and the typed answers are checked at runtime too.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { historyClient } from '../src/client';
import { BASE } from './support/api';
import { workerFetch } from './support/client';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

describe('src/client.ts (hono/client)', () => {
  it('calls every read endpoint with typed queries and answers', async () => {
    const user = await connectedUser(sim, { movies: 4, shows: 1, seasons_per_show: 1, episodes_per_season: 3 });
    const api = historyClient(BASE, { token: user.access, fetch: workerFetch });
    expect(
      (await api.users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } })).status,
    ).toBe(201);

    const movieSync = await api.trakt['fetch-latest-movies'].$post();
    expect(movieSync.status).toBe(200);
    expect((await api.trakt['fetch-latest-shows'].$post()).status).toBe(200);

    const history = await (await api.trakt.history.$get({ query: { limit: '3', type: 'movies' } })).json();
    expect(history.items).toHaveLength(3);
    const first = history.items[0]!;
    expect(first.type).toBe('movie');
    if (first.type === 'movie') expect(typeof first.movie.ids.trakt).toBe('number');
    expect(typeof history.next_cursor).toBe('string');
    const next = await (
      await api.trakt.history.$get({ query: { limit: '3', type: 'movies', cursor: history.next_cursor ?? '' } })
    ).json();
    expect(next.items.length).toBeGreaterThan(0);

    const stats = await (await api.trakt.stats.$get({ query: { tz: 'Europe/Berlin' } })).json();
    expect(stats.movies.plays).toBeGreaterThanOrEqual(4);
    expect(stats.by_weekday_hour).toHaveLength(7);
    const me = await (await api.users.me.$patch({ json: { time_zone: 'Europe/Berlin' } })).json();
    expect(me.time_zone).toBe('Europe/Berlin');
    const local = await (await api.trakt.stats.$get({ query: { tz: me.time_zone ?? undefined } })).json();
    expect(local.by_weekday_hour).toEqual(stats.by_weekday_hour);

    const movies = await (await api.trakt['get-stored-movies'].$get({ query: { sort: 'title', order: 'asc' } })).json();
    expect(movies.total_items).toBe(4);
    const titles = movies.movies.map((m) => m.movie.title);
    expect(titles).toEqual([...titles].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));

    const shows = await (await api.trakt['get-stored-shows'].$get({ query: {} })).json();
    expect(shows.shows).toHaveLength(1);
    const showTraktId = shows.shows[0]!.show.ids.trakt;

    const detail = await api.trakt['get-watched-seasons-episodes'].$get({ query: { trakt_id: String(showTraktId) } });
    expect(detail.status).toBe(200);
    const episodes = await detail.json();
    expect('episodes' in episodes && episodes.episodes).toHaveLength(3);

    const status = await (await api.trakt['sync-status'].$get()).json();
    expect(status.counts.movies).toBe(4);

    const exported = await api.trakt.export.$get({ query: { format: 'csv' } });
    expect(exported.headers.get('Content-Disposition')).toMatch(/attachment/);
    expect((await exported.text()).split('\r\n')[0]).toMatch(/^type,watched_at,/);

    // Conditional GET through the client: the tag from a response gives a 304.
    const tagged = await api.trakt.stats.$get({ query: {} });
    const tag = tagged.headers.get('ETag')!;
    expect(tag).toBeTruthy();
    const again = await api.trakt.stats.$get({ query: {} }, { headers: { 'If-None-Match': tag } });
    expect(again.status).toBe(304);

    // The year in review, sharing, the public answers and webhooks (issue 28), typed the same way.
    const year = new Date(stats.last_play_at ?? Date.now()).getUTCFullYear();
    const review = await api.trakt.review[':year'].$get({ param: { year: String(year) } });
    expect(review.status).toBe(200);
    if (review.status === 200) expect((await review.json()).by_month).toHaveLength(12);
    const handle = `client-${crypto.randomUUID().slice(0, 8)}`;
    const shared = await api.users.me.sharing.$put({ json: { handle, parts: ['recent', 'review'] } });
    expect(shared.status).toBe(200);
    if (shared.status === 200) expect((await shared.json()).urls.recent).toMatch(/\/recent\.json$/);
    const publicApi = historyClient(BASE, { fetch: workerFetch });
    const recent = await publicApi.u[':handle']['recent.json'].$get({ param: { handle } });
    expect(recent.status).toBe(200);
    const hook = await api.users.me.webhooks.$post({
      json: { url: 'https://hooks.example.com/client', events: ['play.created'] },
    });
    expect(hook.status).toBe(201);
    if (hook.status === 201) {
      const created = await hook.json();
      expect(created.secret).toMatch(/^whsec_/);
      const log = await api.users.me.webhooks[':id'].deliveries.$get({ param: { id: created.id } });
      expect(log.status).toBe(200);
    }
  });

  it('calls the NowPlaying layer (/api/) with typed requests and answers', async () => {
    const user = await connectedUser(sim, { movies: 2, shows: 1, seasons_per_show: 1, episodes_per_season: 3 });
    const anonymous = historyClient(BASE, { fetch: workerFetch });
    const signedIn = await anonymous.api.users.login.$post({
      json: { username: user.username, password: user.password },
    });
    expect(signedIn.status).toBe(200);
    const tokens = await signedIn.json();
    if (!('access' in tokens)) throw new Error('no tokens');
    const refreshed = await (
      await anonymous.api.users.token.refresh.$post({ json: { refresh: tokens.refresh } })
    ).json();
    expect('access' in refreshed && typeof refreshed.access).toBe('string');

    const api = historyClient(BASE, { token: tokens.access, fetch: workerFetch });
    const profile = await (await api.api.users.profile.$get()).json();
    expect('id' in profile && profile.id).toBe(user.id);
    const keys = await (await api.api.users['api-keys'].$get()).json();
    expect('results' in keys && keys.results.map((k) => k.service_name)).toEqual(['trakt']);
    expect((await api.api.trakt['fetch-latest-shows'].$get()).status).toBe(200);
    const shows = await (await api.api.trakt['get-stored-shows'].$get({ query: { page_size: '500' } })).json();
    expect('page_size' in shows && shows.page_size).toBe(100);
    const traktId = 'shows' in shows ? shows.shows[0]!.show.ids.trakt : 0;
    const seasons = await (
      await api.api.trakt['get-watched-seasons-episodes'].$get({ query: { trakt_id: String(traktId) } })
    ).json();
    expect('episode_list' in seasons && seasons.episode_list.seasons_not_fetched).toEqual([1]);
    const history = await (await api.api.trakt['watch-history'].$get({ query: { type: 'shows' } })).json();
    expect('history' in history && history.history.every((h) => h.trakt_id === traktId)).toBe(true);
  });

  it("imports Trakt's export: the ZIP, the latest import and a batch, typed", async () => {
    await sim.createAccount({ username: 'client_exporter', movies: 3, shows: 1 });
    const zip = await sim.exportZip('client_exporter');
    const user = await connectedUser(sim, { movies: 1, shows: 0 });
    const api = historyClient(BASE, { token: user.access, fetch: workerFetch });
    // A raw body goes in `init`; headers go in `headers`, where they join the client's Authorization.
    const uploaded = await api.trakt.import.$post(undefined, {
      headers: { 'Content-Type': 'application/zip' },
      init: { body: zip as Uint8Array<ArrayBuffer> },
    });
    expect(uploaded.status).toBe(200);
    const latest = await (await api.trakt.import.$get()).json();
    expect('import' in latest && latest.import.status).toBe('done');
    expect('import' in latest && latest.import.files[0]?.name).toBe('watched-history-1.json');
    const item = {
      id: 42,
      watched_at: '2024-02-03T04:05:06.000Z',
      action: 'watch',
      type: 'movie' as const,
      movie: { title: 'Typed', year: 1999, ids: { trakt: 4242 } },
    };
    const batch = await (await api.trakt.import.history.$post({ json: [item] })).json();
    expect(batch).toEqual({ added: 1, skipped: 0 });
  });
});
