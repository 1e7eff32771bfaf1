/**
 * @module
 * The shapes of the API answers the dashboard reads (see the OpenAPI document at /openapi.json). Only the fields
 * the dashboard shows are listed; optional ones are read defensively.
 */

export type Ids = { trakt?: number | null; tmdb?: number | null; imdb?: string | null; slug?: string | null };
export type Title = { title: string; year: number | null; image_url: string | null; ids: Ids };

export type AuthStatus = {
  authenticated: boolean;
  auth_url?: string;
  reason?: string;
  warning?: string;
  expires_at?: string;
};

export type KindProgress = { phase?: string; pages_done?: number; pages_known?: number | null; plays_stored?: number };

export type SyncStatus = {
  connected: boolean;
  status: string;
  last_sync_at: string | null;
  last_error: string | null;
  next_sync_at: string | null;
  in_progress: boolean;
  counts: { movies: number; shows: number; episodes: number; plays: number };
  /** One entry per kind whose sync is under way (a long first sync runs in chunks). */
  progress?: Partial<Record<'movies' | 'shows', KindProgress>>;
  /** Background work stopped for the day's database budget, until then. */
  paused_until?: string | null;
  paused_reason?: string | null;
  /** TMDB artwork still to come. */
  enrichment?: { pending_titles: number; pending_seasons: number; last_run_at: string | null };
};

export type MoviePlay = {
  id: number;
  watched_at: string;
  action: string;
  type: 'movie';
  movie: Title & { plays?: number };
};
export type EpisodePlay = {
  id: number;
  watched_at: string;
  action: string;
  type: 'episode';
  show: Title;
  episode: { season: number; number: number; title: string | null; ids: Ids; plays?: number };
};
export type HistoryItem = MoviePlay | EpisodePlay;
export type HistoryPage = { items: HistoryItem[]; next_cursor: string | null };

export type Totals = { watched: number; plays: number; minutes: number };
export type StatsAnswer = {
  movies: Totals;
  episodes: Totals;
  shows: { watched: number };
  first_play_at: string | null;
  last_play_at: string | null;
  by_month: Array<{ month: string; plays: number; minutes: number }>;
  by_day?: Array<{ date: string; plays: number }>;
  by_weekday_hour: number[][];
  top_genres: Array<{ name: string; plays: number }>;
};

type Page = { page: number; page_size: number; total_items: number; total_pages: number };
export type StoredMovie = { plays: number; last_watched_at: string; movie: Title };
export type StoredShow = { plays?: number; last_watched_at: string; show: Title & { id: number } };
export type StoredMovies = Page & { movies: StoredMovie[] };
export type StoredShows = Page & { shows: StoredShow[] };

export type Episode = {
  id: number;
  episode_number: number;
  title: string | null;
  image_url: string | null;
  season__season_number: number;
  show__title: string;
  last_watched_at: string | null;
  progress: number | null;
  plays?: number;
};
export type SeasonsEpisodes = {
  seasons: Array<{ id: number; season_number: number; show__title: string }>;
  episodes: Episode[];
};
