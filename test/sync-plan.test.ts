/** Unit tests of src/sync/plan.ts: the pure sync planning (what changed, which rows to write). */
import { describe, expect, it } from 'vitest';
import {
  activityChanges,
  advanceCursor,
  historyStartAt,
  metadataFromHistory,
  reconcileDue,
  sweepWindow,
  toPlayRow,
  totalsAgree,
} from '../src/sync/plan';
import type { HistoryItem } from '../src/trakt/upstream-schemas';

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

  it('advanceCursor walks history down with end_at = the oldest play seen, and pages only within one timestamp', () => {
    const start = { endAt: null, page: 1, boundaryIds: [] };
    const page1 = [movieItem(5, 1, '2026-05-05T00:00:00Z'), movieItem(4, 1, '2026-05-04T00:00:00Z')];
    const first = advanceCursor(start, page1, 3);
    expect(first).toEqual({ done: false, cursor: { endAt: '2026-05-04T00:00:00.000Z', page: 1, boundaryIds: [4] } });
    // A whole page at the cursor's timestamp (a bulk "mark as watched"): the next page at the same end_at.
    const same = [movieItem(4, 1, '2026-05-04T00:00:00Z'), movieItem(3, 2, '2026-05-04T00:00:00Z')];
    expect(advanceCursor(first.cursor, same, 3)).toEqual({
      done: false,
      cursor: { endAt: '2026-05-04T00:00:00.000Z', page: 2, boundaryIds: [4, 4, 3] },
    });
    expect(advanceCursor(first.cursor, [movieItem(2, 3, '2026-05-01T00:00:00Z')], 1).done).toBe(true);
    expect(advanceCursor(start, [], 1).done).toBe(true);
  });

  it('sweepWindow: exclusive at the oldest play while pages follow, open once history is done', () => {
    const cursor = { endAt: '2026-05-04T00:00:00.000Z', page: 1, boundaryIds: [4] };
    expect(sweepWindow(cursor, '2026-05-01T00:00:00.000Z', false)).toEqual({
      from: '2026-05-01T00:00:00.000Z',
      fromInclusive: false,
      to: '2026-05-04T00:00:00.000Z',
      keep: [4],
    });
    expect(sweepWindow(cursor, '2026-05-01T00:00:00.000Z', true)).toMatchObject({ from: null, fromInclusive: true });
  });

  it('totalsAgree compares Trakt stats with the stored totals per kind', () => {
    const stats = {
      movies: { plays: 10, watched: 7 },
      shows: { watched: 2 },
      episodes: { plays: 30, watched: 25 },
    };
    const stored = { movieCount: 7, moviePlayCount: 10, showCount: 2, episodeCount: 25, episodePlayCount: 30 };
    expect(totalsAgree('movies', stats, stored)).toBe(true);
    expect(totalsAgree('shows', stats, stored)).toBe(true);
    expect(totalsAgree('movies', stats, { ...stored, moviePlayCount: 9 })).toBe(false);
    expect(totalsAgree('shows', stats, { ...stored, episodeCount: 26 })).toBe(false);
  });

  it('reconcileDue: weekly per user, spread by ±10%', () => {
    const week = 7 * 86_400_000;
    const at = Date.parse('2026-05-01T00:00:00Z');
    expect(reconcileDue(null, at, week, 0.5)).toBe(true);
    expect(reconcileDue('2026-05-01T00:00:00.000Z', at + week * 0.89, week, 0)).toBe(false);
    expect(reconcileDue('2026-05-01T00:00:00.000Z', at + week * 0.9, week, 0)).toBe(true);
    expect(reconcileDue('2026-05-01T00:00:00.000Z', at + week, week, 0.99)).toBe(false);
  });

  it('metadataFromHistory and toPlayRow keep ids, titles and episode keys', () => {
    const meta = metadataFromHistory([
      movieItem(1, 10, '2026-01-01T00:00:00Z'),
      episodeItem(2, 7, 1, 3, '2026-01-01T00:00:00Z'),
    ]);
    expect(meta.movies.get(10)).toMatchObject({ title: 'M10', imdbId: 'tt10', tmdbId: 10 });
    expect(meta.shows.get(7)).toMatchObject({ tvdbId: 1 });
    expect(meta.episodes.get('7:1:3')).toEqual({
      showTraktId: 7,
      seasonNumber: 1,
      episodeNumber: 3,
      traktId: 7103,
      title: 'E1x3',
    });
    expect(toPlayRow(episodeItem(2, 7, 1, 3, '2026-01-01T00:00:00Z'))).toMatchObject({
      showTraktId: 7,
      seasonNumber: 1,
      episodeNumber: 3,
    });
  });
});
