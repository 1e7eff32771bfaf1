/**
 * @module
 * Errors as NowPlaying's clients read them, for every route of the layer (`npErrors`, mounted first in
 * ./routes.ts). The API's own error handler still logs and shapes the failure; this rewrites the answer:
 * - **401 only for the JWT.** A 401 that is not about the bearer token (Trakt not connected, authorization
 *   revoked, Trakt refusing a token) becomes a 400: the web app answers any 401 by refreshing its JWT and,
 *   when that fails, signing the user out (NowPlaying's `utils/auth.ts`). JWT failures are the ApiErrors
 *   raised with `WWW-Authenticate: Bearer` (src/auth/jwt.ts `unauthorized()`); they keep their 401 and add
 *   Django REST framework's `code: "token_not_valid"`.
 * - **`error` and `detail`, both.** Its hooks read `detail` (API keys, sign-in), `error` (Trakt, sync
 *   buttons, pages) or one then the other; validation problems also come as DRF-style field arrays
 *   (`{"password": ["…"]}`, `non_field_errors`), which its sign-in page shows, and `detail` is then the
 *   first field's message on its own.
 * - **Not connected** also carries `auth_url` (this layer's authorize endpoint) and a `message`.
 * Messages are the API's own fixed texts, never request input: the helper page inserts them as HTML.
 */
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import type { AppEnv } from '../app-env';
import { ApiError } from '../http/errors';
import type { ValidationDetail } from '../http/validate';

/** Where this layer is mounted (src/app.ts): NowPlaying's default `VITE_API_BASE_URL`. */
export const NOWPLAYING_BASE = '/api';

export const npErrorOutput = z
  .object({
    error: z.string().describe('What went wrong (read by the Trakt, sync and page hooks)'),
    detail: z
      .string()
      .describe('The same text, or a field problem’s own message (read by the sign-in and API-key hooks)'),
    details: z.unknown().optional().describe('Validation problems as [{path, message}]'),
    code: z.literal('token_not_valid').optional().describe('On a 401: the access or refresh JWT is not valid'),
    auth_url: z.string().optional().describe('Trakt is not connected: where to start authorizing'),
    message: z.string().optional(),
  })
  .catchall(z.array(z.string()))
  .describe('An error of the NowPlaying layer; field problems also come as `{"<field>": ["…"]}`');

export const NP_ERRORS = { name: 'NowPlayingError', schema: npErrorOutput };

/** A 401 about the bearer JWT (missing, malformed, invalid, expired, revoked, user gone). */
function isJwtFailure(error: ApiError): boolean {
  return error.status === 401 && error.headers?.['WWW-Authenticate'] !== undefined;
}

function fieldErrors(details: unknown): Record<string, string[]> {
  if (!Array.isArray(details)) return {};
  const fields: Record<string, string[]> = {};
  for (const detail of details as ValidationDetail[]) {
    const field = typeof detail?.path === 'string' && /^[a-z_][a-z0-9_]*$/i.test(detail.path) ? detail.path : undefined;
    if (!field || field in npErrorOutput.shape || typeof detail.message !== 'string') continue;
    (fields[field] ??= []).push(detail.message);
  }
  return fields;
}

/**
 * `detail`: the first field problem in words a person reads (NowPlaying's sign-in page shows `detail`
 * first): its message alone when it names the field (or belongs to no field), else `<field>: <message>`.
 * Without field problems, the API's message.
 */
function detailOf(body: Record<string, unknown>, message: string): string {
  const first = Object.entries(body).find(
    (entry): entry is [string, string[]] => Array.isArray(entry[1]) && typeof entry[1][0] === 'string',
  );
  if (!first) return message;
  const [field, [problem = message]] = first;
  const named = problem.toLowerCase().includes(
    field
      .replace(/[0-9]+$/, '')
      .replace(/_/g, ' ')
      .toLowerCase(),
  );
  return field === 'non_field_errors' || named || problem.includes(field) ? problem : `${field}: ${problem}`;
}

/** The answer NowPlaying's clients get for an error (pure apart from reading the request URL). */
export function nowPlayingErrorResponse(c: Context, error: Error, fallback: Response): Response {
  let status: ContentfulStatusCode;
  let message: string;
  let body: Record<string, unknown> = {};
  let headers: Record<string, string> = {};
  if (error instanceof ApiError) {
    const jwt = isJwtFailure(error);
    status = error.status === 401 && !jwt ? 400 : error.status;
    message = error.message;
    headers = { ...error.headers };
    if (!jwt) delete headers['WWW-Authenticate'];
    if (error.details !== undefined) body.details = error.details;
    body = { ...body, ...fieldErrors(error.details) };
    if (jwt) body.code = 'token_not_valid';
    if (error.code === 'not_connected' || error.code === 'reauthorization_required') {
      body.auth_url = new URL(`${NOWPLAYING_BASE}/trakt/authenticate/`, c.req.url).toString();
      body.message = 'Connect Trakt first: GET the auth_url with your JWT and open the auth_url it returns';
    }
  } else if (error instanceof HTTPException) {
    status = error.status as ContentfulStatusCode;
    message = error.message || 'Request failed';
  } else {
    // Unexpected: the API's handler has logged it and answered 500 with a fixed text.
    status = fallback.status as ContentfulStatusCode;
    message = 'Internal server error';
  }
  return Response.json({ error: message, detail: detailOf(body, message), ...body }, { status, headers });
}

/**
 * Rewrites every error answer of the layer's routes (see the module comment). The API's `onError` has
 * already run (it logs and sets `c.error`); Hono copies that answer's headers (CORS, request id,
 * `Retry-After`) onto the replacement, all but a `WWW-Authenticate` that no longer applies.
 */
export const npErrors = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  const error = c.error;
  if (!error) return;
  const answer = nowPlayingErrorResponse(c, error, c.res);
  if (answer.status !== 401) c.res.headers.delete('WWW-Authenticate');
  c.res = answer;
});
