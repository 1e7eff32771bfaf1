/**
 * The NowPlaying layer's accounts (src/nowplaying/accounts.routes.ts): sign-in, registration and refresh
 * as NowPlaying's clients use them (facts 1–3 of issue 27: 401 only for the JWT; tokens from login,
 * /auth/login/ and register with an `exp` readable through `atob`, refresh not rotated; API keys as a
 * page with integer ids, changed and removed by id), its error keys, and the API's own routes unchanged.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { issueToken, tokenKeys } from '../src/auth/jwt';
import { BASE, call, expectError, registerAndLogin, uniqueName } from './support/api';

const PASSWORD = 'a long enough password';

/** The JWT payload as NowPlaying's `isAuthenticated` reads it: `atob` of the middle part, then JSON. */
function payloadByAtob(jwt: string): { exp: number } {
  return JSON.parse(atob(jwt.split('.')[1]!)) as { exp: number };
}

async function npRegister(username = uniqueName('np')) {
  const res = await call('POST', '/api/users/register/', {
    json: { username, email: `${username}@example.test`, password: PASSWORD, password2: PASSWORD },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { username, id: res.body.user.id as number, access: res.body.access as string, refresh: res.body.refresh };
}

describe('NowPlaying sign-in and registration (fact 2)', () => {
  it('register returns access and refresh; both JWTs have an exp that atob can read', async () => {
    const username = uniqueName('np');
    const res = await call('POST', '/api/users/register/', {
      json: { username, email: 'x@example.test', password: PASSWORD, password2: PASSWORD },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      access: expect.any(String),
      refresh: expect.any(String),
      user: { id: expect.any(Number), username, email: null },
    });
    const now = Math.floor(Date.now() / 1000);
    for (const token of [res.body.access, res.body.refresh]) {
      // Plain base64 (no "-" or "_") so atob accepts it; the exp is a number of seconds in the future.
      expect(token.split('.')[1]).toMatch(/^[A-Za-z0-9+/]+=*$/);
      expect(payloadByAtob(token).exp).toBeGreaterThan(now);
    }
    expect(payloadByAtob(res.body.access).exp - now).toBeLessThanOrEqual(3600);
    // The access token works at once, here and at the API's own routes.
    expect((await call('GET', '/api/users/profile/', { token: res.body.access })).body).toEqual({
      id: res.body.user.id,
      username,
      email: null,
    });
    expect((await call('GET', '/users/me/', { token: res.body.access })).status).toBe(200);
  });

  it('/api/users/login/ and /api/auth/login/ return the pair; the exp is readable', async () => {
    const user = await npRegister();
    for (const path of ['/api/users/login/', '/api/auth/login/']) {
      const res = await call('POST', path, { json: { username: user.username, password: PASSWORD } });
      expect(res.status, path).toBe(200);
      expect(res.body).toMatchObject({ access: expect.any(String), refresh: expect.any(String) });
      expect(payloadByAtob(res.body.access).exp).toBeGreaterThan(Date.now() / 1000);
      expect((await call('GET', '/api/users/profile/', { token: res.body.access })).body.id).toBe(user.id);
    }
  });

  it('refresh answers only a new access token and the same refresh token keeps working (no rotation)', async () => {
    const user = await npRegister();
    const first = await call('POST', '/api/users/token/refresh/', { json: { refresh: user.refresh } });
    expect(first.status).toBe(200);
    expect(Object.keys(first.body)).toEqual(['access']);
    const second = await call('POST', '/api/users/token/refresh/', { json: { refresh: user.refresh } });
    expect(second.status).toBe(200);
    expect((await call('GET', '/api/users/profile/', { token: second.body.access })).status).toBe(200);
  });

  it('a bad refresh token is a 401 with detail and code token_not_valid (the app then signs out)', async () => {
    const user = await npRegister();
    for (const refresh of ['not-a-jwt', user.access]) {
      const res = await call('POST', '/api/users/token/refresh/', { json: { refresh } });
      expectError(res, 401);
      expect(res.body.detail).toBe(res.body.error);
      expect(res.body.code).toBe('token_not_valid');
    }
  });

  it('wrong credentials: 400 with non_field_errors and detail, never a 401 (which the app would refresh on)', async () => {
    const user = await npRegister();
    const res = await call('POST', '/api/users/login/', { json: { username: user.username, password: 'wrong one!' } });
    expectError(res, 400, 'Invalid username or password');
    expect(res.body.non_field_errors).toEqual(['Invalid username or password']);
    expect(res.body.detail).toBe('Invalid username or password');
  });

  it('registration problems come as field arrays the sign-in page shows (password2, password, username)', async () => {
    const username = uniqueName('np');
    const mismatch = await call('POST', '/api/users/register/', {
      json: { username, email: 'a@b.test', password: PASSWORD, password2: 'something else entirely' },
    });
    expectError(mismatch, 400);
    expect(mismatch.body.password2).toEqual(["Password fields didn't match."]);
    const short = await call('POST', '/api/users/register/', { json: { username, password: 'short' } });
    expectError(short, 400);
    expect(short.body.password).toEqual(['password must be at least 8 characters']);
    expect(short.body.error).toBe('Invalid request body: password: password must be at least 8 characters');
    expect(short.body.detail).toBe('password must be at least 8 characters'); // the field's message alone
    await npRegister(username);
    const taken = await call('POST', '/api/users/register/', { json: { username, password: PASSWORD } });
    expectError(taken, 409);
    expect(taken.body.username).toEqual(['A user with that username already exists']);
  });

  it('registration stays closed when REGISTRATION=closed, as at the API’s own route', async () => {
    const { callWith } = await import('./support/worker');
    const res = await callWith({ REGISTRATION: 'closed' }, 'POST', '/api/users/register/', {
      json: { username: uniqueName('np'), password: PASSWORD },
    });
    expectError(res, 403, 'Registration is closed');
  });
});

describe('401 only for the JWT (fact 1)', () => {
  it('missing, malformed, forged or expired JWTs are 401 with detail and code', async () => {
    const user = await npRegister();
    const [header, payload] = user.access.split('.');
    const expired = JSON.parse(atob(payload!)) as Record<string, number>;
    const forged = `${header}.${btoa(JSON.stringify({ ...expired, exp: 1 })).replace(/=+$/, '')}.${user.access.split('.')[2]}`;
    const keys = tokenKeys(env, `${BASE}/`);
    const expiredToken = await issueToken(user.id, 'access', keys, {
      nowSeconds: Math.floor(Date.now() / 1000) - 7200,
    });
    for (const token of [undefined, 'garbage', forged, expiredToken]) {
      const res = await call('GET', '/api/users/profile/', token ? { token } : {});
      expectError(res, 401);
      expect(res.body).toMatchObject({ detail: res.body.error, code: 'token_not_valid' });
    }
  });

  it('after "log out everywhere" the access token is a 401 and its refresh fails too (the app signs out)', async () => {
    const user = await npRegister();
    // Issued a few seconds before (revocation is to the second: a token of the same second stays valid).
    const earlier = await issueToken(user.id, 'access', tokenKeys(env, `${BASE}/`), {
      nowSeconds: Math.floor(Date.now() / 1000) - 5,
    });
    expect((await call('GET', '/api/users/profile/', { token: earlier })).status).toBe(200);
    expect((await call('POST', '/users/logout/', { token: user.access, json: { all: true } })).status).toBe(204);
    for (const path of ['/api/users/profile/', '/api/trakt/get-stored-movies/']) {
      const res = await call('GET', path, { token: earlier });
      expectError(res, 401);
      expect(res.body.code).toBe('token_not_valid');
    }
    expectError(await call('POST', '/api/users/token/refresh/', { json: { refresh: user.refresh } }), 401);
  });

  it('a deleted account’s token is a 401 (the app signs out), not a 400', async () => {
    const user = await registerAndLogin();
    await call('DELETE', '/users/me/', { token: user.access, json: { password: user.password } });
    expectError(await call('GET', '/api/trakt/get-stored-movies/', { token: user.access }), 401);
    expectError(await call('GET', '/api/users/profile/', { token: user.access }), 401);
  });
});

describe('API keys as NowPlaying reads them (fact 3)', () => {
  it('lists a page with integer ids; add, change and remove by id; never the secret', async () => {
    const user = await npRegister();
    const empty = await call('GET', '/api/users/api-keys/', { token: user.access });
    expect(empty.body).toEqual({ count: 0, next: null, previous: null, results: [] });

    const saved = await call('POST', '/api/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: 'client-id-1', api_key: 'the-secret-1' },
    });
    expect(saved.status).toBe(201);
    expect(saved.body).toEqual({
      id: expect.any(Number),
      service_name: 'trakt',
      service_user_id: 'client-id-1',
      created_at: expect.any(String),
      updated_at: expect.any(String),
      last_used: null,
    });
    expect(Number.isInteger(saved.body.id)).toBe(true);

    const page = await call('GET', '/api/users/api-keys/', { token: user.access });
    expect(page.body).toMatchObject({ count: 1, next: null, previous: null, results: [saved.body] });
    expect(JSON.stringify(page.body)).not.toContain('the-secret');

    // PATCH changes the secret and keeps the client id.
    const patched = await call('PATCH', `/api/users/api-keys/${saved.body.id}/`, {
      token: user.access,
      json: { api_key: 'the-secret-2' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: saved.body.id, service_name: 'trakt', service_user_id: 'client-id-1' });
    const stored = await env.DB.prepare('SELECT encrypted_key FROM api_keys WHERE id = ?')
      .bind(saved.body.id)
      .first<{ encrypted_key: string }>();
    expect(stored!.encrypted_key).not.toContain('the-secret');

    // The API's own list keeps its exact shape: an array, no ids.
    const native = await call('GET', '/users/api-keys/', { token: user.access });
    expect(native.body).toEqual([
      {
        service_name: 'trakt',
        service_user_id: 'client-id-1',
        created_at: expect.any(String),
        updated_at: expect.any(String),
      },
    ]);

    // Another user can neither change nor remove it: 404, and it is still there.
    const other = await npRegister();
    for (const method of ['PATCH', 'DELETE']) {
      const res = await call(method, `/api/users/api-keys/${saved.body.id}/`, {
        token: other.access,
        json: method === 'PATCH' ? { api_key: 'hijack' } : undefined,
      });
      expectError(res, 404);
      expect(res.body.detail).toBe(res.body.error);
    }
    expect((await call('GET', '/api/users/api-keys/', { token: user.access })).body.count).toBe(1);

    // Removed by id (the web app sends Content-Type: application/json on a bodyless DELETE).
    const removed = await call('DELETE', `/api/users/api-keys/${saved.body.id}/`, {
      token: user.access,
      headers: { 'Content-Type': 'application/json' },
    });
    expect(removed.status).toBe(204);
    expect((await call('GET', '/api/users/api-keys/', { token: user.access })).body.count).toBe(0);
    expectError(await call('DELETE', `/api/users/api-keys/${saved.body.id}/`, { token: user.access }), 404);
  });

  it('a key without service_user_id for Trakt is refused with detail (what the settings card shows)', async () => {
    const user = await npRegister();
    const res = await call('POST', '/api/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', api_key: 'secret' },
    });
    expectError(res, 400);
    expect(res.body.detail).toMatch(/service_user_id/);
    expect(res.body.service_user_id).toEqual([expect.stringMatching(/client id/)]);
  });

  it('a non-numeric id is a 400', async () => {
    const user = await npRegister();
    expectError(await call('DELETE', '/api/users/api-keys/trakt/', { token: user.access }), 400);
  });
});

describe('CORS for the web app on its own origin (CORS_ORIGINS)', () => {
  const ORIGIN = 'https://nowplaying.example';

  it('preflights GET/POST/PATCH/DELETE with authorization and content-type from the configured origin', async () => {
    const { callWith } = await import('./support/worker');
    for (const method of ['GET', 'POST', 'PATCH', 'DELETE']) {
      const res = await callWith({ CORS_ORIGINS: ORIGIN }, 'OPTIONS', '/api/users/api-keys/1/', {
        headers: {
          Origin: ORIGIN,
          'Access-Control-Request-Method': method,
          'Access-Control-Request-Headers': 'authorization, content-type',
        },
      });
      expect(res.status, method).toBe(204);
      expect(res.headers.get('Access-Control-Allow-Origin')).toBe(ORIGIN);
      expect(res.headers.get('Access-Control-Allow-Methods')).toContain(method);
      expect(res.headers.get('Access-Control-Allow-Headers')?.toLowerCase()).toMatch(/authorization.*content-type/);
    }
    const other = await callWith({ CORS_ORIGINS: ORIGIN }, 'OPTIONS', '/api/users/profile/', {
      headers: { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'GET' },
    });
    expect(other.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });

  it('error answers carry the CORS header too, so the app can read a 401 and refresh', async () => {
    const { callWith } = await import('./support/worker');
    for (const path of ['/api/users/profile/', '/api/trakt/fetch-latest-movies/']) {
      const res = await callWith({ CORS_ORIGINS: ORIGIN }, 'GET', path, { headers: { Origin: ORIGIN } });
      expect(res.status).toBe(401);
      expect(res.headers.get('Access-Control-Allow-Origin')).toBe(ORIGIN);
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer');
    }
    const user = await npRegister();
    const notConnected = await callWith({ CORS_ORIGINS: ORIGIN }, 'GET', '/api/trakt/fetch-latest-movies/', {
      token: user.access,
      headers: { Origin: ORIGIN },
    });
    expect(notConnected.status).toBe(400);
    expect(notConnected.headers.get('Access-Control-Allow-Origin')).toBe(ORIGIN);
    expect(notConnected.headers.get('WWW-Authenticate')).toBeNull();
  });
});
