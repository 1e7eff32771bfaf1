/**
 * The simulator's own speed (not part of `npm test`): seeding the large account the API
 * benchmarks use and serving one deep page of it. The time is printed, never asserted; the
 * assertions only check that the work happened.
 */
import { afterEach, expect, it } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';

let sim: Simulator | undefined;
afterEach(() => sim?.restore());

it('seeds 5,000 movies and 300 shows and serves page 20 of watched movies', async () => {
  sim = installSimulator();
  const app = await sim.createApp();
  const started = performance.now();
  const account = await sim.createAccount({
    username: 'big',
    movies: 5000,
    shows: 300,
    seasons_per_show: 3,
    episodes_per_season: 10,
  });
  const seededMs = performance.now() - started;
  expect(account.summary.movies_watched).toBe(5000);
  const token = (await sim.issueTokens({ username: 'big', client_id: app.client_id })).access_token;
  const pageStarted = performance.now();
  const response = await sim.trakt('/sync/watched/movies?limit=250&page=20', {
    accessToken: token,
    clientId: app.client_id,
  });
  expect(await response.json<unknown[]>()).toHaveLength(250);
  const pageMs = performance.now() - pageStarted;
  console.log(
    `simulator: seeded 5000 movies + 300 shows in ${seededMs.toFixed(0)} ms; page 20 in ${pageMs.toFixed(1)} ms`,
  );
});
