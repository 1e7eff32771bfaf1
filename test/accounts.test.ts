/**
 * Sessions and account lifecycle: refresh tokens that can be revoked (logout one / all, password
 * change), JWT issuer and audience, account deletion (every row of the user in every table, every
 * KV key, the Trakt token revoked), and clearing the stored history for a clean re-sync.
 */
import { env } from 'cloudflare:workers';
import { sign } from 'hono/jwt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { database } from '../src/db/client';
import { acquireSyncLease } from '../src/sync/state';
import { BASE, call, expectError, registerAndLogin } from './support/api';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

const refresh = (token: string) => call('POST', '/users/token/refresh/', { json: { refresh: token } });
const login = (username: string, password: string) => call('POST', '/users/token/', { json: { username, password } });

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

    const res = await call('POST', '/users/logout/', { token: user.access, json: { refresh: user.refresh } });
    expect(res.status).toBe(204);
    expect(res.body).toBe('');
    expectError(await refresh(user.refresh), 401, 'Token has been revoked');
    expect((await refresh(other.body.refresh)).status).toBe(200);
    // Idempotent.
    expect((await call('POST', '/users/logout/', { token: user.access, json: { refresh: user.refresh } })).status).toBe(
      204,
    );
  });

  it('{"all": true} revokes every session of the user, and no one else’s', async () => {
    const user = await registerAndLogin();
    const second = await login(user.username, user.password);
    const stranger = await registerAndLogin();
    expect((await refresh(user.refresh)).status).toBe(200);
    expect((await refresh(second.body.refresh)).status).toBe(200);

    expect((await call('POST', '/users/logout/', { token: user.access, json: { all: true } })).status).toBe(204);
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
    const res = await call('POST', '/users/me/password/', {
      token: user.access,
      json: { current_password: user.password, new_password: 'an entirely new passphrase' },
    });
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

describe('JWT issuer and audience', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const host = new URL(BASE).host;

  it('issues iss and aud = the request host by default, and refuses tokens for another issuer', async () => {
    const user = await registerAndLogin();
    const claims = JSON.parse(atob(user.access.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')));
    expect(claims).toMatchObject({ iss: host, aud: host, typ: 'access', sub: String(user.id) });

    const base = { sub: String(user.id), typ: 'access', iat: now(), exp: now() + 60 };
    const good = await sign({ ...base, iss: host, aud: host }, env.JWT_SECRET, 'HS256');
    expect((await call('GET', '/users/me/', { token: good })).status).toBe(200);
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
      expect((await call('GET', '/users/me/', { token: tokens.body.access })).status).toBe(200);
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
  // The deployment's D1 rows per day (migration 0020): the daily budget's counter.
  d1_usage: 'shared',
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
  await call('POST', '/users/api-keys/', {
    token: user.access,
    json: { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY },
  });
  expect((await call('GET', '/trakt/fetch-latest-movies/', { token: user.access })).status).toBe(200);
  expect((await call('GET', '/trakt/fetch-latest-shows/', { token: user.access })).status).toBe(200);
  const zone = await call('PATCH', '/users/me/', { token: user.access, json: { time_zone: 'Europe/Berlin' } });
  expect(zone.status).toBe(200);
  // A pending OAuth state and a pending device code in KV; a failed login in the throttle tables.
  expect((await call('GET', '/trakt/authenticate/', { token: user.access })).status).toBe(200);
  expect((await call('POST', '/trakt/device/code/', { token: user.access })).status).toBe(200);
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

    const res = await call('DELETE', '/users/me/', { token: user.access, json: { password: user.password } });
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
    expect((await call('GET', '/trakt/get-stored-movies/', { token: bystander.access })).body.total_items).toBe(4);
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
    expect((await call('GET', '/users/me/', { token: user.access })).status).toBe(200);
  });

  it('works for an account without a Trakt connection', async () => {
    const user = await registerAndLogin();
    expect((await call('DELETE', '/users/me/', { token: user.access, json: { password: user.password } })).status).toBe(
      204,
    );
    expectError(await call('GET', '/users/me/', { token: user.access }), 401, 'User no longer exists');
  });
});

describe('DELETE /trakt/history/', () => {
  it('deletes the stored history, keeps the account and the connection, and the next sync is a full one', async () => {
    const user = await connectedUser(sim, { movies: 5, shows: 2 });
    expect((await call('GET', '/trakt/fetch-latest-movies/', { token: user.access })).status).toBe(200);
    expect((await call('GET', '/trakt/fetch-latest-shows/', { token: user.access })).status).toBe(200);
    const stored = await call('GET', '/trakt/get-stored-movies/', { token: user.access });
    expect(stored.body.total_items).toBe(5);
    const other = await connectedUser(sim, { movies: 2, shows: 0 });
    expect((await call('GET', '/trakt/fetch-latest-movies/', { token: other.access })).status).toBe(200);

    const res = await call('DELETE', '/trakt/history/', { token: user.access });
    expect(res.status).toBe(204);

    for (const table of ['movies', 'shows', 'plays']) {
      const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE user_id = ?`)
        .bind(user.id)
        .first<{ n: number }>();
      expect(row!.n, table).toBe(0);
    }
    expect((await call('GET', '/trakt/get-stored-movies/', { token: user.access })).body.total_items).toBe(0);
    expect((await call('GET', '/trakt/get-stored-shows/', { token: user.access })).body.total_items).toBe(0);
    const status = await call('GET', '/trakt/sync-status/', { token: user.access });
    expect(status.body).toMatchObject({
      connected: true,
      counts: { movies: 0, shows: 0, episodes: 0, plays: 0 },
    });
    expect((await call('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(true);
    expect((await call('GET', '/trakt/get-stored-movies/', { token: other.access })).body.total_items).toBe(2);

    // Re-sync: a full one, everything comes back.
    const movies = await call('GET', '/trakt/fetch-latest-movies/', { token: user.access });
    expect(movies.status).toBe(200);
    expect(movies.body.added).toBe(5);
    const shows = await call('GET', '/trakt/fetch-latest-shows/', { token: user.access });
    expect(shows.body.added).toBe(2);
    expect((await call('GET', '/trakt/get-stored-movies/', { token: user.access })).body.total_items).toBe(5);
  });

  it('answers 409 while a sync holds the lease, and 401 without a JWT', async () => {
    const user = await registerAndLogin();
    await acquireSyncLease(database(env.DB), user.id); // as a running sync holds it
    expectError(await call('DELETE', '/trakt/history/', { token: user.access }), 409);
    expectError(await call('DELETE', '/trakt/history/'), 401);
  });
});
