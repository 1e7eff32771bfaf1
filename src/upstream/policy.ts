/**
 * @module
 * The retry, timeout and rate-limit policy shared by the Trakt and TMDB clients (each client
 * owns its headers, URLs and error messages; this owns *when to try again*).
 *
 * - Every attempt has a timeout (AbortSignal).
 * - 429: a short `Retry-After` is waited in-process; a long one surfaces at once as a
 *   retryable `rate_limited` ApiError carrying the delay (a Worker must not sleep for minutes).
 * - 500, 502–504, 520–522, timeouts and network errors: bounded retries with exponential
 *   backoff and full jitter, then an `upstream_unavailable` ApiError.
 * - With a `gate` (src/pacing), every attempt first waits for its app-wide send time, and a 429
 *   pauses the gate's key for the whole app (not just this request) until Retry-After, unless the
 *   client classifies it as the caller's own limit (`classify429`: Trakt's per-user limit).
 * Hand-written: no maintained library covers fetch retries with Retry-After on Workers.
 */
import { upstreamTimeoutMs } from '../config';
import { ApiError } from '../http/errors';
import { observeUpstream } from '../observability/hooks';
import type { RequestGate } from '../pacing/gate';

export type RetryPolicy = {
  /** Total attempts including the first. */
  maxAttempts: number;
  baseDelayMs: number;
  /** The longest Retry-After (seconds) worth waiting inside one request. */
  maxInlineWaitSeconds: number;
  timeoutMs: number;
  /** false where a 429 is an answer, not a rate limit (device polling's "slow down"): the app is not paused. */
  pauseOn429?: boolean;
  /**
   * Whose limit a 429 is. Absent, or `app`: the upstream's limit for the whole key, so the gate pauses every
   * caller and a short Retry-After is waited inline. `caller`: only this caller's own budget ran out (Trakt's
   * per-user limit), so nobody else is paused and nothing is retried (a retry would spend the same empty
   * budget); the error (code `user_rate_limited`) says when it resets.
   */
  classify429?: (response: Response, now: number) => { scope: 'app' } | { scope: 'caller'; retryAfterSeconds: number };
};

export type UpstreamDeps = {
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  /** The app-wide limiter for this upstream key; absent = unpaced. */
  gate?: RequestGate;
};

export const defaultDeps = (): UpstreamDeps => ({
  // Resolved at call time so tests can route globalThis.fetch to the simulator.
  fetch: (input, init) => globalThis.fetch(input, init),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
});

/** Requests one client has sent (retries included), and how many it may send (its share of the invocation). */
export type RequestCount = { sent: number; max: number };

/**
 * `fetch` that counts every request on `count` and refuses once `count.max` are sent, so that a client
 * stays within its invocation's subrequest budget however many of its calls are retried.
 */
export function countedFetch(fetchFn: typeof fetch, count: RequestCount, service: string): typeof fetch {
  return (input, init) => {
    if (count.sent >= count.max) {
      return Promise.reject(
        new ApiError(503, `${service} request budget of this invocation is used up`, { code: 'upstream_unavailable' }),
      );
    }
    count.sent += 1;
    return fetchFn(input, init);
  };
}

const RETRYABLE_STATUSES = new Set([500, 502, 503, 504, 520, 521, 522]);
const DEFAULT_RETRY_AFTER_SECONDS = 60;

/** Parses Retry-After (delta seconds or HTTP date) relative to `now`; defaults when absent or junk. */
export function parseRetryAfter(header: string | null, now: number): number {
  if (header) {
    const trimmed = header.trim();
    if (/^\d+$/.test(trimmed)) return Math.max(0, Number(trimmed));
    const date = Date.parse(trimmed);
    if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - now) / 1000));
  }
  return DEFAULT_RETRY_AFTER_SECONDS;
}

/** Exponential backoff with full jitter: uniform in [0, base * 2^(attempt-1)]. */
export function backoffDelay(attempt: number, baseDelayMs: number, random: number): number {
  return Math.round(random * baseDelayMs * 2 ** (attempt - 1));
}

/** The per-attempt timeout, validated in config (a sane maximum, because refresh leases are derived from it). */
export function timeoutMs(env: Env): number {
  return upstreamTimeoutMs(env);
}

export async function requestWithRetry(
  service: string,
  url: string,
  init: RequestInit,
  policy: RetryPolicy,
  deps: UpstreamDeps,
): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const last = attempt >= policy.maxAttempts;
    let response: Response;
    try {
      const send = () => deps.fetch(url, { ...init, signal: AbortSignal.timeout(policy.timeoutMs) });
      response = await (deps.gate ? deps.gate.send(send) : send());
    } catch (error) {
      if (error instanceof ApiError) throw error; // the gate's own "no send time soon enough"
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      observeUpstream(service, url, timedOut ? 'timeout' : 'network_error');
      if (last) {
        throw new ApiError(
          timedOut ? 504 : 502,
          timedOut
            ? `${service} did not respond in time; try again later`
            : `${service} could not be reached; try again later`,
          {
            code: 'upstream_unavailable',
            cause: error,
          },
        );
      }
      await deps.sleep(backoffDelay(attempt, policy.baseDelayMs, deps.random()));
      continue;
    }
    observeUpstream(service, url, response.status);

    if (response.status === 429) {
      const verdict = policy.classify429?.(response, Date.now());
      if (verdict?.scope === 'caller') {
        await response.body?.cancel();
        const seconds = Math.max(1, verdict.retryAfterSeconds);
        throw new ApiError(429, `${service} rate limit reached; retry after ${seconds} seconds`, {
          code: 'user_rate_limited',
          retryAfter: seconds,
        });
      }
      let retryAfter = parseRetryAfter(response.headers.get('Retry-After'), Date.now());
      await response.body?.cancel();
      // The app-wide pause (with its jitter) is when this key's work can really resume.
      if (deps.gate && policy.pauseOn429 !== false) retryAfter = await deps.gate.pause(retryAfter);
      if (last || retryAfter > policy.maxInlineWaitSeconds) {
        throw new ApiError(429, `${service} rate limit reached; retry after ${retryAfter} seconds`, {
          code: 'rate_limited',
          retryAfter,
        });
      }
      // A paused gate waits out its own pause before the next attempt.
      if (!deps.gate || policy.pauseOn429 === false) await deps.sleep(retryAfter * 1000);
      continue;
    }

    if (RETRYABLE_STATUSES.has(response.status)) {
      await response.body?.cancel();
      if (last) {
        throw new ApiError(
          response.status === 503 ? 503 : 502,
          `${service} is unavailable (HTTP ${response.status}); try again later`,
          {
            code: 'upstream_unavailable',
          },
        );
      }
      await deps.sleep(backoffDelay(attempt, policy.baseDelayMs, deps.random()));
      continue;
    }
    return response;
  }
}

/** Parses a JSON body; garbage becomes a retryable 502 instead of a crash. */
export async function readJson<T>(service: string, response: Response): Promise<T> {
  const text = await response.text();
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new ApiError(502, `${service} returned an invalid response; try again later`, {
      code: 'upstream_invalid_response',
      cause: error,
    });
  }
}
