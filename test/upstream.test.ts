/** Unit tests of src/upstream/policy.ts: the retry maths (Retry-After, backoff). */
import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from '../src/upstream/policy';

describe('retry maths', () => {
  it('parses Retry-After as seconds or an HTTP date, defaulting to 60', () => {
    expect(parseRetryAfter('120', 0)).toBe(120);
    expect(parseRetryAfter(new Date(30_000).toUTCString(), 0)).toBe(30);
    expect(parseRetryAfter(null, 0)).toBe(60);
    expect(parseRetryAfter('soon', 0)).toBe(60);
  });

  it('backs off exponentially with full jitter', () => {
    expect(backoffDelay(1, 250, 1)).toBe(250);
    expect(backoffDelay(3, 250, 1)).toBe(1000);
    expect(backoffDelay(3, 250, 0)).toBe(0);
  });
});
