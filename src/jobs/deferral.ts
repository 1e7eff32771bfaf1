/**
 * @module
 * Deferring a queue message without spending a retry. When the app-wide limiter has no send
 * time soon enough, or Trakt answered 429, the work is not failing: it is early. `retry()` would
 * count toward max_retries (5) and finally the dead-letter queue, so a long pause would kill
 * healthy syncs. Instead the consumer acks the message and sends a copy with a delay (Queues
 * allows up to 12 hours) and a `deferrals` count. Only real failures use `retry()`.
 *
 * The delay is Retry-After plus jitter, so the messages a pause held back come back spread out
 * rather than all in the same second. After MAX_DEFERRALS deferrals a message is treated as
 * failing (counted retries, then the dead-letter queue), so nothing can defer forever.
 */
import { deferralDelaySeconds } from '../pacing/retry-after';

/** The counted way, for real failures: 30 s, 60 s, 120 s, … capped at one hour. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(3600, 30 * 2 ** Math.max(0, attempts - 1));
}

/** About a day of 30-minute deferrals; far more than any pause or backlog should need. */
export const MAX_DEFERRALS = 48;
export { deferralDelaySeconds, MAX_QUEUE_DELAY_SECONDS } from '../pacing/retry-after';

export function deferralsOf(body: unknown): number {
  const count = (body as { deferrals?: unknown }).deferrals;
  return typeof count === 'number' && Number.isSafeInteger(count) && count > 0 ? count : 0;
}

/**
 * Re-enqueues the message's body after the delay and acks the original. Returns false (and does
 * nothing) when the message has been deferred too often or the send fails: the caller then
 * retries it the counted way.
 */
export async function deferMessage(
  queue: Queue,
  message: Message<unknown>,
  retryAfterSeconds: number,
  random: () => number = Math.random,
): Promise<boolean> {
  const deferrals = deferralsOf(message.body);
  if (deferrals >= MAX_DEFERRALS) return false;
  try {
    await queue.send(
      { ...(message.body as object), deferrals: deferrals + 1 },
      { contentType: 'json', delaySeconds: deferralDelaySeconds(retryAfterSeconds, random()) },
    );
  } catch {
    return false;
  }
  message.ack();
  return true;
}
