/**
 * @module
 * The project's one error type and its mapping to HTTP. Every failure leaves the API as
 * `{"error": "<message>", "details"?: …}` with the right status; stack traces never do.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { describeError, log } from '../observability/log';

/**
 * Machine-readable reasons that code (not clients) branches on, e.g. the sync deciding whether
 * to retry. Clients only ever see `status` and the message.
 */
export type ErrorCode =
  | 'invalid_grant'
  | 'client_credentials_rejected'
  | 'reauthorization_required'
  | 'rate_limited'
  /** An upstream's limit for this user only (Trakt's per-user GET limit): the user's work waits, nobody else's. */
  | 'user_rate_limited'
  | 'upstream_unavailable'
  | 'upstream_invalid_response'
  | 'upstream_unauthorized'
  | 'not_connected'
  | 'sync_in_progress'
  | 'encryption_key_missing'
  /** Trakt refuses the app's client id (deleted, or no longer valid): tokens are kept, nothing works. */
  | 'trakt_app_rejected'
  /** Trakt answered 426: the request needs a VIP account. */
  | 'trakt_vip_required'
  /** Trakt answered 420: an account limit was exceeded. */
  | 'trakt_account_limit';

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly details?: unknown;
  readonly headers?: Record<string, string>;
  readonly code?: ErrorCode;
  /** Seconds the caller should wait before retrying (rate limits). */
  readonly retryAfter?: number;

  constructor(
    status: ContentfulStatusCode,
    message: string,
    options: {
      details?: unknown;
      headers?: Record<string, string>;
      cause?: unknown;
      code?: ErrorCode;
      retryAfter?: number;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ApiError';
    this.status = status;
    this.details = options.details;
    this.code = options.code;
    this.retryAfter = options.retryAfter;
    this.headers =
      options.retryAfter === undefined
        ? options.headers
        : { ...options.headers, 'Retry-After': String(options.retryAfter) };
  }

  /** Worth retrying later without user action (rate limits, upstream outages, garbled responses). */
  get transient(): boolean {
    return (
      this.code === 'rate_limited' ||
      this.code === 'user_rate_limited' ||
      this.code === 'upstream_unavailable' ||
      this.code === 'upstream_invalid_response'
    );
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
  log.error('unhandled_error', { ...describeError(err), stack: err.stack });
  return c.json(errorBody('Internal server error'), 500);
}
