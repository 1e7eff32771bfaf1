/**
 * @module
 * Pure token-lifetime rules. Trakt's lifetime has been 3 months, 24 h and 7 days, so nothing is
 * hard-coded: expiry is always `created_at + expires_in` of the token response.
 */
import type { TraktTokenResponse } from './types';

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

/** How long a refresher holds the lease: longer than a refresh with all its retries can take. */
export const REFRESH_LEASE_MS = 60_000;
/** How long a request waits for another isolate's refresh before giving up with a retryable 503. */
export const REFRESH_WAIT_MS = 15_000;
export const REFRESH_POLL_MS = 100;
/** After a transient refresh failure, nobody retries the refresh for this long (Trakt is struggling). */
export const REFRESH_BACKOFF_MS = 30_000;
