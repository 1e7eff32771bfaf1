/**
 * @module
 * The clock the app-wide limiter and its callers share: the limiter (a Durable Object) grants
 * send times on it and callers wait for them on it. In production it is the system clock.
 *
 * Tests install a virtual clock (`usePacingClock`) and hand the same `now` to the upstream
 * simulator, so a minute of paced traffic runs in milliseconds and the simulator's request log
 * shows exactly the times the limiter granted. Callers send their reading with every limiter call;
 * the Durable Object uses it only where the test bindings set PACING_CALLER_CLOCK (limiter.ts).
 */

export type PacingClock = {
  now(): number;
  sleep(ms: number): Promise<void>;
};

export const systemClock: PacingClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

let active: PacingClock = systemClock;

export function pacingClock(): PacingClock {
  return active;
}

/** Tests only: replaces the pacing clock; returns the function that restores the system clock. */
export function usePacingClock(clock: PacingClock): () => void {
  active = clock;
  return () => {
    active = systemClock;
  };
}
