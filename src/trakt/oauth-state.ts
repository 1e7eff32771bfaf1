/**
 * @module
 * OAuth `state`: 256-bit random, bound to the user who asked for it, valid 10 minutes, usable once.
 * KV holds the sealed binding under the state's SHA-256 (the raw state is never a key). KV has no
 * compare-and-set, so single use is enforced by an insert into D1 `oauth_state_uses`.
 * The KV entry's metadata names the user, so deleting an account can find its pending states.
 */
import { eq } from 'drizzle-orm';
import { OAUTH_STATE_TTL_SECONDS } from '../config';
import { randomToken, sha256Hex } from '../crypto/bytes';
import { EnvelopeError, type KeyRing, open, seal } from '../crypto/envelope';
import { type Database, isoNow } from '../db/client';
import { oauthStateUses } from '../db/schema';
import { ApiError } from '../http/errors';

type StateBinding = { user_id: number; created_at: number };
type StateMetadata = { user_id: number };

const KV_PREFIX = 'oauth_state:';
const kvKey = (hash: string) => `${KV_PREFIX}${hash}`;
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
    metadata: { user_id: userId } satisfies StateMetadata,
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

/**
 * Deletes the user's pending states from KV (account deletion). States are keyed by hash, so this
 * lists them all; they live 10 minutes, so there are only ever as many as recent authorizations.
 */
export async function deleteUserOAuthStates(kv: KVNamespace, userId: number): Promise<number> {
  let deleted = 0;
  let cursor: string | undefined;
  do {
    const page: KVNamespaceListResult<StateMetadata> = await kv.list<StateMetadata>({ prefix: KV_PREFIX, cursor });
    const mine = page.keys.filter((key) => key.metadata?.user_id === userId);
    await Promise.all(mine.map((key) => kv.delete(key.name)));
    deleted += mine.length;
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return deleted;
}

/** A statement deleting the user's consumed-state records (account deletion), for the caller's batch. */
export function deleteUserOAuthStateUses(db: Database, userId: number) {
  return db.delete(oauthStateUses).where(eq(oauthStateUses.userId, userId));
}
