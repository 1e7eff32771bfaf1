/**
 * @module
 * `RateLimiter`, the Durable Object behind the app-wide upstream limits: one instance per
 * upstream key (`trakt:<client id>`, `tmdb:<hash of the key>`), so every isolate, invocation and
 * location of the deployment draws from the same schedule. A Durable Object is single-threaded
 * and globally unique per name, which makes the bucket exact; the Workers Rate Limiting binding
 * is per location and approximate, so it cannot keep a whole deployment under Trakt's limit.
 *
 * State (three numbers, see token-bucket.ts) lives in memory and is written to the object's
 * SQLite-backed storage on every change, so a pause survives the object being evicted.
 * Binding and migration: `RATE_LIMITER` and `[[migrations]]` in wrangler.toml.
 *
 * Time is the object's own clock. Only when its environment sets PACING_CALLER_CLOCK=true (the test
 * bindings do; wrangler.toml never does) does it take the caller's reading instead, so tests can run
 * the limiter and the simulator on one virtual clock whichever isolate the object lives in.
 */
import { DurableObject } from 'cloudflare:workers';
import {
  type BucketState,
  EMPTY_BUCKET,
  pauseJitterMs,
  pauseUntil,
  type Reservation,
  type ReserveRequest,
  reserveSlots,
} from './token-bucket';

const STATE_KEY = 'bucket';

export type ReserveAnswer = { slots: number[] } | { retryAfterMs: number };

export class RateLimiter extends DurableObject<Env> {
  private state: BucketState;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = { ...EMPTY_BUCKET, ...ctx.storage.kv.get<BucketState>(STATE_KEY) };
  }

  private save(state: BucketState): void {
    this.state = state;
    this.ctx.storage.kv.put(STATE_KEY, state);
  }

  private now(callerNow: number | undefined): number {
    const trustCaller = (this.env as { PACING_CALLER_CLOCK?: string }).PACING_CALLER_CLOCK === 'true';
    return trustCaller && callerNow !== undefined ? callerNow : Date.now();
  }

  /** Grants up to `count` send times, or says how long until the first one could be granted. */
  reserve(request: ReserveRequest, callerNow?: number): ReserveAnswer {
    const reservation: Reservation = reserveSlots(this.state, this.now(callerNow), request);
    this.save(reservation.state);
    return reservation.granted ? { slots: reservation.slots } : { retryAfterMs: reservation.retryAfterMs };
  }

  /** Holds every slot until `untilMs` plus jitter; returns the resulting pause end. */
  pause(untilMs: number, callerNow?: number): number {
    const now = this.now(callerNow);
    this.save(pauseUntil(this.state, untilMs, pauseJitterMs(untilMs - now, Math.random())));
    return this.state.pausedUntil;
  }
}
