/**
 * @module
 * The project's one error type and its mapping to HTTP. Every failure leaves the API as
 * `{"error": "<message>", "details"?: …}` with the right status; stack traces never do.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly details?: unknown;
  readonly headers?: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    message: string,
    options: { details?: unknown; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ApiError';
    this.status = status;
    this.details = options.details;
    this.headers = options.headers;
  }
}

export function errorBody(message: string, details?: unknown): { error: string; details?: unknown } {
  return details === undefined ? { error: message } : { error: message, details };
}

/** The app's `onError`: known errors keep their status and message; anything else is a logged 500. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.message, err.details), err.status, err.headers);
  }
  if (err instanceof HTTPException) {
    // Raised by Hono itself, e.g. the JSON validator on a malformed body.
    const status = err.status as ContentfulStatusCode;
    return c.json(errorBody(err.message || 'Request failed'), status);
  }
  // Log the message and stack only: request bodies and headers (which may hold secrets) are never logged.
  console.error(JSON.stringify({ level: 'error', request_id: c.get('requestId'), error: err.name, message: err.message, stack: err.stack }));
  return c.json(errorBody('Internal server error'), 500);
}
