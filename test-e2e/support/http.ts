/**
 * @module
 * Node-side helpers for the e2e tests: call the running API and the simulator's `/_sim` admin
 * API, and set up a user with a simulated Trakt app and account.
 */
import { inject } from 'vitest';

export type Reply<T = unknown> = { status: number; body: T; headers: Headers };

export function stack() {
  return inject('stack');
}

async function request<T>(
  url: string,
  method: string,
  options: { token?: string; json?: unknown } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.json !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

export function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { token?: string; json?: unknown } = {},
): Promise<Reply<T>> {
  return request<T>(`${stack().apiUrl}${path}`, method, options);
}

export async function sim<T = Record<string, unknown>>(method: string, path: string, json?: unknown): Promise<T> {
  const reply = await request<T>(`${stack().simUrl}/_sim${path}`, method, { json });
  if (reply.status >= 300)
    throw new Error(`simulator ${method} ${path} → ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

export function unique(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`;
}

export type TraktApp = { client_id: string; client_secret: string };

/** A simulated Trakt app accepting the API's redirect URI, and a simulated Trakt account signed in at "trakt.tv". */
export async function traktAppAndAccount(): Promise<{ app: TraktApp; traktUser: string }> {
  const app = await sim<TraktApp>('POST', '/apps', { redirect_uris: [stack().redirectUri] });
  const traktUser = unique('trakt');
  await sim('POST', '/accounts', { username: traktUser, movies: 2, shows: 1 });
  await sim('POST', '/session', { username: traktUser });
  return { app, traktUser };
}

/** Registers an API user; returns its credentials and JWT pair. */
export async function apiUser(): Promise<{ username: string; password: string; access: string; refresh: string }> {
  const username = unique('e2e');
  const password = 'correct horse battery staple';
  const reg = await api('POST', '/users/register/', { json: { username, password } });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
  const tok = await api<{ access: string; refresh: string }>('POST', '/users/token/', { json: { username, password } });
  return { username, password, access: tok.body.access, refresh: tok.body.refresh };
}

/**
 * Follows an authorize URL at the simulator like a browser that is signed in and approves;
 * returns Trakt's redirect URL.
 */
export async function approveAt(authUrl: string): Promise<URL> {
  const res = await fetch(authUrl, { redirect: 'manual' });
  const location = res.headers.get('location');
  if (res.status !== 302 || !location) throw new Error(`authorize did not redirect: ${res.status} ${await res.text()}`);
  return new URL(location);
}
