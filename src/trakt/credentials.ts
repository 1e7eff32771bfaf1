/**
 * @module
 * Which Trakt app (client id + secret) acts for a user: the user's own stored keys in either
 * accepted form (one `trakt` key, or `trakt_client_id` + `trakt_client_secret`), else the
 * deployment-wide TRAKT_CLIENT_ID / TRAKT_CLIENT_SECRET.
 */
import { optionalSecret } from '../config';
import type { KeyRing } from '../crypto/envelope';
import type { Database } from '../db/client';
import { ApiError } from '../http/errors';
import { readApiKeys, type StoredApiKeys } from '../users/api-keys';
import type { TraktCredentials } from './client';

export const NO_CREDENTIALS_HINT =
  'Store your Trakt app credentials with POST /users/api-keys/ ' +
  '({"service_name": "trakt", "service_user_id": "<client id>", "api_key": "<client secret>"}), ' +
  'or set TRAKT_CLIENT_ID and TRAKT_CLIENT_SECRET on the server.';

/** The stored API keys that can name a user's Trakt app. */
const TRAKT_KEY_SERVICES = ['trakt', 'trakt_client_id', 'trakt_client_secret'] as const;

export async function resolveTraktCredentials(
  env: Env,
  db: Database,
  ring: KeyRing,
  userId: number,
): Promise<TraktCredentials> {
  return traktCredentialsFrom(env, await readApiKeys(db, ring, userId, TRAKT_KEY_SERVICES));
}

export function isTraktKeyService(serviceName: string): boolean {
  return (TRAKT_KEY_SERVICES as readonly string[]).includes(serviceName);
}

/** Credentials from keys already read (a sync reads all of a user's keys once). */
export function traktCredentialsFrom(env: Env, keys: StoredApiKeys): TraktCredentials {
  if (keys.trakt?.serviceUserId) {
    return { clientId: keys.trakt.serviceUserId, clientSecret: keys.trakt.secret, source: 'user' };
  }
  if (keys.trakt_client_id && keys.trakt_client_secret) {
    return { clientId: keys.trakt_client_id.secret, clientSecret: keys.trakt_client_secret.secret, source: 'user' };
  }
  const clientId = optionalSecret(env.TRAKT_CLIENT_ID);
  const clientSecret = optionalSecret(env.TRAKT_CLIENT_SECRET);
  if (clientId && clientSecret) return { clientId, clientSecret, source: 'deployment' };
  throw new ApiError(400, 'No Trakt client credentials', { details: { hint: NO_CREDENTIALS_HINT } });
}
