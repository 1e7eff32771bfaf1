/**
 * @module
 * Pure sync planning: given what Trakt reports and what is stored, decide exactly which rows to
 * insert, update and delete. No I/O here, so every rule is unit-tested directly.
 */
import type { HistoryItem, PlaybackItem, WatchedMovie, WatchedShow } from './trakt-data';

/** Re-fetch history from a little before the newest stored play, to absorb clock skew between Trakt's servers. */
export const HISTORY_OVERLAP_MS = 24 * 60 * 60 * 1000;

export type Counts = { added: number; updated: number; removed: number; unchanged: number };

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

/**
 * Which history ids to insert and delete. Incremental (`full: false`): insert the unseen ids,
 * delete nothing. Full: make the stored set equal to Trakt's.
 */
export function planPlays(fetched: HistoryItem[], storedIds: ReadonlySet<number>, full: boolean) {
  const seen = new Set<number>();
  const insert: PlayRow[] = [];
  for (const item of fetched) {
    if (seen.has(item.id)) continue; // Trakt pages can overlap while plays are being added
    seen.add(item.id);
    if (!storedIds.has(item.id)) insert.push(toPlayRow(item));
  }
  const remove = full ? [...storedIds].filter((id) => !seen.has(id)) : [];
  return { insert, remove, fetchedIds: seen };
}

export type WatchedTotals = { plays: number; lastUpdatedAt: string | null };

/**
 * Do the plays fetched since the high-water mark explain every change in Trakt's watched list?
 * An item whose play count moved by something other than the new plays, or whose
 * `last_updated_at` moved with no new play, had a backdated play added or a play removed:
 * only a full history fetch can say which.
 */
export function historyExplainsWatched(
  stored: ReadonlyMap<number, WatchedTotals>,
  watched: ReadonlyMap<number, WatchedTotals>,
  insertedPerItem: ReadonlyMap<number, number>,
): boolean {
  for (const [id, now] of watched) {
    const inserted = insertedPerItem.get(id) ?? 0;
    const before = stored.get(id);
    if ((before?.plays ?? 0) + inserted !== now.plays) return false;
    if (before && inserted === 0 && before.lastUpdatedAt !== now.lastUpdatedAt) return false;
  }
  for (const id of stored.keys()) if (!watched.has(id)) return false;
  return true;
}

export function countBy<T>(items: Iterable<T>, key: (item: T) => number | null): Map<number, number> {
  const counts = new Map<number, number>();
  for (const item of items) {
    const k = key(item);
    if (k !== null) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/** Generic diff of desired rows against stored rows by key. */
export function diffByKey<K, Desired, Stored>(
  desired: ReadonlyMap<K, Desired>,
  stored: ReadonlyMap<K, Stored>,
  same: (desired: Desired, stored: Stored) => boolean,
) {
  const insert: Desired[] = [];
  const update: Array<{ desired: Desired; stored: Stored }> = [];
  let unchanged = 0;
  for (const [key, row] of desired) {
    const existing = stored.get(key);
    if (existing === undefined) insert.push(row);
    else if (same(row, existing)) unchanged++;
    else update.push({ desired: row, stored: existing });
  }
  const remove = [...stored].filter(([key]) => !desired.has(key)).map(([, row]) => row);
  return {
    insert,
    update,
    remove,
    counts: { added: insert.length, updated: update.length, removed: remove.length, unchanged } satisfies Counts,
  };
}

export type MovieRow = {
  traktId: number;
  title: string;
  year: number | null;
  slug: string | null;
  imdbId: string | null;
  tmdbId: number | null;
  plays: number;
  lastWatchedAt: string;
  lastUpdatedAt: string | null;
  progress: number | null;
  pausedAt: string | null;
};

/** A started-but-unfinished viewing counts only if it is newer than the last completed one. */
function activePlayback(playback: PlaybackItem | undefined, lastWatchedAt: string | null): PlaybackItem | undefined {
  if (!playback) return undefined;
  return !lastWatchedAt || iso(playback.paused_at)! > lastWatchedAt ? playback : undefined;
}

export function desiredMovies(watched: WatchedMovie[], playback: PlaybackItem[]): Map<number, MovieRow> {
  const paused = new Map(playback.filter((p) => p.type === 'movie' && p.movie).map((p) => [p.movie!.ids.trakt, p]));
  const rows = new Map<number, MovieRow>();
  for (const item of watched) {
    const lastWatchedAt = iso(item.last_watched_at)!;
    const active = activePlayback(paused.get(item.movie.ids.trakt), lastWatchedAt);
    rows.set(item.movie.ids.trakt, {
      traktId: item.movie.ids.trakt,
      title: item.movie.title ?? '',
      year: item.movie.year ?? null,
      slug: item.movie.ids.slug ?? null,
      imdbId: item.movie.ids.imdb ?? null,
      tmdbId: item.movie.ids.tmdb ?? null,
      plays: item.plays,
      lastWatchedAt,
      lastUpdatedAt: iso(item.last_updated_at),
      progress: active ? active.progress : null,
      pausedAt: active ? iso(active.paused_at) : null,
    });
  }
  return rows;
}

/** Field-by-field equality of two flat rows with the same keys (what the diff writes). */
export function sameFields<T extends object>(a: T, b: T): boolean {
  return (Object.keys(a) as Array<keyof T>).every((key) => a[key] === b[key]);
}

export const sameMovie: (a: MovieRow, b: MovieRow) => boolean = sameFields;

export type ShowRow = {
  traktId: number;
  title: string;
  year: number | null;
  slug: string | null;
  imdbId: string | null;
  tvdbId: number | null;
  tmdbId: number | null;
  airedEpisodes: number | null;
  plays: number;
  lastWatchedAt: string;
  lastUpdatedAt: string | null;
  resetAt: string | null;
};

export type EpisodeRow = {
  showTraktId: number;
  seasonNumber: number;
  episodeNumber: number;
  traktId: number | null;
  title: string | null;
  plays: number;
  lastWatchedAt: string | null;
  progress: number;
  pausedAt: string | null;
};

export const episodeKey = (show: number, season: number, episode: number) => `${show}:${season}:${episode}`;

/** Titles and ids of episodes as seen in history (the watched endpoint carries neither). */
export function episodeDetailsFromHistory(items: Iterable<HistoryItem>) {
  const details = new Map<string, { title: string | null; traktId: number | null }>();
  for (const item of items) {
    if (item.type !== 'episode' || !item.episode || !item.show) continue;
    const key = episodeKey(item.show.ids.trakt, item.episode.season, item.episode.number);
    if (!details.has(key))
      details.set(key, { title: item.episode.title ?? null, traktId: item.episode.ids?.trakt ?? null });
  }
  return details;
}

export function desiredShows(watched: WatchedShow[]): Map<number, ShowRow> {
  const rows = new Map<number, ShowRow>();
  for (const item of watched) {
    rows.set(item.show.ids.trakt, {
      traktId: item.show.ids.trakt,
      title: item.show.title ?? '',
      year: item.show.year ?? null,
      slug: item.show.ids.slug ?? null,
      imdbId: item.show.ids.imdb ?? null,
      tvdbId: item.show.ids.tvdb ?? null,
      tmdbId: item.show.ids.tmdb ?? null,
      airedEpisodes: item.show.aired_episodes ?? null,
      plays: item.plays,
      lastWatchedAt: iso(item.last_watched_at)!,
      lastUpdatedAt: iso(item.last_updated_at),
      resetAt: iso(item.reset_at),
    });
  }
  return rows;
}

export const sameShow: (a: ShowRow, b: ShowRow) => boolean = sameFields;

/**
 * Desired episodes of the given shows: every episode Trakt reports in seasons progress (100%
 * watched, or playback progress if a newer viewing is paused), plus started-but-unfinished ones.
 * `known` supplies titles/ids already stored or seen in history.
 */
export type EpisodePlays = { plays: number; lastWatchedAt: string | null; traktId: number | null };

/** Per-episode totals over every play in history (before and after any rewatch reset). */
export function episodePlaysFromHistory(
  playRows: Iterable<Pick<PlayRow, 'showTraktId' | 'seasonNumber' | 'episodeNumber' | 'episodeTraktId' | 'watchedAt'>>,
) {
  const totals = new Map<string, EpisodePlays & { showTraktId: number; seasonNumber: number; episodeNumber: number }>();
  for (const play of playRows) {
    if (play.showTraktId === null || play.seasonNumber === null || play.episodeNumber === null) continue;
    const key = episodeKey(play.showTraktId, play.seasonNumber, play.episodeNumber);
    const entry = totals.get(key) ?? {
      showTraktId: play.showTraktId,
      seasonNumber: play.seasonNumber,
      episodeNumber: play.episodeNumber,
      plays: 0,
      lastWatchedAt: null,
      traktId: null,
    };
    entry.plays += 1;
    if (!entry.lastWatchedAt || play.watchedAt > entry.lastWatchedAt) entry.lastWatchedAt = play.watchedAt;
    entry.traktId ??= play.episodeTraktId;
    totals.set(key, entry);
  }
  return totals;
}

/**
 * Desired episodes of the given shows. Trakt's seasons progress only counts plays after a rewatch
 * reset, while this API keeps the whole history: an episode's plays and last watch are the larger
 * of the two sources, so episodes watched before a reset stay watched.
 */
export function desiredEpisodes(
  watched: WatchedShow[],
  playback: PlaybackItem[],
  known: ReadonlyMap<string, { title: string | null; traktId: number | null }>,
  fromHistory: ReturnType<typeof episodePlaysFromHistory> = new Map(),
): Map<string, EpisodeRow> {
  const paused = new Map<string, PlaybackItem>();
  for (const p of playback) {
    if (p.type === 'episode' && p.episode && p.show)
      paused.set(episodeKey(p.show.ids.trakt, p.episode.season, p.episode.number), p);
  }
  const watchedShows = new Set(watched.map((s) => s.show.ids.trakt));
  const totals = new Map<
    string,
    {
      showTraktId: number;
      seasonNumber: number;
      episodeNumber: number;
      plays: number;
      lastWatchedAt: string | null;
      traktId: number | null;
    }
  >();
  for (const show of watched) {
    for (const season of show.seasons ?? []) {
      for (const episode of season.episodes) {
        const key = episodeKey(show.show.ids.trakt, season.number, episode.number);
        totals.set(key, {
          showTraktId: show.show.ids.trakt,
          seasonNumber: season.number,
          episodeNumber: episode.number,
          plays: episode.plays,
          lastWatchedAt: iso(episode.last_watched_at),
          traktId: null,
        });
      }
    }
  }
  for (const [key, entry] of fromHistory) {
    if (!watchedShows.has(entry.showTraktId)) continue;
    const progress = totals.get(key);
    totals.set(key, {
      ...entry,
      plays: Math.max(entry.plays, progress?.plays ?? 0),
      lastWatchedAt: maxIso([entry.lastWatchedAt, progress?.lastWatchedAt]),
    });
  }
  const rows = new Map<string, EpisodeRow>();
  for (const [key, entry] of totals) {
    const active = activePlayback(paused.get(key), entry.lastWatchedAt);
    rows.set(key, {
      showTraktId: entry.showTraktId,
      seasonNumber: entry.seasonNumber,
      episodeNumber: entry.episodeNumber,
      traktId: entry.traktId ?? known.get(key)?.traktId ?? null,
      title: known.get(key)?.title ?? null,
      plays: entry.plays,
      lastWatchedAt: entry.lastWatchedAt,
      progress: active ? active.progress : entry.plays > 0 ? 100 : 0,
      pausedAt: active ? iso(active.paused_at) : null,
    });
  }
  for (const [key, p] of paused) {
    // Started but never finished: stored with its progress, for shows the user has watched.
    if (rows.has(key) || !watchedShows.has(p.show!.ids.trakt)) continue;
    rows.set(key, {
      showTraktId: p.show!.ids.trakt,
      seasonNumber: p.episode!.season,
      episodeNumber: p.episode!.number,
      traktId: p.episode!.ids?.trakt ?? known.get(key)?.traktId ?? null,
      title: p.episode!.title ?? known.get(key)?.title ?? null,
      plays: 0,
      lastWatchedAt: null,
      progress: p.progress,
      pausedAt: iso(p.paused_at),
    });
  }
  return rows;
}

/** Stored episodes carry their row id too; only the desired row's fields are compared. */
export const sameEpisode: (a: EpisodeRow, b: EpisodeRow) => boolean = sameFields;
