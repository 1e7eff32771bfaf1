import { env } from 'cloudflare:workers';
import { sign } from 'hono/jwt';
import { describe, expect, it, vi } from 'vitest';
import { call, expectError, registerAndLogin, uniqueName } from './support/api';
import { api, read } from './support/client';

const register = (json: { username: string; password: string }) => api().users.register.$post({ json });

const SECRET = env.JWT_SECRET;
const now = () => Math.floor(Date.now() / 1000);

describe('registration', () => {
  it('creates a user and returns {id, username}', async () => {
    const username = uniqueName('alice');
    const res = await read(register({ username, password: 'long enough pw' }));
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(Number), username });
  });

  it('refuses a taken username, regardless of case', async () => {
    const username = uniqueName('Bob');
    expect((await read(register({ username, password: 'password-1' }))).status).toBe(201);
    expectError(
      await read(register({ username, password: 'password-2' })),
      409,
      'A user with that username already exists',
    );
    expectError(await read(register({ username: username.toLowerCase(), password: 'password-2' })), 409);
  });

  it.each([
    [{ username: 'ab', password: 'password1' }, 'username'],
    [{ username: 'x'.repeat(151), password: 'password1' }, 'username'],
    [{ username: 'has space', password: 'password1' }, 'username'],
    [{ username: 'valid_name', password: 'short' }, 'password'],
    [{ username: 'valid_name' }, 'password'],
    [{ password: 'password1' }, 'username'],
  ])('rejects %j with 400 and details', async (json, field) => {
    const res = await call('POST', '/users/register/', { json });
    expectError(res, 400, /^Invalid request body/);
    expect(res.body.details.map((d: { path: string }) => d.path)).toContain(field);
  });

  it('accepts every allowed username character', async () => {
    const username = `a.b@c+d-e_${Math.random().toString(36).slice(2, 6)}`;
    expect((await read(register({ username, password: 'password1' }))).status).toBe(201);
  });
});

describe('tokens', () => {
  it('issues {access, refresh}; access works on /users/me/ and refresh mints a new access token', async () => {
    const user = await registerAndLogin();
    const me = await read(api(user.access).users.me.$get());
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      id: user.id,
      username: user.username,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      time_zone: null,
    });

    const refreshed = await read(api().users.token.refresh.$post({ json: { refresh: user.refresh } }));
    expect(refreshed.status).toBe(200);
    expect(Object.keys(refreshed.body)).toEqual(['access']);
    expect((await read(api(refreshed.body.access).users.me.$get())).body.id).toBe(user.id);
  });

  it('gives the same 401 for a wrong password and an unknown user', async () => {
    const user = await registerAndLogin();
    const wrong = await call('POST', '/users/token/', {
      json: { username: user.username, password: 'not the password' },
    });
    const unknown = await call('POST', '/users/token/', {
      json: { username: uniqueName('ghost'), password: 'whatever1' },
    });
    expectError(wrong, 401, 'Invalid username or password');
    expectError(unknown, 401, 'Invalid username or password');
  });

  it('spends the same PBKDF2 work whether or not the user exists (no timing oracle)', async () => {
    const user = await registerAndLogin();
    const derive = vi.spyOn(crypto.subtle, 'deriveBits');
    try {
      await call('POST', '/users/token/', { json: { username: user.username, password: 'wrong password' } });
      const known = derive.mock.calls.map((args) => (args[0] as { iterations: number }).iterations);
      derive.mockClear();
      await call('POST', '/users/token/', { json: { username: uniqueName('nobody'), password: 'wrong password' } });
      const unknown = derive.mock.calls.map((args) => (args[0] as { iterations: number }).iterations);
      expect(known).toEqual([100_000]);
      expect(unknown).toEqual(known);
    } finally {
      derive.mockRestore();
    }
  });

  it('logs in case-insensitively by username', async () => {
    const user = await registerAndLogin(uniqueName('CaseUser'));
    const res = await read(
      api().users.token.$post({ json: { username: user.username.toUpperCase(), password: user.password } }),
    );
    expect(res.status).toBe(200);
  });
});

describe('JWT rejections', () => {
  const b64url = (value: object) =>
    btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

  async function expect401(authorization: string | undefined, message?: RegExp) {
    const res = await call('GET', '/users/me/', {
      headers: authorization === undefined ? {} : { Authorization: authorization },
    });
    expectError(res, 401, message);
    expect(res.headers.get('WWW-Authenticate')).toBe('Bearer');
  }

  it('rejects a missing or malformed Authorization header', async () => {
    await expect401(undefined, /not provided/);
    await expect401('Token abc', /Bearer/);
    await expect401('Bearer', /Bearer/);
    await expect401('Bearer not.a.jwt', /Invalid token/);
    await expect401('Bearer a b c', /Bearer/);
  });

  it('rejects alg "none"', async () => {
    const user = await registerAndLogin();
    const claims = { sub: String(user.id), typ: 'access', iat: now(), exp: now() + 60 };
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
    await expect401(`Bearer ${token}`, /Invalid token/);
  });

  it('rejects a token signed with another algorithm, even with the right secret', async () => {
    const user = await registerAndLogin();
    const token = await sign({ sub: String(user.id), typ: 'access', iat: now(), exp: now() + 60 }, SECRET, 'HS512');
    await expect401(`Bearer ${token}`, /Invalid token/);
  });

  it('rejects a bad signature', async () => {
    const user = await registerAndLogin();
    const token = await sign(
      { sub: String(user.id), typ: 'access', iat: now(), exp: now() + 60 },
      'another-secret-of-at-least-32-characters!',
      'HS256',
    );
    await expect401(`Bearer ${token}`, /Invalid token/);
    const [h, p, s] = user.access.split('.');
    await expect401(`Bearer ${h}.${p}.${s!.slice(0, -2)}AA`, /Invalid token/);
  });

  it('rejects an expired token', async () => {
    const user = await registerAndLogin();
    const token = await sign(
      { sub: String(user.id), typ: 'access', iat: now() - 7200, exp: now() - 3600 },
      SECRET,
      'HS256',
    );
    await expect401(`Bearer ${token}`, /expired/);
  });

  it('rejects a token without exp', async () => {
    const user = await registerAndLogin();
    const token = await sign({ sub: String(user.id), typ: 'access', iat: now() }, SECRET, 'HS256');
    await expect401(`Bearer ${token}`, /Invalid token/);
  });

  it('rejects a refresh token used as an access token, and vice versa', async () => {
    const user = await registerAndLogin();
    await expect401(`Bearer ${user.refresh}`, /access token/);
    const res = await call('POST', '/users/token/refresh/', { json: { refresh: user.access } });
    expectError(res, 401, /refresh token/);
  });

  it('protects /users/api-keys/', async () => {
    expectError(await call('GET', '/users/api-keys/'), 401);
    expectError(await call('POST', '/users/api-keys/', { json: {} }), 401);
    expectError(await call('DELETE', '/users/api-keys/tmdb/'), 401);
  });
});

describe('cross-cutting HTTP behaviour', () => {
  it('serves /health without auth', async () => {
    const res = await read(api().health.$get());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(res.headers.get('X-Request-Id')).toBeTruthy();
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
  });

  it('answers with and without the trailing slash', async () => {
    const user = await registerAndLogin();
    expect((await call('GET', '/users/me', { token: user.access })).status).toBe(200);
    expect((await call('GET', '/users/me/', { token: user.access })).status).toBe(200);
    expect((await call('GET', '/health/')).status).toBe(200);
  });

  it('returns JSON 404 for unknown routes and JSON 405 for wrong methods', async () => {
    expectError(await call('GET', '/nope'), 404, /Not found/);
    const res = await call('GET', '/users/register/');
    expectError(res, 405, 'Method GET not allowed');
    expect(res.headers.get('Allow')).toContain('POST');
    expectError(await call('PUT', '/users/token'), 405);
  });

  it('rejects malformed JSON with 400', async () => {
    const res = await call('POST', '/users/register/', {
      body: '{"username": "abc", ',
      headers: { 'Content-Type': 'application/json' },
    });
    expectError(res, 400, /Malformed JSON/i);
  });

  it('rejects a body that is not JSON with 415', async () => {
    const res = await call('POST', '/users/register/', {
      body: 'username=abc&password=12345678',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expectError(res, 415, 'Content-Type must be application/json');
    expectError(
      await call('POST', '/users/token/', {
        body: '{"username":"a","password":"b"}',
        headers: { 'Content-Type': 'text/plain' },
      }),
      415,
    );
  });

  it('rejects a non-object JSON body with 400 and details', async () => {
    const res = await call('POST', '/users/register/', { json: [1, 2, 3] });
    expectError(res, 400);
    expect(Array.isArray(res.body.details)).toBe(true);
  });

  it('rejects oversized bodies with 413', async () => {
    const res = await call('POST', '/users/register/', {
      json: { username: 'big_body', password: 'x'.repeat(70 * 1024) },
    });
    expectError(res, 413, /too large/);
  });

  it('answers CORS preflight', async () => {
    const res = await call('OPTIONS', '/users/me/', {
      headers: { Origin: 'https://example.com', 'Access-Control-Request-Method': 'GET' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
  });
});
