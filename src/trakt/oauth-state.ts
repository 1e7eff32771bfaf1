/**
 * @module
 * OAuth `state`: 256-bit random, bound to the user who asked for it, valid 10 minutes, usable once.
 * KV holds the sealed binding under the state's SHA-256 (the raw state is never a key). KV has no
 * compare-and-set, so single use is enforced by an insert into D1 `oauth_state_uses`.
 */
import { OAUTH_STATE_TTL_SECONDS } from '../config';
import { randomToken, sha256Hex } from '../crypto/bytes';
import { EnvelopeError, type KeyRing, open, seal } from '../crypto/envelope';
import { type Database, isoNow } from '../db/client';
import { oauthStateUses } from '../db/schema';
import { ApiError } from '../http/errors';

type StateBinding = { user_id: number; created_at: number };

const kvKey = (hash: string) => `oauth_state:${hash}`;
const aad = (hash: string) => `oauth_state:${hash}|oauth_state`;

export const INVALID_STATE = 'Invalid or expired state; start again at /trakt/authenticate/';

export async function createOAuthState(
  kv: KVNamespace,
  ring: KeyRing,
  userId: number,
  now = Date.now(),
): Promise<string> {
  const state = randomToken(32);
  const hash = await sha256Hex(state);
  const binding: StateBinding = { user_id: userId, created_at: now };
  await kv.put(kvKey(hash), await seal(ring, JSON.stringify(binding), aad(hash)), {
    expirationTtl: OAUTH_STATE_TTL_SECONDS,
  });
  return state;
}

/** Reads the state's owner without consuming it; throws 400 when unknown or expired. */
export async function peekOAuthState(
  kv: KVNamespace,
  ring: KeyRing,
  state: string,
  now = Date.now(),
): Promise<{ userId: number; hash: string }> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(state)) throw new ApiError(400, INVALID_STATE);
  const hash = await sha256Hex(state);
  const sealed = await kv.get(kvKey(hash));
  if (!sealed) throw new ApiError(400, INVALID_STATE);
  let binding: StateBinding;
  try {
    binding = JSON.parse(await open(ring, sealed, aad(hash))) as StateBinding;
  } catch (error) {
    if (error instanceof EnvelopeError || error instanceof SyntaxError) throw new ApiError(400, INVALID_STATE);
    throw error;
  }
  // KV expiry is approximate; the binding's own timestamp is authoritative.
  if (now - binding.created_at > OAUTH_STATE_TTL_SECONDS * 1000) throw new ApiError(400, INVALID_STATE);
  return { userId: binding.user_id, hash };
}

/** Marks the state used; a second use (even racing, from any location) gets 400. */
export async function consumeOAuthState(
  db: Database,
  kv: KVNamespace,
  peeked: { userId: number; hash: string },
  now = Date.now(),
): Promise<void> {
  const inserted = await db
    .insert(oauthStateUses)
    .values({ stateHash: peeked.hash, userId: peeked.userId, usedAt: isoNow(now) })
    .onConflictDoNothing()
    .returning({ stateHash: oauthStateUses.stateHash });
  if (inserted.length === 0)
    throw new ApiError(400, 'This authorization state was already used; start again at /trakt/authenticate/');
  await kv.delete(kvKey(peeked.hash));
}
