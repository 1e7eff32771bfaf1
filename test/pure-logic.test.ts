/** Unit tests of the pure cores: sync planning, token and schedule policies, retry maths. */
import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from '../src/http/upstream';
import {
  activityChanges,
  desiredEpisodes,
  desiredMovies,
  diffByKey,
  episodePlaysFromHistory,
  historyExplainsWatched,
  historyStartAt,
  planPlays,
  sameFields,
  toPlayRow,
} from '../src/sync/plan';
import { nextSyncAt, userJitterFraction, userPhaseOffsetMs } from '../src/sync/schedule';
import type { HistoryItem, PlaybackItem, WatchedMovie, WatchedShow } from '../src/sync/trakt-data';
import { needsRefresh, refreshMarginMs, tokenExpiresAtMs } from '../src/trakt/token-policy';

const movieItem = (id: number, trakt: number, watchedAt: string): HistoryItem => ({
  id,
  watched_at: watchedAt,
  action: 'watch',
  type: 'movie',
  movie: { title: `M${trakt}`, year: 2000, ids: { trakt, slug: `m${trakt}`, imdb: `tt${trakt}`, tmdb: trakt } },
});

const episodeItem = (id: number, show: number, season: number, number: number, watchedAt: string): HistoryItem => ({
  id,
  watched_at: watchedAt,
  action: 'scrobble',
  type: 'episode',
  episode: { season, number, title: `E${season}x${number}`, ids: { trakt: show * 1000 + season * 100 + number } },
  show: { title: 'S', year: 2010, ids: { trakt: show, slug: 's', imdb: null, tmdb: null, tvdb: 1 } },
});

describe('sync planning', () => {
  it('activityChanges: first sync, unchanged, moved', () => {
    const current = { watched_at: '2026-01-01T00:00:00.000Z', paused_at: '2026-01-02T00:00:00Z' };
    expect(activityChanges(current, { syncedAt: null, watchedAt: null, pausedAt: null })).toMatchObject({
      first: true,
      anyMoved: true,
    });
    const seen = { syncedAt: 'x', watchedAt: '2026-01-01T00:00:00.000Z', pausedAt: '2026-01-02T00:00:00.000Z' };
    expect(activityChanges(current, seen)).toMatchObject({
      first: false,
      watchedMoved: false,
      pausedMoved: false,
      anyMoved: false,
    });
    expect(activityChanges({ ...current, paused_at: '2026-01-03T00:00:00Z' }, seen)).toMatchObject({
      watchedMoved: false,
      pausedMoved: true,
    });
  });

  it('historyStartAt overlaps the high-water mark by a day', () => {
    expect(historyStartAt(null)).toBeUndefined();
    expect(historyStartAt('2026-05-02T12:00:00.000Z')).toBe('2026-05-01T12:00:00.000Z');
  });

  it('planPlays dedupes on history id, inserts only unseen ids, and deletes only in full mode', () => {
    const fetched = [
      movieItem(1, 10, '2026-01-01T00:00:00Z'),
      movieItem(2, 10, '2026-01-02T00:00:00Z'),
      movieItem(2, 10, '2026-01-02T00:00:00Z'),
    ];
    const incremental = planPlays(fetched, new Set([1, 99]), false);
    expect(incremental.insert.map((p) => p.historyId)).toEqual([2]);
    expect(incremental.remove).toEqual([]);
    const full = planPlays(fetched, new Set([1, 99]), true);
    expect(full.remove).toEqual([99]);
    expect(toPlayRow(fetched[0]!)).toMatchObject({
      mediaType: 'movie',
      movieTraktId: 10,
      watchedAt: '2026-01-01T00:00:00.000Z',
    });
  });

  it('historyExplainsWatched detects backdated and removed plays, even when they cancel out in the totals', () => {
    const stored = new Map([
      [10, { plays: 1, lastUpdatedAt: 'a' }],
      [11, { plays: 1, lastUpdatedAt: 'a' }],
    ]);
    // A new play of 10 explains 10's change.
    expect(
      historyExplainsWatched(
        stored,
        new Map([
          [10, { plays: 2, lastUpdatedAt: 'b' }],
          [11, { plays: 1, lastUpdatedAt: 'a' }],
        ]),
        new Map([[10, 1]]),
      ),
    ).toBe(true);
    // 11 gained a play that history since the high-water mark does not contain (backdated).
    expect(
      historyExplainsWatched(
        stored,
        new Map([
          [10, { plays: 1, lastUpdatedAt: 'a' }],
          [11, { plays: 2, lastUpdatedAt: 'b' }],
        ]),
        new Map(),
      ),
    ).toBe(false);
    // 11 removed entirely while 10 gained one: totals match, items do not.
    expect(historyExplainsWatched(stored, new Map([[10, { plays: 2, lastUpdatedAt: 'b' }]]), new Map([[10, 1]]))).toBe(
      false,
    );
    // Same count but last_updated_at moved with no new play: a removal plus a backdated add.
    expect(
      historyExplainsWatched(
        stored,
        new Map([
          [10, { plays: 1, lastUpdatedAt: 'b' }],
          [11, { plays: 1, lastUpdatedAt: 'a' }],
        ]),
        new Map(),
      ),
    ).toBe(false);
  });

  it('diffByKey splits insert / update / unchanged / remove', () => {
    const desired = new Map([
      [1, { a: 1 }],
      [2, { a: 2 }],
      [3, { a: 3 }],
    ]);
    const stored = new Map([
      [2, { a: 2 }],
      [3, { a: 30 }],
      [4, { a: 4 }],
    ]);
    const diff = diffByKey(desired, stored, sameFields);
    expect(diff.counts).toEqual({ added: 1, updated: 1, removed: 1, unchanged: 1 });
    expect(diff.remove).toEqual([{ a: 4 }]);
  });

  it('desiredMovies keeps playback progress only when it is newer than the last completed viewing', () => {
    const watched: WatchedMovie[] = [
      {
        plays: 1,
        last_watched_at: '2026-01-01T00:00:00Z',
        last_updated_at: null,
        movie: { title: 'A', year: 1, ids: { trakt: 1 } },
      },
      {
        plays: 1,
        last_watched_at: '2026-03-01T00:00:00Z',
        last_updated_at: null,
        movie: { title: 'B', year: 1, ids: { trakt: 2 } },
      },
    ];
    const playback: PlaybackItem[] = [
      { id: 1, progress: 40, paused_at: '2026-02-01T00:00:00Z', type: 'movie', movie: { ids: { trakt: 1 } } },
      { id: 2, progress: 70, paused_at: '2026-02-01T00:00:00Z', type: 'movie', movie: { ids: { trakt: 2 } } },
    ];
    const rows = desiredMovies(watched, playback);
    expect(rows.get(1)).toMatchObject({ progress: 40, pausedAt: '2026-02-01T00:00:00.000Z' });
    expect(rows.get(2)).toMatchObject({ progress: null, pausedAt: null });
  });

  it('desiredEpisodes keeps episodes watched before a rewatch reset, and adds started-but-unfinished ones', () => {
    const show: WatchedShow = {
      plays: 3,
      last_watched_at: '2026-03-01T00:00:00Z',
      last_updated_at: null,
      reset_at: '2026-02-15T00:00:00Z',
      show: { title: 'S', year: 2010, ids: { trakt: 7 } },
      // Trakt's progress after the reset only knows 1x1's second play.
      seasons: [{ number: 1, episodes: [{ number: 1, plays: 1, last_watched_at: '2026-03-01T00:00:00Z' }] }],
    };
    const history = [
      episodeItem(1, 7, 1, 1, '2026-01-01T00:00:00Z'),
      episodeItem(2, 7, 1, 2, '2026-01-02T00:00:00Z'),
      episodeItem(3, 7, 1, 1, '2026-03-01T00:00:00Z'),
    ].map(toPlayRow);
    const playback: PlaybackItem[] = [
      {
        id: 9,
        progress: 25,
        paused_at: '2026-03-02T00:00:00Z',
        type: 'episode',
        episode: { season: 1, number: 3 },
        show: { ids: { trakt: 7 } },
      },
    ];
    const rows = desiredEpisodes([show], playback, new Map(), episodePlaysFromHistory(history));
    expect(rows.get('7:1:1')).toMatchObject({ plays: 2, progress: 100, lastWatchedAt: '2026-03-01T00:00:00.000Z' });
    expect(rows.get('7:1:2')).toMatchObject({ plays: 1, progress: 100 });
    expect(rows.get('7:1:3')).toMatchObject({ plays: 0, progress: 25, lastWatchedAt: null });
  });
});

describe('token and schedule policies', () => {
  it('derives expiry from created_at + expires_in and refreshes within 10% of the lifetime, clamped to 1 min – 1 h', () => {
    expect(tokenExpiresAtMs({ created_at: 1_000, expires_in: 86_400 })).toBe(87_400_000);
    expect(refreshMarginMs(86_400)).toBe(3600_000); // 24 h → 1 h (cap)
    expect(refreshMarginMs(7_200)).toBe(720_000); // 2 h → 12 min
    expect(refreshMarginMs(300)).toBe(60_000); // floor
    const expiresAt = 10_000_000;
    expect(needsRefresh(expiresAt, 7_200, expiresAt - 721_000)).toBe(false);
    expect(needsRefresh(expiresAt, 7_200, expiresAt - 719_000)).toBe(true);
  });

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
