/**
 * @module
 * The D1 schema (drizzle). Column names are camelCase here and snake_case in SQL
 * (`casing: 'snake_case'`). Timestamps are ISO-8601 UTC strings with milliseconds and `Z`
 * (`Date#toISOString`), which sort correctly as text. STORAGE.md documents every table.
 */
import { sql } from 'drizzle-orm';
import { integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

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
