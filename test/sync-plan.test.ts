/** Unit tests of src/sync/plan.ts: the pure sync planning (what changed, which rows to write). */
import { describe, expect, it } from 'vitest';
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
import type { HistoryItem, PlaybackItem, WatchedMovie, WatchedShow } from '../src/sync/trakt-data';

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
