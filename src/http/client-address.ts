/**
 * @module
 * The client's address as Cloudflare's edge reports it (`CF-Connecting-IP`; clients cannot set it),
 * for the login and registration throttles. Absent in plain local runs.
 */
import type { Context } from 'hono';

export function clientAddress(c: Context): string | undefined {
  return c.req.header('CF-Connecting-IP')?.trim() || undefined;
}
