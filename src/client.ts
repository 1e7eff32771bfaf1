/**
 * @module
 * A typed client for this API, built on `hono/client`: every route, query parameter and JSON
 * answer is typed from the app itself (`AppType`), so nothing is written twice.
 *
 *   import { historyClient } from './client';
 *   const api = historyClient('https://history.example.workers.dev', { token: access });
 *   const res = await api.trakt.history.$get({ query: { type: 'movies', limit: '50' } });
 *   const page = await res.json(); // { items: [...], next_cursor: string | null }
 *
 * A raw body (Trakt's export ZIP) goes in `init`, its type in `headers`:
 *
 *   await api.trakt.import.$post(undefined, { headers: { 'Content-Type': 'application/zip' }, init: { body: zip } });
 *
 * Pass `fetch` to call something other than the network (a Worker binding, `app.request`, tests).
 */
import { type ClientRequestOptions, hc } from 'hono/client';
import type { AppType } from './app';

export type { AppType };

export type HistoryClientOptions = {
  /** The `access` JWT from POST /users/token, sent as `Authorization: Bearer …`. */
  token?: string;
  fetch?: ClientRequestOptions['fetch'];
  headers?: Record<string, string>;
};

export function historyClient(baseUrl: string, options: HistoryClientOptions = {}) {
  return hc<AppType>(baseUrl, {
    fetch: options.fetch,
    headers: {
      ...options.headers,
      ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
    },
  });
}

export type HistoryClient = ReturnType<typeof historyClient>;
