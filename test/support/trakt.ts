/**
 * Test helpers for connecting an API user to a simulator Trakt account through the real flow.
 */
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import type { AccountInput, AppCredentials, Simulator } from '../../simulator/support/harness';
import { registerAndLogin } from './api';
import { api, ok } from './client';

let accountCounter = 0;

export async function createTraktApp(sim: Simulator): Promise<AppCredentials> {
  return sim.createApp({ redirect_uris: [env.TRAKT_REDIRECT_URI] });
}

export async function storeTraktCredentials(access: string, app: AppCredentials) {
  await ok(
    api(access).users['api-keys'].$post({
      json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
    }),
    201,
  );
}

/**
 * Registers an API user, a simulator account (dataset per `account`), stores credentials and connects through the POST callback (with the user's JWT).
 * Each user gets a Trakt app of their own unless `options.app` is given (users sharing one app share its rate limits).
 */
export async function connectedUser(
  sim: Simulator,
  account: Partial<AccountInput> = {},
  options: { app?: AppCredentials } = {},
) {
  accountCounter += 1;
  const traktUsername = account.username ?? `trakt_${accountCounter}_${Math.random().toString(36).slice(2, 7)}`;
  const info = await sim.createAccount({ movies: 3, shows: 1, ...account, username: traktUsername });
  const app = options.app ?? (await createTraktApp(sim));
  const user = await registerAndLogin();
  await storeTraktCredentials(user.access, app);
  await sim.setSession(traktUsername);
  const auth = await ok(api(user.access).trakt.authenticate.$get());
  const redirect = await sim.authorize(auth.body.auth_url);
  expect(redirect.code).toBeTruthy();
  await ok(
    api(user.access).trakt['oauth-callback'].$post({
      json: { code: redirect.code ?? '', state: redirect.state ?? '' },
    }),
  );
  return { ...user, app, traktUsername, account: info };
}
