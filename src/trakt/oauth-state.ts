/**
 * @module
 * OAuth `state`: 256-bit random, bound to the user who asked for it, valid 10 minutes, usable once.
 * KV holds the sealed binding under the state's SHA-256 (the raw state is never a key). KV has no
 * compare-and-set, so single use is enforced by an insert into D1 `oauth_state_uses`.
 * Also the confirmation token of the callback page's form (NowPlaying's page, src/nowplaying/), below.
 * The binding also keeps the authorization's PKCE `code_verifier` (RFC 7636, S256): only its challenge
 * leaves in the authorize URL, and the verifier goes to Trakt with the code exchange, so a code caught on
 * its way back (a redirect seen by someone else) cannot be exchanged without it.
 * The KV entry's metadata names the user, so deleting an account can find its pending states.
 * States issued for NowPlaying's clients are also indexed by user in D1 (`oauth_pending_states`, below).
 */
import { and, desc, eq, gt, notExists, sql } from 'drizzle-orm';
import { OAUTH_STATE_TTL_SECONDS } from '../config';
import { randomToken, sha256Hex, toBase64Url, utf8 } from '../crypto/bytes';
import { EnvelopeError, type KeyRing, open, seal } from '../crypto/envelope';
import { type Database, isoNow, runBatch } from '../db/client';
import { oauthPendingStates, oauthStateUses } from '../db/schema';
import { ApiError } from '../http/errors';

/** `code_verifier` is absent only from states issued before PKCE, which are exchanged without one. */
type StateBinding = { user_id: number; created_at: number; code_verifier?: string };
type StateMetadata = { user_id: number };

const KV_PREFIX = 'oauth_state:';
const kvKey = (hash: string) => `${KV_PREFIX}${hash}`;
const aad = (hash: string) => `oauth_state:${hash}|oauth_state`;

export const INVALID_STATE = 'Invalid or expired state; start again at /trakt/authenticate/';

/** The S256 challenge of a PKCE verifier: base64url(SHA-256(verifier)), unpadded (RFC 7636 §4.2). */
export async function codeChallengeOf(verifier: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(verifier))));
}

/** A new state for the user, with the PKCE challenge its authorize URL carries. */
export async function createOAuthState(
  kv: KVNamespace,
  ring: KeyRing,
  userId: number,
  now = Date.now(),
): Promise<{ state: string; codeChallenge: string }> {
  const state = randomToken(32);
  const hash = await sha256Hex(state);
  // 256 bits in base64url: 43 characters of RFC 7636's unreserved set (43–128 allowed).
  const codeVerifier = randomToken(32);
  const binding: StateBinding = { user_id: userId, created_at: now, code_verifier: codeVerifier };
  await kv.put(kvKey(hash), await seal(ring, JSON.stringify(binding), aad(hash)), {
    expirationTtl: OAUTH_STATE_TTL_SECONDS,
    metadata: { user_id: userId } satisfies StateMetadata,
  });
  return { state, codeChallenge: await codeChallengeOf(codeVerifier) };
}

/** What a pending state binds: its owner, its hash (the single-use key) and the PKCE verifier of its authorization. */
export type PeekedState = { userId: number; hash: string; codeVerifier?: string };

/** Reads the state's owner without consuming it; throws 400 when unknown or expired. */
export async function peekOAuthState(
  kv: KVNamespace,
  ring: KeyRing,
  state: string,
  now = Date.now(),
): Promise<PeekedState> {
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
  return { userId: binding.user_id, hash, ...(binding.code_verifier ? { codeVerifier: binding.code_verifier } : {}) };
}

/** The PKCE verifier sealed in a state's binding (undefined for a pre-PKCE state, or one that does not open). */
async function verifierOf(ring: KeyRing, hash: string, sealed: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await open(ring, sealed, aad(hash))) as StateBinding).code_verifier;
  } catch (error) {
    if (error instanceof EnvelopeError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/**
 * The PKCE verifier of a pending state known by its hash (a state found through `oauth_pending_states`);
 * read before the state is consumed, which deletes its binding.
 */
export async function pendingCodeVerifier(kv: KVNamespace, ring: KeyRing, hash: string): Promise<string | undefined> {
  const sealed = await kv.get(kvKey(hash));
  return sealed ? verifierOf(ring, hash, sealed) : undefined;
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
 * Cron: deletes consumed states that can no longer matter (older than twice the state TTL), and index rows
 * of states that have expired (`oauth_pending_states`), at most `limit` of each.
 */
export async function deleteSpentOAuthStates(db: Database, now: number, limit = 1000): Promise<number> {
  const results = await runBatch(db.$client, [
    sql`DELETE FROM oauth_state_uses WHERE state_hash IN (SELECT state_hash FROM oauth_state_uses
        WHERE used_at < ${isoNow(now - OAUTH_STATE_TTL_SECONDS * 2000)} LIMIT ${limit})`,
    sql`DELETE FROM oauth_pending_states WHERE state_hash IN (SELECT state_hash FROM oauth_pending_states
        WHERE created_at < ${isoNow(now - OAUTH_STATE_TTL_SECONDS * 1000)} LIMIT ${limit})`,
  ]);
  return results.reduce((sum, result) => sum + (result.meta.changes ?? 0), 0);
}

// ---------------------------------------------------------------------------------------------
// States indexed by user, for a client that posts the code without the state Trakt echoed.
// NowPlaying's web app (src/nowplaying/) sends its numeric user id as `state`; the layer accepts exactly
// the caller's own id and then completes with the caller's newest pending state. KV cannot answer "the
// newest state of user N" (keys are state hashes, and listing is eventually consistent), so such states
// are also recorded in D1. The state stays what it is everywhere else: random, bound to its user (the
// row names the user; the lookup is by the bearer's id), valid OAUTH_STATE_TTL_SECONDS, and single-use
// through `consumeOAuthState`, which every completion goes through.

/** `createOAuthState`, plus a D1 row naming the state's hash and its user (`newestPendingOAuthState` finds it). */
export async function createIndexedOAuthState(
  db: Database,
  kv: KVNamespace,
  ring: KeyRing,
  userId: number,
  now = Date.now(),
): Promise<{ state: string; codeChallenge: string }> {
  const created = await createOAuthState(kv, ring, userId, now);
  await db
    .insert(oauthPendingStates)
    .values({ stateHash: await sha256Hex(created.state), userId, createdAt: isoNow(now) });
  return created;
}

/**
 * The user's newest indexed state that is neither used nor expired (one seek of the user's index rows),
 * in the shape `consumeOAuthState` takes; undefined when there is none.
 */
export async function newestPendingOAuthState(
  db: Database,
  userId: number,
  now = Date.now(),
): Promise<{ userId: number; hash: string } | undefined> {
  const [row] = await db
    .select({ hash: oauthPendingStates.stateHash })
    .from(oauthPendingStates)
    .where(
      and(
        eq(oauthPendingStates.userId, userId),
        gt(oauthPendingStates.createdAt, isoNow(now - OAUTH_STATE_TTL_SECONDS * 1000)),
        notExists(
          db
            .select({ used: sql`1` })
            .from(oauthStateUses)
            .where(eq(oauthStateUses.stateHash, oauthPendingStates.stateHash)),
        ),
      ),
    )
    .orderBy(desc(oauthPendingStates.createdAt))
    .limit(1);
  return row ? { userId, hash: row.hash } : undefined;
}

/** A statement deleting the user's indexed states (account deletion), for the caller's batch. */
export function deleteUserPendingOAuthStates(db: Database, userId: number) {
  return db.delete(oauthPendingStates).where(eq(oauthPendingStates.userId, userId));
}

// ---------------------------------------------------------------------------------------------
// Browser confirmation of a GET callback. A browser that lands on the callback does not link
// anything: it gets a page naming the API account and a form carrying a confirmation token. The
// token is random (256 bits), bound to the state's owner and to the state, valid as long as a state,
// and single-use because confirming consumes the state (the insert into `oauth_state_uses`).

type ConfirmationBinding = { user_id: number; state_hash: string; code: string; created_at: number };

const confirmationKey = (hash: string) => `oauth_confirmation:${hash}`;
const confirmationAad = (hash: string) => `oauth_confirmation:${hash}|oauth_confirmation`;

export const INVALID_CONFIRMATION =
  'This confirmation link is invalid, expired or already used; start again at /trakt/authenticate/';

/** Seals the code Trakt sent for a peeked state under a new confirmation token, and returns the token. */
export async function createCallbackConfirmation(
  kv: KVNamespace,
  ring: KeyRing,
  peeked: { userId: number; hash: string },
  code: string,
  now = Date.now(),
): Promise<string> {
  const token = randomToken(32);
  const hash = await sha256Hex(token);
  const binding: ConfirmationBinding = { user_id: peeked.userId, state_hash: peeked.hash, code, created_at: now };
  await kv.put(confirmationKey(hash), await seal(ring, JSON.stringify(binding), confirmationAad(hash)), {
    expirationTtl: OAUTH_STATE_TTL_SECONDS,
  });
  return token;
}

/**
 * Opens a confirmation token: the user it was issued for, the state it belongs to and Trakt's code.
 * Deletes it (best effort; single use itself comes from consuming the state). 400 when unknown or expired.
 */
export async function takeCallbackConfirmation(
  kv: KVNamespace,
  ring: KeyRing,
  token: string,
  now = Date.now(),
): Promise<PeekedState & { code: string }> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) throw new ApiError(400, INVALID_CONFIRMATION);
  const hash = await sha256Hex(token);
  const sealed = await kv.get(confirmationKey(hash));
  if (!sealed) throw new ApiError(400, INVALID_CONFIRMATION);
  let binding: ConfirmationBinding;
  try {
    binding = JSON.parse(await open(ring, sealed, confirmationAad(hash))) as ConfirmationBinding;
  } catch (error) {
    if (error instanceof EnvelopeError || error instanceof SyntaxError) throw new ApiError(400, INVALID_CONFIRMATION);
    throw error;
  }
  if (now - binding.created_at > OAUTH_STATE_TTL_SECONDS * 1000) throw new ApiError(400, INVALID_CONFIRMATION);
  // The state must still be pending: not used meanwhile, and not dropped with a deleted account.
  const state = await kv.get(kvKey(binding.state_hash));
  if (!state) throw new ApiError(400, INVALID_CONFIRMATION);
  await kv.delete(confirmationKey(hash));
  const codeVerifier = await verifierOf(ring, binding.state_hash, state);
  return {
    userId: binding.user_id,
    hash: binding.state_hash,
    code: binding.code,
    ...(codeVerifier ? { codeVerifier } : {}),
  };
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
