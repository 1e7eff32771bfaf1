import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { keyRing } from '../src/crypto/envelope';
import { database } from '../src/db/client';
import { readApiKeys } from '../src/users/api-keys';
import { call, expectError, registerAndLogin } from './support/api';

describe('per-user API keys', () => {
  it('creates (201), replaces (200), lists without secrets, deletes (204): trakt_client_id/secret', async () => {
    const user = await registerAndLogin();
    const created = await call('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt_client_id', api_key: 'client-id-111' },
    });
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
        await call('POST', '/users/api-keys/', {
          token: user.access,
          json: { service_name: 'trakt_client_secret', api_key: 'client-secret-222' },
        })
      ).status,
    ).toBe(201);
    const replaced = await call('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt_client_secret', api_key: 'client-secret-333' },
    });
    expect(replaced.status).toBe(200);

    const list = await call('GET', '/users/api-keys/', { token: user.access });
    expect(list.status).toBe(200);
    expect(list.body.map((k: { service_name: string }) => k.service_name)).toEqual([
      'trakt_client_id',
      'trakt_client_secret',
    ]);
    expect(JSON.stringify(list.body)).not.toMatch(/client-secret|client-id-111/);

    const keys = await readApiKeys(database(env.DB), await keyRing(env), user.id, [
      'trakt_client_id',
      'trakt_client_secret',
    ]);
    expect(keys.trakt_client_secret?.secret).toBe('client-secret-333');
    expect(keys.trakt_client_id?.secret).toBe('client-id-111');

    expect((await call('DELETE', '/users/api-keys/trakt_client_secret/', { token: user.access })).status).toBe(204);
    expectError(await call('DELETE', '/users/api-keys/trakt_client_secret/', { token: user.access }), 404);
    expect((await call('GET', '/users/api-keys/', { token: user.access })).body).toHaveLength(1);
  });

  it('accepts the "trakt" form with service_user_id as the client id, and tmdb keys', async () => {
    const user = await registerAndLogin();
    const trakt = await call('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: 'my-client-id', api_key: 'my-client-secret' },
    });
    expect(trakt.status).toBe(201);
    expect(trakt.body.service_user_id).toBe('my-client-id');
    expect(
      (
        await call('POST', '/users/api-keys/', {
          token: user.access,
          json: { service_name: 'tmdb', api_key: 'tmdb-v3-key' },
        })
      ).status,
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
    await call('POST', '/users/api-keys/', { token: user.access, json: { service_name: 'tmdb', api_key: secret } });
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
    await call('POST', '/users/api-keys/', {
      token: alice.access,
      json: { service_name: 'tmdb', api_key: 'alice-secret' },
    });
    await call('POST', '/users/api-keys/', {
      token: bob.access,
      json: { service_name: 'tmdb', api_key: 'bob-secret' },
    });
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
    await call('POST', '/users/api-keys/', { token: b.access, json: { service_name: 'tmdb', api_key: 'b-key' } });
    expect((await call('GET', '/users/api-keys/', { token: a.access })).body).toEqual([]);
    expectError(await call('DELETE', '/users/api-keys/tmdb/', { token: a.access }), 404);
    expect((await call('GET', '/users/api-keys/', { token: b.access })).body).toHaveLength(1);
  });
});
