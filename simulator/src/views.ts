/**
 * @module views
 * Everything Trakt reports about an account is derived here from its one list of plays
 * (plus resets and playback): history, watched movies/shows and the summary. Pure functions
 * of the account and catalog, cached per account version.
 */
import type { CatalogEpisode, CatalogMovie, CatalogShow } from './dataset';
import type { Account, Catalog, Play } from './state';

export interface WatchedMovie {
  movie: CatalogMovie;
  plays: number;
  lastWatchedAt: number;
  lastUpdatedAt: number;
}

export interface WatchedEpisode {
  number: number;
  plays: number;
  lastWatchedAt: number;
}

export interface WatchedShow {
  show: CatalogShow;
  /** All plays of the show's episodes, before and after any reset. */
  plays: number;
  lastWatchedAt: number;
  lastUpdatedAt: number;
  resetAt: number | null;
  /** Seasons progress: only plays after `reset_at` count. */
  seasons: Array<{ number: number; episodes: WatchedEpisode[] }>;
}

export interface Summary {
  username: string;
  movies_watched: number;
  movie_plays: number;
  shows_watched: number;
  episodes_watched: number;
  episode_plays: number;
  total_plays: number;
  history_items: { movies: number; episodes: number; total: number };
  shows_reset: number;
  playback: { movies: number; episodes: number };
  watching: boolean;
}

interface Views {
  version: number;
  movieHistory: Play[];
  episodeHistory: Play[];
  watchedMovies: WatchedMovie[];
  watchedShows: WatchedShow[];
}

const cache = new WeakMap<Account, Views>();

const newestFirst = (a: Play, b: Play): number => b.watchedAt - a.watchedAt || b.id - a.id;

/** Derived views for the account's current version. */
export function views(account: Account, catalog: Catalog): Views {
  const cached = cache.get(account);
  if (cached && cached.version === account.version) return cached;
  const all = [...account.plays.values()];
  const movieHistory = all.filter((p) => p.type === 'movie' && catalog.movies.has(p.traktId)).sort(newestFirst);
  const episodeHistory = all.filter((p) => p.type === 'episode' && catalog.episodes.has(p.traktId)).sort(newestFirst);
  const result: Views = {
    version: account.version,
    movieHistory,
    episodeHistory,
    watchedMovies: deriveWatchedMovies(account, catalog, movieHistory),
    watchedShows: deriveWatchedShows(account, catalog, episodeHistory),
  };
  cache.set(account, result);
  return result;
}

function byRecency<T extends { lastWatchedAt: number }>(traktId: (item: T) => number) {
  return (a: T, b: T): number => b.lastWatchedAt - a.lastWatchedAt || traktId(a) - traktId(b);
}

function deriveWatchedMovies(account: Account, catalog: Catalog, history: Play[]): WatchedMovie[] {
  const byMovie = new Map<number, WatchedMovie>();
  for (const play of history) {
    const entry = byMovie.get(play.traktId);
    if (entry) {
      entry.plays++;
      entry.lastWatchedAt = Math.max(entry.lastWatchedAt, play.watchedAt);
      continue;
    }
    const movie = catalog.movies.get(play.traktId);
    if (!movie) continue;
    byMovie.set(play.traktId, {
      movie,
      plays: 1,
      lastWatchedAt: play.watchedAt,
      lastUpdatedAt: account.itemUpdatedAt.get(`movie:${movie.traktId}`) ?? play.watchedAt,
    });
  }
  return [...byMovie.values()].sort(byRecency<WatchedMovie>((m) => m.movie.traktId));
}

function deriveWatchedShows(account: Account, catalog: Catalog, history: Play[]): WatchedShow[] {
  interface Acc {
    show: CatalogShow;
    plays: number;
    lastWatchedAt: number;
    resetAt: number | null;
    episodes: Map<CatalogEpisode, WatchedEpisode>;
  }
  const byShow = new Map<number, Acc>();
  for (const play of history) {
    const episode = catalog.episodes.get(play.traktId);
    if (!episode) continue;
    let acc = byShow.get(episode.showTraktId);
    if (!acc) {
      const show = catalog.shows.get(episode.showTraktId);
      if (!show) continue;
      acc = {
        show,
        plays: 0,
        lastWatchedAt: 0,
        resetAt: account.resets.get(show.traktId) ?? null,
        episodes: new Map(),
      };
      byShow.set(show.traktId, acc);
    }
    acc.plays++;
    acc.lastWatchedAt = Math.max(acc.lastWatchedAt, play.watchedAt);
    if (acc.resetAt !== null && play.watchedAt < acc.resetAt) continue;
    const progress = acc.episodes.get(episode);
    if (progress) {
      progress.plays++;
      progress.lastWatchedAt = Math.max(progress.lastWatchedAt, play.watchedAt);
    } else {
      acc.episodes.set(episode, { number: episode.number, plays: 1, lastWatchedAt: play.watchedAt });
    }
  }
  const shows: WatchedShow[] = [];
  for (const acc of byShow.values()) {
    const seasons = new Map<number, WatchedEpisode[]>();
    for (const [episode, progress] of acc.episodes) {
      const list = seasons.get(episode.season) ?? [];
      list.push(progress);
      seasons.set(episode.season, list);
    }
    shows.push({
      show: acc.show,
      plays: acc.plays,
      lastWatchedAt: acc.lastWatchedAt,
      lastUpdatedAt: account.itemUpdatedAt.get(`show:${acc.show.traktId}`) ?? acc.lastWatchedAt,
      resetAt: acc.resetAt,
      seasons: [...seasons.entries()]
        .sort(([a], [b]) => a - b)
        .map(([number, episodes]) => ({ number, episodes: episodes.sort((a, b) => a.number - b.number) })),
    });
  }
  return shows.sort(byRecency<WatchedShow>((s) => s.show.traktId));
}

/** History filtered by `start_at`/`end_at` (inclusive), newest first. */
export function history(
  account: Account,
  catalog: Catalog,
  type: 'movies' | 'episodes' | 'all',
  range: { startAt: number | null; endAt: number | null },
): Play[] {
  const v = views(account, catalog);
  const list =
    type === 'movies'
      ? v.movieHistory
      : type === 'episodes'
        ? v.episodeHistory
        : [...v.movieHistory, ...v.episodeHistory].sort(newestFirst);
  if (range.startAt === null && range.endAt === null) return list;
  return list.filter(
    (p) =>
      (range.startAt === null || p.watchedAt >= range.startAt) && (range.endAt === null || p.watchedAt <= range.endAt),
  );
}

/** Counts as Trakt would report them, for comparing what the API stored against the truth. */
export function summary(account: Account, catalog: Catalog, now: number): Summary {
  const v = views(account, catalog);
  const episodeIds = new Set(v.episodeHistory.map((p) => p.traktId));
  let moviePlayback = 0;
  for (const entry of account.playback.values()) if (entry.type === 'movie') moviePlayback++;
  return {
    username: account.username,
    movies_watched: v.watchedMovies.length,
    movie_plays: v.movieHistory.length,
    shows_watched: v.watchedShows.length,
    episodes_watched: episodeIds.size,
    episode_plays: v.episodeHistory.length,
    total_plays: v.movieHistory.length + v.episodeHistory.length,
    history_items: {
      movies: v.movieHistory.length,
      episodes: v.episodeHistory.length,
      total: v.movieHistory.length + v.episodeHistory.length,
    },
    shows_reset: account.resets.size,
    playback: { movies: moviePlayback, episodes: account.playback.size - moviePlayback },
    watching: account.watching !== null && account.watching.expiresAt > now,
  };
}
