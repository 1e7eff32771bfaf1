/**
 * @module
 * Builds what Trakt-facing services need for one user (database, KV, key ring, lazily resolved
 * client credentials) from a request or a background job.
 */
import { upstreamTimeoutMs } from '../config';
import { keyRing } from '../crypto/envelope';
import { database } from '../db/client';
import { TraktClient, type TraktCredentials } from './client';
import { resolveTraktCredentials } from './credentials';
import type { TokenStoreContext } from './tokens';

export type TraktUserContext = TokenStoreContext & { env: Env };

export async function traktUserContext(
  env: Env,
  userId: number,
  waitUntil?: (promise: Promise<unknown>) => void,
  /** Credentials already resolved by the caller (a sync reads the user's keys once for Trakt and TMDB). */
  credentials?: () => Promise<TraktCredentials>,
): Promise<TraktUserContext> {
  const db = database(env.DB);
  const ring = await keyRing(env);
  let client: Promise<TraktClient> | undefined;
  return {
    env,
    db,
    kv: env.KV,
    ring,
    userId,
    upstreamTimeoutMs: upstreamTimeoutMs(env),
    waitUntil,
    client: () =>
      (client ??= (credentials ? credentials() : resolveTraktCredentials(env, db, ring, userId)).then((resolved) =>
        TraktClient.fromEnv(env, resolved),
      )),
  };
}
