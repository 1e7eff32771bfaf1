/**
 * @module
 * Password hashing with PBKDF2-SHA256 through WebCrypto. Stored as
 * `pbkdf2_sha256$<iterations>$<base64 salt>$<base64 hash>` (Django's layout) so the iteration
 * count travels with the hash and can be raised later without breaking old hashes.
 * 100,000 iterations is the most Cloudflare's production runtime accepts.
 */
import { PBKDF2_ITERATIONS, PBKDF2_SALT_BYTES } from '../config';
import { fromBase64, randomBytes, timingSafeEqual, toBase64, utf8 } from './bytes';

const ALGORITHM = 'pbkdf2_sha256';
const HASH_BYTES = 32;

async function derive(password: string, salt: Uint8Array<ArrayBuffer>, iterations: number): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey('raw', utf8(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    material,
    HASH_BYTES * 8,
  );
  return new Uint8Array(bits);
}

export async function hashPassword(password: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const salt = randomBytes(PBKDF2_SALT_BYTES);
  const hash = await derive(password, salt, iterations);
  return [ALGORITHM, String(iterations), toBase64(salt), toBase64(hash)].join('$');
}

export function parsePasswordHash(
  stored: string,
): { iterations: number; salt: Uint8Array<ArrayBuffer>; hash: Uint8Array } | undefined {
  const [algorithm, iterationsText, saltText, hashText, ...rest] = stored.split('$');
  if (algorithm !== ALGORITHM || rest.length > 0 || !iterationsText || !saltText || !hashText) return undefined;
  const iterations = Number(iterationsText);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > PBKDF2_ITERATIONS) return undefined;
  try {
    return { iterations, salt: fromBase64(saltText), hash: fromBase64(hashText) };
  } catch {
    return undefined;
  }
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (!parsed) return false;
  const candidate = await derive(password, parsed.salt, parsed.iterations);
  return timingSafeEqual(candidate, parsed.hash);
}

// A hash of a random password, used to spend the same PBKDF2 work when a username does not exist,
// so login timing does not reveal which usernames are registered.
let decoyHash: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword(toBase64(randomBytes(16)));
  return decoyHash;
}
