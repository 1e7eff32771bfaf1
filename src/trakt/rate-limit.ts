/**
 * @module
 * Trakt's per-user rate limit, as pure rules. Since October 2026 authenticated GETs are limited to
 * 500 per 5 minutes per user (trakt/trakt-api #909, Trakt's rate-limiting docs), and every answer
 * says where the user's window stands in `X-Ratelimit: {"name", "period", "limit", "remaining", "until"}`.
 *
 * The sync paces itself by it: a chunk stops while `remaining` is above a reserve kept for the user's
 * own interactive calls (10% of the limit), and its continuation waits until `until`. So even a first
 * sync of a 100,000-play library (about 430 GETs) never meets a per-user 429 from its own calls: it
 * spends at most the limit less the reserve per window, then waits for the next window. A 429 that
 * comes anyway (the user's other apps spent the budget) holds the user's calls until `until`, and
 * only this user's: it is no reason to pause the app for everyone (src/pacing).
 */

export type UserRateLimit = {
  /** Requests allowed per period. */
  limit: number;
  /** Requests left in the current window. */
  remaining: number;
  /** When the current window ends (ms since the epoch). */
  untilMs: number;
};

/** Parses `X-Ratelimit`; undefined when absent or not the documented shape (Trakt has sent answers without it). */
export function parseRateLimit(header: string | null): UserRateLimit | undefined {
  if (!header) return undefined;
  try {
    const value = JSON.parse(header) as { limit?: unknown; remaining?: unknown; until?: unknown };
    const untilMs = typeof value.until === 'string' ? Date.parse(value.until) : Number.NaN;
    if (typeof value.limit !== 'number' || typeof value.remaining !== 'number' || Number.isNaN(untilMs)) {
      return undefined;
    }
    return { limit: value.limit, remaining: value.remaining, untilMs };
  } catch {
    return undefined;
  }
}

/** Requests kept back for the user's own interactive calls (watching, a manual sync): 10% of the limit. */
export function interactiveReserve(limit: number): number {
  return Math.ceil(Math.max(0, limit) * 0.1);
}

/**
 * How many more GETs background work may send in the window the last answer described: its remaining
 * requests less the reserve. Unknown or a window already over: no cap from this rule.
 */
export function backgroundCallsLeft(known: UserRateLimit | undefined, now: number): number {
  if (!known || known.untilMs <= now) return Number.POSITIVE_INFINITY;
  return Math.max(0, known.remaining - interactiveReserve(known.limit));
}

/** Whole seconds until the window ends (0 when it already has, or nothing is known). */
export function secondsUntilReset(known: UserRateLimit | undefined, now: number): number {
  if (!known || known.untilMs <= now) return 0;
  return Math.ceil((known.untilMs - now) / 1000);
}
