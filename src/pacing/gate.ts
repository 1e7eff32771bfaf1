/**
 * @module
 * The caller's side of the app-wide limiter: a `PacingGate` per upstream client instance (one
 * per sync, request or cron refresh). Every request to Trakt or TMDB, retries included, passes
 * through `send()`, which waits for a send time granted by the `RateLimiter` Durable Object.
 *
 * - Slots are reserved in batches (1, 2, 4, then MAX_BATCH), so a sync pays one limiter round trip
 *   per batch of calls and a one-call sync (a no-op) reserves one slot, not a batch.
 * - `send()` calls are serialized: each request starts (its fetch is issued) before the next one
 *   waits for its slot, so requests leave in slot order, never early.
 * - No slot within MAX_INLINE_WAIT_MS: the call fails with a `rate_limited` ApiError carrying
 *   Retry-After. A fetch endpoint answers 429 with it; the queue consumer defers the message
 *   (re-enqueued with that delay, consuming no retry). Later calls of the same gate fail at once
 *   until then, without asking the limiter again.
 * - `pause()` (an upstream 429) stops the whole app's slots for that key until Retry-After.
 * Keys: `trakt:<client id>` (public; only for a client id proven to be the caller's, see
 * src/trakt/context.ts), `trakt-user:<user id>` (a user's own, unproven client id) and
 * `tmdb:<SHA-256 prefix of the key>` (the key is a secret).
 */
import { ApiError } from '../http/errors';
import { pacingClock } from './clock';
import type { ReserveAnswer } from './limiter';

export const DEFAULT_TRAKT_APP_MAX_RPS = 15;
export const DEFAULT_TMDB_MAX_RPS = 35;
/** The largest batch of send times one limiter round trip reserves. */
export const MAX_BATCH = 8;
/** The longest a call waits for its send time before the caller defers (background) or answers 429 (fetch). */
export const MAX_INLINE_WAIT_MS = 5_000;
/**
 * A slot the caller missed by more than this is dropped and a fresh one reserved (keeps late senders
 * from bunching).
 */
export const STALE_SLOT_MS = 500;

/**
 * The most limiter round trips one gate makes for `calls` upstream calls: batches of 1, 2, 4, then
 * MAX_BATCH, plus one for a batch dropped as stale. Each round trip is a Durable Object call, which
 * may count as a subrequest, so invocation budgets reserve room for them (upstreamCallsWithin).
 */
export function limiterRoundTrips(calls: number): number {
  if (calls <= 0) return 0;
  let trips = 0;
  let batch = 1;
  for (let covered = 0; covered < calls; covered += batch, batch = Math.min(MAX_BATCH, batch * 2)) trips += 1;
  return trips + 1;
}

/** The most upstream calls through one gate whose calls and limiter round trips fit in `subrequests`. */
export function upstreamCallsWithin(subrequests: number): number {
  let calls = Math.max(0, Math.floor(subrequests));
  while (calls > 0 && calls + limiterRoundTrips(calls) > subrequests) calls -= 1;
  return calls;
}

export type RequestGate = {
  /** Waits for a send time, then starts `request` (which must start the fetch synchronously). */
  send<T>(request: () => Promise<T>): Promise<T>;
  /**
   * The upstream answered 429: hold every caller of this key until `retryAfterSeconds` from now.
   * Resolves to the seconds until the pause really ends (jitter and longer pauses included).
   */
  pause(retryAfterSeconds: number): Promise<number>;
};

function ratePerSecond(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : fallback;
}

export function traktAppMaxRps(env: Pick<Env, 'TRAKT_APP_MAX_RPS'>): number {
  return ratePerSecond(env.TRAKT_APP_MAX_RPS, DEFAULT_TRAKT_APP_MAX_RPS);
}

export function tmdbMaxRps(env: Pick<Env, 'TMDB_MAX_RPS'>): number {
  return ratePerSecond(env.TMDB_MAX_RPS, DEFAULT_TMDB_MAX_RPS);
}

async function sha256Prefix(value: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value)));
  return [...digest.slice(0, 12)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

type LimiterStub = {
  reserve(
    request: { count: number; ratePerSecond: number; maxWaitMs: number },
    callerNow: number,
  ): Promise<ReserveAnswer>;
  pause(untilMs: number, callerNow: number): Promise<number>;
};

export class PacingGate implements RequestGate {
  private slots: number[] = [];
  private nextBatch = 1;
  private blockedUntil = 0;
  private turn: Promise<void> = Promise.resolve();
  private stub?: Promise<LimiterStub>;

  constructor(
    private readonly service: string,
    private readonly limiter: () => Promise<LimiterStub>,
    private readonly ratePerSecond: number,
  ) {}

  private limiterStub(): Promise<LimiterStub> {
    this.stub ??= this.limiter();
    return this.stub;
  }

  private limited(waitMs: number): ApiError {
    const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
    return new ApiError(
      429,
      `This server's ${this.service} request budget is in use; retry after ${retryAfter} seconds`,
      { code: 'rate_limited', retryAfter },
    );
  }

  private async nextSlot(): Promise<number> {
    const clock = pacingClock();
    const now = clock.now();
    while (this.slots.length > 0 && this.slots[0]! < now - STALE_SLOT_MS) this.slots.shift();
    if (this.slots.length > 0) return this.slots.shift()!;
    if (this.blockedUntil > now) throw this.limited(this.blockedUntil - now);
    const answer = await (await this.limiterStub()).reserve(
      { count: this.nextBatch, ratePerSecond: this.ratePerSecond, maxWaitMs: MAX_INLINE_WAIT_MS },
      now,
    );
    this.nextBatch = Math.min(MAX_BATCH, this.nextBatch * 2);
    if ('retryAfterMs' in answer) {
      this.blockedUntil = clock.now() + answer.retryAfterMs;
      throw this.limited(answer.retryAfterMs);
    }
    this.slots = answer.slots;
    return this.slots.shift()!;
  }

  send<T>(request: () => Promise<T>): Promise<T> {
    const previous = this.turn;
    let release!: () => void;
    this.turn = new Promise<void>((resolve) => {
      release = resolve;
    });
    return (async () => {
      await previous;
      let started: Promise<T>;
      try {
        const slot = await this.nextSlot();
        const wait = slot - pacingClock().now();
        if (wait > 0) await pacingClock().sleep(wait);
        started = request();
      } finally {
        release();
      }
      return started;
    })();
  }

  async pause(retryAfterSeconds: number): Promise<number> {
    const clock = pacingClock();
    this.slots = [];
    const until = await (await this.limiterStub()).pause(clock.now() + retryAfterSeconds * 1000, clock.now());
    this.blockedUntil = Math.max(this.blockedUntil, until);
    return Math.max(retryAfterSeconds, Math.ceil((until - clock.now()) / 1000));
  }
}

function limiterFor(env: Env, name: () => Promise<string>): () => Promise<LimiterStub> {
  return async () => env.RATE_LIMITER.getByName(await name()) as unknown as LimiterStub;
}

/**
 * The gate for Trakt calls under one limiter key: `trakt:<client id>` for an app proven to be the caller's
 * (every call made with it shares one schedule), `trakt-user:<user id>` otherwise (src/trakt/context.ts).
 */
export function traktGate(env: Env, limiterKey: string): PacingGate {
  return new PacingGate(
    'Trakt',
    limiterFor(env, async () => limiterKey),
    traktAppMaxRps(env),
  );
}

/** The gate for every call made with one TMDB key (the deployment's, or a user's own). */
export function tmdbGate(env: Env, apiKey: string): PacingGate {
  return new PacingGate(
    'TMDB',
    limiterFor(env, async () => `tmdb:${await sha256Prefix(apiKey)}`),
    tmdbMaxRps(env),
  );
}
