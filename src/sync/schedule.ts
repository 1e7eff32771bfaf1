/**
 * @module
 * When a user's next background sync is due: every SYNC_INTERVAL_MINUTES (default 60), on a
 * stable per-user phase (`hash(user id) mod interval`), so users stay evenly spread over the
 * interval and a late run never pushes every later one back (jobs/fan-out.ts explains the cycle).
 * The full reconcile of each user's history runs every SYNC_RECONCILE_DAYS (default 7), spread over users.
 */
export const DEFAULT_SYNC_INTERVAL_MINUTES = 60;

export function syncIntervalMs(env: Pick<Env, 'SYNC_INTERVAL_MINUTES'>): number {
  const minutes = Number(env.SYNC_INTERVAL_MINUTES);
  return (Number.isFinite(minutes) && minutes >= 1 ? minutes : DEFAULT_SYNC_INTERVAL_MINUTES) * 60_000;
}

/** A stable pseudo-random fraction in [0, 1) per user (no state needed, spreads users evenly). */
export function userJitterFraction(userId: number): number {
  // Bitwise XOR yields a signed 32-bit value: `>>> 0` keeps every step unsigned.
  let x = Math.imul(userId, 0x9e3779b1) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x45d9f3b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x / 2 ** 32;
}

/** The user's phase within the interval: their syncs are due at `offset + k × interval` (ms since the epoch). */
export function userPhaseOffsetMs(userId: number, intervalMs: number): number {
  return Math.floor(userJitterFraction(userId) * intervalMs);
}

/**
 * The user's first phase point at least half an interval after `now`. A sync that ran at its
 * phase point (or up to half an interval late) sets exactly the next one; a manual fetch at any
 * time pushes the next background sync 30 to 90 minutes out (at the default interval).
 */
export function nextSyncAt(env: Pick<Env, 'SYNC_INTERVAL_MINUTES'>, userId: number, now: number): number {
  const interval = syncIntervalMs(env);
  const earliest = now + Math.floor(interval / 2);
  const offset = userPhaseOffsetMs(userId, interval);
  return earliest + ((((offset - earliest) % interval) + interval) % interval);
}

/** A full reconcile of each kind runs this often by default (SYNC_RECONCILE_DAYS). */
export const DEFAULT_RECONCILE_DAYS = 7;

export function reconcileIntervalMs(env: Pick<Env, 'SYNC_RECONCILE_DAYS'>): number {
  const days = Number(env.SYNC_RECONCILE_DAYS);
  return (Number.isFinite(days) && days > 0 ? days : DEFAULT_RECONCILE_DAYS) * 24 * 60 * 60 * 1000;
}
