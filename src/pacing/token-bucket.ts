/**
 * @module
 * The app-wide rate limiter's maths, pure (the caller passes `now`). It hands out send times
 * ("slots") rather than a burst allowance: consecutive slots are at least `ceil(1000 / rate)` ms
 * apart, so no half-open one-second window ever holds more than `rate` of them, whoever sends
 * them. A classic token bucket with capacity C lets C + rate requests into one second; an upstream
 * that counts per second (Trakt, TMDB) would see that as a burst over its limit.
 *
 * - `reserveSlots` grants up to `count` slots, the first one no later than `maxWaitMs` from now.
 *   Reserving in batches keeps a caller at one limiter round trip per batch of calls.
 * - A caller that cannot wait that long gets `retryAfterMs` instead and defers itself. Refusals
 *   hand out return times of their own, RETURN_SLOTS slots apart, so deferred work comes back at
 *   the rate the limiter can serve (after a 429 pause, or while demand exceeds the rate) instead
 *   of every deferred caller polling again at the same moment.
 * - `pauseUntil` stops every slot until a time (an upstream 429's Retry-After, plus jitter), so
 *   one 429 holds back the whole fleet instead of each isolate discovering it on its own.
 * An idle limiter grants the next slot at `now`: unused capacity is never saved up for a burst.
 */

export type BucketState = {
  /** The earliest time the next slot may be granted (ms since the epoch). */
  nextSlotAt: number;
  /** No slot before this time (an upstream 429's Retry-After). */
  pausedUntil: number;
  /** The return time the next refused caller is given. */
  nextReturnAt: number;
};

export const EMPTY_BUCKET: BucketState = { nextSlotAt: 0, pausedUntil: 0, nextReturnAt: 0 };

/** Slots' worth of time between two refused callers' return times: about one background sync's Trakt calls. */
export const RETURN_SLOTS = 4;

export type ReserveRequest = {
  /** Slots wanted (the caller's batch); at least one is granted when any is. */
  count: number;
  ratePerSecond: number;
  /** The longest the caller is willing to wait for its first slot. */
  maxWaitMs: number;
};

export type Reservation =
  | { granted: true; slots: number[]; state: BucketState }
  | { granted: false; retryAfterMs: number; state: BucketState };

/** Whole milliseconds between two slots: rounded up, so rounding can never squeeze in an extra request. */
export function slotSpacingMs(ratePerSecond: number): number {
  return Math.ceil(1000 / Math.max(ratePerSecond, 0.001));
}

export function reserveSlots(state: BucketState, now: number, request: ReserveRequest): Reservation {
  const spacing = slotSpacingMs(request.ratePerSecond);
  const first = Math.max(now, state.nextSlotAt, state.pausedUntil);
  if (first - now > request.maxWaitMs) {
    const returnAt = Math.max(first, state.nextReturnAt ?? 0);
    return {
      granted: false,
      retryAfterMs: returnAt - now,
      state: { ...state, nextReturnAt: returnAt + RETURN_SLOTS * spacing },
    };
  }
  const slots: number[] = [];
  // Never reserve further ahead than the caller would wait: slots held by a caller that then stops are wasted.
  for (let at = first; slots.length < Math.max(1, request.count) && at - now <= request.maxWaitMs; at += spacing) {
    slots.push(at);
  }
  return { granted: true, slots, state: { ...state, nextSlotAt: slots[slots.length - 1]! + spacing } };
}

/** Pauses every slot until `until` plus `jitterMs`; an earlier pause end never shortens a later one. */
export function pauseUntil(state: BucketState, until: number, jitterMs: number): BucketState {
  return { ...state, pausedUntil: Math.max(state.pausedUntil, until + Math.max(0, jitterMs)) };
}

/**
 * Jitter added to a pause: up to 10% of it, at least 1 s and at most 30 s, so waiting callers don't
 * all return at once.
 */
export function pauseJitterMs(pauseMs: number, random: number): number {
  return Math.round(random * Math.min(30_000, Math.max(1_000, pauseMs * 0.1)));
}
