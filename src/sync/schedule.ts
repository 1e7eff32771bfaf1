/**
 * @module
 * When a user's next background sync is due: every SYNC_INTERVAL_MINUTES (default 60), plus a
 * stable per-user jitter of up to 10% of the interval so users don't all land on one minute. The full
 * reconcile of each user's history runs every SYNC_RECONCILE_DAYS (default 7), spread the same way.
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

export function nextSyncAt(env: Pick<Env, 'SYNC_INTERVAL_MINUTES'>, userId: number, now: number): number {
  const interval = syncIntervalMs(env);
  return now + interval + Math.floor(userJitterFraction(userId) * interval * 0.1);
}

/** A full reconcile of each kind runs this often by default (SYNC_RECONCILE_DAYS). */
export const DEFAULT_RECONCILE_DAYS = 7;

export function reconcileIntervalMs(env: Pick<Env, 'SYNC_RECONCILE_DAYS'>): number {
  const days = Number(env.SYNC_RECONCILE_DAYS);
  return (Number.isFinite(days) && days > 0 ? days : DEFAULT_RECONCILE_DAYS) * 24 * 60 * 60 * 1000;
}
