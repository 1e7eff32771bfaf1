/**
 * @module
 * Pure token-lifetime rules. Trakt's lifetime has been 3 months, 24 h and 7 days, so nothing is
 * hard-coded: expiry is always `created_at + expires_in` of the token response.
 */
import type { TraktTokenResponse } from './upstream-schemas';

/** Refresh when less than 10% of the lifetime is left, but at least 1 minute and at most 1 hour early. */
export function refreshMarginMs(lifetimeSeconds: number): number {
  return Math.min(3600, Math.max(60, lifetimeSeconds * 0.1)) * 1000;
}

export function tokenExpiresAtMs(token: Pick<TraktTokenResponse, 'created_at' | 'expires_in'>): number {
  return (token.created_at + token.expires_in) * 1000;
}

export function needsRefresh(expiresAtMs: number, lifetimeSeconds: number, nowMs: number): boolean {
  return expiresAtMs - refreshMarginMs(lifetimeSeconds) <= nowMs;
}

export function isExpired(expiresAtMs: number, nowMs: number): boolean {
  return expiresAtMs <= nowMs;
}

/**
 * How long a refresher holds the lease. A refresh is one grant request (never retried: see client.ts)
 * bounded by the upstream timeout, plus a few D1/KV round trips; the lease covers two timeouts and a
 * margin, so a second refresher can only start once the first has certainly given up.
 */
export function refreshLeaseMs(upstreamTimeoutMs: number): number {
  return 2 * upstreamTimeoutMs + REFRESH_LEASE_MARGIN_MS;
}
export const REFRESH_LEASE_MARGIN_MS = 10_000;
/** How long a request waits for another isolate's refresh before giving up with a retryable 503… */
export const REFRESH_WAIT_MS = 15_000;
/** …but never as long as the lease: a waiter gives up (or uses a still-valid token) before it could take over. */
export function refreshWaitMs(upstreamTimeoutMs: number): number {
  return Math.min(REFRESH_WAIT_MS, refreshLeaseMs(upstreamTimeoutMs) / 2);
}
export const REFRESH_POLL_MS = 100;
/** After a failed refresh (outage, lost answer, rejected credentials) nobody tries again for this long… */
export const REFRESH_BACKOFF_BASE_MS = 30_000;
/** …doubling with each failure in a row, up to this (the cron tries again on a later run). */
export const REFRESH_BACKOFF_MAX_MS = 60 * 60 * 1000;

/** The backoff after the `failures`-th transient refresh failure in a row (1 → 30 s, 2 → 60 s, … ≤ 1 h). */
export function refreshBackoffMs(failures: number): number {
  return Math.min(REFRESH_BACKOFF_MAX_MS, REFRESH_BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
}

/** KV copy of the current token set: a cache of the D1 journal, so it may expire; a miss re-reads D1. */
export const CURRENT_TOKEN_SET_TTL_SECONDS = 7 * 24 * 60 * 60;
/**
 * A superseded token set is rewritten with this TTL instead of being deleted, so a reader that loaded
 * the old row a moment ago still finds it (KV's minimum TTL is 60 s).
 */
export const SUPERSEDED_TOKEN_SET_TTL_SECONDS = 5 * 60;

/**
 * A connection whose Trakt app is rejected (its client id answers 403) is not synced in the background:
 * its next sync moves this far ahead each time the app is found rejected, so it costs one Trakt call a
 * day instead of one an hour, and picks up on its own when Trakt accepts the app again (or the operator
 * replaced the deployment's app). Storing new credentials makes it due at once.
 */
export const APP_REJECTED_RECHECK_MS = 24 * 60 * 60 * 1000;
