/**
 * NowPlaying's three clients against `wrangler dev` + the simulator, replayed request by request as
 * /work/shared/NOWPLAYING.md documents them (the replays are written from that document; the project
 * holds none of NowPlaying's code), asserting on exactly the fields each client reads:
 * - the web app (test-e2e/support/nowplaying-web.ts), in Chromium on another origin than the API, so
 *   every call is a real cross-origin request: sign-up, profile and API keys, the Connect dialog with its
 *   numeric state, the sync buttons, the dashboard, last scrobbled, the show page (every episode,
 *   completion, season locking), the movie page, search, watch history, heatmap, top genres, completed
 *   media, and its JWT rules (atob `exp`, refresh and retry on 401, sign-out only when refresh fails);
 * - the OAuth setup script's whole run (test-e2e/support/nowplaying-setup-script.ts, a child process whose
 *   prompts this test answers), with the browser landing on the layer's callback page, which never links;
 * - the helper page's POST to the API's own callback at the root.
 * NowPlaying's base URL is `<host>/api` (its web app's default `VITE_API_BASE_URL`).
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch } from './support/browser';
import { api, approveAt, sim, stack, unique } from './support/http';
import { installWebApp } from './support/nowplaying-web';

const SCRIPT = join(resolve(import.meta.dirname), 'support/nowplaying-setup-script.ts');
const PASSWORD = 'a long enough password';
const DAY_MS = 86_400_000;

type Play = { id: number; type: 'movie' | 'episode'; trakt_id: number; watched_at: string };
type Catalog = {
  movies: Array<{ trakt: number; title: string; tmdb: number | null }>;
  shows: Array<{
    trakt: number;
    title: string;
    tmdb: number | null;
    seasons: Array<{ number: number; episodes: Array<{ trakt: number; number: number }> }>;
  }>;
};

let context: BrowserContext;
let closeBrowser: () => Promise<void>;
let origin: Server;
let originUrl: string;

beforeAll(async () => {
  ({ context, close: closeBrowser } = await launch());
  // The web app's own origin: any page that is not the API's.
  origin = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>NowPlaying (replay)</title>');
  });
  await new Promise<void>((done) => origin.listen(0, '127.0.0.1', done));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await closeBrowser?.();
  await new Promise((done) => origin?.close(done));
});

const base = () => `${stack().apiUrl}/api`;

/** A simulated Trakt app and a signed-in Trakt account with 3 movies and 2 shows of 3 × 4 episodes. */
async function traktAccount() {
  const app = await sim<{ client_id: string; client_secret: string }>('POST', '/apps', {
    redirect_uris: [stack().redirectUri],
  });
  const traktUser = unique('nptrakt');
  await sim('POST', '/accounts', {
    username: traktUser,
    // Its own seed: the simulator shares a seed's titles between accounts, and another file's account with the
    // default seed (2 seasons per show) would otherwise decide these shows' seasons.
    seed: traktUser,
    movies: 3,
    shows: 2,
    seasons_per_show: 3,
    episodes_per_season: 4,
    rewatch_fraction: 0,
    null_tmdb_fraction: 0,
    missing_on_tmdb_fraction: 0,
  });
  await sim('POST', '/session', { username: traktUser });
  const catalog = await sim<Catalog>('GET', `/accounts/${traktUser}/catalog`);
  return { app, traktUser, catalog };
}

async function webPage(): Promise<Page> {
  const page = await context.newPage();
  await page.goto(originUrl);
  await page.evaluate(installWebApp, base());
  return page;
}

/** Calls `window.nowPlaying.<name>(...args)` in the page. */
function web<T = any>(page: Page, name: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(([fn, params]) => (window as any).nowPlaying[fn as string](...(params as unknown[])), [
    name,
    args,
  ] as const);
}

const trace = (page: Page) =>
  page.evaluate(() => {
    const t = (window as any).nowPlaying.trace;
    return { refreshes: t.refreshes as number, signedOut: t.signedOut as boolean, requests: [...t.requests] };
  });

/** The shared run of the web app: one user, one Trakt account, pages in order. */
const run: {
  page?: Page;
  username?: string;
  userId?: number;
  trakt?: Awaited<ReturnType<typeof traktAccount>>;
  halfShow?: Catalog['shows'][number];
  fullShow?: Catalog['shows'][number];
  /** The API's own JWT of the user, for waiting on its background work (GET /trakt/sync-status/). */
  access?: string;
} = {};

type SyncStatus = {
  in_progress: boolean;
  progress: Record<string, unknown>;
  counts: { plays: number };
  enrichment?: { pending_titles: number; pending_seasons: number };
};

/**
 * Waits until the user's background work is done: no sync running or continuing, `plays` plays stored, and no title or
 * season waiting for TMDB. NowPlaying's sync buttons start work in the background and answer at once (as
 * NowPlaying's own threads do), and a new connection's first sync runs by itself.
 */
async function backgroundDone(plays: number): Promise<SyncStatus> {
  let status: SyncStatus | undefined;
  for (let attempt = 0; attempt < 240; attempt++) {
    status = (await api<SyncStatus>('GET', '/trakt/sync-status/', { token: run.access })).body;
    const enrichment = status.enrichment ?? { pending_titles: 0, pending_seasons: 0 };
    if (
      !status.in_progress &&
      Object.keys(status.progress ?? {}).length === 0 &&
      status.counts.plays === plays &&
      enrichment.pending_titles === 0 &&
      enrichment.pending_seasons === 0
    )
      return status;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`background work still running: ${JSON.stringify(status)}`);
}

describe("NowPlaying's web app, cross-origin in Chromium", () => {
  it('signs up and in (tokens stored, exp read with atob), shows the profile, manages API keys', async () => {
    const page = await webPage();
    run.page = page;
    run.username = unique('npweb');
    const bad = await web(page, 'authSubmit', 'register', {
      username: run.username,
      email: 'someone@example.test',
      password: PASSWORD,
      password2: `${PASSWORD}!`,
    });
    expect(bad).toMatchObject({ ok: false, error: "Password fields didn't match." });
    const registered = await web(page, 'authSubmit', 'register', {
      username: run.username,
      email: 'someone@example.test',
      password: PASSWORD,
      password2: PASSWORD,
    });
    expect(registered).toMatchObject({ ok: true, access: expect.any(String), refresh: expect.any(String) });
    expect(await web(page, 'isAuthenticated')).toBe(true);
    const exp = await web<number>(page, 'expOf', registered.access);
    expect(exp * 1000).toBeGreaterThan(Date.now());

    const wrong = await web(page, 'authSubmit', 'login', { username: run.username, password: 'not it at all' });
    expect(wrong).toMatchObject({ ok: false, status: 400, error: 'Invalid username or password' });
    const login = await web(page, 'authSubmit', 'login', { username: run.username, password: PASSWORD });
    expect(login.ok).toBe(true);

    const profile = await web(page, 'profile');
    expect(profile).toEqual({ username: run.username, id: expect.any(Number) });
    expect(Number.isInteger(profile.id)).toBe(true);
    run.userId = profile.id;

    // API keys: the list, a save with the Trakt app's credentials, a change, a removal, and again.
    run.trakt = await traktAccount();
    expect(await web(page, 'fetchApiKeys')).toEqual({ ok: true, keys: [] });
    expect(await web(page, 'saveApiKey', ` ${run.trakt.app.client_id} `, run.trakt.app.client_secret)).toEqual({
      ok: true,
    });
    const listed = await web(page, 'fetchApiKeys');
    expect(listed.keys).toEqual([
      {
        id: expect.any(Number),
        service_name: 'trakt',
        service_user_id: run.trakt.app.client_id,
        created_at: expect.any(String),
        last_used: null,
      },
    ]);
    const keyId = listed.keys[0].id as number;
    expect(Number.isInteger(keyId)).toBe(true);
    expect(await web(page, 'updateApiKey', keyId, run.trakt.app.client_secret)).toEqual({ ok: true });
    // Auth status 1 s after a key save: not connected, so the Connect button shows.
    expect(await web(page, 'authStatus')).toMatchObject({ authenticated: false, connectButton: true });
    expect(await web(page, 'deleteApiKey', keyId)).toEqual({ ok: true, status: 204 });
    expect((await web(page, 'fetchApiKeys')).keys).toEqual([]);
    const gone = await web(page, 'deleteApiKey', keyId);
    expect(gone).toMatchObject({ ok: false, detail: expect.any(String) });
    expect(await web(page, 'saveApiKey', run.trakt.app.client_id, run.trakt.app.client_secret)).toEqual({ ok: true });

    const { refreshes, signedOut } = await trace(page);
    expect({ refreshes, signedOut }).toEqual({ refreshes: 0, signedOut: false });
  });

  it('connects Trakt through the dialog: the code and its own numeric id as state; another id is refused', async () => {
    const page = run.page!;
    const start = await web(page, 'startOAuth');
    expect(start).toMatchObject({ ok: true, auth_url: expect.stringContaining('/oauth/authorize') });
    // The popup: the user approves on "Trakt" and copies the code from where it lands.
    const redirect = await approveAt(start.auth_url);
    const code = redirect.searchParams.get('code')!;
    expect(code).toBeTruthy();

    const refused = await web(page, 'completeOAuth', code, run.userId! + 1);
    expect(refused).toMatchObject({ ok: false, status: 400, error: 'Invalid state parameter' });
    expect(await web(page, 'authStatus')).toMatchObject({ authenticated: false });

    // TMDB is a server setting for NowPlaying; here the operator's key is stored for the account before it connects:
    // the new connection's first sync runs at once in the background, and its titles' artwork follows it.
    const signIn = await api<{ access: string }>('POST', '/users/token/', {
      json: { username: run.username, password: PASSWORD },
    });
    run.access = signIn.body.access;
    await api('POST', '/users/api-keys/', {
      token: signIn.body.access,
      json: { service_name: 'tmdb', api_key: 'sim-tmdb-key' },
    });
    const done = await web(page, 'completeOAuth', code, run.userId);
    expect(done).toEqual({ ok: true, message: 'Successfully authenticated with Trakt!' });
    expect(await web(page, 'authStatus')).toEqual({
      authenticated: true,
      token_expired: false,
      connectButton: false,
      tokenExpiredChip: false,
    });
    expect((await trace(page)).refreshes).toBe(0); // a 400 never made the app refresh
  });

  it('syncs, then the dashboard, last scrobbled and the show page list every episode with true completion', async () => {
    const page = run.page!;
    const { traktUser, catalog } = run.trakt!;
    // The first show is watched through season 1 and half of season 2 only (season 3 just started).
    const [half, full] = catalog.shows;
    run.halfShow = half;
    run.fullShow = full;
    // The connection's own first sync first, so that the plays removed below are a change the buttons' sync finds.
    const summary = await sim<{ total_plays: number }>('GET', `/accounts/${traktUser}/summary`);
    await backgroundDone(summary.total_plays);
    // Trakt's activity times have whole seconds: removals in the same second as the activities that sync read would
    // not move them, and the buttons' incremental sync would rightly find nothing new.
    await new Promise((r) => setTimeout(r, 1_100));
    const unwatched = new Set([
      ...half!.seasons[1]!.episodes.slice(2).map((e) => e.trakt),
      ...half!.seasons[2]!.episodes.map((e) => e.trakt),
    ]);
    for (const play of await sim<Play[]>('GET', `/accounts/${traktUser}/plays`))
      if (play.type === 'episode' && unwatched.has(play.trakt_id))
        await sim('DELETE', `/accounts/${traktUser}/plays/${play.id}`);
    expect(await web(page, 'fetchLatest', 'movies')).toEqual({ ok: true });
    expect(await web(page, 'fetchLatest', 'shows')).toEqual({ ok: true });
    await backgroundDone(summary.total_plays - unwatched.size);

    const dashboard = await web(page, 'dashboard');
    expect(dashboard.movies.total_items).toBe(3);
    expect(dashboard.movies.items).toHaveLength(3);
    for (const movie of dashboard.movies.items) {
      expect(movie).toMatchObject({
        plays: 1,
        last_watched_at: expect.any(String),
        title: expect.any(String),
        ids: { trakt: expect.any(Number), tmdb: expect.any(Number) },
      });
    }
    expect(dashboard.shows.total_items).toBe(2);
    expect(dashboard.shows.items.map((s: { trakt: number }) => s.trakt).sort()).toEqual(
      [half!.trakt, full!.trakt].sort(),
    );

    // The show page, once TMDB's season data is stored (the fetch enriches inline; the queue does the rest).
    let show: any;
    for (let attempt = 0; attempt < 40; attempt++) {
      show = await web(page, 'showPage', half!.trakt);
      if (show.ok && show.episodes.length === 12 && show.episodes.every((e: any) => e.title)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(show.ok).toBe(true);
    expect(show.seasons.map((s: { season_number: number }) => s.season_number)).toEqual([1, 2, 3]);
    expect(show.episodes).toHaveLength(12);
    expect(show.keysUnique).toBe(true);
    // 6 of 12, not "6 of 6, 100%".
    expect(show.completion).toEqual({ watched: 6, total: 12, percent: 50 });
    expect(show.seasonsProgress).toEqual([
      { season_number: 1, watched: 4, total: 4, percent: 100, locked: false },
      { season_number: 2, watched: 2, total: 4, percent: 50, locked: false },
      { season_number: 3, watched: 0, total: 4, percent: 0, locked: true },
    ]);
    for (const episode of show.episodes.filter((e: any) => !e.last_watched_at)) {
      expect(episode).toMatchObject({
        last_watched_at: null,
        title: expect.stringMatching(/^Episode \d+: /),
        overview: expect.stringMatching(/^Season \d+, episode \d+ of /),
        image_url: expect.stringMatching(/^http.+\/w300\//),
      });
    }
    expect(show.show_metadata.genres.length).toBeGreaterThan(0);
    expect(await web(page, 'updateShow', half!.trakt)).toEqual({ ok: true });

    // Last scrobbled: the latest watched episode of each dashboard show.
    const labels = await web(page, 'lastScrobbled', [half!.trakt, full!.trakt]);
    expect(labels).toEqual({ [half!.trakt]: 'S2E2', [full!.trakt]: 'S3E4' });
  }, 180_000);

  it('movie page, search, watch history, heatmap, top genres and completed media', async () => {
    const page = run.page!;
    const { traktUser, catalog } = run.trakt!;
    const movie = catalog.movies[0]!;
    const moviePage = await web(page, 'moviePage', movie.tmdb, movie.trakt);
    expect(moviePage.result).toMatchObject({
      plays: 1,
      last_watched_at: expect.any(String),
      movie: { title: movie.title, ids: { trakt: movie.trakt, tmdb: movie.tmdb } },
    });
    expect(moviePage.result).toHaveProperty('last_updated_at');
    expect(moviePage.stats).toEqual({
      watchers: expect.any(Number),
      plays: expect.any(Number),
      collectors: expect.any(Number),
      comments: expect.any(Number),
      lists: expect.any(Number),
      votes: expect.any(Number),
    });
    expect(moviePage.stats.watchers).toBeGreaterThanOrEqual(1);
    expect(await web(page, 'updateMovie', movie.trakt)).toEqual({ ok: true });

    // Search (≥ 2 characters) and opening a result.
    expect(await web(page, 'search', 'x')).toEqual([]);
    const word = movie.title.split(' ').at(-1)!;
    const results = await web(page, 'search', word.toLowerCase());
    const hit = results.find((r: any) => r.type === 'movie' && r.id === movie.trakt);
    expect(hit).toEqual({
      type: 'movie',
      id: movie.trakt,
      title: movie.title,
      cover_image: expect.any(String),
      year: expect.any(Number),
      tmdb_id: movie.tmdb,
    });
    expect((await web(page, 'openSearchResult', 'movie', hit.tmdb_id)).result.movie.title).toBe(movie.title);
    const episodes = (await web(page, 'search', run.halfShow!.title)).filter((r: any) => r.type === 'episode');
    expect(episodes.length).toBeGreaterThan(0);
    expect(episodes[0]).toMatchObject({
      show_title: run.halfShow!.title,
      show_trakt_id: run.halfShow!.trakt,
      season_number: expect.any(Number),
      episode_number: expect.any(Number),
    });

    // Watch history: one item per play, episode items carrying the show's trakt_id.
    const plays = await sim<Play[]>('GET', `/accounts/${traktUser}/plays`);
    const first = await web(page, 'watchHistory', { type: 'all', page: 1, sort: 'newest' });
    expect(first.total_items).toBe(plays.length);
    expect(first.total_pages).toBe(Math.ceil(plays.length / 20));
    expect(first.history).toHaveLength(Math.min(20, plays.length));
    const showOf = new Map<number, number>();
    for (const show of catalog.shows)
      for (const season of show.seasons) for (const e of season.episodes) showOf.set(e.trakt, show.trakt);
    const byHistoryId = new Map(plays.map((p) => [p.id, p]));
    for (const item of first.history) {
      const truth = byHistoryId.get(item.id)!;
      expect(truth, `play ${item.id}`).toBeDefined();
      expect(item.watched_at).toBe(truth.watched_at);
      if (item.type === 'episode') {
        expect(item.trakt_id).toBe(showOf.get(truth.trakt_id));
        expect(item.episode_info).toEqual({
          season_number: expect.any(Number),
          episode_number: expect.any(Number),
          episode_title: expect.any(String),
        });
      } else {
        expect(item.trakt_id).toBe(truth.trakt_id);
      }
      expect(item).toMatchObject({
        title: expect.any(String),
        image_url: expect.any(String),
        runtime: expect.any(Number),
      });
    }
    const second = await web(page, 'watchHistory', { type: 'all', page: 2, sort: 'newest' });
    const ids = [...first.history, ...second.history].map((h: any) => `${h.type}:${h.id}`);
    expect(new Set(ids).size).toBe(plays.length);
    const oldest = await web(page, 'watchHistory', { type: 'shows', page: 1, sort: 'oldest', days: 90 });
    const since = Date.now() - 90 * DAY_MS;
    const recentEpisodes = plays.filter((p) => p.type === 'episode' && Date.parse(p.watched_at) >= since);
    expect(oldest.total_items).toBe(recentEpisodes.length);
    const times = oldest.history.map((h: any) => h.watched_at);
    expect(times).toEqual([...times].sort());

    // Heatmap: plays per UTC day over the last 180 days; top genres as an array.
    const { activity, genres } = await web(page, 'heatmapAndGenres');
    const from = new Date(Date.now() - 180 * DAY_MS).toISOString().slice(0, 10);
    const perDay = new Map<string, number>();
    for (const p of plays) {
      const date = p.watched_at.slice(0, 10);
      if (date >= from) perDay.set(date, (perDay.get(date) ?? 0) + 1);
    }
    expect(Object.fromEntries(activity.map((a: any) => [a.date, a.count]))).toEqual(Object.fromEntries(perDay));
    expect(Array.isArray(genres)).toBe(true);
    expect(genres.length).toBeGreaterThan(0);
    for (const genre of genres) expect(genre).toEqual({ name: expect.any(String), percentage: expect.any(Number) });

    // Completed media: the fully watched show, not the half-watched one.
    const completed = await web(page, 'completedMedia');
    expect(completed).toEqual([
      {
        id: expect.any(Number),
        title: run.fullShow!.title,
        year: expect.any(Number),
        image_url: expect.any(String),
        trakt_id: run.fullShow!.trakt,
        tmdb_id: run.fullShow!.tmdb,
        last_watched_at: expect.any(String),
      },
    ]);
    expect((await web(page, 'dashboard')).completed_shows.map((s: any) => s.trakt_id)).toEqual([run.fullShow!.trakt]);
  });

  it('refreshes before an expired JWT and on a 401, never on a 400, and signs out only when refresh fails', async () => {
    const page = run.page!;
    const before = await trace(page);
    // An access token whose exp has passed (as atob reads it): refreshed before the call.
    await page.evaluate(() => {
      const np = (window as any).nowPlaying;
      const [header, payload, signature] = String(np.store.access).split('.');
      const claims = JSON.parse(atob(payload ?? ''));
      localStorage.setItem('access_token', `${header}.${btoa(JSON.stringify({ ...claims, exp: 1 }))}.${signature}`);
    });
    expect((await web(page, 'profile')).username).toBe(run.username);
    const afterExpired = await trace(page);
    expect(afterExpired.refreshes).toBe(before.refreshes + 1);

    // A token the API rejects although its exp looks fine: 401, one refresh, one retry.
    await page.evaluate(() => {
      const np = (window as any).nowPlaying;
      const [header, payload] = String(np.store.access).split('.');
      localStorage.setItem('access_token', `${header}.${payload}.AAAA`);
    });
    expect((await web(page, 'profile')).username).toBe(run.username);
    const afterRejected = await trace(page);
    expect(afterRejected.refreshes).toBe(before.refreshes + 2);
    expect(afterRejected.requests.filter((r: any) => r.status === 401)).toHaveLength(1);
    const refreshToken = await page.evaluate(() => (window as any).nowPlaying.store.refresh);
    expect(refreshToken).toBeTruthy(); // never replaced: no rotation

    // Not connected (another user): a 400 with `error`, no refresh, no sign-out.
    const other = await webPage();
    await web(other, 'authSubmit', 'register', { username: unique('npweb'), password: PASSWORD, password2: PASSWORD });
    const sync = await web(other, 'fetchLatest', 'movies');
    expect(sync).toEqual({ ok: false, status: 400, error: 'No Trakt token found' });
    expect(await web(other, 'authStatus')).toMatchObject({ authenticated: false, connectButton: true });
    expect(await trace(other)).toMatchObject({ refreshes: 0, signedOut: false });

    // A refresh that fails wipes the tokens: signed out.
    await other.evaluate(() => {
      localStorage.setItem('access_token', 'x.eyJleHAiOjF9.y');
      localStorage.setItem('refresh_token', 'not-a-refresh-token');
    });
    await expect(web(other, 'profile')).rejects.toThrow(/signed out/);
    expect(await trace(other)).toMatchObject({ signedOut: true });
    expect(await other.evaluate(() => localStorage.getItem('refresh_token'))).toBeNull();
    await other.close();
  });
});

type Run = { code: number | null; stdout: string; prompts: string[] };

/**
 * Runs the setup script, answering each prompt with `answer(prompt, stdoutSoFar)`. The prompts are
 * recorded in order.
 */
function setupScript(answer: (prompt: string, stdout: string) => Promise<string>): Promise<Run> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const prompts: string[] = [];
    let busy = Promise.resolve();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`setup script timed out\n${stdout}\n${stderr}`));
    }, 45_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // Each prompt is answered once, in order, with the output seen up to it.
      for (const match of [...stdout.matchAll(PROMPT_PATTERN)].slice(prompts.length)) {
        const prompt = match[0];
        const seen = stdout;
        prompts.push(prompt);
        busy = busy.then(async () => {
          child.stdin.write(`${await answer(prompt, seen)}\n`);
        });
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (stderr.trim()) reject(new Error(`setup script wrote to stderr:\n${stderr}`));
      else done({ code, stdout, prompts });
    });
  });
}

const PROMPT_PATTERN =
  /(Server URL \(e\.g\. http:\/\/localhost:8000\)|Username|Password|Paste the full redirect URL): /g;

/** An API user (registered through the layer) with the Trakt app's credentials saved, and a Trakt account. */
async function scriptUser() {
  const { app } = await traktAccount();
  const username = unique('npscript');
  const reg = await api<{ access: string }>('POST', '/api/users/register/', {
    json: { username, email: 'a@b.test', password: PASSWORD, password2: PASSWORD },
  });
  expect(reg.status).toBe(201);
  await api('POST', '/api/users/api-keys/', {
    token: reg.body.access,
    json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
  });
  const connected = async () =>
    (await api<{ authenticated: boolean }>('GET', '/api/trakt/auth-status/', { token: reg.body.access })).body
      .authenticated;
  return { username, access: reg.body.access, connected };
}

describe("NowPlaying's OAuth setup script, given <host>/api as its server", () => {
  it('runs through: prompts answered, sign-in, authorize, a callback page that never links, the POST links', async () => {
    const user = await scriptUser();
    const page = await context.newPage();
    let sawCallbackPage = false;
    const result = await setupScript(async (prompt, stdout) => {
      if (prompt.startsWith('Server URL')) return base();
      if (prompt === 'Username: ') return user.username;
      if (prompt === 'Password: ') return PASSWORD;
      // The browser: approve on "Trakt", land on the callback page, copy its address.
      const authUrl = /Open this URL in your browser and authorize: (\S+)/.exec(stdout)![1]!;
      const redirect = await approveAt(authUrl);
      const callbackPage = `${base()}/trakt/oauth-callback/${redirect.search}`;
      await page.goto(callbackPage);
      expect(await page.textContent('#code')).toBe(redirect.searchParams.get('code'));
      expect(await user.connected()).toBe(false); // the GET linked nothing
      sawCallbackPage = true;
      return page.url();
    });
    await page.close();
    expect(result.prompts).toEqual([
      'Server URL (e.g. http://localhost:8000): ',
      'Username: ',
      'Password: ',
      'Paste the full redirect URL: ',
    ]);
    expect(sawCallbackPage).toBe(true);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/SUCCESS\. Token expires at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    expect(await user.connected()).toBe(true);
  });

  it('a pasted URL without state completes with the pending authorization; a wrong password aborts', async () => {
    const user = await scriptUser();
    const result = await setupScript(async (prompt, stdout) => {
      if (prompt.startsWith('Server URL')) return `${base()}/`;
      if (prompt === 'Username: ') return user.username;
      if (prompt === 'Password: ') return PASSWORD;
      const redirect = await approveAt(/authorize: (\S+)/.exec(stdout)![1]!);
      return `${stack().redirectUri}?code=${redirect.searchParams.get('code')}`;
    });
    expect(result.code, result.stdout).toBe(0);
    expect(await user.connected()).toBe(true);

    const wrong = await setupScript(async (prompt) =>
      prompt.startsWith('Server URL') ? base() : prompt === 'Username: ' ? user.username : 'wrong password!',
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain('FAILED: sign-in answered HTTP 400');
    expect(wrong.prompts).toHaveLength(3);
  });
});

describe("NowPlaying's helper page: its POST to the API's own callback", () => {
  it('posts code and state from its URL with the pasted JWT; ok && success gives a date; a replay shows error', async () => {
    const user = await scriptUser();
    const auth = await api<{ auth_url: string }>('GET', '/api/trakt/authenticate/', { token: user.access });
    const landed = await approveAt(auth.body.auth_url); // the helper's own URL gets ?code&state
    const helperPost = () =>
      fetch(`${stack().apiUrl}/trakt/oauth-callback/`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${user.access}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ code: landed.searchParams.get('code'), state: landed.searchParams.get('state') }),
      });
    const res = await helperPost();
    const body = (await res.json()) as { success?: boolean; expires_at?: string; error?: string };
    expect(res.ok && body.success).toBe(true);
    expect(Number.isNaN(new Date(body.expires_at!).getTime())).toBe(false);
    expect(await user.connected()).toBe(true);

    const again = await helperPost();
    const failed = (await again.json()) as { error?: string };
    expect(again.ok).toBe(false);
    expect(failed.error).toEqual(expect.any(String));
    expect(failed.error).not.toMatch(/[<>]/); // inserted as HTML by the helper: fixed texts only
  });
});
