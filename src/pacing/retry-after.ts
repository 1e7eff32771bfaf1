/**
 * @module
 * When work refused for rate comes back (pure): Retry-After plus jitter, so the work a pause held back
 * returns spread out rather than all in the same second. Used by the queue consumers' deferrals
 * (src/jobs/deferral.ts) and by the enrichment runner's continuation after TMDB's Retry-After.
 */

/** Queues' longest delivery delay. */
export const MAX_QUEUE_DELAY_SECONDS = 43_200;

/** Retry-After plus up to 20% of it (at least 5 s, at most 5 minutes) of jitter, in whole seconds. */
export function deferralDelaySeconds(retryAfterSeconds: number, random: number): number {
  const base = Math.max(1, Math.ceil(retryAfterSeconds));
  const spread = Math.min(300, Math.max(5, base * 0.2));
  return Math.min(MAX_QUEUE_DELAY_SECONDS, base + Math.floor(random * spread));
}
