/**
 * Test helpers that call the API Worker exactly as a client would (through `exports.default.fetch`).
 * `call()` is untyped, for deliberately bad requests (wrong bodies, missing auth, malformed input, raw headers);
 * successful calls go through the typed client of ./client.ts.
 */
import { exports } from 'cloudflare:workers';
import { expect } from 'vitest';
import { api, ok } from './client';

export const BASE = 'http://api.test';

export type JsonResponse<T = any> = { status: number; headers: Headers; body: T };

export async function call<T = any>(
  method: string,
  path: string,
  options: { token?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const headers = new Headers(options.headers);
  if (options.token) headers.set('Authorization', `Bearer ${options.token}`);
  let body = options.body;
  if (options.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(options.json);
  }
  const res = await exports.default.fetch(new Request(`${BASE}${path}`, { method, headers, body }));
  const text = await res.text();
  let parsed: any = text;
  if (res.headers.get('Content-Type')?.includes('application/json')) parsed = text ? JSON.parse(text) : null;
  return { status: res.status, headers: res.headers, body: parsed as T };
}

let counter = 0;
export function uniqueName(prefix = 'user'): string {
  counter += 1;
  return `${prefix}_${counter}_${Math.random().toString(36).slice(2, 8)}`;
}

export async function registerAndLogin(username = uniqueName(), password = 'correct horse battery') {
  const reg = await ok(api().users.register.$post({ json: { username, password } }), 201);
  const tok = await ok(api().users.token.$post({ json: { username, password } }));
  return { id: reg.body.id, username, password, access: tok.body.access, refresh: tok.body.refresh };
}

/** Asserts the project's error shape and returns the message. */
export function expectError(res: JsonResponse, status: number, message?: string | RegExp): string {
  expect(res.status).toBe(status);
  expect(res.headers.get('Content-Type')).toMatch(/application\/json/);
  expect(typeof res.body.error).toBe('string');
  if (typeof message === 'string') expect(res.body.error).toBe(message);
  else if (message) expect(res.body.error).toMatch(message);
  expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/); // no stack traces
  return res.body.error;
}
