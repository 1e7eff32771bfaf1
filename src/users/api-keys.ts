/**
 * @module
 * Per-user third-party credentials (Trakt client id/secret, TMDB key), sealed with the crypto
 * envelope. Reading a secret back is only for outbound calls; responses never carry it. Owns
 * `api_keys`, including the key rotation's re-sealing of stored keys (src/rotation/reseal.ts drives it).
 */
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import {
  aadFor,
  EnvelopeError,
  encryptionKeyMissing,
  envelopePrefix,
  type KeyRing,
  open,
  reseal,
  seal,
} from '../crypto/envelope';
import { type Database, isoNow } from '../db/client';
import { apiKeys } from '../db/schema';
import { ApiError } from '../http/errors';
import { log } from '../observability/log';
import { SERVICE_NAMES, type ServiceName } from './schemas';

export type ApiKeyInput = { service_name: ServiceName; api_key: string; service_user_id?: string | null };

const columns = {
  serviceName: apiKeys.serviceName,
  serviceUserId: apiKeys.serviceUserId,
  createdAt: apiKeys.createdAt,
  updatedAt: apiKeys.updatedAt,
};

function toOutput(row: { serviceName: string; serviceUserId: string | null; createdAt: string; updatedAt: string }) {
  return {
    service_name: row.serviceName as ServiceName,
    service_user_id: row.serviceUserId,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

function purpose(serviceName: string): string {
  return `api_key:${serviceName}`;
}

/** Creates or replaces the user's key for a service; `created` tells which, `record` carries the row id. */
export async function saveApiKey(db: Database, ring: KeyRing, userId: number, input: ApiKeyInput, now = Date.now()) {
  const encryptedKey = await seal(ring, input.api_key, aadFor(userId, purpose(input.service_name)));
  const timestamp = isoNow(now);
  const existing = await db.query.apiKeys.findFirst({
    columns: { id: true },
    where: and(eq(apiKeys.userId, userId), eq(apiKeys.serviceName, input.service_name)),
  });
  const [row] = await db
    .insert(apiKeys)
    .values({
      userId,
      serviceName: input.service_name,
      serviceUserId: input.service_user_id ?? null,
      encryptedKey,
      createdAt: timestamp,
      updatedAt: timestamp,
    })
    .onConflictDoUpdate({
      target: [apiKeys.userId, apiKeys.serviceName],
      set: { serviceUserId: input.service_user_id ?? null, encryptedKey, updatedAt: timestamp },
    })
    .returning({ id: apiKeys.id, ...columns });
  return { created: !existing, apiKey: toOutput(row!), record: row! };
}

/** The user's stored keys with their row ids (never the secret), by service name. */
export async function listApiKeyRecords(db: Database, userId: number) {
  return db
    .select({ id: apiKeys.id, ...columns })
    .from(apiKeys)
    .where(eq(apiKeys.userId, userId))
    .orderBy(asc(apiKeys.serviceName));
}

export type ApiKeyRecord = Awaited<ReturnType<typeof listApiKeyRecords>>[number];

export async function listApiKeys(db: Database, userId: number) {
  return (await listApiKeyRecords(db, userId)).map(toOutput);
}

export async function deleteApiKey(db: Database, userId: number, serviceName: string): Promise<boolean> {
  const deleted = await db
    .delete(apiKeys)
    .where(and(eq(apiKeys.userId, userId), eq(apiKeys.serviceName, serviceName)))
    .returning({ id: apiKeys.id });
  return deleted.length > 0;
}

/** A statement deleting every stored key of the user (account deletion), for the caller's batch. */
export function deleteUserApiKeys(db: Database, userId: number) {
  return db.delete(apiKeys).where(eq(apiKeys.userId, userId));
}

/** A decrypted key. */
export type StoredSecret = { secret: string; serviceUserId: string | null };

/**
 * Decrypted keys by service (absent ones omitted). `unreadable` names the optional services whose stored
 * value exists but could not be opened: they are left out, and the caller says so (enrichment reports
 * `tmdb_key_unreadable`) rather than acting as if no key were stored.
 */
export type StoredApiKeys = Partial<Record<ServiceName, StoredSecret>> & { unreadable?: ServiceName[] };

/**
 * Decrypted keys for the given services (absent ones omitted). An unreadable one raises an error naming
 * the service: 503 `encryption_key_missing` when its key id is not in ENCRYPTION_KEYS (putting the key
 * back repairs it), else 422 (save it again). Every unreadable value is logged (`api_key_unreadable`).
 */
export async function readApiKeys(
  db: Database,
  ring: KeyRing,
  userId: number,
  services: readonly ServiceName[],
  /** Services whose unreadable value is left out (and listed in `unreadable`) instead of failing the whole read. */
  optional: readonly ServiceName[] = [],
): Promise<StoredApiKeys> {
  const rows = await db.query.apiKeys.findMany({
    columns: { serviceName: true, serviceUserId: true, encryptedKey: true },
    where: eq(apiKeys.userId, userId),
  });
  const result: StoredApiKeys = {};
  for (const row of rows) {
    const service = row.serviceName as ServiceName;
    if (!services.includes(service)) continue;
    try {
      result[service] = {
        secret: await open(ring, row.encryptedKey, aadFor(userId, purpose(service))),
        serviceUserId: row.serviceUserId,
      };
    } catch (error) {
      if (!(error instanceof EnvelopeError)) throw error;
      log.warn('api_key_unreadable', { user_id: userId, service, reason: error.reason, kid: error.kid });
      if (optional.includes(service)) {
        (result.unreadable ??= []).push(service);
        continue;
      }
      if (error.reason === 'key_missing') {
        throw encryptionKeyMissing(
          `Stored API key for "${service}"`,
          error.kid!,
          'save the key again with POST /users/api-keys/',
          error,
        );
      }
      throw new ApiError(
        422,
        `Stored API key for "${service}" is unreadable; save it again with POST /users/api-keys/`,
        { cause: error },
      );
    }
  }
  return result;
}

/**
 * Every key the user stored, in one read (a sync chunk needs the Trakt app's credentials and the TMDB
 * key): an unreadable TMDB key is left out (enrichment is best effort), any other fails the read.
 */
export async function readAllApiKeys(db: Database, ring: KeyRing, userId: number): Promise<StoredApiKeys> {
  return readApiKeys(db, ring, userId, SERVICE_NAMES, ['tmdb']);
}

/** A stored key as the rotation sees it: the row and its envelope. */
export type SealedApiKey = { id: number; userId: number; serviceName: string; encryptedKey: string };

/**
 * Rotation: up to `limit` keys after row `afterId` (in id order) whose envelope is not sealed with
 * `primaryKid`. A primary-key range scan: a whole pass reads every row once.
 */
export async function apiKeysToReseal(
  db: Database,
  primaryKid: string,
  afterId: number,
  limit: number,
): Promise<SealedApiKey[]> {
  const prefix = envelopePrefix(primaryKid);
  return db
    .select({
      id: apiKeys.id,
      userId: apiKeys.userId,
      serviceName: apiKeys.serviceName,
      encryptedKey: apiKeys.encryptedKey,
    })
    .from(apiKeys)
    .where(and(gt(apiKeys.id, afterId), sql`substr(${apiKeys.encryptedKey}, 1, ${prefix.length}) <> ${prefix}`))
    .orderBy(asc(apiKeys.id))
    .limit(limit);
}

/** Rotation: the key's envelope opened with its AAD and sealed again with the primary key. Throws EnvelopeError. */
export function resealApiKey(ring: KeyRing, key: SealedApiKey): Promise<string> {
  return reseal(ring, key.encryptedKey, aadFor(key.userId, purpose(key.serviceName)));
}

/**
 * Rotation: a statement (for the caller's batch) that stores the re-sealed envelope only while the row
 * still holds the one that was re-sealed, so a key the user saved meanwhile is never overwritten.
 * `updated_at` stays: the key did not change. Returns the id when it wrote.
 */
export function replaceApiKeyEnvelope(db: Database, key: SealedApiKey, envelope: string) {
  return db
    .update(apiKeys)
    .set({ encryptedKey: envelope })
    .where(and(eq(apiKeys.id, key.id), eq(apiKeys.encryptedKey, key.encryptedKey)))
    .returning({ id: apiKeys.id });
}
