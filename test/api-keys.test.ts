import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { keyRing } from '../src/crypto/envelope';
import { database } from '../src/db/client';
import { readApiKeys } from '../src/users/api-keys';
import { call, expectError, registerAndLogin } from './support/api';
import { api, ok, read } from './support/client';

const apiKeys = (token: string) => api(token).users['api-keys'];

describe('per-user API keys', () => {
  it('creates (201), replaces (200), lists without secrets, deletes (204): trakt_client_id/secret', async () => {
    const user = await registerAndLogin();
    const created = await read(
      apiKeys(user.access).$post({ json: { service_name: 'trakt_client_id', api_key: 'client-id-111' } }),
    );
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      service_name: 'trakt_client_id',
      service_user_id: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect(JSON.stringify(created.body)).not.toContain('client-id-111');

    expect(
      (
        await read(
          apiKeys(user.access).$post({ json: { service_name: 'trakt_client_secret', api_key: 'client-secret-222' } }),
        )
      ).status,
    ).toBe(201);
    const replaced = await read(
      apiKeys(user.access).$post({ json: { service_name: 'trakt_client_secret', api_key: 'client-secret-333' } }),
    );
    expect(replaced.status).toBe(200);

    const list = await read(apiKeys(user.access).$get());
    expect(list.status).toBe(200);
    expect(list.body.map((k) => k.service_name)).toEqual(['trakt_client_id', 'trakt_client_secret']);
    expect(JSON.stringify(list.body)).not.toMatch(/client-secret|client-id-111/);

    const keys = await readApiKeys(database(env.DB), await keyRing(env), user.id, [
      'trakt_client_id',
      'trakt_client_secret',
    ]);
    expect(keys.trakt_client_secret?.secret).toBe('client-secret-333');
    expect(keys.trakt_client_id?.secret).toBe('client-id-111');

    const deleteSecret = () =>
      read(apiKeys(user.access)[':service_name'].$delete({ param: { service_name: 'trakt_client_secret' } }));
    expect((await deleteSecret()).status).toBe(204);
    expectError(await deleteSecret(), 404);
    expect((await read(apiKeys(user.access).$get())).body).toHaveLength(1);
  });

  it('accepts the "trakt" form with service_user_id as the client id, and tmdb keys', async () => {
    const user = await registerAndLogin();
    const trakt = await read(
      apiKeys(user.access).$post({
        json: { service_name: 'trakt', service_user_id: 'my-client-id', api_key: 'my-client-secret' },
      }),
    );
    expect(trakt.status).toBe(201);
    expect(trakt.body.service_user_id).toBe('my-client-id');
    expect(
      (await read(apiKeys(user.access).$post({ json: { service_name: 'tmdb', api_key: 'tmdb-v3-key' } }))).status,
    ).toBe(201);
    const keys = await readApiKeys(database(env.DB), await keyRing(env), user.id, ['trakt', 'tmdb']);
    expect(keys).toEqual({
      trakt: { secret: 'my-client-secret', serviceUserId: 'my-client-id' },
      tmdb: { secret: 'tmdb-v3-key', serviceUserId: null },
    });
  });

  it('rejects unknown services (listing the accepted ones) and incomplete input', async () => {
    const user = await registerAndLogin();
    const unknown = await call('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'netflix', api_key: 'x' },
    });
    expectError(unknown, 400, /trakt, trakt_client_id, trakt_client_secret, tmdb/);
    const noClientId = await call('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', api_key: 'x' },
    });
    expectError(noClientId, 400, /service_user_id/);
    expectError(
      await call('POST', '/users/api-keys/', { token: user.access, json: { service_name: 'tmdb', api_key: '   ' } }),
      400,
      /api_key/,
    );
    expectError(
      await call('POST', '/users/api-keys/', { token: user.access, json: { service_name: 'tmdb' } }),
      400,
      /api_key/,
    );
  });

  it('stores no plaintext secret in D1', async () => {
    const user = await registerAndLogin();
    const secret = 'PLAINTEXT-CANARY-7f3a9c';
    await ok(apiKeys(user.access).$post({ json: { service_name: 'tmdb', api_key: secret } }), 201);
    const rows = await env.DB.prepare('SELECT * FROM api_keys WHERE user_id = ?').bind(user.id).all();
    expect(rows.results).toHaveLength(1);
    expect(JSON.stringify(rows.results)).not.toContain(secret);
    expect(String(rows.results[0]!.encrypted_key)).toMatch(/^v1\.k2\./);
    const users = await env.DB.prepare('SELECT * FROM users WHERE id = ?').bind(user.id).all();
    expect(JSON.stringify(users.results)).not.toContain(user.password);
  });

  it('a ciphertext moved to another user fails to decrypt and is reported as unreadable, not a 500', async () => {
    const alice = await registerAndLogin();
    const bob = await registerAndLogin();
    await ok(apiKeys(alice.access).$post({ json: { service_name: 'tmdb', api_key: 'alice-secret' } }), 201);
    await ok(apiKeys(bob.access).$post({ json: { service_name: 'tmdb', api_key: 'bob-secret' } }), 201);
    await env.DB.prepare(
      'UPDATE api_keys SET encrypted_key = (SELECT encrypted_key FROM api_keys WHERE user_id = ? AND service_name ' +
        "= 'tmdb') WHERE user_id = ? AND service_name = 'tmdb'",
    )
      .bind(alice.id, bob.id)
      .run();
    await expect(readApiKeys(database(env.DB), await keyRing(env), bob.id, ['tmdb'])).rejects.toMatchObject({
      status: 422,
      message: expect.stringMatching(/unreadable; save it again/),
    });
  });

  it('keeps users apart: A neither sees nor deletes B’s keys', async () => {
    const a = await registerAndLogin();
    const b = await registerAndLogin();
    await ok(apiKeys(b.access).$post({ json: { service_name: 'tmdb', api_key: 'b-key' } }), 201);
    expect((await ok(apiKeys(a.access).$get())).body).toEqual([]);
    expectError(await read(apiKeys(a.access)[':service_name'].$delete({ param: { service_name: 'tmdb' } })), 404);
    expect((await ok(apiKeys(b.access).$get())).body).toHaveLength(1);
  });
});
