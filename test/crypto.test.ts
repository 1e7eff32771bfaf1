import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { PBKDF2_ITERATIONS } from '../src/config';
import { aadFor, EnvelopeError, envelopeKid, keyRing, open, parseKeyRing, seal } from '../src/crypto/envelope';
import { hashPassword, parsePasswordHash, verifyPassword } from '../src/crypto/password';

const K1 = 'k1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=';
const K2 = 'k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

describe('password hashing', () => {
  it('uses PBKDF2 at no more than the 100,000 iterations Cloudflare production accepts', async () => {
    // Local workerd does not enforce the cap, so this test is the guard.
    expect(PBKDF2_ITERATIONS).toBeLessThanOrEqual(100_000);
    const stored = await hashPassword('hunter22-correct');
    const parsed = parsePasswordHash(stored)!;
    expect(parsed.iterations).toBe(100_000);
    expect(parsed.salt.byteLength).toBe(16);
    expect(stored).toMatch(/^pbkdf2_sha256\$100000\$/);
  });

  it('verifies the right password only, with a fresh salt every time', async () => {
    const a = await hashPassword('same password');
    const b = await hashPassword('same password');
    expect(a).not.toBe(b);
    expect(await verifyPassword('same password', a)).toBe(true);
    expect(await verifyPassword('same passwore', a)).toBe(false);
  });

  it('refuses stored hashes above the iteration cap or malformed', async () => {
    const tooMany = (await hashPassword('pw-123456', 1000)).replace('$1000$', '$200000$');
    expect(parsePasswordHash(tooMany)).toBeUndefined();
    expect(await verifyPassword('pw-123456', tooMany)).toBe(false);
    expect(await verifyPassword('pw-123456', 'md5$1$abc$def')).toBe(false);
    expect(await verifyPassword('pw-123456', '')).toBe(false);
  });
});

describe('crypto envelope', () => {
  it('round-trips with the AAD it was sealed with', async () => {
    const ring = await parseKeyRing(`${K2},${K1}`);
    const sealed = await seal(ring, 'secret value', aadFor(1, 'api_key:tmdb'));
    expect(sealed).toMatch(/^v1\.k2\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('secret');
    expect(await open(ring, sealed, aadFor(1, 'api_key:tmdb'))).toBe('secret value');
  });

  it('uses a fresh IV for every write', async () => {
    const ring = await parseKeyRing(K1);
    const a = await seal(ring, 'x', 'aad');
    const b = await seal(ring, 'x', 'aad');
    expect(a.split('.')[2]).not.toBe(b.split('.')[2]);
  });

  it('fails to open under another owner or purpose', async () => {
    const ring = await parseKeyRing(K1);
    const sealed = await seal(ring, 'secret', aadFor(1, 'api_key:trakt'));
    await expect(open(ring, sealed, aadFor(2, 'api_key:trakt'))).rejects.toBeInstanceOf(EnvelopeError);
    await expect(open(ring, sealed, aadFor(1, 'api_key:tmdb'))).rejects.toBeInstanceOf(EnvelopeError);
  });

  it('detects tampering', async () => {
    const ring = await parseKeyRing(K1);
    const sealed = await seal(ring, 'secret', 'aad');
    const parts = sealed.split('.');
    const ct = parts[3]!;
    parts[3] = (ct[0] === 'A' ? 'B' : 'A') + ct.slice(1);
    await expect(open(ring, parts.join('.'), 'aad')).rejects.toBeInstanceOf(EnvelopeError);
    await expect(open(ring, 'v0.k1.x.y', 'aad')).rejects.toBeInstanceOf(EnvelopeError);
    await expect(open(ring, 'garbage', 'aad')).rejects.toBeInstanceOf(EnvelopeError);
  });

  it('supports rotation: the first key encrypts, every key decrypts, removed keys fail', async () => {
    const oldRing = await parseKeyRing(K1);
    const rotated = await parseKeyRing(`${K2},${K1}`);
    const old = await seal(oldRing, 'legacy', 'aad');
    expect(envelopeKid(old)).toBe('k1');
    expect(await open(rotated, old, 'aad')).toBe('legacy');
    expect(envelopeKid(await seal(rotated, 'new', 'aad'))).toBe('k2');
    const k2Only = await parseKeyRing(K2);
    await expect(open(k2Only, old, 'aad')).rejects.toThrow(/k1 is not in ENCRYPTION_KEYS/);
  });

  it.each(['', 'nokid', ':AAAA', 'k1:not-base64!!', 'k1:AAAA', `${K1},${K1}`])(
    'rejects the key spec %j as a 503 configuration error',
    async (spec) => {
      await expect(parseKeyRing(spec)).rejects.toMatchObject({
        status: 503,
        message: expect.stringMatching(/ENCRYPTION_KEYS/),
      });
    },
  );

  it('reads the configured ring from the environment', async () => {
    const ring = await keyRing(env);
    expect(ring.primaryKid).toBe('k2');
    expect([...ring.keys.keys()]).toEqual(['k2', 'k1']);
  });
});
