/**
 * @module
 * The D1 schema (drizzle). Column names are camelCase here and snake_case in SQL
 * (`casing: 'snake_case'`). Timestamps are ISO-8601 UTC strings with milliseconds and `Z`
 * (`Date#toISOString`), which sort correctly as text. STORAGE.md documents every table.
 */
import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

export const users = sqliteTable(
  'users',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    username: text().notNull(),
    passwordHash: text().notNull(),
    createdAt: text().notNull(),
  },
  // Usernames are unique regardless of case, so "Alice" cannot register beside "alice".
  (t) => [uniqueIndex('users_username_lower_unique').on(sql`lower(${t.username})`)],
);

export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    serviceName: text().notNull(),
    /** Not secret (e.g. a Trakt client id in the seed's `trakt` form); stored as given. */
    serviceUserId: text(),
    /** The secret, sealed with the crypto envelope; AAD `user:<id>|api_key:<service_name>`. */
    encryptedKey: text().notNull(),
    createdAt: text().notNull(),
    updatedAt: text().notNull(),
  },
  (t) => [uniqueIndex('api_keys_user_service_unique').on(t.userId, t.serviceName)],
);

/**
 * One row per connected Trakt account: the source of truth for its token set. The encrypted
 * token set itself lives in KV under an immutable key (`trakt_tokens:<user>:<token_set_id>`)
 * that changes on every refresh, so no KV location can serve a stale set as current.
 */
export const traktConnections = sqliteTable(
  'trakt_connections',
  {
    userId: integer()
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    status: text({ enum: ['active', 'reauthorization_required'] }).notNull(),
    statusReason: text(),
    /** Bumped on every new token set; the compare-and-set guard for refreshes. */
    tokenVersion: integer().notNull(),
    /** Random id naming the current KV token set. */
    tokenSetId: text().notNull(),
    /** The access token's expiry: Trakt's `created_at + expires_in`. */
    expiresAt: text().notNull(),
    tokenLifetimeSeconds: integer().notNull(),
    /** Refresh lease: who is refreshing and until when (single-flight across isolates). */
    refreshLeaseId: text(),
    refreshLeaseUntil: text(),
    /** KV token set written by a refresh whose D1 publish may not have happened; adopted on the next refresh. */
    pendingTokenSetId: text(),
    connectedAt: text().notNull(),
    refreshedAt: text(),
    updatedAt: text().notNull(),
    /** When the background sync is next due (the cron's index). */
    nextSyncAt: text().notNull(),
  },
  (t) => [index('trakt_connections_due_idx').on(t.status, t.nextSyncAt)],
);

/** Consumed OAuth states: makes each state single-use atomically (KV has no compare-and-set). */
export const oauthStateUses = sqliteTable('oauth_state_uses', {
  stateHash: text().primaryKey(),
  userId: integer().notNull(),
  usedAt: text().notNull(),
});
