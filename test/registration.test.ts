/**
 * REGISTRATION=closed: 403 "Registration is closed", except the first account of an empty
 * database (bootstrap). This file relies on starting with an empty `users` table (the pool gives
 * each test file its own storage) and asserts that precondition first.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { call, expectError, uniqueName } from './support/api';

const register = (username = uniqueName('reg')) =>
  call('POST', '/users/register/', { json: { username, password: 'long enough pw' } });

function setRegistration(mode: string) {
  Object.assign(env, { REGISTRATION: mode });
}

afterEach(() => setRegistration('open'));

describe('REGISTRATION', () => {
  it('closed: admits only the first account of an empty database, then answers 403', async () => {
    const users = await env.DB.prepare('SELECT count(*) AS n FROM users').first<{ n: number }>();
    expect(users?.n, 'this file must start with an empty users table').toBe(0);

    setRegistration('closed');
    const first = await register();
    expect(first.status).toBe(201);
    const second = await register();
    expectError(second, 403, 'Registration is closed');
    expect(second.body).toEqual({ error: 'Registration is closed' });
    // The bootstrap account works.
    expect(
      (await call('POST', '/users/token/', { json: { username: first.body.username, password: 'long enough pw' } }))
        .status,
    ).toBe(200);
  });

  it('open (the default) admits anyone; an unknown value is a 503 naming the setting', async () => {
    setRegistration('open');
    expect((await register()).status).toBe(201);
    setRegistration('');
    expect((await register()).status).toBe(201);
    setRegistration('sometimes');
    expectError(await register(), 503, /REGISTRATION/);
    setRegistration('closed');
    expectError(await register(), 403, 'Registration is closed');
  });
});
