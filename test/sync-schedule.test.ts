/** Unit tests of src/sync/schedule.ts: when each user's next background sync is due. */
import { describe, expect, it } from 'vitest';
import { nextSyncAt, userJitterFraction } from '../src/sync/schedule';

describe('sync schedule', () => {
  it('schedules the next sync one interval ahead plus a stable per-user jitter under 10%', () => {
    const env = { SYNC_INTERVAL_MINUTES: '60' };
    for (const userId of [1, 2, 3, 1000, 99_999]) {
      const delta = nextSyncAt(env, userId, 0) - 3600_000;
      expect(delta).toBeGreaterThanOrEqual(0);
      expect(delta).toBeLessThan(360_000);
      expect(nextSyncAt(env, userId, 0)).toBe(nextSyncAt(env, userId, 0));
    }
    const spread = new Set(Array.from({ length: 100 }, (_, i) => Math.floor(userJitterFraction(i + 1) * 10)));
    expect(spread.size).toBeGreaterThan(5);
    expect(nextSyncAt({ SYNC_INTERVAL_MINUTES: 'nonsense' }, 1, 0)).toBeGreaterThanOrEqual(3600_000);
  });
});
