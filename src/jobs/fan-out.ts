/**
 * @module
 * Spreading the cron's fan-out, pure (the caller passes the run time). Every user has a stable
 * phase: `offset(user) = hash(user id) mod SYNC_INTERVAL` (sync/schedule.ts), and their syncs land
 * on `offset + k × interval`. A cron run at T claims the users whose next_sync_at falls before the
 * next run (T + CRON_PERIOD) and delivers each message at that user's phase within the period:
 * `delaySeconds = (offset − T) mod CRON_PERIOD`. So:
 * - consumers start evenly over the 15 minutes instead of all at T (a run of N users starts about
 *   N / 900 syncs per second);
 * - an on-time user is delivered exactly at its phase point, and the sync then sets next_sync_at
 *   to its next phase point (never "finish time + interval"), so users keep a 60-minute cycle and
 *   cannot drift or bunch on the 15-minute ticks;
 * - overdue users (a backlog, a first deploy, a missed run) are spread over the period the same way.
 */
import { syncIntervalMs, userPhaseOffsetMs } from '../sync/schedule';

const modulo = (value: number, divisor: number) => ((value % divisor) + divisor) % divisor;

/**
 * Seconds after the run at `runTime` that the user's message is delivered: [0, period), or
 * [0, interval) when the interval is shorter than the cron period (then the next phase point).
 */
export function fanOutDelaySeconds(
  env: Pick<Env, 'SYNC_INTERVAL_MINUTES'>,
  userId: number,
  runTime: number,
  periodMs: number,
): number {
  const interval = syncIntervalMs(env);
  const window = Math.min(periodMs, interval);
  return Math.floor(modulo(userPhaseOffsetMs(userId, interval) - runTime, window) / 1000);
}
