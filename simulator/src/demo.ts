/**
 * @module demo
 * Seeds a standalone simulator (`npm run sim`) so it is usable at once: a Trakt app matching
 * the API's default redirect URI, the default TMDB key, and a `demo` account.
 */
import { createAccount } from './accounts';
import type { SimulatorInstance } from './app';
import { BASE_DATE_MS, DEFAULT_HISTORY_START } from './dataset';

export const DEMO_CLIENT_ID = 'sim-client-id';
export const DEMO_CLIENT_SECRET = 'sim-client-secret';
export const DEMO_REDIRECT_URIS = [
  'http://localhost:8787/trakt/oauth-callback/',
  'http://127.0.0.1:8787/trakt/oauth-callback/',
];

export function seedDemo(sim: SimulatorInstance): void {
  sim.state.apps.set(DEMO_CLIENT_ID, {
    clientId: DEMO_CLIENT_ID,
    clientSecret: DEMO_CLIENT_SECRET,
    redirectUris: [...DEMO_REDIRECT_URIS],
  });
  createAccount(sim.state, {
    username: 'demo',
    seed: 'demo',
    movies: 200,
    shows: 20,
    seasonsPerShow: 3,
    episodesPerSeason: 10,
    playsPerItem: 1,
    rewatchFraction: 0.1,
    nullTmdbFraction: 0.05,
    missingOnTmdbFraction: 0.03,
    historyStart: Date.parse(DEFAULT_HISTORY_START),
    historyEnd: BASE_DATE_MS,
  });
}
