/**
 * Sessions and account lifecycle: refresh tokens that can be revoked (logout one / all, password
 * change), JWT issuer and audience, account deletion (every row of the user in every table, every
 * KV key, the Trakt token revoked), and clearing the stored history for a clean re-sync.
 */
import { env } from 'cloudflare:workers';
import { sign } from 'hono/jwt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { database, runBatch } from '../src/db/client';
import { stageNewPlays } from '../src/readmodel/play-outbox';
import { acquireSyncLease } from '../src/sync/state';
import { BASE, call, expectError, registerAndLogin } from './support/api';
import { api, expectStatus, ok, read } from './support/client';
import { meterD1 } from './support/d1-meter';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

const refresh = (token: string) => read(api().users.token.refresh.$post({ json: { refresh: token } }));
const login = (username: string, password: string) => read(api().users.token.$post({ json: { username, password } }));
const logout = (token: string, json: { refresh: string } | { all: true }) =>
  read(api(token).users.logout.$post({ json }));

const storedMovies = async (token: string) =>
  (await ok(api(token).trakt['get-stored-movies'].$get({ query: {} }))).body;

describe('refresh tokens', () => {
  it('are not rotated: the same refresh token keeps minting access tokens', async () => {
    const user = await registerAndLogin();
    for (let i = 0; i < 3; i++) {
      const res = await refresh(user.refresh);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(['access']);
    }
  });
});

describe('POST /users/logout/', () => {
  it('{"refresh"} revokes that refresh token only', async () => {
    const user = await registerAndLogin();
    const other = await login(user.username, user.password);
    expect(other.status).toBe(200);

    const res = await logout(user.access, { refresh: user.refresh });
    expect(res.status).toBe(204);
    expect(res.body).toBe('');
    expectError(await refresh(user.refresh), 401, 'Token has been revoked');
    expect((await refresh(other.body.refresh)).status).toBe(200);
    // Idempotent.
    expect((await logout(user.access, { refresh: user.refresh })).status).toBe(204);
  });

  it('{"all": true} revokes every session of the user, and no one else’s', async () => {
    const user = await registerAndLogin();
    const second = await login(user.username, user.password);
    const stranger = await registerAndLogin();
    expect((await refresh(user.refresh)).status).toBe(200);
    expect((await refresh(second.body.refresh)).status).toBe(200);

    expect((await logout(user.access, { all: true })).status).toBe(204);
    expectError(await refresh(user.refresh), 401);
    expectError(await refresh(second.body.refresh), 401);
    expect((await refresh(stranger.refresh)).status).toBe(200);
    // Logging in again opens a new session.
    const again = await login(user.username, user.password);
    expect((await refresh(again.body.refresh)).status).toBe(200);
  });

  it('refuses another user’s refresh token, and validates its body', async () => {
    const user = await registerAndLogin();
    const stranger = await registerAndLogin();
    expectError(
      await call('POST', '/users/logout/', { token: user.access, json: { refresh: stranger.refresh } }),
      400,
      'refresh is not a refresh token of the signed-in user',
    );
    expect((await refresh(stranger.refresh)).status).toBe(200);
    expectError(
      await call('POST', '/users/logout/', { token: user.access, json: { refresh: user.access } }),
      400,
      'refresh is not a refresh token of the signed-in user',
    );
    for (const json of [{}, { all: false }, { refresh: user.refresh, all: true }, { refresh: '' }]) {
      const res = await call('POST', '/users/logout/', { token: user.access, json });
      expectError(res, 400, /^Invalid request body/);
    }
    expectError(await call('POST', '/users/logout/', { json: { all: true } }), 401);
    expect((await refresh(user.refresh)).status).toBe(200);
  });
});

describe('POST /users/me/password/', () => {
  it('re-hashes the password and revokes every refresh token issued before', async () => {
    const user = await registerAndLogin();
    const second = await login(user.username, user.password);
    const res = await read(
      api(user.access).users.me.password.$post({
        json: { current_password: user.password, new_password: 'an entirely new passphrase' },
      }),
    );
    expect(res.status).toBe(204);
    expectError(await refresh(user.refresh), 401);
    expectError(await refresh(second.body.refresh), 401);
    expectError(await login(user.username, user.password), 401, 'Invalid username or password');
    const fresh = await login(user.username, 'an entirely new passphrase');
    expect(fresh.status).toBe(200);
    expect((await refresh(fresh.body.refresh)).status).toBe(200);
  });

  it('a wrong current password is 403 and changes nothing; bad bodies are 400', async () => {
    const user = await registerAndLogin();
    expectError(
      await call('POST', '/users/me/password/', {
        token: user.access,
        json: { current_password: 'not the password', new_password: 'an entirely new passphrase' },
      }),
      403,
      'current_password is incorrect',
    );
    expect((await refresh(user.refresh)).status).toBe(200);
    expect((await login(user.username, user.password)).status).toBe(200);
    for (const json of [
      { current_password: user.password },
      { current_password: user.password, new_password: 'short' },
      { new_password: 'an entirely new passphrase' },
    ]) {
      expectError(
        await call('POST', '/users/me/password/', { token: user.access, json }),
        400,
        /^Invalid request body/,
      );
    }
  });
});

describe('access tokens die with a password change or "log out everywhere"', () => {
  /** JWT `iat` counts seconds: wait for the next one, so a token issued before the change is from an earlier second. */
  const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1005 - (Date.now() % 1000)));
  const MOVIES = '/trakt/get-stored-movies/';
  /** The stored movies as `token`'s holder (with `If-None-Match: etag` when given), through the typed client. */
  const movies = (token: string, etag?: string) =>
    read(api(token, etag ? { 'If-None-Match': etag } : undefined).trakt['get-stored-movies'].$get({ query: {} }));
  const me = (token: string) => read(api(token).users.me.$get());

  /** Every kind of gate: requireUser, a requireToken read, its 304 path, and the export stream. */
  async function expectRevoked(access: string, etag: string) {
    for (const res of [
      await call('GET', '/users/me/', { token: access }),
      await call('GET', '/users/api-keys/', { token: access }),
      await call('GET', MOVIES, { token: access }),
      await call('GET', MOVIES, { token: access, headers: { 'If-None-Match': etag } }),
      await call('GET', '/trakt/export/?format=csv', { token: access }),
    ]) {
      expectError(res, 401, 'Token has been revoked');
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer');
    }
  }

  it('a password change refuses every access token issued before it, at once; a new login works at once', async () => {
    const user = await registerAndLogin();
    const second = await login(user.username, user.password);
    const stranger = await registerAndLogin();
    const etag = (await movies(user.access)).headers.get('ETag')!;
    expect((await movies(user.access, etag)).status).toBe(304);
    await nextSecond();

    const res = await read(
      api(user.access).users.me.password.$post({
        json: { current_password: user.password, new_password: 'an entirely new passphrase' },
      }),
    );
    expect(res.status).toBe(204);
    await expectRevoked(user.access, etag);
    await expectRevoked(second.body.access, etag);
    // Logging in right after the change (within the same second) gives a token that works.
    const fresh = await login(user.username, 'an entirely new passphrase');
    expect((await me(fresh.body.access)).status).toBe(200);
    expect((await movies(fresh.body.access)).status).toBe(200);
    expect((await me(stranger.access)).status).toBe(200);
  });

  it('{"all": true} refuses every access token of the user issued so far, and no one else’s', async () => {
    const user = await registerAndLogin();
    const second = await login(user.username, user.password);
    const stranger = await registerAndLogin();
    const etag = (await movies(user.access)).headers.get('ETag')!;
    await nextSecond();

    expect((await logout(second.body.access, { all: true })).status).toBe(204);
    await expectRevoked(user.access, etag);
    await expectRevoked(second.body.access, etag);
    expect((await me(stranger.access)).status).toBe(200);
    const again = await login(user.username, user.password);
    expectStatus(again, 200);
    expect((await me(again.body.access)).status).toBe(200);
    // Logging out one refresh token does not touch access tokens.
    expect((await logout(again.body.access, { refresh: again.body.refresh })).status).toBe(204);
    expect((await me(again.body.access)).status).toBe(200);
  });

  it('costs no extra D1 round trip: the gate is read with the row requireUser and the freshness query already read', async () => {
    const user = await registerAndLogin();
    const etag = (await movies(user.access)).headers.get('ETag')!;

    // A 304 is still ONE D1 call, whose one statement reads tokens_valid_after from users.
    const notModified = await meterD1(() => movies(user.access, etag));
    expect(notModified.result.status).toBe(304);
    expect(notModified.meter.calls).toHaveLength(1);
    expect(notModified.meter.statements[0]).toMatch(/"users"\."tokens_valid_after"/);
    // requireUser: one primary-key read of users (the same statement as before, with one more column).
    const keys = await meterD1(() => read(api(user.access).users['api-keys'].$get()));
    expect(keys.result.status).toBe(200);
    expect(keys.meter.calls).toHaveLength(2); // the gate + the list
    expect(keys.meter.statements[0]).toMatch(/select "tokens_valid_after" from "users"/);

    await nextSecond();
    expect((await logout(user.access, { all: true })).status).toBe(204);
    // Refused from the same single statement.
    const refused304 = await meterD1(() =>
      call('GET', MOVIES, { token: user.access, headers: { 'If-None-Match': etag } }),
    );
    expectError(refused304.result, 401, 'Token has been revoked');
    expect(refused304.meter.calls).toHaveLength(1);
    const refused = await meterD1(() => call('GET', '/users/api-keys/', { token: user.access }));
    expectError(refused.result, 401, 'Token has been revoked');
    expect(refused.meter.calls).toHaveLength(1);
  });
});

describe('JWT issuer and audience', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const host = new URL(BASE).host;

  it('issues iss and aud = the request host by default, and refuses tokens for another issuer', async () => {
    const user = await registerAndLogin();
    const claims = JSON.parse(atob(user.access.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')));
    expect(claims).toMatchObject({ iss: host, aud: host, typ: 'access', sub: String(user.id) });

    const base = { sub: String(user.id), typ: 'access', iat: now(), exp: now() + 60 };
    const good = await sign({ ...base, iss: host, aud: host }, env.JWT_SECRET, 'HS256');
    expect((await read(api(good).users.me.$get())).status).toBe(200);
    for (const claims of [
      { ...base, aud: host },
      { ...base, iss: host },
      { ...base, iss: 'other.example', aud: host },
      { ...base, iss: host, aud: 'other.example' },
    ]) {
      const token = await sign(claims, env.JWT_SECRET, 'HS256');
      expectError(await call('GET', '/users/me/', { token }), 401, 'Invalid token');
    }
  });

  it('uses JWT_ISSUER when set', async () => {
    const user = await registerAndLogin();
    Object.assign(env, { JWT_ISSUER: 'api.example.org' });
    try {
      expectError(await call('GET', '/users/me/', { token: user.access }), 401, 'Invalid token');
      const tokens = await login(user.username, user.password);
      const claims = JSON.parse(atob(tokens.body.access.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')));
      expect(claims).toMatchObject({ iss: 'api.example.org', aud: 'api.example.org' });
      expect((await read(api(tokens.body.access).users.me.$get())).status).toBe(200);
    } finally {
      Object.assign(env, { JWT_ISSUER: '' });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Account deletion.

/** Tables without a user_id column, and how their rows relate to a user (or why they are exempt). */
const TABLES_WITHOUT_USER_ID: Record<string, 'users' | 'via_shows' | 'via_seasons' | 'by_username' | 'shared'> = {
  users: 'users',
  seasons: 'via_shows',
  episodes: 'via_seasons',
  login_throttle: 'by_username',
  login_failure_usernames: 'by_username',
  tmdb_titles: 'shared',
  tmdb_seasons: 'shared',
  tmdb_external_ids: 'shared',
  // Deployment-wide operational records (migration 0008): cron runs and aggregate counters, nothing per user.
  cron_runs: 'shared',
  ops_counters: 'shared',
  // Zone rules (migration 0011): UTC-offset intervals of a zone, the same for every user of it.
  time_zone_offsets: 'shared',
  // The deployment's D1 rows per day (migration 0021): the daily budget's counter.
  d1_usage: 'shared',
  // Where the background re-encryption stands in each table (migration 0015): a row id, no user data.
  reseal_progress: 'shared',
};
const INTERNAL_TABLE = /^(sqlite_|_cf_|d1_migrations$)/;

async function tableColumns(): Promise<Map<string, string[]>> {
  const { results } = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all<{
    name: string;
  }>();
  const tables = new Map<string, string[]>();
  for (const { name } of results) {
    if (INTERNAL_TABLE.test(name)) continue;
    const { results: columns } = await env.DB.prepare(`SELECT name FROM pragma_table_info(?)`)
      .bind(name)
      .all<{ name: string }>();
    tables.set(
      name,
      columns.map((c) => c.name),
    );
  }
  return tables;
}

/** Rows belonging to the user in every table, found by enumerating sqlite_master. */
async function rowsOfUser(user: { id: number; username: string }, showIds: number[]) {
  const tables = await tableColumns();
  const counts: Record<string, number> = {};
  const count = async (query: string, ...params: unknown[]) =>
    (await env.DB.prepare(query)
      .bind(...params)
      .first<{ n: number }>())!.n;
  for (const [table, columns] of tables) {
    if (columns.includes('user_id')) {
      counts[table] = await count(`SELECT count(*) AS n FROM "${table}" WHERE user_id = ?`, user.id);
      continue;
    }
    const relation = TABLES_WITHOUT_USER_ID[table];
    expect(relation, `table ${table} has no user_id column: say how its rows relate to a user`).toBeDefined();
    const lower = user.username.toLowerCase();
    if (relation === 'users') counts[table] = await count('SELECT count(*) AS n FROM users WHERE id = ?', user.id);
    if (relation === 'via_shows') {
      counts[table] = await count(
        `SELECT count(*) AS n FROM "${table}" WHERE show_id IN (SELECT value FROM json_each(?))`,
        JSON.stringify(showIds),
      );
    }
    if (relation === 'via_seasons') {
      counts[table] = await count(
        `SELECT count(*) AS n FROM "${table}" WHERE season_id IN (SELECT id FROM seasons
          WHERE show_id IN (SELECT value FROM json_each(?)))`,
        JSON.stringify(showIds),
      );
    }
    if (relation === 'by_username' && table === 'login_throttle') {
      counts[table] = await count('SELECT count(*) AS n FROM login_throttle WHERE subject = ?', `account:${lower}`);
    }
    if (relation === 'by_username' && table === 'login_failure_usernames') {
      counts[table] = await count('SELECT count(*) AS n FROM login_failure_usernames WHERE username = ?', lower);
    }
  }
  return counts;
}

async function kvKeysOf(userId: number): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page: KVNamespaceListResult<{ user_id?: number }> = await env.KV.list({ cursor });
    for (const key of page.keys) {
      if (key.name.split(':')[1] === String(userId) || key.metadata?.user_id === userId) keys.push(key.name);
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return keys;
}

/** A user with something in every user-owned table and KV key pattern. */
async function userWithEverything() {
  const user = await connectedUser(sim, { movies: 4, shows: 2 });
  const as = api(user.access);
  await ok(as.users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY } }), 201);
  // Sharing, a webhook (with a delivery in its log and a play staged for the next one), a stored review, now.json.
  const handle = `all-${user.id}-${crypto.randomUUID().slice(0, 8)}`;
  const parts = ['recent', 'now', 'review'] as const;
  await ok(as.users.me.sharing.$put({ json: { handle, parts: [...parts] } }));
  await ok(
    as.users.me.webhooks.$post({ json: { url: 'https://hooks.receiver.test/all', events: ['play.created'] } }),
    201,
  );
  await ok(as.trakt['fetch-latest-movies'].$get());
  await ok(as.trakt['fetch-latest-shows'].$get());
  await ok(as.trakt.review[':year'].$get({ param: { year: '2024' } }));
  expect((await call('GET', `/u/${handle}/now.json`)).status).toBe(200);
  await runBatch(env.DB, stageNewPlays(user.id, [123456789]));
  await ok(as.users.me.$patch({ json: { time_zone: 'Europe/Berlin' } }));
  // A pending OAuth state and a pending device code in KV; a failed login in the throttle tables.
  await ok(as.trakt.authenticate.$get());
  await ok(as.trakt.device.code.$post());
  expectError(
    await call('POST', '/users/token/', {
      json: { username: user.username, password: 'wrong password' },
      headers: { 'CF-Connecting-IP': '203.0.113.77' },
    }),
    401,
  );
  const { results } = await env.DB.prepare('SELECT id FROM shows WHERE user_id = ?')
    .bind(user.id)
    .all<{ id: number }>();
  return { ...user, showIds: results.map((r) => r.id) };
}

describe('DELETE /users/me/', () => {
  it('deletes all user rows in every table and KV key, revokes at Trakt; others and TMDB cache stay', async () => {
    const user = await userWithEverything();
    const bystander = await userWithEverything();
    const before = await rowsOfUser(user, user.showIds);
    // Positive control: the user has rows in every user-owned table, and KV keys.
    for (const table of [
      'users',
      'sessions',
      'api_keys',
      'trakt_connections',
      'oauth_state_uses',
      'sync_state',
      'movies',
      'shows',
      'seasons',
      'episodes',
      'plays',
      'play_stats',
      'stats_time_zones',
      'login_throttle',
      'login_failure_usernames',
      'sharing_profiles',
      'shared_now_watching',
      'webhooks',
      'webhook_deliveries',
      'webhook_new_plays',
      'year_reviews',
    ]) {
      expect(before[table], `rows of the user in ${table} before deletion`).toBeGreaterThan(0);
    }
    expect(await kvKeysOf(user.id)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^trakt_tokens:/), `trakt_device:${user.id}`]),
    );
    expect((await kvKeysOf(user.id)).some((k) => k.startsWith('oauth_state:'))).toBe(true);
    const tmdbRows = await env.DB.prepare('SELECT count(*) AS n FROM tmdb_titles').first<{ n: number }>();
    expect(tmdbRows!.n).toBeGreaterThan(0);
    const bystanderBefore = await rowsOfUser(bystander, bystander.showIds);
    await sim.clearRequests();

    const res = await read(api(user.access).users.me.$delete({ json: { password: user.password } }));
    expect(res.status).toBe(204);

    const after = await rowsOfUser(user, user.showIds);
    expect(Object.keys(after).length).toBeGreaterThanOrEqual(Object.keys(before).length);
    expect(Object.entries(after).filter(([, n]) => n > 0)).toEqual([]);
    expect(await kvKeysOf(user.id)).toEqual([]);
    expect((await sim.counters())['POST /oauth/revoke']).toBe(1);
    expect(await rowsOfUser(bystander, bystander.showIds)).toEqual(bystanderBefore);
    expect((await env.DB.prepare('SELECT count(*) AS n FROM tmdb_titles').first<{ n: number }>())!.n).toBe(tmdbRows!.n);

    // Every JWT of the user fails from now on.
    expectError(await call('GET', '/users/me/', { token: user.access }), 401);
    expectError(await call('GET', '/trakt/get-stored-movies/', { token: user.access }), 401);
    expectError(await refresh(user.refresh), 401);
    expectError(await login(user.username, user.password), 401, 'Invalid username or password');
    // The bystander is untouched.
    expect((await storedMovies(bystander.access)).total_items).toBe(4);
  });

  it('a wrong password is 403 and deletes nothing; a missing one is 400', async () => {
    const user = await userWithEverything();
    const before = await rowsOfUser(user, user.showIds);
    const kvBefore = await kvKeysOf(user.id);
    expect(before.movies).toBeGreaterThan(0);
    expect(kvBefore.length).toBeGreaterThan(0);
    await sim.clearRequests();

    expectError(
      await call('DELETE', '/users/me/', { token: user.access, json: { password: 'not the password' } }),
      403,
      'Password is incorrect',
    );
    expectError(await call('DELETE', '/users/me/', { token: user.access, json: {} }), 400, /password is required/);
    expectError(await call('DELETE', '/users/me/', { json: { password: user.password } }), 401);

    const after = await rowsOfUser(user, user.showIds);
    // The wrong password was counted (throttle rows may grow); nothing else changed.
    expect({ ...after, login_throttle: 0, login_failure_usernames: 0 }).toEqual({
      ...before,
      login_throttle: 0,
      login_failure_usernames: 0,
    });
    expect(await kvKeysOf(user.id)).toEqual(kvBefore);
    expect((await sim.counters())['POST /oauth/revoke']).toBeUndefined();
    expect((await read(api(user.access).users.me.$get())).status).toBe(200);
  });

  it('works for an account without a Trakt connection', async () => {
    const user = await registerAndLogin();
    expect((await read(api(user.access).users.me.$delete({ json: { password: user.password } }))).status).toBe(204);
    expectError(await call('GET', '/users/me/', { token: user.access }), 401, 'User no longer exists');
  });
});

describe('DELETE /trakt/history/', () => {
  it('deletes the stored history, keeps the account and the connection, and the next sync is a full one', async () => {
    const user = await connectedUser(sim, { movies: 5, shows: 2 });
    await ok(api(user.access).trakt['fetch-latest-movies'].$get());
    await ok(api(user.access).trakt['fetch-latest-shows'].$get());
    expect((await storedMovies(user.access)).total_items).toBe(5);
    const other = await connectedUser(sim, { movies: 2, shows: 0 });
    await ok(api(other.access).trakt['fetch-latest-movies'].$get());

    const res = await read(api(user.access).trakt.history.$delete());
    expect(res.status).toBe(204);

    for (const table of ['movies', 'shows', 'plays']) {
      const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE user_id = ?`)
        .bind(user.id)
        .first<{ n: number }>();
      expect(row!.n, table).toBe(0);
    }
    expect((await storedMovies(user.access)).total_items).toBe(0);
    expect((await ok(api(user.access).trakt['get-stored-shows'].$get({ query: {} }))).body.total_items).toBe(0);
    const status = await ok(api(user.access).trakt['sync-status'].$get());
    expect(status.body).toMatchObject({
      connected: true,
      counts: { movies: 0, shows: 0, episodes: 0, plays: 0 },
    });
    expect((await ok(api(user.access).trakt['auth-status'].$get())).body.authenticated).toBe(true);
    expect((await storedMovies(other.access)).total_items).toBe(2);

    // Re-sync: a full one, everything comes back.
    const movies = await read(api(user.access).trakt['fetch-latest-movies'].$get());
    expectStatus(movies, 200);
    expect(movies.body.added).toBe(5);
    const shows = await ok(api(user.access).trakt['fetch-latest-shows'].$get());
    expect(shows.body.added).toBe(2);
    expect((await storedMovies(user.access)).total_items).toBe(5);
  });

  it('answers 409 while a sync holds the lease, and 401 without a JWT', async () => {
    const user = await registerAndLogin();
    await acquireSyncLease(database(env.DB), user.id); // as a running sync holds it
    expectError(await read(api(user.access).trakt.history.$delete()), 409);
    expectError(await call('DELETE', '/trakt/history/'), 401);
  });
});
