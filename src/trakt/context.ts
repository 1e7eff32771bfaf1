/**
 * @module
 * Builds what Trakt-facing services need for one user (database, KV, key ring, lazily resolved
 * client credentials and the client, paced under the user's limiter key) from a request or a background job.
 */
import { upstreamTimeoutMs } from '../config';
import { keyRing } from '../crypto/envelope';
import { database } from '../db/client';
import { TraktClient, type TraktCredentials } from './client';
import { readConnectionState } from './connections';
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
      (client ??= (credentials ? credentials() : resolveTraktCredentials(env, db, ring, userId)).then(
        async (resolved) =>
          TraktClient.fromEnv(env, resolved, traktLimiterKey(resolved, userId, await connectedClientId(db, userId))),
      )),
  };
}

async function connectedClientId(db: TraktUserContext['db'], userId: number): Promise<string | null> {
  return (await readConnectionState(db, userId))?.clientId ?? null;
}

/**
 * Whose share of the app-wide limiter a user's Trakt calls take. The shared `trakt:<client id>` key is for
 * a client id proven to be this user's to use: the deployment's own, or one this user's connection
 * completed a token exchange (or refresh) with, which Trakt only grants to whoever holds the app's
 * secret. Any other client id (stored, but never exchanged) gets the user's own key: client ids are
 * public, so storing someone else's must not let a user drain or pause that app's schedule.
 */
export function traktLimiterKey(
  credentials: Pick<TraktCredentials, 'clientId' | 'source'>,
  userId: number,
  connectedClientId: string | null,
): string {
  const proven = credentials.source === 'deployment' || connectedClientId === credentials.clientId;
  return proven ? `trakt:${credentials.clientId}` : `trakt-user:${userId}`;
}
