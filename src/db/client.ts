/**
 * @module
 * Builds the drizzle client for a request or job from its D1 binding (never a module-level
 * singleton holding a binding).
 */
import { is, SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { SQLiteAsyncDialect } from 'drizzle-orm/sqlite-core';
import * as schema from './schema';

export function database(d1: D1Database) {
  return drizzle(d1, { schema, casing: 'snake_case' });
}

export type Database = ReturnType<typeof database>;

/**
 * Rows per bulk statement: a 2,000-row JSON parameter is about 0.5 MB, under D1's 2 MB value limit,
 * and a 40-page chunk (10,000 plays) stays at a handful of statements.
 */
export const ROWS_PER_STATEMENT = 2000;

/** Splits rows into groups of at most `size` (bulk statements, bound-parameter limits). */
export function chunk<T>(rows: readonly T[], size = ROWS_PER_STATEMENT): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

/** The current time as stored in D1. */
export function isoNow(now: number = Date.now()): string {
  return new Date(now).toISOString();
}

/** A write the batch helper accepts: raw drizzle `sql` or a drizzle query builder. */
export type BatchItem = SQL | { toSQL(): { sql: string; params: unknown[] } };

const dialect = new SQLiteAsyncDialect({ casing: 'snake_case' });

/**
 * Runs statements in one D1 batch, which D1 executes as a single transaction (BEGIN is refused).
 * Drizzle's own batch() does not take raw `sql` fragments, so they are compiled here.
 */
export async function runBatch(d1: D1Database, items: BatchItem[]): Promise<D1Result[]> {
  if (items.length === 0) return [];
  const statements = items.map((item) => {
    const query = is(item, SQL) ? dialect.sqlToQuery(item) : item.toSQL();
    return d1.prepare(query.sql).bind(...query.params);
  });
  return d1.batch(statements);
}
