/**
 * @module
 * The one crypto envelope for every secret the project stores (API keys, Trakt token sets,
 * OAuth state payloads): AES-256-GCM with a random 96-bit IV per write and additional
 * authenticated data binding the ciphertext to its owner and purpose, so a ciphertext copied
 * to another row, user or purpose fails to open.
 *
 * Format: `v1.<kid>.<base64url iv>.<base64url ciphertext+tag>`.
 * Keys come from `ENCRYPTION_KEYS` = `kid:base64(32 bytes)[,kid:base64(32 bytes)…]`; the first
 * entry encrypts, every entry decrypts, which is how keys are rotated.
 */
import { ApiError } from '../http/errors';
import { fromBase64, fromBase64Url, randomBytes, toBase64Url, utf8 } from './bytes';

const VERSION = 'v1';
const IV_BYTES = 12;
const KEY_BYTES = 32;
const KID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export type KeyRing = { primaryKid: string; keys: Map<string, CryptoKey> };

/**
 * Why an envelope did not open. `key_missing`: it names a key id ENCRYPTION_KEYS does not have (removed
 * too early; putting the key back restores it). `authentication_failed`: wrong AAD, tampering or another
 * key under the same id. `malformed`: not an envelope at all.
 */
export type EnvelopeFailure = 'key_missing' | 'authentication_failed' | 'malformed';

/** Raised when an envelope cannot be opened; `reason` and `kid` say why and which key it needs. */
export class EnvelopeError extends Error {
  readonly reason: EnvelopeFailure;
  readonly kid: string | undefined;

  constructor(message: string, reason: EnvelopeFailure, kid?: string) {
    super(message);
    this.name = 'EnvelopeError';
    this.reason = reason;
    this.kid = kid;
  }
}

/** Additional authenticated data: who owns the secret and what it is for, e.g. `user:42|api_key:trakt`. */
export function aadFor(userId: number, purpose: string): string {
  return `user:${userId}|${purpose}`;
}

export async function parseKeyRing(spec: string | undefined): Promise<KeyRing> {
  const misconfigured = (why: string) =>
    new ApiError(503, `Server is not configured: ENCRYPTION_KEYS ${why} (expected kid:base64(32 bytes)[,…])`);
  const entries = (spec ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) throw misconfigured('is empty');
  const keys = new Map<string, CryptoKey>();
  for (const entry of entries) {
    const separator = entry.indexOf(':');
    const kid = entry.slice(0, separator);
    if (separator < 1 || !KID_PATTERN.test(kid)) throw misconfigured('has an entry without a valid key id');
    if (keys.has(kid)) throw misconfigured(`repeats key id ${kid}`);
    let raw: Uint8Array<ArrayBuffer>;
    try {
      raw = fromBase64(entry.slice(separator + 1));
    } catch {
      throw misconfigured(`has key ${kid} that is not base64`);
    }
    if (raw.byteLength !== KEY_BYTES) throw misconfigured(`has key ${kid} that is not 32 bytes`);
    keys.set(kid, await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']));
  }
  return { primaryKid: entries[0]!.slice(0, entries[0]!.indexOf(':')), keys };
}

// Importing keys costs a little; cache the ring per isolate for the configured value.
const ringCache = new Map<string, Promise<KeyRing>>();

export function keyRing(env: Env): Promise<KeyRing> {
  const spec = env.ENCRYPTION_KEYS ?? '';
  let ring = ringCache.get(spec);
  if (!ring) {
    ring = parseKeyRing(spec);
    ring.catch(() => ringCache.delete(spec));
    ringCache.set(spec, ring);
  }
  return ring;
}

export async function seal(ring: KeyRing, plaintext: string, aad: string): Promise<string> {
  const key = ring.keys.get(ring.primaryKid)!;
  const iv = randomBytes(IV_BYTES);
  const ciphertext = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: utf8(aad) },
    key,
    utf8(plaintext),
  );
  return [VERSION, ring.primaryKid, toBase64Url(iv), toBase64Url(new Uint8Array(ciphertext))].join('.');
}

export async function open(ring: KeyRing, envelope: string, aad: string): Promise<string> {
  const parts = envelope.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION) throw new EnvelopeError('not a v1 envelope', 'malformed');
  const [, kid, ivText, ciphertextText] = parts as [string, string, string, string];
  const key = ring.keys.get(kid);
  if (!key) throw new EnvelopeError(`key id ${kid} is not in ENCRYPTION_KEYS`, 'key_missing', kid);
  try {
    const iv = fromBase64Url(ivText);
    const plaintext = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(aad) },
      key,
      fromBase64Url(ciphertextText),
    );
    return new TextDecoder().decode(plaintext);
  } catch {
    throw new EnvelopeError('authentication failed', 'authentication_failed', kid);
  }
}

/** The key id an envelope was sealed with (for rotation reporting), or undefined if malformed. */
export function envelopeKid(envelope: string): string | undefined {
  const parts = envelope.split('.');
  return parts.length === 4 && parts[0] === VERSION ? parts[1] : undefined;
}

/** Whether the envelope is sealed with the ring's primary key (the one every new write uses). */
export function sealedWithPrimary(ring: KeyRing, envelope: string): boolean {
  return envelopeKid(envelope) === ring.primaryKid;
}

/** The start every envelope sealed with `kid` has (`v1.<kid>.`): what the re-encryption's queries compare. */
export function envelopePrefix(kid: string): string {
  return `${VERSION}.${kid}.`;
}

/**
 * The error for a stored secret whose key id ENCRYPTION_KEYS no longer has (503, code
 * `encryption_key_missing`): a deployment problem that putting the key back repairs, so nothing about the
 * stored value is given up. `what` names the secret; `remedy` says what the user can do meanwhile.
 */
export function encryptionKeyMissing(what: string, kid: string, remedy: string, cause?: unknown): ApiError {
  return new ApiError(
    503,
    `${what} needs encryption key "${kid}", which this server no longer has; the operator can put it back ` +
      `into ENCRYPTION_KEYS, or ${remedy}`,
    { code: 'encryption_key_missing', cause },
  );
}

/**
 * Opens an envelope and seals its plaintext again with the primary key, under the same AAD (key
 * rotation). Throws EnvelopeError when it does not open.
 */
export async function reseal(ring: KeyRing, envelope: string, aad: string): Promise<string> {
  return seal(ring, await open(ring, envelope, aad), aad);
}
