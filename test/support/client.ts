/**
 * The typed client (src/client.ts: `hono/client` over `AppType`) against the Worker, for the tests of successful
 * calls: paths, queries, JSON bodies and answers are typed from the routes themselves, so a change in a response
 * shape fails `npm run typecheck` of the tests, not just a run. Deliberately bad requests (wrong bodies, missing
 * auth, malformed input, raw headers) keep the untyped `call()` of ./api.ts.
 *
 *   const movies = await ok(api(user.access).trakt['get-stored-movies'].$get({ query: { page: '2' } }));
 *   movies.body.movies[0]?.movie.title; // typed
 */
import { exports } from 'cloudflare:workers';
import type { ClientResponse } from 'hono/client';
import { expect } from 'vitest';
import { historyClient } from '../../src/client';
import { BASE } from './api';
import { type EnvOverrides, workerWith } from './worker';

/** The Worker entry (`exports.default.fetch`), as the typed client's `fetch`. */
export const workerFetch = (input: RequestInfo | URL, init?: RequestInit) =>
  exports.default.fetch(new Request(input, init));

/** The typed client as `token`'s holder (no `Authorization` without one), through the Worker entry. */
export function api(token?: string, headers?: Record<string, string>) {
  return historyClient(BASE, { token, headers, fetch: workerFetch });
}

/** The typed client through the Worker entry with a modified env (see ./worker.ts). */
export function apiWith(overrides: EnvOverrides, token?: string, headers?: Record<string, string>) {
  return historyClient(BASE, { token, headers, fetch: workerWith(overrides) });
}

type AnyResponse = ClientResponse<any, number, any>;

/**
 * A typed response read whole, like `call()`'s: one member per status the route answers with, so checking
 * `status` narrows `body` (JSON parsed when the answer says it is JSON, the text otherwise; `unknown` for a route
 * that answers a raw body, such as a stream).
 */
export type Reply<R> =
  R extends ClientResponse<infer Body, infer Status, infer Format>
    ? { status: Status; headers: Headers; body: Format extends 'json' | 'text' ? Body : unknown }
    : never;

/** The members of a reply that `status` may be (a route's `c.json(x)` without a status may be any status). */
export type WithStatus<R, S extends number> = R extends { status: infer RS }
  ? S extends RS
    ? R & { status: S }
    : never
  : never;

/** Reads a typed response whole: status, headers and the body. */
export async function read<R extends AnyResponse>(response: R | Promise<R>): Promise<Reply<R>> {
  const res = await response;
  const text = await res.text();
  const json = res.headers.get('Content-Type')?.includes('application/json');
  return { status: res.status, headers: res.headers, body: json && text ? JSON.parse(text) : text } as Reply<R>;
}

/**
 * Reads a call that must succeed with `status` (200 unless given): asserts it, showing the error body otherwise,
 * and narrows the body to that status's shape.
 */
export async function ok<R extends AnyResponse, const S extends number = 200>(
  response: R | Promise<R>,
  status: S = 200 as S,
): Promise<WithStatus<Reply<R>, S>> {
  const reply = await read(response);
  expectStatus(reply, status);
  return reply;
}

/** Asserts a reply's status (the error body in the message otherwise) and narrows its body to that status's shape. */
export function expectStatus<R extends { status: number; body: unknown }, const S extends number>(
  reply: R,
  status: S,
  message?: string,
): asserts reply is WithStatus<R, S> {
  expect(reply.status, message ?? JSON.stringify(reply.body)).toBe(status);
}
