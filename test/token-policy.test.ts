/** Unit tests of src/trakt/token-policy.ts: token expiry and when to refresh. */
import { describe, expect, it } from 'vitest';
import { needsRefresh, refreshMarginMs, tokenExpiresAtMs } from '../src/trakt/token-policy';

describe('token policy', () => {
  it('expiry is created_at + expires_in; refresh within 10% of the lifetime, clamped to 1 min – 1 h', () => {
    expect(tokenExpiresAtMs({ created_at: 1_000, expires_in: 86_400 })).toBe(87_400_000);
    expect(refreshMarginMs(86_400)).toBe(3600_000); // 24 h → 1 h (cap)
    expect(refreshMarginMs(7_200)).toBe(720_000); // 2 h → 12 min
    expect(refreshMarginMs(300)).toBe(60_000); // floor
    const expiresAt = 10_000_000;
    expect(needsRefresh(expiresAt, 7_200, expiresAt - 721_000)).toBe(false);
    expect(needsRefresh(expiresAt, 7_200, expiresAt - 719_000)).toBe(true);
  });
});
