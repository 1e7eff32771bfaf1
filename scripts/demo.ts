/**
 * `npm run demo`: the whole product in one command, offline, with no account anywhere.
 *
 * Starts the upstream simulator (Trakt + TMDB) and the API with `wrangler dev` (local D1, KV and
 * Queues, migrations applied, fresh secrets in a temp env file: `.dev.vars` is neither read nor
 * written) through the e2e suite's stack helper, then walks the real flow over HTTP as a user
 * would: register, sign in, store the Trakt app credentials and the TMDB key, authorize at
 * "Trakt" (the simulator approves as its seeded `demo` account), complete the callback, sync
 * movies and shows, and print what was stored. With `--cron` it then adds plays at the simulator
 * and lets the Cron Trigger + queue consumer pick them up in the background.
 *
 * Plain Node 22 (type stripping; no dependencies): `node scripts/demo.ts --help`.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { type Stack, type StackInfo, startStack } from '../simulator/support/stack.ts';

const HELP = `Run the Trakt watch-history API against the offline Trakt/TMDB simulator.

Usage: npm run demo -- [options]

  --once             exit after printing the summary (0 on success, 1 on any failure)
  --cron             also demonstrate the background sync: new plays at "Trakt", the Cron
                     Trigger enqueues the due user, the queue consumer syncs (about 70 s)
  --port <n>         API port (default: a free port)
  --sim-port <n>     simulator port (default: a free port)
  --keep-logs        keep the wrangler logs and local state after exit
  --help, -h         show this help

Without --once both servers keep running until Ctrl-C.`;

/** The simulator's seeded account (simulator/src/demo.ts) and its default TMDB key. */
const TRAKT_ACCOUNT = 'demo';
const TMDB_KEY = 'sim-tmdb-key';
const CRON = '*/15 * * * *';
/** In --cron mode the demo API syncs every minute, so the user is due again soon after the manual sync. */
const CRON_SYNC_INTERVAL_MINUTES = 1;

type Options = { once: boolean; cron: boolean; apiPort?: number; simPort?: number; keepLogs: boolean };

class Failure extends Error {}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      once: { type: 'boolean', default: false },
      cron: { type: 'boolean', default: false },
      port: { type: 'string' },
      'sim-port': { type: 'string' },
      'keep-logs': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const port = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Failure(`--${name} must be a port number`);
    return n;
  };
  return {
    once: values.once,
    cron: values.cron,
    apiPort: port('port', values.port),
    simPort: port('sim-port', values['sim-port']),
    keepLogs: values['keep-logs'],
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP

type Reply<T> = { status: number; body: T; headers: Headers };

/** `expect`: the status required (default 200), or 'ok' for any 2xx. */
async function call<T>(
  url: string,
  method: string,
  options: { token?: string; json?: unknown; expect?: number | 'ok' } = {},
  attempt = 1,
): Promise<Reply<T>> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.json !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
    redirect: 'manual',
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  if (res.status === 503 && typeof body === 'string' && body.includes('restarted mid-request') && attempt < 4) {
    // wrangler dev reloads the Worker when a source file changes and fails the request in flight
    // (it retries only GET/HEAD itself); the sync endpoints are safe to repeat.
    process.stdout.write(
      `    (the Worker reloaded during ${method} ${new URL(url).pathname}: a source file changed; retrying)\n`,
    );
    await sleep(1_000);
    return call<T>(url, method, options, attempt + 1);
  }
  const expected = options.expect ?? 200;
  if (expected === 'ok' ? !res.ok : res.status !== expected) {
    throw new Failure(
      `${method} ${new URL(url).pathname}${new URL(url).search} → ${res.status} (expected ${expected}): ` +
        `${typeof body === 'string' ? body.slice(0, 300) : JSON.stringify(body)}`,
    );
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

function client(info: StackInfo) {
  return {
    api: async <T = Record<string, unknown>>(
      method: string,
      path: string,
      options: { token?: string; json?: unknown; expect?: number } = {},
    ) => (await call<T>(`${info.apiUrl}${path}`, method, options)).body,
    sim: async <T = Record<string, unknown>>(method: string, path: string, json?: unknown) =>
      (await call<T>(`${info.simUrl}/_sim${path}`, method, { json, expect: 'ok' })).body,
    /**
     * A fetch button, pressed: 200 with the counts. A new connection's first sync is queued at once and may
     * hold the user's sync lease when the button is pressed: the request is then recorded (202) and runs after
     * it, so wait until no sync runs and press again (`background`: the counts are then those of that run).
     */
    syncNow: async <T>(kind: 'movies' | 'shows', token: string): Promise<{ body: T; background: boolean }> => {
      for (let attempt = 0; attempt < 30; attempt++) {
        const reply = await call<T>(`${info.apiUrl}/trakt/fetch-latest-${kind}/`, 'POST', { token, expect: 'ok' });
        if (reply.status === 200) {
          // A request recorded meanwhile runs right after this one (a no-op): let it end, so what follows sees a
          // quiet account.
          let last = '';
          for (let quiet = 0, poll = 0; quiet < 3 && poll < 60; poll++) {
            const status = (await call<SyncStatus>(`${info.apiUrl}/trakt/sync-status/`, 'GET', { token })).body;
            const now = `${status.in_progress}|${status.last_sync_at}`;
            quiet = !status.in_progress && now === last ? quiet + 1 : 0;
            last = now;
            await sleep(1_000);
          }
          return { body: reply.body, background: attempt > 0 };
        }
        for (let poll = 0; poll < 240; poll++) {
          const status = (await call<SyncStatus>(`${info.apiUrl}/trakt/sync-status/`, 'GET', { token })).body;
          if (!status.in_progress && Object.keys(status.progress ?? {}).length === 0) break;
          await sleep(500);
        }
        await sleep(500);
      }
      throw new Failure(`POST /trakt/fetch-latest-${kind}/ kept answering 202: a sync never ended`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Response shapes (the parts the demo prints)

type SyncStatus = {
  connected: boolean;
  status: string;
  last_sync_at: string | null;
  last_result: Record<string, unknown> | null;
  last_error: string | null;
  next_sync_at: string | null;
  in_progress: boolean;
  progress?: Record<string, unknown>;
  counts: { movies: number; shows: number; episodes: number; plays: number };
};
type Counts = {
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  plays_added: number;
  plays_removed: number;
};
type StoredMovies = {
  total_items: number;
  movies: {
    plays: number;
    last_watched_at: string;
    movie: { title: string; year: number | null; image_url: string | null; ids: { trakt: number } };
  }[];
};
type StoredShows = {
  total_items: number;
  shows: {
    last_watched_at: string;
    show: { title: string; year: number | null; image_url: string | null; ids: { trakt: number } };
  }[];
};
type SeasonsEpisodes = {
  seasons: { season_number: number }[];
  episodes: {
    season__season_number: number;
    episode_number: number;
    title: string | null;
    plays: number;
    image_url: string | null;
  }[];
};
type SimSummary = { movies_watched: number; shows_watched: number; episodes_watched: number; total_plays: number };
type SimCatalog = {
  movies: { trakt: number; title: string }[];
  shows: {
    trakt: number;
    title: string;
    seasons: { number: number; episodes: { number: number; trakt: number }[] }[];
  }[];
};
type SimPlay = { id: number; type: 'movie' | 'episode'; trakt_id: number };

// ---------------------------------------------------------------------------------------------
// Output

const log = (line = '') => process.stdout.write(`${line}\n`);
const step = (text: string) => log(`  • ${text}`);
const heading = (text: string) => log(`\n== ${text} ${'='.repeat(Math.max(0, 76 - text.length))}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const title = (t: { title: string; year: number | null }) => `${t.title}${t.year ? ` (${t.year})` : ''}`;
const day = (iso: string) => iso.slice(0, 16).replace('T', ' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function printLists(movies: StoredMovies, shows: StoredShows) {
  log(`\nMost recent movies (${movies.total_items} stored):`);
  for (const m of movies.movies)
    log(
      `  ${day(m.last_watched_at)}  ${title(m.movie).padEnd(44)} plays ${m.plays}  ` +
        `${m.movie.image_url ?? '(no image)'}`,
    );
  log(`\nMost recent shows (${shows.total_items} stored):`);
  for (const s of shows.shows)
    log(
      `  ${day(s.last_watched_at)}  ${title(s.show).padEnd(44)} trakt ${String(s.show.ids.trakt).padEnd(8)} ` +
        `${s.show.image_url ?? '(no image)'}`,
    );
}

// ---------------------------------------------------------------------------------------------
// The walk-through

type Session = { username: string; password: string; access: string; showTraktId?: number };

async function walkThrough(info: StackInfo): Promise<Session> {
  const { api, sim, syncNow } = client(info);

  heading('1. A Trakt app and a signed-in Trakt user (at the simulator)');
  const app = await sim<{ client_id: string; client_secret: string }>('POST', '/apps', {
    redirect_uris: [info.redirectUri],
  });
  step(`registered app ${app.client_id} with redirect URI ${info.redirectUri}`);
  await sim('POST', '/session', { username: TRAKT_ACCOUNT });
  const simSummary = await sim<SimSummary>('GET', `/accounts/${TRAKT_ACCOUNT}/summary`);
  step(
    `signed in at "trakt.tv" as "${TRAKT_ACCOUNT}": ${simSummary.movies_watched} movies, ` +
      `${simSummary.shows_watched} shows, ${simSummary.episodes_watched} episodes watched`,
  );

  heading('2. An API user');
  const username = 'demo';
  const password = `demo-${randomBytes(6).toString('base64url')}`;
  await api('POST', '/users/register/', { json: { username, password }, expect: 201 });
  step(`POST /users/register/     → registered "${username}" (password ${password})`);
  const { access } = await api<{ access: string }>('POST', '/users/token/', { json: { username, password } });
  step('POST /users/token/        → JWT access token');
  await api('POST', '/users/api-keys/', {
    token: access,
    json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
    expect: 201,
  });
  step('POST /users/api-keys/     → stored the Trakt client id/secret (service "trakt")');
  await api('POST', '/users/api-keys/', {
    token: access,
    json: { service_name: 'tmdb', api_key: TMDB_KEY },
    expect: 201,
  });
  step('POST /users/api-keys/     → stored the TMDB key (service "tmdb")');

  heading('3. Connect Trakt (OAuth)');
  const { auth_url } = await api<{ auth_url: string }>('GET', '/trakt/authenticate/', { token: access });
  step(`GET /trakt/authenticate/  → ${auth_url.replace(/state=[^&]+/, 'state=…')}`);
  const authorize = await fetch(auth_url, { redirect: 'manual' });
  const location = authorize.headers.get('location');
  if (authorize.status !== 302 || !location)
    throw new Failure(`Trakt's authorize page did not redirect: ${authorize.status} ${await authorize.text()}`);
  if (!location.startsWith(info.redirectUri)) throw new Failure(`Trakt redirected somewhere else: ${location}`);
  const shown = location.replace(/code=[^&]+/, 'code=…').replace(/state=[^&]+/, 'state=…');
  step(`"Trakt" approved and redirected to ${shown}`);
  // Trakt's redirect only shows the code (GET never links); the signed-in client confirms with its JWT.
  const landed = new URL(location).searchParams;
  const callback = await api<{ message: string }>('POST', '/trakt/oauth-callback/', {
    token: access,
    json: { code: landed.get('code'), state: landed.get('state') },
  });
  step(`POST /trakt/oauth-callback/ → ${callback.message}`);
  const auth = await api<{ authenticated: boolean; expires_at?: string }>('GET', '/trakt/auth-status/', {
    token: access,
  });
  if (!auth.authenticated) throw new Failure(`auth-status says not authenticated: ${JSON.stringify(auth)}`);
  step(`GET /trakt/auth-status/   → authenticated, token expires ${auth.expires_at}`);

  heading('4. Sync watch history');
  let started = Date.now();
  // The new connection's first sync was queued when it connected: a fetch may find it running, wait, and ask again.
  const firstRun = ' (the first sync, queued when Trakt was connected, ran in the background first)';
  const moviesRun = await syncNow<Counts>('movies', access);
  const movies = moviesRun.body;
  step(
    `POST /trakt/fetch-latest-movies/ → ${movies.added} movies added, ${movies.plays_added} plays ` +
      `(${seconds(Date.now() - started)}, TMDB posters included)${moviesRun.background ? firstRun : ''}`,
  );
  started = Date.now();
  const showsRun = await syncNow<Counts & { episodes: { added: number } }>('shows', access);
  const shows = showsRun.body;
  step(
    `POST /trakt/fetch-latest-shows/  → ${shows.added} shows, ${shows.episodes.added} episodes added, ` +
      `${shows.plays_added} plays (${seconds(Date.now() - started)})${showsRun.background ? firstRun : ''}`,
  );

  heading('5. What is stored');
  const status = await api<SyncStatus>('GET', '/trakt/sync-status/', { token: access });
  const storedMovies = await api<StoredMovies>('GET', '/trakt/get-stored-movies/?page=1&page_size=5', {
    token: access,
  });
  const storedShows = await api<StoredShows>('GET', '/trakt/get-stored-shows/?page=1&page_size=5', { token: access });
  const c = status.counts;
  log(
    `Stored: ${c.movies} movies, ${c.shows} shows, ${c.episodes} episodes, ${c.plays} plays (last sync ` +
      `${status.last_sync_at}, next background sync ${status.next_sync_at})`,
  );
  const matches =
    c.movies === simSummary.movies_watched &&
    c.shows === simSummary.shows_watched &&
    c.episodes === simSummary.episodes_watched;
  log(
    `Simulator account "${TRAKT_ACCOUNT}": ${simSummary.movies_watched} movies, ${simSummary.shows_watched} shows, ` +
      `${simSummary.episodes_watched} episodes watched → ${matches ? 'match' : 'MISMATCH'}`,
  );
  if (!matches) throw new Failure('the stored counts do not match the simulator account');
  if (storedMovies.total_items !== c.movies || storedShows.total_items !== c.shows) {
    throw new Failure(
      `list totals (${storedMovies.total_items} movies, ${storedShows.total_items} shows) differ from sync-status`,
    );
  }
  printLists(storedMovies, storedShows);

  const show = storedShows.shows[0];
  if (show) {
    const detail = await api<SeasonsEpisodes>(
      'GET',
      `/trakt/get-watched-seasons-episodes/?trakt_id=${show.show.ids.trakt}`,
      { token: access },
    );
    log(`\n${title(show.show)}: ${detail.seasons.length} seasons, ${detail.episodes.length} watched episodes`);
    for (const season of detail.seasons) {
      const eps = detail.episodes.filter((e) => e.season__season_number === season.season_number);
      log(`  Season ${season.season_number}: ${eps.length} episodes`);
      for (const e of eps.slice(0, 3))
        log(
          `    E${String(e.episode_number).padStart(2, '0')} ${(e.title ?? '').padEnd(36)} plays ${e.plays}  ` +
            `${e.image_url ?? '(no image)'}`,
        );
      if (eps.length > 3) log(`    … ${eps.length - 3} more`);
    }
  }
  return { username, password, access, showTraktId: show?.show.ids.trakt };
}

/** New plays at "Trakt", the user made due, the Cron Trigger, the queue consumer: what changed. */
async function backgroundSync(info: StackInfo, session: Session): Promise<void> {
  const { api, sim } = client(info);
  heading('6. Background sync: Cron Trigger → queue → consumer');
  const before = await api<SyncStatus>('GET', '/trakt/sync-status/', { token: session.access });

  // New plays: a rewatched movie and two episodes not watched yet (or rewatched if all are).
  const catalog = await sim<SimCatalog>('GET', `/accounts/${TRAKT_ACCOUNT}/catalog`);
  const plays = await sim<SimPlay[]>('GET', `/accounts/${TRAKT_ACCOUNT}/plays`);
  const watchedEpisodes = new Set(plays.filter((p) => p.type === 'episode').map((p) => p.trakt_id));
  const allEpisodes = catalog.shows.flatMap((s) =>
    s.seasons.flatMap((season) => season.episodes.map((e) => ({ show: s.title, season: season.number, ...e }))),
  );
  const episodes = [...allEpisodes.filter((e) => !watchedEpisodes.has(e.trakt)), ...allEpisodes].slice(0, 2);
  const movie = catalog.movies[catalog.movies.length - 1];
  if (!movie || episodes.length < 2) throw new Failure('the simulator catalog is empty');
  await sim('POST', `/accounts/${TRAKT_ACCOUNT}/plays`, { type: 'movie', trakt_id: movie.trakt });
  step(`watched at "Trakt": ${movie.title} (movie ${movie.trakt})`);
  for (const e of episodes) {
    await sim('POST', `/accounts/${TRAKT_ACCOUNT}/plays`, { type: 'episode', trakt_id: e.trakt });
    step(
      `watched at "Trakt": ${e.show} S${String(e.season).padStart(2, '0')}E${String(e.number).padStart(2, '0')} ` +
        `(episode ${e.trakt})`,
    );
  }

  // The manual sync moved next_sync_at to the user's next phase point; this API instance syncs every minute. The
  // cron claims everyone due before its next run and delays each message to the user's phase, so no waiting here.
  step(
    `the user is due for a background sync at ${before.next_sync_at} ` +
      `(SYNC_INTERVAL_MINUTES=${CRON_SYNC_INTERVAL_MINUTES}); the cron delivers the message then`,
  );

  const trigger = async () => {
    const res = await fetch(`${info.apiUrl}/__scheduled?cron=${encodeURIComponent(CRON).replace(/%20/g, '+')}`);
    const text = await res.text();
    if (!res.ok) throw new Failure(`GET /__scheduled → ${res.status}: ${text.slice(0, 300)}`);
    return text.trim();
  };
  step(`GET /__scheduled?cron=${CRON.replace(/ /g, '+')} → ${await trigger()}`);
  const triggeredAt = Date.now();

  let after = before;
  // The message's delay (at most one interval here) plus the sync.
  const deadline = Date.now() + 60_000 + CRON_SYNC_INTERVAL_MINUTES * 60_000;
  let retriggered = false;
  while (Date.now() < deadline) {
    await sleep(1_000);
    after = await api<SyncStatus>('GET', '/trakt/sync-status/', { token: session.access });
    if (after.last_sync_at !== before.last_sync_at && !after.in_progress) break;
    // Not claimed (the cron ran a moment before the user was due): run it once more.
    if (!retriggered && after.next_sync_at === before.next_sync_at && Date.now() - triggeredAt > 10_000) {
      retriggered = true;
      step(`the user was not claimed yet; GET /__scheduled again → ${await trigger()}`);
    }
  }
  if (after.last_sync_at === before.last_sync_at) {
    throw new Failure(
      `the background sync did not run within ${60 + CRON_SYNC_INTERVAL_MINUTES * 60} s of the cron ` +
        `(sync-status: ${JSON.stringify(after)})`,
    );
  }
  if (after.last_error) throw new Failure(`the background sync failed: ${after.last_error}`);
  step(
    `the queue consumer synced the user at ${after.last_sync_at} ` +
      `(${seconds(Date.parse(after.last_sync_at ?? '') - triggeredAt)} after the cron)`,
  );

  const result = after.last_result as {
    movies?: Counts;
    shows?: Counts & { episodes?: { added: number; updated: number } };
  } | null;
  const d = (a: number, b: number) => `${a} → ${b} (${b - a >= 0 ? '+' : ''}${b - a})`;
  log(
    `\nBackground sync picked up: movies ${d(before.counts.movies, after.counts.movies)}, shows ` +
      `${d(before.counts.shows, after.counts.shows)}, episodes ` +
      `${d(before.counts.episodes, after.counts.episodes)}, plays ${d(before.counts.plays, after.counts.plays)}`,
  );
  if (result) {
    log(
      `Last result: movies +${result.movies?.plays_added ?? 0} plays (${result.movies?.updated ?? 0} updated), ` +
        `shows +${result.shows?.plays_added ?? 0} plays (episodes ${result.shows?.episodes?.added ?? 0} added, ` +
        `${result.shows?.episodes?.updated ?? 0} updated)`,
    );
  }
  const newPlays = 1 + episodes.length;
  if (after.counts.plays - before.counts.plays !== newPlays) {
    throw new Failure(
      `expected ${newPlays} new plays after the background sync, got ${after.counts.plays - before.counts.plays}`,
    );
  }
  const storedMovies = await api<StoredMovies>('GET', '/trakt/get-stored-movies/?page=1&page_size=3', {
    token: session.access,
  });
  const storedShows = await api<StoredShows>('GET', '/trakt/get-stored-shows/?page=1&page_size=3', {
    token: session.access,
  });
  printLists(storedMovies, storedShows);
}

function printNextSteps(info: StackInfo, session: Session, options: Options) {
  heading('Continue by hand');
  log(`API        ${info.apiUrl}   (docs: ${info.apiUrl}/docs)`);
  log(`Simulator  ${info.simUrl}   (admin API: /_sim/*, see simulator/README.md)`);
  log(`API user   ${session.username} / ${session.password}`);
  log(`Dashboard  ${info.apiUrl}/app/   (sign in as ${session.username} / ${session.password})`);
  log(`Logs       ${info.logDir}${options.keepLogs ? '' : ' (removed on exit)'}`);
  log('');
  log(`export API=${info.apiUrl}`);
  log(
    `export TOKEN=${session.access}   # valid for 1 hour; renew: curl -s -X POST $API/users/token/ -H ` +
      `'Content-Type: application/json' -d '{"username":"${session.username}","password":"${session.password}"}'`,
  );
  log(`curl -s -H "Authorization: Bearer $TOKEN" "$API/trakt/sync-status/"`);
  log(`curl -s -H "Authorization: Bearer $TOKEN" "$API/trakt/get-stored-movies/?page=1&page_size=10"`);
  log(`curl -s -H "Authorization: Bearer $TOKEN" "$API/trakt/get-stored-shows/?page=1&page_size=10"`);
  if (session.showTraktId)
    log(
      'curl -s -H "Authorization: Bearer $TOKEN" ' +
        `"$API/trakt/get-watched-seasons-episodes/?trakt_id=${session.showTraktId}"`,
    );
  log(
    `curl -s -X POST ${info.simUrl}/_sim/accounts/${TRAKT_ACCOUNT}/plays -H 'Content-Type: application/json' -d ` +
      `'{"type":"movie","trakt_id":<id from /_sim/accounts/${TRAKT_ACCOUNT}/catalog>}'`,
  );
  log(`curl -s -X POST -H "Authorization: Bearer $TOKEN" "$API/trakt/fetch-latest-movies/"`);
  log(
    `curl -s "$API/__scheduled?cron=*/15+*+*+*+*"   # run the Cron Trigger (syncs users whose next_sync_at has passed)`,
  );
}

async function main(): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}\n`);
    return 2;
  }
  if (options === 'help') {
    log(HELP);
    return 0;
  }

  log('Starting the Trakt/TMDB simulator and the API (wrangler dev, local D1/KV/Queues)…');
  const startedAt = Date.now();
  let stack: Stack | undefined;
  let stopping: Promise<void> | undefined;
  const shutdown = (keepLogs = false) => (stopping ??= stack ? stack.stop({ keepLogs }) : Promise.resolve());
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      log(`\n${signal}: stopping both servers…`);
      void shutdown().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }

  try {
    stack = await startStack({
      apiPort: options.apiPort,
      simPort: options.simPort,
      redirectPath: '/trakt/oauth-callback/',
      testScheduled: true,
      snapshotSimulator: true,
      vars: options.cron ? { SYNC_INTERVAL_MINUTES: String(CRON_SYNC_INTERVAL_MINUTES) } : {},
      keepLogs: options.keepLogs,
    });
    const { info } = stack;
    log(`Simulator  ${info.simUrl}`);
    log(`API        ${info.apiUrl}   (ready in ${seconds(Date.now() - startedAt)})`);

    const failed = stack.exited.then((message) => {
      throw new Failure(message);
    });
    failed.catch(() => undefined); // raced below; never an unhandled rejection
    const session = await Promise.race([walkThrough(info), failed]);
    if (options.cron) await Promise.race([backgroundSync(info, session), failed]);
    // A fresh JWT for the commands to copy.
    session.access = (
      await client(info).api<{ access: string }>('POST', '/users/token/', {
        json: { username: session.username, password: session.password },
      })
    ).access;
    printNextSteps(info, session, options);

    if (options.once) {
      log(`\nDone in ${seconds(Date.now() - startedAt)}; stopping both servers (--once).`);
      await shutdown();
      return 0;
    }
    log('\nBoth servers keep running. Press Ctrl-C to stop them.');
    const message = await stack.exited;
    process.stderr.write(`\nA server stopped unexpectedly: ${message}\n`);
    await shutdown();
    return 1;
  } catch (error) {
    process.stderr.write(`\nDemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    if (stack) process.stderr.write(`wrangler logs (kept): ${stack.info.logDir}\n`);
    await shutdown(true);
    return 1;
  }
}

// Exit explicitly: idle keep-alive sockets to the stopped servers must not hold the process open.
process.exit(await main());
