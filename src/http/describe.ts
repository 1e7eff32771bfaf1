/**
 * @module
 * `describe()`: a route's documentation, written on the route itself next to `validate()`.
 * It is a pass-through middleware carrying the contract under `ROUTE_CONTRACT`, the same trick
 * `validate()` uses for request schemas, so src/docs/openapi.ts reads every route's summary and
 * responses straight from `app.routes`: nothing is keyed by a path string, nothing can go stale.
 *
 * ```ts
 * .get(
 *   '/me',
 *   describe({ summary: 'The signed-in user', responses: { 200: { description: 'Profile', schema: meOutput } } }),
 *   requireUser,
 *   async (c) => c.json({ ... } satisfies MeOutput),
 * )
 * ```
 * Request schemas are not repeated here (the generator reads them from `validate()`), nor is
 * the JWT requirement (it sees `requireUser` in the chain), nor 400/401/default errors.
 */
import type { MiddlewareHandler } from 'hono';
import type { z } from 'zod';

export const ROUTE_CONTRACT = Symbol('routeContract');

export type ResponseContract = {
  description: string;
  /** JSON body schema (output side). Omitted: no body, an error body, or `html` below. */
  schema?: z.ZodType;
  /** The response is an HTML page (instead of, or as an alternative to, JSON). */
  html?: boolean;
  /** The response can also be CSV (`text/csv`). */
  csv?: boolean;
  /** Another text media type the response is (`application/atom+xml`, `text/calendar`, `image/svg+xml`, …). */
  mediaType?: string;
};

export type RouteContract = {
  summary: string;
  description?: string;
  /** Defaults to the first path segment (`users`, `trakt`, …). */
  tag?: string;
  /**
   * A request body that is not JSON (documented here, since no `validate()` schema describes it), e.g.
   * `{ contentType: 'application/zip', description: "Trakt's export ZIP" }`.
   */
  requestBody?: { contentType: string; description: string };
  /**
   * Success and route-specific error responses. 400 (validation), 401 (JWT) and the generic
   * error response are added by the generator.
   */
  responses: Record<number, ResponseContract>;
  /**
   * The shape of this route's error bodies when it is not the API's `{"error", "details"?}` (a compatibility
   * layer's, e.g. src/nowplaying/): a named schema, listed once under `components.schemas`.
   */
  errors?: { name: string; schema: z.ZodType };
};

/** An error answer: documented with the shared `{"error": …}` schema. */
export const errorResponse = (description: string): ResponseContract => ({ description });

export function describe(contract: RouteContract): MiddlewareHandler & { [ROUTE_CONTRACT]: RouteContract } {
  const passThrough: MiddlewareHandler = async (_c, next) => {
    await next();
  };
  return Object.assign(passThrough, { [ROUTE_CONTRACT]: contract });
}

/** The contract attached to one handler of a route's chain, if it is a `describe()` marker. */
export function contractOf(handler: unknown): RouteContract | undefined {
  if (typeof handler !== 'function') return undefined;
  return (handler as { [ROUTE_CONTRACT]?: RouteContract })[ROUTE_CONTRACT];
}
