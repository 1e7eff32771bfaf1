/**
 * REGISTRATION=closed: 403 "Registration is closed", except the first account of an empty
 * database (bootstrap). This file relies on starting with an empty `users` table (the pool gives
 * each test file its own storage) and asserts that precondition first.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { expectError, uniqueName } from './support/api';
import { api, ok, read } from './support/client';

const register = (username = uniqueName('reg')) =>
  read(api().users.register.$post({ json: { username, password: 'long enough pw' } }));

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
    await ok(api().users.token.$post({ json: { username: first.body.username, password: 'long enough pw' } }));
  });

  it('usernames: open registration says a name is taken (409, the documented answer); closed says nothing', async () => {
    // The README's security section records this trade-off: the documented register answers stay exact, so an open
    // deployment tells a prober that a name exists, at most 100 probes per address an hour; REGISTRATION=closed
    // answers every name alike.
    setRegistration('open');
    const taken = uniqueName('Taken');
    expect((await register(taken)).status).toBe(201);
    const probe = (username: string) =>
      read(
        api(undefined, { 'CF-Connecting-IP': '198.51.100.77' }).users.register.$post({
          json: { username, password: 'long enough pw' },
        }),
      );
    const counted = async () =>
      (
        await env.DB.prepare("SELECT count FROM login_throttle WHERE subject = 'register:198.51.100.77'").first<{
          count: number;
        }>()
      )?.count ?? 0;
    const before = await counted();
    expectError(await probe(taken.toUpperCase()), 409, 'A user with that username already exists');
    expect(await counted()).toBe(before + 1); // a probe spends the address's registration budget like a sign-up

    setRegistration('closed');
    const answers = [await probe(taken), await probe(uniqueName('free'))];
    for (const answer of answers) expectError(answer, 403, 'Registration is closed');
    expect(answers[0]!.body).toEqual(answers[1]!.body);
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
