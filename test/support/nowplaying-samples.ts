/**
 * Real answers of every route of the NowPlaying layer (`/api/*`, src/nowplaying/), success and documented
 * errors, for test/openapi.test.ts to check against the document. Uses users of its own: a synced account
 * with TMDB data, and accounts that are not connected.
 */
import { expect } from 'vitest';
import { SIM_DEFAULT_TMDB_KEY, type Simulator } from '../../simulator/support/harness';
import { call, type JsonResponse, registerAndLogin, uniqueName } from './api';
import { drainEnrichQueue } from './enrich-queue';
import { connectedUser, createTraktApp, storeTraktCredentials } from './trakt';

type Add = (key: string, res: JsonResponse, html?: boolean) => void;

export async function nowPlayingSamples(sim: Simulator, add: Add): Promise<void> {
  // Accounts.
  const username = uniqueName('npdoc');
  const password = 'long enough password';
  add('POST /api/users/register', await call('POST', '/api/users/register/', { json: { username, password } }));
  add('POST /api/users/register', await call('POST', '/api/users/register/', { json: { username, password } })); // 409
  add('POST /api/users/register', await call('POST', '/api/users/register/', { json: { username: 'x' } })); // 400
  const login = await call('POST', '/api/users/login/', { json: { username, password } });
  add('POST /api/users/login', login);
  add('POST /api/users/login', await call('POST', '/api/users/login/', { json: { username, password: 'wrong!' } }));
  add('POST /api/auth/login', await call('POST', '/api/auth/login/', { json: { username, password } }));
  const refresh = login.body.refresh as string;
  add('POST /api/users/token/refresh', await call('POST', '/api/users/token/refresh/', { json: { refresh } }));
  add('POST /api/users/token/refresh', await call('POST', '/api/users/token/refresh/', { json: { refresh: 'x' } }));
  const access = login.body.access as string;
  add('GET /api/users/profile', await call('GET', '/api/users/profile/', { token: access }));
  add('GET /api/users/profile', await call('GET', '/api/users/profile/', { token: 'not-a-jwt' })); // 401

  // API keys: add, list, change, remove.
  const key = { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY };
  const saved = await call('POST', '/api/users/api-keys/', { token: access, json: key });
  add('POST /api/users/api-keys', saved);
  add('POST /api/users/api-keys', await call('POST', '/api/users/api-keys/', { token: access, json: {} })); // 400
  add('GET /api/users/api-keys', await call('GET', '/api/users/api-keys/', { token: access }));
  const byId = `/api/users/api-keys/${saved.body.id}/`;
  add('PATCH /api/users/api-keys/{id}', await call('PATCH', byId, { token: access, json: { api_key: 'k2' } }));
  add(
    'PATCH /api/users/api-keys/{id}',
    await call('PATCH', '/api/users/api-keys/999999/', { token: access, json: { api_key: 'k' } }),
  );
  add('DELETE /api/users/api-keys/{id}', await call('DELETE', byId, { token: access }));
  add('DELETE /api/users/api-keys/{id}', await call('DELETE', byId, { token: access })); // 404

  // Not connected: the status, the refusals, and what is still served.
  add('GET /api/trakt/auth-status', await call('GET', '/api/trakt/auth-status/', { token: access }));
  add('GET /api/trakt/authenticate', await call('GET', '/api/trakt/authenticate/', { token: access })); // 400
  add('GET /api/trakt/fetch-latest-movies', await call('GET', '/api/trakt/fetch-latest-movies/', { token: access }));
  add('GET /api/trakt/movie-stats', await call('GET', '/api/trakt/movie-stats/?trakt_id=1', { token: access })); // 400
  add('GET /api/trakt/completed-media', await call('GET', '/api/trakt/completed-media/', { token: access }));

  // Connecting: the callback page (200, and 400 for a bad state), and the POST (200, and 400).
  const app = await createTraktApp(sim);
  const newcomer = await registerAndLogin();
  await storeTraktCredentials(newcomer.access, app);
  await sim.createAccount({ username: `${username}_trakt`, movies: 1, shows: 0 });
  await sim.setSession(`${username}_trakt`);
  const auth = await call('GET', '/api/trakt/authenticate/', { token: newcomer.access });
  add('GET /api/trakt/authenticate', auth);
  const redirect = await sim.authorize(auth.body.auth_url);
  const callbackUrl = `/api/trakt/oauth-callback/?code=${redirect.code}&state=${redirect.state}`;
  add('GET /api/trakt/oauth-callback', await call('GET', callbackUrl), true);
  add('GET /api/trakt/oauth-callback', await call('GET', '/api/trakt/oauth-callback/?code=x&state=y'), true);
  const post = (json: unknown) => call('POST', '/api/trakt/oauth-callback/', { token: newcomer.access, json });
  add('POST /api/trakt/oauth-callback', await post({ code: redirect.code, state: newcomer.id + 1 })); // 400
  add('POST /api/trakt/oauth-callback', await post({ code: redirect.code, state: newcomer.id }));

  // A synced account with TMDB data: every read and button.
  const user = await connectedUser(sim, { movies: 4, shows: 1, seasons_per_show: 2, episodes_per_season: 3 });
  expect((await call('POST', '/users/api-keys/', { token: user.access, json: key })).status).toBe(201);
  const token = { token: user.access };
  add('GET /api/trakt/fetch-latest-movies', await call('GET', '/api/trakt/fetch-latest-movies/', token));
  add('GET /api/trakt/fetch-latest-shows', await call('GET', '/api/trakt/fetch-latest-shows/', token));
  await drainEnrichQueue();
  add('GET /api/trakt/auth-status', await call('GET', '/api/trakt/auth-status/', token));
  const catalog = await sim.catalog(user.traktUsername);
  const movie = catalog.movies.find((m) => m.tmdb !== null)!;
  const show = catalog.shows[0]!;
  add('GET /api/trakt/update-movie', await call('GET', `/api/trakt/update-movie/?trakt_id=${movie.trakt}`, token));
  add('GET /api/trakt/update-movie', await call('GET', '/api/trakt/update-movie/?trakt_id=987654321', token)); // 404
  add('GET /api/trakt/update-show', await call('GET', `/api/trakt/update-show/?trakt_id=${show.trakt}`, token));
  add('GET /api/trakt/update-show', await call('GET', '/api/trakt/update-show/?trakt_id=987654321', token)); // 404
  add(
    'GET /api/trakt/get-stored-movies',
    await call('GET', '/api/trakt/get-stored-movies/?page=1&page_size=10', token),
  );
  add('GET /api/trakt/get-stored-shows', await call('GET', '/api/trakt/get-stored-shows/?page=1&page_size=10', token));
  const seasons = `/api/trakt/get-watched-seasons-episodes/?trakt_id=${show.trakt}`;
  add('GET /api/trakt/get-watched-seasons-episodes', await call('GET', seasons, token));
  add(
    'GET /api/trakt/get-watched-seasons-episodes',
    await call('GET', '/api/trakt/get-watched-seasons-episodes/?trakt_id=987654321', token),
  ); // 404
  add('GET /api/trakt/detail', await call('GET', `/api/trakt/detail/?type=movie&tmdb_id=${movie.tmdb}`, token));
  if (show.tmdb !== null)
    add('GET /api/trakt/detail', await call('GET', `/api/trakt/detail/?type=show&tmdb_id=${show.tmdb}`, token));
  add('GET /api/trakt/detail', await call('GET', '/api/trakt/detail/?type=movie&tmdb_id=987654321', token)); // 404
  add('GET /api/trakt/movie-stats', await call('GET', `/api/trakt/movie-stats/?trakt_id=${movie.trakt}`, token));
  add(
    'GET /api/trakt/watch-history',
    await call('GET', '/api/trakt/watch-history/?type=all&page=1&page_size=20', token),
  );
  add('GET /api/trakt/activity-heatmap', await call('GET', '/api/trakt/activity-heatmap/', token));
  add('GET /api/trakt/top-genres', await call('GET', '/api/trakt/top-genres/', token));
  add('GET /api/trakt/completed-media', await call('GET', '/api/trakt/completed-media/', token));
  add('GET /api/trakt/search', await call('GET', '/api/trakt/search/?q=e', token));
  add('GET /api/trakt/search', await call('GET', `/api/trakt/search/?q=${encodeURIComponent(show.title)}`, token));
}
