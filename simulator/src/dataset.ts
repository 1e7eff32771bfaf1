/**
 * @module dataset
 * Deterministic, seeded catalog and watch-history generator. Pure: every value is a
 * function of the seed, the item index and the options, never of the wall clock, so the
 * same seed and sizes give identical trakt ids, history ids and timestamps on every run.
 *
 * Catalog item `i` of a seed does not depend on how many items are generated, so accounts
 * created with the same seed share titles (same trakt/tmdb ids) even with different sizes.
 */
import { hash32, slugify, unit } from './util';

/** The fixed "present" of seeded datasets; seeded plays all happen before it. */
export const BASE_DATE_MS = Date.UTC(2026, 5, 1);
export const DEFAULT_HISTORY_START = '2021-01-01T00:00:00.000Z';
const DAY_MS = 86_400_000;
const GOLDEN = 0.6180339887498949;

export type TmdbStatus = 'ok' | 'null_tmdb' | 'missing';
export type PlayAction = 'scrobble' | 'checkin' | 'watch';

export interface CatalogMovie {
  traktId: number;
  slug: string;
  title: string;
  year: number;
  imdb: string;
  /** What Trakt reports as `ids.tmdb` (null for the "null tmdb" few). */
  tmdb: number | null;
  /** The id under which TMDB knows this movie; null when it is missing on TMDB. */
  tmdbRecordId: number | null;
  tmdbStatus: TmdbStatus;
  runtime: number;
  genres: string[];
  overview: string;
  released: string;
  rating: number;
  votes: number;
  posterPath: string;
  backdropPath: string;
}

export interface CatalogEpisode {
  traktId: number;
  showTraktId: number;
  season: number;
  number: number;
  title: string;
  tvdb: number;
  imdb: string | null;
  tmdb: number | null;
  tmdbRecordId: number | null;
  overview: string;
  runtime: number;
  firstAired: number;
  stillPath: string;
  rating: number;
}

export interface CatalogSeason {
  number: number;
  tmdbRecordId: number | null;
  posterPath: string;
  airDate: number;
  episodes: CatalogEpisode[];
}

export interface CatalogShow {
  traktId: number;
  slug: string;
  title: string;
  year: number;
  imdb: string | null;
  tvdb: number;
  tmdb: number | null;
  tmdbRecordId: number | null;
  tmdbStatus: TmdbStatus;
  airedEpisodes: number;
  runtime: number;
  genres: string[];
  overview: string;
  network: string;
  status: string;
  firstAired: number;
  rating: number;
  votes: number;
  posterPath: string;
  backdropPath: string;
  seasons: CatalogSeason[];
}

export interface Fractions {
  nullTmdb: number;
  missingOnTmdb: number;
}

const ADJECTIVES = [
  'Silent',
  'Crimson',
  'Hidden',
  'Last',
  'Broken',
  'Golden',
  'Midnight',
  'Frozen',
  'Wild',
  'Distant',
  'Hollow',
  'Burning',
  'Quiet',
  'Electric',
  'Lost',
  'Velvet',
  'Iron',
  'Paper',
  'Salt',
  'Neon',
  'Northern',
  'Secret',
  'Endless',
  'Bitter',
  'Glass',
];
const NOUNS = [
  'Harbor',
  'Garden',
  'Signal',
  'Frontier',
  'Orchard',
  'Empire',
  'Lantern',
  'Voyage',
  'Kingdom',
  'Machine',
  'River',
  'Archive',
  'Summit',
  'Carnival',
  'Station',
  'Witness',
  'Meridian',
  'Compass',
  'Tide',
  'Citadel',
  'Echo',
  'Parade',
  'Canyon',
  'Theory',
  'Monarch',
];
const SUFFIXES = ['', 'Returns', 'Rising', 'of Ash', 'at Dawn', 'Protocol', 'Reborn', 'in Winter', 'Files', 'Legacy'];
const GENRES = [
  'action',
  'adventure',
  'animation',
  'comedy',
  'crime',
  'documentary',
  'drama',
  'fantasy',
  'horror',
  'mystery',
  'romance',
  'science-fiction',
  'thriller',
];
const TMDB_GENRES: Record<string, { id: number; name: string }> = {
  action: { id: 28, name: 'Action' },
  adventure: { id: 12, name: 'Adventure' },
  animation: { id: 16, name: 'Animation' },
  comedy: { id: 35, name: 'Comedy' },
  crime: { id: 80, name: 'Crime' },
  documentary: { id: 99, name: 'Documentary' },
  drama: { id: 18, name: 'Drama' },
  fantasy: { id: 14, name: 'Fantasy' },
  horror: { id: 27, name: 'Horror' },
  mystery: { id: 9648, name: 'Mystery' },
  romance: { id: 10749, name: 'Romance' },
  'science-fiction': { id: 878, name: 'Science Fiction' },
  thriller: { id: 53, name: 'Thriller' },
};
const NETWORKS = ['HBO', 'Netflix', 'BBC One', 'AMC', 'Hulu', 'FX', 'Apple TV+', 'NBC'];

/** TMDB `{id, name}` for a Trakt genre slug. */
export function tmdbGenre(slug: string): { id: number; name: string } {
  return TMDB_GENRES[slug] ?? { id: 18, name: 'Drama' };
}

/** Per-seed id prefix: ids of different seeds live in different ranges. */
export function idBase(seed: string): number {
  return 1000 + (hash32('seed', seed) % 9000);
}

/** Limits implied by the id layout (`base * 1e6 + offset + index`). */
export const MAX_MOVIES = 100_000;
export const MAX_SHOWS = 99_000;
export const MAX_SEASONS = 99;
export const MAX_EPISODES_PER_SEASON = 99;

export function movieTraktId(seed: string, index: number): number {
  return idBase(seed) * 1_000_000 + 1 + index;
}

export function showTraktId(seed: string, index: number): number {
  return idBase(seed) * 1_000_000 + 500_001 + index;
}

function title(seed: string, kind: string, index: number): string {
  const offset = hash32(seed, kind, 'title') % 625;
  const k = index + offset;
  const adjective = ADJECTIVES[k % 25] ?? 'Silent';
  const noun = NOUNS[Math.floor(k / 25) % 25] ?? 'Harbor';
  const suffix = SUFFIXES[Math.floor(index / 625) % 10] ?? '';
  const round = Math.floor(index / 6250);
  return [`The ${adjective} ${noun}`, suffix, round > 0 ? String(round + 1) : ''].filter(Boolean).join(' ');
}

/**
 * Which few items have a null Trakt tmdb id or are missing on TMDB. A low-discrepancy
 * sequence keeps the share close to the requested fraction even for small datasets.
 */
export function tmdbStatusFor(seed: string, kind: 'movie' | 'show', index: number, fractions: Fractions): TmdbStatus {
  const u = (unit(seed, kind, 'tmdb-status') + (index + 1) * GOLDEN) % 1;
  if (u < fractions.nullTmdb) return 'null_tmdb';
  if (u < fractions.nullTmdb + fractions.missingOnTmdb) return 'missing';
  return 'ok';
}

function imagePath(...parts: Array<string | number>): string {
  return `/${hash32(...parts).toString(36)}${hash32('img', ...parts).toString(36)}.jpg`;
}

function pickGenres(...parts: Array<string | number>): string[] {
  const a = GENRES[hash32(...parts, 'g1') % GENRES.length] ?? 'drama';
  const b = GENRES[hash32(...parts, 'g2') % GENRES.length] ?? 'drama';
  return a === b ? [a] : [a, b];
}

function date(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function generateMovie(seed: string, index: number, fractions: Fractions): CatalogMovie {
  const base = idBase(seed) * 1_000_000;
  const name = title(seed, 'movie', index);
  const year = 1960 + (hash32(seed, 'movie-year', index) % 66);
  const status = tmdbStatusFor(seed, 'movie', index, fractions);
  const tmdbId = base + 200_001 + index;
  const releasedMs = Date.UTC(
    year,
    hash32(seed, 'movie-month', index) % 12,
    1 + (hash32(seed, 'movie-day', index) % 28),
  );
  return {
    traktId: movieTraktId(seed, index),
    slug: `${slugify(name)}-${year}`,
    title: name,
    year,
    imdb: `tt${base + 300_001 + index}`,
    tmdb: status === 'null_tmdb' ? null : tmdbId,
    tmdbRecordId: status === 'missing' ? null : tmdbId,
    tmdbStatus: status,
    runtime: 80 + (hash32(seed, 'movie-runtime', index) % 80),
    genres: pickGenres(seed, 'movie', index),
    overview: `${name} (${year}) is a seeded simulator film number ${index + 1}.`,
    released: date(releasedMs),
    rating: Math.round((5 + unit(seed, 'movie-rating', index) * 4) * 1000) / 1000,
    votes: hash32(seed, 'movie-votes', index) % 50_000,
    posterPath: imagePath(seed, 'movie-poster', index),
    backdropPath: imagePath(seed, 'movie-backdrop', index),
  };
}

export function generateShow(
  seed: string,
  index: number,
  seasons: number,
  episodesPerSeason: number,
  fractions: Fractions,
): CatalogShow {
  const base = idBase(seed) * 1_000_000;
  const name = title(seed, 'show', index);
  const year = 1995 + (hash32(seed, 'show-year', index) % 28);
  const status = tmdbStatusFor(seed, 'show', index, fractions);
  const traktId = showTraktId(seed, index);
  const tmdbId = base + 800_001 + index;
  const tvdb = base + 900_001 + index;
  const firstAired = Date.UTC(year, hash32(seed, 'show-month', index) % 12, 5, 1, 0, 0);
  const hasImdb = unit(seed, 'show-imdb', index) >= 0.1 || status === 'missing';
  const seasonList: CatalogSeason[] = [];
  for (let s = 1; s <= seasons; s++) {
    const seasonStart = firstAired + (s - 1) * 365 * DAY_MS;
    const episodes: CatalogEpisode[] = [];
    for (let e = 1; e <= episodesPerSeason; e++) {
      const local = s * 100 + e;
      const episodeTmdb = tmdbId * 10_000 + local;
      episodes.push({
        traktId: traktId * 10_000 + local,
        showTraktId: traktId,
        season: s,
        number: e,
        title: `Episode ${e}: ${NOUNS[hash32(seed, 'ep-title', index, local) % NOUNS.length] ?? 'Echo'}`,
        tvdb: tvdb * 10_000 + local,
        imdb: unit(seed, 'ep-imdb', index, local) < 0.2 ? null : `tt${traktId * 10_000 + local + 7}`,
        tmdb: status === 'null_tmdb' ? null : episodeTmdb,
        tmdbRecordId: status === 'missing' ? null : episodeTmdb,
        overview: `Season ${s}, episode ${e} of ${name}.`,
        runtime: 25 + (hash32(seed, 'show-runtime', index) % 35),
        firstAired: seasonStart + (e - 1) * 7 * DAY_MS,
        stillPath: imagePath(seed, 'still', index, local),
        rating: Math.round((6 + unit(seed, 'ep-rating', index, local) * 3.5) * 1000) / 1000,
      });
    }
    seasonList.push({
      number: s,
      tmdbRecordId: status === 'missing' ? null : tmdbId * 100 + s,
      posterPath: imagePath(seed, 'season-poster', index, s),
      airDate: seasonStart,
      episodes,
    });
  }
  return {
    traktId,
    slug: `${slugify(name)}-${year}`,
    title: name,
    year,
    imdb: hasImdb ? `tt${base + 600_001 + index}` : null,
    tvdb,
    tmdb: status === 'null_tmdb' ? null : tmdbId,
    tmdbRecordId: status === 'missing' ? null : tmdbId,
    tmdbStatus: status,
    airedEpisodes: seasons * episodesPerSeason,
    runtime: 25 + (hash32(seed, 'show-runtime', index) % 35),
    genres: pickGenres(seed, 'show', index),
    overview: `${name} is a seeded simulator series number ${index + 1}.`,
    network: NETWORKS[hash32(seed, 'network', index) % NETWORKS.length] ?? 'HBO',
    status: unit(seed, 'show-status', index) < 0.5 ? 'ended' : 'returning series',
    firstAired,
    rating: Math.round((6 + unit(seed, 'show-rating', index) * 3) * 1000) / 1000,
    votes: hash32(seed, 'show-votes', index) % 30_000,
    posterPath: imagePath(seed, 'show-poster', index),
    backdropPath: imagePath(seed, 'show-backdrop', index),
    seasons: seasonList,
  };
}

export interface HistoryOptions {
  seed: string;
  playsPerItem: number;
  rewatchFraction: number;
  historyStart: number;
  historyEnd: number;
}

export interface SeedPlay {
  type: 'movie' | 'episode';
  traktId: number;
  watchedAt: number;
  action: PlayAction;
}

export interface SeedReset {
  showTraktId: number;
  resetAt: number;
}

export interface SeedPlayback {
  type: 'movie' | 'episode';
  traktId: number;
  progress: number;
  pausedAt: number;
}

export interface SeedHistory {
  /** Chronological (oldest first); history ids are assigned in this order. */
  plays: SeedPlay[];
  resets: SeedReset[];
  playback: SeedPlayback[];
}

function actionFor(...parts: Array<string | number>): PlayAction {
  const u = unit(...parts);
  return u < 0.7 ? 'scrobble' : u < 0.9 ? 'watch' : 'checkin';
}

const second = (ms: number): number => Math.floor(ms / 1000) * 1000;

/**
 * Seeded watch history for one account: every movie is watched `playsPerItem` times (plus one
 * rewatch for a `rewatchFraction` share); every show is watched through (a quarter only half-way),
 * and a `rewatchFraction` share of shows is reset and partly rewatched afterwards.
 */
export function generateHistory(options: HistoryOptions, movies: CatalogMovie[], shows: CatalogShow[]): SeedHistory {
  const { seed, playsPerItem, rewatchFraction, historyStart, historyEnd } = options;
  const span = historyEnd - historyStart;
  const plays: SeedPlay[] = [];
  const resets: SeedReset[] = [];

  movies.forEach((movie, i) => {
    const count = playsPerItem + (unit(seed, 'movie-rewatch', i) < rewatchFraction ? 1 : 0);
    let t = historyStart + span * 0.9 * unit(seed, 'movie-first', i);
    for (let p = 0; p < count; p++) {
      plays.push({
        type: 'movie',
        traktId: movie.traktId,
        watchedAt: second(t),
        action: actionFor(seed, 'movie-action', i, p),
      });
      t += (historyEnd - t) * 0.5 * unit(seed, 'movie-gap', i, p) + 60_000;
    }
  });

  shows.forEach((show, i) => {
    const episodes = show.seasons.flatMap((s) => s.episodes);
    if (episodes.length === 0) return;
    const watched = unit(seed, 'show-partial', i) < 0.25 ? episodes.slice(0, Math.ceil(episodes.length / 2)) : episodes;
    const rewatch = unit(seed, 'show-rewatch', i) < rewatchFraction;
    const rewatched = rewatch ? watched.slice(0, Math.ceil(watched.length / 3)) : [];
    const steps = watched.length * playsPerItem + (rewatch ? 1 + rewatched.length : 0);
    const start = historyStart + span * 0.6 * unit(seed, 'show-first', i);
    const step = Math.min(2 * DAY_MS, (historyEnd - start) / (steps + 1));
    let j = 0;
    const at = (): number => second(start + step * j + step * 0.5 * unit(seed, 'show-jitter', i, j++));
    watched.forEach((episode, e) => {
      for (let p = 0; p < playsPerItem; p++) {
        plays.push({
          type: 'episode',
          traktId: episode.traktId,
          watchedAt: at(),
          action: actionFor(seed, 'ep-action', i, e, p),
        });
      }
    });
    if (rewatch) {
      resets.push({ showTraktId: show.traktId, resetAt: at() });
      rewatched.forEach((episode, e) => {
        plays.push({
          type: 'episode',
          traktId: episode.traktId,
          watchedAt: at(),
          action: actionFor(seed, 'rewatch-action', i, e),
        });
      });
    }
  });

  plays.sort((a, b) => a.watchedAt - b.watchedAt || a.traktId - b.traktId);

  const playback: SeedPlayback[] = [];
  movies.slice(-2).forEach((movie, k) => {
    playback.push({
      type: 'movie',
      traktId: movie.traktId,
      progress: Math.round((5 + unit(seed, 'pb-movie', k) * 85) * 100) / 100,
      pausedAt: second(historyEnd - (k + 1) * 3_600_000),
    });
  });
  shows.slice(0, 2).forEach((show, k) => {
    const episode = show.seasons.at(-1)?.episodes.at(-1);
    if (!episode) return;
    playback.push({
      type: 'episode',
      traktId: episode.traktId,
      progress: Math.round((5 + unit(seed, 'pb-episode', k) * 85) * 100) / 100,
      pausedAt: second(historyEnd - (k + 3) * 3_600_000),
    });
  });
  return { plays, resets, playback };
}
