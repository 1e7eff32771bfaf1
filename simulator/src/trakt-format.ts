/**
 * @module trakt-format
 * Trakt JSON shapes (field names, nesting, id objects, `2014-09-01T09:10:11.000Z` timestamps),
 * as in the recorded fixtures, updated to the 2026 API. `full` adds the `extended=full` fields.
 */
import { ACTIVITY_KEYS } from './accounts';
import type { CatalogEpisode, CatalogMovie, CatalogShow } from './dataset';
import type { Activities, Catalog, Play, PlaybackEntry, Watching } from './state';
import { iso } from './util';
import type { WatchedMovie, WatchedShow } from './views';

type Json = Record<string, unknown>;

/** Fixed `updated_at` reported for catalog items. */
const CATALOG_UPDATED_AT = '2026-05-30T12:00:00.000Z';

export function movieJson(movie: CatalogMovie, full: boolean): Json {
  const base: Json = {
    title: movie.title,
    year: movie.year,
    ids: { trakt: movie.traktId, slug: movie.slug, imdb: movie.imdb, tmdb: movie.tmdb },
  };
  if (!full) return base;
  return {
    ...base,
    tagline: '',
    overview: movie.overview,
    released: movie.released,
    runtime: movie.runtime,
    country: 'us',
    trailer: null,
    homepage: null,
    status: 'released',
    rating: movie.rating,
    votes: movie.votes,
    comment_count: 0,
    updated_at: CATALOG_UPDATED_AT,
    language: 'en',
    genres: movie.genres,
    certification: 'PG-13',
  };
}

export function showJson(show: CatalogShow, full: boolean, withAiredEpisodes = false): Json {
  const base: Json = {
    title: show.title,
    year: show.year,
    ids: { trakt: show.traktId, slug: show.slug, tvdb: show.tvdb, imdb: show.imdb, tmdb: show.tmdb },
  };
  if (withAiredEpisodes || full) base.aired_episodes = show.airedEpisodes;
  if (!full) return base;
  return {
    ...base,
    overview: show.overview,
    first_aired: iso(show.firstAired),
    airs: { day: 'Sunday', time: '21:00', timezone: 'America/New_York' },
    runtime: show.runtime,
    certification: 'TV-14',
    network: show.network,
    country: 'us',
    trailer: null,
    homepage: null,
    status: show.status,
    rating: show.rating,
    votes: show.votes,
    comment_count: 0,
    updated_at: CATALOG_UPDATED_AT,
    language: 'en',
    genres: show.genres,
  };
}

export function episodeJson(episode: CatalogEpisode, full: boolean): Json {
  const base: Json = {
    season: episode.season,
    number: episode.number,
    title: episode.title,
    ids: { trakt: episode.traktId, tvdb: episode.tvdb, imdb: episode.imdb, tmdb: episode.tmdb },
  };
  if (!full) return base;
  return {
    ...base,
    number_abs: null,
    overview: episode.overview,
    first_aired: iso(episode.firstAired),
    updated_at: CATALOG_UPDATED_AT,
    rating: episode.rating,
    votes: 100,
    comment_count: 0,
    available_translations: ['en'],
    runtime: episode.runtime,
    episode_type: episode.number === 1 ? 'season_premiere' : 'standard',
  };
}

/** `{type, movie}` or `{type, episode, show}` for a play/playback/watching item. */
export function mediaJson(catalog: Catalog, type: 'movie' | 'episode', traktId: number, full: boolean): Json | null {
  if (type === 'movie') {
    const movie = catalog.movies.get(traktId);
    return movie ? { type: 'movie', movie: movieJson(movie, full) } : null;
  }
  const episode = catalog.episodes.get(traktId);
  const show = episode ? catalog.shows.get(episode.showTraktId) : undefined;
  if (!episode || !show) return null;
  return { type: 'episode', episode: episodeJson(episode, full), show: showJson(show, full) };
}

export function historyItemJson(catalog: Catalog, play: Play, full: boolean): Json {
  return {
    id: play.id,
    watched_at: iso(play.watchedAt),
    action: play.action,
    ...mediaJson(catalog, play.type, play.traktId, full),
  };
}

export function watchedMovieJson(item: WatchedMovie, full: boolean): Json {
  return {
    plays: item.plays,
    last_watched_at: iso(item.lastWatchedAt),
    last_updated_at: iso(item.lastUpdatedAt),
    movie: movieJson(item.movie, full),
  };
}

export function watchedShowJson(item: WatchedShow, full: boolean, progress: boolean): Json {
  const json: Json = {
    plays: item.plays,
    last_watched_at: iso(item.lastWatchedAt),
    last_updated_at: iso(item.lastUpdatedAt),
    reset_at: item.resetAt === null ? null : iso(item.resetAt),
    show: showJson(item.show, full, true),
  };
  if (progress) {
    json.seasons = item.seasons.map((season) => ({
      number: season.number,
      episodes: season.episodes.map((e) => ({
        number: e.number,
        plays: e.plays,
        last_watched_at: iso(e.lastWatchedAt),
      })),
    }));
  }
  return json;
}

export function playbackJson(catalog: Catalog, entry: PlaybackEntry, full: boolean): Json {
  return {
    progress: entry.progress,
    paused_at: iso(entry.pausedAt),
    id: entry.id,
    ...mediaJson(catalog, entry.type, entry.traktId, full),
  };
}

export function watchingJson(catalog: Catalog, watching: Watching, full: boolean): Json {
  return {
    expires_at: iso(watching.expiresAt),
    started_at: iso(watching.startedAt),
    action: watching.action,
    ...mediaJson(catalog, watching.type, watching.traktId, full),
  };
}

/** Full `/sync/last_activities` body; `all` is the latest of every key. */
export function activitiesJson(activities: Activities): Json {
  let all = 0;
  const groups: Json = {};
  for (const [group, keys] of Object.entries(ACTIVITY_KEYS)) {
    const values: Record<string, string> = {};
    for (const key of keys) {
      const ms = activities[group]?.[key] ?? 0;
      all = Math.max(all, ms);
      values[key] = iso(ms);
    }
    groups[group] = values;
  }
  return { all: iso(all), ...groups };
}
