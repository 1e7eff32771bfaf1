/**
 * @module rate-limit
 * Fixed-window request counting used for Trakt's per-token GET limit and TMDB's
 * per-key requests-per-second limit. Pure: the caller passes `now` and stores the state.
 */

export interface WindowState {
  /** Start of the current window (ms). */
  start: number;
  /** Requests counted in the current window, including rejected ones. */
  count: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Requests still allowed in this window after this one. */
  remaining: number;
  /** When the current window ends (ms). */
  resetAt: number;
  /** Whole seconds until the window ends (at least 1). */
  retryAfterSeconds: number;
  state: WindowState;
}

/** Counts one request against a window of `limit` requests per `windowMs`. */
export function takeFromWindow(
  previous: WindowState | undefined,
  now: number,
  limit: number,
  windowMs: number,
): RateDecision {
  const fresh = previous === undefined || now >= previous.start + windowMs;
  const state: WindowState = fresh ? { start: now, count: 1 } : { start: previous.start, count: previous.count + 1 };
  const resetAt = state.start + windowMs;
  const allowed = state.count <= limit;
  return {
    allowed,
    remaining: Math.max(0, limit - state.count),
    resetAt,
    retryAfterSeconds: Math.max(1, Math.ceil((resetAt - now) / 1000)),
    state,
  };
}
