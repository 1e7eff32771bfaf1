/**
 * @module
 * The pure rules of webhook delivery: when to retry (the Standard Webhooks reference schedule, with
 * jitter) and when an endpoint has failed for long enough to be disabled.
 */
import { WEBHOOK_DISABLE_AFTER_MS, WEBHOOK_DISABLE_MIN_FAILURES, WEBHOOK_RETRY_DELAYS_SECONDS } from '../config';

/** Attempts a delivery gets in all (the first plus one per retry delay). */
export const MAX_ATTEMPTS = WEBHOOK_RETRY_DELAYS_SECONDS.length + 1;

/** Seconds before the next attempt after `attempts` failed ones (±10% jitter), or null when none is left. */
export function nextRetryDelaySeconds(attempts: number, random: () => number = Math.random): number | null {
  const base = WEBHOOK_RETRY_DELAYS_SECONDS[attempts - 1];
  if (base === undefined) return null;
  return Math.max(1, Math.round(base * (0.9 + 0.2 * random())));
}

/** Whether an endpoint failing since `failingSince` over `consecutiveFailures` attempts is to be disabled. */
export function shouldDisable(failingSince: string | null, consecutiveFailures: number, now: number): boolean {
  if (!failingSince) return false;
  return (
    consecutiveFailures >= WEBHOOK_DISABLE_MIN_FAILURES && now - Date.parse(failingSince) >= WEBHOOK_DISABLE_AFTER_MS
  );
}
