/**
 * @module state
 * The simulator's in-memory state: configuration, OAuth apps and grants, accounts with their
 * plays, the shared title catalog, faults and the request log. One `SimulatorState` object
 * per simulator instance; `resetState` empties it in place so route closures keep working.
 */
import type { CatalogEpisode, CatalogMovie, CatalogShow, PlayAction } from './dataset';
import type { WindowState } from './rate-limit';

export interface SimConfig {
  /** What `/oauth/authorize` does: redirect with a code, or with `error=access_denied`. */
  authorize_mode: 'approve' | 'deny';
  /** `expires_in` of issued access tokens (seconds). */
  expires_in: number;
  /** Added to `created_at` of issued tokens (seconds; negative = issued in the past). */
  created_at_offset_seconds: number;
  /** Absolute `created_at` (unix seconds) for issued tokens; overrides the clock when set. */
  created_at: number | null;
  /**
   * Trakt GET requests allowed per user (account) per window, whichever token or app sends them: 500 per
   * 5 minutes since October 2026 (trakt/trakt-api #909, Trakt's rate-limiting docs).
   */
  trakt_get_limit: number;
  trakt_window_seconds: number;
  /** TMDB requests allowed per key per second. */
  tmdb_rps: number;
  /** Device codes: lifetime and minimum polling interval (seconds). */
  device_expires_in: number;
  device_interval: number;
  /** A TMDB key accepted without registration (null disables it). */
  tmdb_default_key: string | null;
  /**
   * Serve only under this path prefix (e.g. `/trakt-proxy`), as an upstream behind a path-routing
   * proxy would: `/trakt-proxy/oauth/token` reaches `/oauth/token`, and a request without the prefix
   * gets 404. null serves at the root. Admin `/_sim/*` paths are never prefixed.
   */
  path_prefix: string | null;
}

export const DEFAULT_CONFIG: SimConfig = {
  authorize_mode: 'approve',
  expires_in: 86_400,
  created_at_offset_seconds: 0,
  created_at: null,
  trakt_get_limit: 500,
  trakt_window_seconds: 300,
  tmdb_rps: 40,
  device_expires_in: 600,
  device_interval: 5,
  tmdb_default_key: 'sim-tmdb-key',
  path_prefix: null,
};

/** Authorization codes live 10 minutes. */
export const CODE_TTL_MS = 600_000;

export interface TraktApp {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface AuthCode {
  code: string;
  clientId: string;
  redirectUri: string;
  username: string;
  expiresAt: number;
  used: boolean;
  /** PKCE (RFC 7636, S256): the challenge sent on authorize; the exchange must send its verifier. */
  codeChallenge: string | null;
}

export interface TokenRecord {
  accessToken: string;
  refreshToken: string;
  clientId: string;
  username: string;
  /** Unix seconds, as reported in the token response. */
  createdAt: number;
  expiresIn: number;
  /** Revoked, rotated away by a refresh, or force-expired. */
  revoked: boolean;
  forcedExpired: boolean;
  refreshUsed: boolean;
}

export type DeviceStatus = 'pending' | 'approved' | 'denied' | 'used';

export interface DeviceGrant {
  deviceCode: string;
  userCode: string;
  clientId: string;
  expiresAt: number;
  interval: number;
  status: DeviceStatus;
  username: string | null;
  lastPollAt: number | null;
}

export interface Play {
  /** Unique history id (below 2^53). */
  id: number;
  type: 'movie' | 'episode';
  /** Movie trakt id or episode trakt id. */
  traktId: number;
  watchedAt: number;
  action: PlayAction;
}

export interface PlaybackEntry {
  id: number;
  type: 'movie' | 'episode';
  traktId: number;
  progress: number;
  pausedAt: number;
}

export interface Watching {
  type: 'movie' | 'episode';
  traktId: number;
  action: 'scrobble' | 'checkin';
  startedAt: number;
  expiresAt: number;
}

/** `/sync/last_activities` groups and keys (ms timestamps); `all` is derived. */
export type Activities = Record<string, Record<string, number>>;

export interface Account {
  username: string;
  slug: string;
  seed: string;
  createdAt: number;
  /** Titles of the account's seeded dataset (trakt ids), for `/_sim/accounts/:username/catalog`. */
  movieIds: number[];
  showIds: number[];
  plays: Map<number, Play>;
  /** show trakt id → reset_at (ms). */
  resets: Map<number, number>;
  playback: Map<number, PlaybackEntry>;
  watching: Watching | null;
  activities: Activities;
  /** `movie:<id>` / `show:<id>` → last time its plays changed (watched `last_updated_at`). */
  itemUpdatedAt: Map<string, number>;
  /** Bumped on every change; derived views are cached per version. */
  version: number;
}

export interface Catalog {
  movies: Map<number, CatalogMovie>;
  shows: Map<number, CatalogShow>;
  episodes: Map<number, CatalogEpisode>;
  tmdbMovies: Map<number, CatalogMovie>;
  tmdbShows: Map<number, CatalogShow>;
  tmdbEpisodes: Map<number, CatalogEpisode>;
  imdb: Map<
    string,
    | { kind: 'movie'; item: CatalogMovie }
    | { kind: 'show'; item: CatalogShow }
    | { kind: 'episode'; item: CatalogEpisode }
  >;
  tvdb: Map<number, { kind: 'show'; item: CatalogShow } | { kind: 'episode'; item: CatalogEpisode }>;
}

export type FaultKind =
  | '500'
  | '502'
  | '503'
  | '520'
  | '429'
  | '401'
  | '403'
  | '423'
  | '426'
  | '420'
  | 'hang'
  | 'malformed_json'
  | 'html_error'
  | 'invalid_client'
  | 'process_then_502'
  | 'hold'
  | 'process_then_hold';

export interface Fault {
  id: number;
  method: string | null;
  pathPrefix: string | null;
  pathRegex: RegExp | null;
  host: string | null;
  query: Record<string, string>;
  remaining: number;
  /** Matching requests let through before the fault starts answering ("fail the 40th page"). */
  after: number;
  kind: FaultKind;
  retryAfter: number | null;
  status: number | null;
}

export interface RequestLogEntry {
  method: string;
  host: string;
  path: string;
  /** Query parameters with secrets (api_key, codes, tokens) redacted. */
  query: Record<string, string>;
  template: string;
  status: number;
  time: string;
  duration_ms: number;
  /** `bearer` / `api_key` / null, and a redacted prefix of the credential. */
  auth: string | null;
  trakt_api_key: string | null;
  trakt_api_version: string | null;
  user_agent: string | null;
  fault: FaultKind | null;
}

export interface SimulatorState {
  config: SimConfig;
  /** Added to the injected clock (admin `/_sim/clock`). */
  clockOffsetMs: number;
  apps: Map<string, TraktApp>;
  tmdbKeys: Set<string>;
  accounts: Map<string, Account>;
  sessionUsername: string | null;
  catalog: Catalog;
  codes: Map<string, AuthCode>;
  tokens: Map<string, TokenRecord>;
  refreshTokens: Map<string, TokenRecord>;
  devices: Map<string, DeviceGrant>;
  /** Per-user (username) windows of the GET limit. */
  traktWindows: Map<string, WindowState>;
  tmdbWindows: Map<string, WindowState>;
  /** Upcoming episodes set with `/_sim/tmdb/schedule` (TMDB show id → episodes), overriding the default one. */
  tmdbSchedules: Map<number, Array<{ season: number; number: number; airDate: string; name: string }>>;
  faults: Fault[];
  nextFaultId: number;
  /** Releases requests currently held by a `hang` fault. */
  hanging: Set<() => void>;
  /** Requests held by a `hold`/`process_then_hold` fault right now… */
  held: number;
  /** …and the release counter they wait on (`/_sim/faults/release` and reset add one). */
  releases: number;
  /** How often each refresh token was sent to `/oauth/token` (Trakt spends it on the first use). */
  refreshTokenSends: Map<string, number>;
  requestLog: RequestLogEntry[];
  counters: Map<string, number>;
  /** Ids for plays/playback created at runtime (above every seeded id, below 2^53). */
  nextPlayId: number;
}

export const RUNTIME_ID_START = 8_000_000_000_000_000;
/** Oldest request-log entries are dropped beyond this many. */
export const REQUEST_LOG_LIMIT = 10_000;

export function emptyCatalog(): Catalog {
  return {
    movies: new Map(),
    shows: new Map(),
    episodes: new Map(),
    tmdbMovies: new Map(),
    tmdbShows: new Map(),
    tmdbEpisodes: new Map(),
    imdb: new Map(),
    tvdb: new Map(),
  };
}

export function initialState(): SimulatorState {
  return {
    config: { ...DEFAULT_CONFIG },
    clockOffsetMs: 0,
    apps: new Map(),
    tmdbKeys: new Set(),
    accounts: new Map(),
    sessionUsername: null,
    catalog: emptyCatalog(),
    codes: new Map(),
    tokens: new Map(),
    refreshTokens: new Map(),
    devices: new Map(),
    traktWindows: new Map(),
    tmdbWindows: new Map(),
    tmdbSchedules: new Map(),
    faults: [],
    nextFaultId: 1,
    hanging: new Set(),
    held: 0,
    releases: 0,
    refreshTokenSends: new Map(),
    requestLog: [],
    counters: new Map(),
    nextPlayId: RUNTIME_ID_START,
  };
}

/** Empties the state in place (releasing any hanging requests). */
export function resetState(state: SimulatorState): void {
  for (const release of state.hanging) release();
  const releases = state.releases + 1; // wakes every held request of the old state
  Object.assign(state, initialState(), { releases });
}

/** Everything a route module needs: the state and the (offset) clock. */
export interface SimContext {
  state: SimulatorState;
  now: () => number;
}

export function registerMovie(catalog: Catalog, movie: CatalogMovie): CatalogMovie {
  const existing = catalog.movies.get(movie.traktId);
  if (existing) return existing;
  catalog.movies.set(movie.traktId, movie);
  if (movie.tmdbRecordId !== null) catalog.tmdbMovies.set(movie.tmdbRecordId, movie);
  if (movie.tmdbStatus !== 'missing') catalog.imdb.set(movie.imdb, { kind: 'movie', item: movie });
  return movie;
}

export function registerShow(catalog: Catalog, show: CatalogShow): CatalogShow {
  const existing = catalog.shows.get(show.traktId);
  if (existing) return existing;
  catalog.shows.set(show.traktId, show);
  const onTmdb = show.tmdbRecordId !== null;
  if (onTmdb && show.tmdbRecordId !== null) catalog.tmdbShows.set(show.tmdbRecordId, show);
  if (onTmdb) {
    catalog.tvdb.set(show.tvdb, { kind: 'show', item: show });
    if (show.imdb) catalog.imdb.set(show.imdb, { kind: 'show', item: show });
  }
  for (const season of show.seasons) {
    for (const episode of season.episodes) {
      catalog.episodes.set(episode.traktId, episode);
      if (episode.tmdbRecordId !== null) catalog.tmdbEpisodes.set(episode.tmdbRecordId, episode);
      if (onTmdb) {
        catalog.tvdb.set(episode.tvdb, { kind: 'episode', item: episode });
        if (episode.imdb) catalog.imdb.set(episode.imdb, { kind: 'episode', item: episode });
      }
    }
  }
  return show;
}

/** An admin-API error with its HTTP status; mapped to `{error, message}` by the admin router. */
export class SimError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}
