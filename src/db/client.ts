/**
 * @module
 * Builds the drizzle client for a request or job from its D1 binding (never a module-level
 * singleton holding a binding).
 */
import { drizzle } from 'drizzle-orm/d1';
import * as schema from './schema';

export function database(d1: D1Database) {
  return drizzle(d1, { schema, casing: 'snake_case' });
}

export type Database = ReturnType<typeof database>;

/** The current time as stored in D1. */
export function isoNow(now: number = Date.now()): string {
  return new Date(now).toISOString();
}
