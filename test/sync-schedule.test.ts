/** Unit tests of src/sync/schedule.ts: when each user's next background sync is due. */
import { describe, expect, it } from 'vitest';
import { nextSyncAt, userJitterFraction, userPhaseOffsetMs } from '../src/sync/schedule';

describe('sync schedule', () => {
  it("schedules the next sync on the user's stable phase, half to one and a half intervals ahead", () => {
    const env = { SYNC_INTERVAL_MINUTES: '60' };
    for (const userId of [1, 2, 3, 1000, 99_999]) {
      const next = nextSyncAt(env, userId, 0);
      expect(next).toBeGreaterThanOrEqual(1800_000);
      expect(next).toBeLessThan(5400_000);
      expect(next % 3600_000).toBe(userPhaseOffsetMs(userId, 3600_000));
      // A sync that ran at its phase point (or a bit late) lands exactly one interval later.
      expect(nextSyncAt(env, userId, next + 90_000)).toBe(next + 3600_000);
    }
    const spread = new Set(Array.from({ length: 100 }, (_, i) => Math.floor(userJitterFraction(i + 1) * 10)));
    expect(spread.size).toBeGreaterThan(5);
    expect(nextSyncAt({ SYNC_INTERVAL_MINUTES: 'nonsense' }, 1, 0)).toBeGreaterThanOrEqual(1800_000);
  });
});
