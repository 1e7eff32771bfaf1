/**
 * @module
 * Per-user third-party credentials (Trakt client id/secret, TMDB key), sealed with the crypto
 * envelope. Reading a secret back is only for outbound calls; responses never carry it.
 */
import { and, asc, eq } from 'drizzle-orm';
import { aadFor, EnvelopeError, type KeyRing, open, seal } from '../crypto/envelope';
import { type Database, isoNow } from '../db/client';
import { apiKeys } from '../db/schema';
import { ApiError } from '../http/errors';
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

/** Creates or replaces the user's key for a service; `created` tells which. */
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
    .returning(columns);
  return { created: !existing, apiKey: toOutput(row!) };
}

export async function listApiKeys(db: Database, userId: number) {
  const rows = await db
    .select(columns)
    .from(apiKeys)
    .where(eq(apiKeys.userId, userId))
    .orderBy(asc(apiKeys.serviceName));
  return rows.map(toOutput);
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

/** Decrypted keys by service (absent ones omitted). */
export type StoredApiKeys = Partial<Record<ServiceName, { secret: string; serviceUserId: string | null }>>;

/** Decrypted keys for the given services (absent ones omitted). Unreadable ones raise a 422 naming the service. */
export async function readApiKeys(
  db: Database,
  ring: KeyRing,
  userId: number,
  services: readonly ServiceName[],
  /** Services whose unreadable value is left out instead of failing the whole read. */
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
      if (optional.includes(service)) continue;
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
