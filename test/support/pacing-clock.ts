/**
 * A virtual clock for the app-wide limiter (src/pacing/clock.ts): it only moves when a caller waits
 * for a send time or the test moves it, so paced traffic and 429 pauses take no real time. Hand
 * `clock.now` to `installSimulator({ now })` when the simulator's request log must show the same time.
 */
import { usePacingClock } from '../../src/pacing/clock';

export type VirtualClock = {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Moves the clock forward to `at` (never back). */
  advanceTo: (at: number) => void;
  advanceBy: (ms: number) => void;
  /** Puts the system clock back. */
  restore: () => void;
};

export function installVirtualPacingClock(start = Date.now()): VirtualClock {
  let time = start;
  const clock = {
    now: () => time,
    sleep: async (ms: number) => {
      time += Math.max(0, ms);
    },
  };
  const restore = usePacingClock(clock);
  return {
    ...clock,
    advanceTo: (at) => {
      time = Math.max(time, at);
    },
    advanceBy: (ms) => {
      time += Math.max(0, ms);
    },
    restore,
  };
}
