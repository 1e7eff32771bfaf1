/**
 * @module
 * Pure sync planning: which pass a sync runs, how the history cursor advances, which stored plays
 * a page proves removed, and whether Trakt's totals agree with the stored ones. No I/O here, so
 * every rule is unit-tested directly.
 */

import type { HistoryItem, PlaybackItem, UserStats } from '../trakt/upstream-schemas';
import type { HistoryCursor, StoredTotals, SyncPass } from './state';

/** Re-fetch history from a little before the newest stored play, to absorb clock skew between Trakt's servers. */
export const HISTORY_OVERLAP_MS = 24 * 60 * 60 * 1000;

export function iso(value: string | null | undefined): string | null {
  return value ? new Date(value).toISOString() : null;
}

export function maxIso(values: Iterable<string | null | undefined>): string | null {
  let best: string | null = null;
  for (const value of values) {
    const normalized = iso(value);
    if (normalized && (!best || normalized > best)) best = normalized;
  }
  return best;
}

/** `start_at` for an incremental history fetch, or undefined for a full fetch. */
export function historyStartAt(highWater: string | null): string | undefined {
  return highWater ? new Date(Date.parse(highWater) - HISTORY_OVERLAP_MS).toISOString() : undefined;
}

/** Has Trakt's activity timestamp moved since the last sync saw it? */
export function activityMoved(previous: string | null, current: string | null | undefined): boolean {
  return iso(current) !== previous;
}

/**
 * What a sync of one kind must do, from Trakt's `last_activities` entry for it and what the last
 * committed sync saw. A kind never synced before is a first (full) sync.
 */
export function activityChanges(
  current: { watched_at?: string | null; paused_at?: string | null } | undefined,
  seen: { syncedAt: string | null; watchedAt: string | null; pausedAt: string | null },
) {
  const watchedAt = iso(current?.watched_at);
  const pausedAt = iso(current?.paused_at);
  const first = !seen.syncedAt;
  const watchedMoved = first || activityMoved(seen.watchedAt, watchedAt);
  const pausedMoved = first || activityMoved(seen.pausedAt, pausedAt);
  return { watchedAt, pausedAt, first, watchedMoved, pausedMoved, anyMoved: watchedMoved || pausedMoved };
}

/** Is the periodic full reconcile due? Spread over users by a stable per-user fraction of ±10% of the interval. */
export function reconcileDue(reconciledAt: string | null, now: number, intervalMs: number, jitter: number): boolean {
  if (!reconciledAt) return true;
  return now >= Date.parse(reconciledAt) + intervalMs * (0.9 + 0.2 * jitter);
}

export function newPass(input: {
  id: string;
  mode: SyncPass['mode'];
  reason: SyncPass['reason'];
  startAt: string | null;
  activities: SyncPass['activities'];
  playbackDue: boolean;
  now: number;
}): SyncPass {
  return {
    id: input.id,
    mode: input.mode,
    reason: input.reason,
    phase: 'history',
    chunks: 0,
    startAt: input.startAt,
    cursor: { endAt: null, page: 1, boundaryIds: [] },
    watchedPage: 1,
    pagesDone: 0,
    pagesKnown: null,
    playsStored: 0,
    playsAdded: 0,
    playsRemoved: 0,
    itemsTouched: 0,
    episodesTouched: 0,
    highWater: null,
    activities: input.activities,
    playbackDue: input.playbackDue,
    startedAt: new Date(input.now).toISOString(),
  };
}

/**
 * The cursor after one history page (items newest first, as Trakt sends them). Done when this was
 * the last page. Otherwise the next request asks for plays up to the oldest one seen (`end_at` is
 * inclusive, so plays sharing that timestamp are fetched again and skipped by id), or, when the
 * whole page shares the cursor's timestamp, for the next page at the same `end_at`.
 */
export function advanceCursor(
  cursor: HistoryCursor,
  items: ReadonlyArray<Pick<HistoryItem, 'id' | 'watched_at'>>,
  pageCount: number,
): { cursor: HistoryCursor; done: boolean } {
  if (items.length === 0 || cursor.page >= pageCount) return { cursor, done: true };
  const oldest = iso(items[items.length - 1]!.watched_at)!;
  const atOldest = items.filter((i) => iso(i.watched_at) === oldest).map((i) => i.id);
  if (cursor.endAt === null || oldest < cursor.endAt)
    return { cursor: { endAt: oldest, page: 1, boundaryIds: atOldest }, done: false };
  return {
    cursor: { endAt: cursor.endAt, page: cursor.page + 1, boundaryIds: [...cursor.boundaryIds, ...atOldest] },
    done: false,
  };
}

/**
 * The window of `watched_at` a run of consecutive history pages covers completely: every stored
 * play inside it that none of those pages (nor the previous run's boundary) listed was removed on
 * Trakt. `from` is exclusive while more pages follow (plays at the oldest timestamp may continue
 * on the next page) and open once the history is done; `to` is the cursor the run started from
 * (inclusive), open at the start of a pass.
 */
export function sweepWindow(startCursor: HistoryCursor, oldestSeen: string | null, done: boolean) {
  return {
    from: done ? null : oldestSeen,
    fromInclusive: done,
    to: startCursor.endAt,
    keep: startCursor.boundaryIds,
  };
}

export type PlayRow = {
  historyId: number;
  mediaType: 'movie' | 'episode';
  watchedAt: string;
  action: string;
  movieTraktId: number | null;
  showTraktId: number | null;
  seasonNumber: number | null;
  episodeNumber: number | null;
  episodeTraktId: number | null;
};

export function toPlayRow(item: HistoryItem): PlayRow {
  return {
    historyId: item.id,
    mediaType: item.type,
    watchedAt: iso(item.watched_at)!,
    action: item.action,
    movieTraktId: item.movie?.ids.trakt ?? null,
    showTraktId: item.show?.ids.trakt ?? null,
    seasonNumber: item.episode?.season ?? null,
    episodeNumber: item.episode?.number ?? null,
    episodeTraktId: item.episode?.ids?.trakt ?? null,
  };
}

export type MovieMeta = {
  traktId: number;
  title: string;
  year: number | null;
  slug: string | null;
  imdbId: string | null;
  tmdbId: number | null;
};
export type ShowMeta = MovieMeta & { tvdbId: number | null; airedEpisodes: number | null };
export type EpisodeMeta = {
  showTraktId: number;
  seasonNumber: number;
  episodeNumber: number;
  traktId: number | null;
  title: string | null;
};

export const episodeKey = (show: number, season: number, episode: number) => `${show}:${season}:${episode}`;

/** Titles and ids of the movies, shows and episodes a page of history mentions (first mention wins). */
export function metadataFromHistory(items: Iterable<HistoryItem>) {
  const movies = new Map<number, MovieMeta>();
  const shows = new Map<number, ShowMeta>();
  const episodes = new Map<string, EpisodeMeta>();
  for (const item of items) {
    if (item.movie && !movies.has(item.movie.ids.trakt)) {
      const m = item.movie;
      movies.set(m.ids.trakt, {
        traktId: m.ids.trakt,
        title: m.title ?? '',
        year: m.year ?? null,
        slug: m.ids.slug ?? null,
        imdbId: m.ids.imdb ?? null,
        tmdbId: m.ids.tmdb ?? null,
      });
    }
    if (item.show && !shows.has(item.show.ids.trakt)) {
      const s = item.show;
      shows.set(s.ids.trakt, {
        traktId: s.ids.trakt,
        title: s.title ?? '',
        year: s.year ?? null,
        slug: s.ids.slug ?? null,
        imdbId: s.ids.imdb ?? null,
        tmdbId: s.ids.tmdb ?? null,
        tvdbId: s.ids.tvdb ?? null,
        airedEpisodes: s.aired_episodes ?? null,
      });
    }
    if (item.show && item.episode) {
      const key = episodeKey(item.show.ids.trakt, item.episode.season, item.episode.number);
      if (!episodes.has(key))
        episodes.set(key, {
          showTraktId: item.show.ids.trakt,
          seasonNumber: item.episode.season,
          episodeNumber: item.episode.number,
          traktId: item.episode.ids?.trakt ?? null,
          title: item.episode.title ?? null,
        });
    }
  }
  return { movies, shows, episodes };
}

/**
 * Do Trakt's own totals (`/users/me/stats`) agree with the stored ones after the plays just
 * fetched? A removed or backdated play makes them disagree; only a full pass can say which.
 * (A removal and a backdated play of the same kind can cancel out: the weekly reconcile catches that.)
 */
export function totalsAgree(kind: 'movies' | 'shows', stats: UserStats, stored: StoredTotals): boolean {
  if (kind === 'movies')
    return stats.movies.plays === stored.moviePlayCount && stats.movies.watched === stored.movieCount;
  return (
    stats.episodes.plays === stored.episodePlayCount &&
    stats.episodes.watched === stored.episodeCount &&
    stats.shows.watched === stored.showCount
  );
}

/** A started-but-unfinished viewing, as stored: only for items already in the library (applied in SQL). */
export function playbackRows(playback: PlaybackItem[], type: 'movie' | 'episode') {
  return playback
    .filter((p) => p.type === type)
    .map((p) => ({
      movieTraktId: p.movie?.ids.trakt ?? null,
      showTraktId: p.show?.ids.trakt ?? null,
      seasonNumber: p.episode?.season ?? null,
      episodeNumber: p.episode?.number ?? null,
      episodeTraktId: p.episode?.ids?.trakt ?? null,
      title: p.episode?.title ?? null,
      progress: p.progress,
      pausedAt: iso(p.paused_at)!,
    }));
}
