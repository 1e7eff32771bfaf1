/**
 * @module
 * The one HTTP client for TMDB v3. Auth: a v4 read-access token goes in the Authorization header
 * (kept out of URLs and logs); a v3 key can only go in `?api_key=`. Retries, timeouts and 429
 * handling come from upstream/policy.ts; a 404 is an answer ("not on TMDB"), not an error.
 */
import { optionalSecret } from '../config';
import { ApiError } from '../http/errors';
import { tmdbGate } from '../pacing/gate';
import {
  countedFetch,
  defaultDeps,
  type RequestCount,
  type RetryPolicy,
  readJson,
  requestWithRetry,
  timeoutMs,
  type UpstreamDeps,
} from '../upstream/policy';
import { USER_AGENT } from '../version';

const SERVICE = 'TMDB';

export type TmdbMovie = {
  id: number;
  title?: string;
  poster_path?: string | null;
  backdrop_path?: string | null;
  overview?: string | null;
  vote_average?: number | null;
  runtime?: number | null;
  genres?: Array<{ id: number; name: string }>;
};
export type TmdbShow = {
  id: number;
  name?: string;
  poster_path?: string | null;
  backdrop_path?: string | null;
  overview?: string | null;
  vote_average?: number | null;
  episode_run_time?: number[];
  genres?: Array<{ id: number; name: string }>;
  /** `Returning Series`, `Ended`, `Canceled`, … (the calendar of upcoming episodes). */
  status?: string | null;
  next_episode_to_air?: {
    season_number: number;
    episode_number: number;
    name?: string | null;
    overview?: string | null;
    air_date?: string | null;
  } | null;
};
export type TmdbSeason = {
  episodes?: Array<{
    episode_number: number;
    name?: string | null;
    overview?: string | null;
    still_path?: string | null;
    vote_average?: number | null;
    runtime?: number | null;
    air_date?: string | null;
  }>;
};
export type TmdbFind = { movie_results?: Array<{ id: number }>; tv_results?: Array<{ id: number }> };

/**
 * A TMDB key the user stored that exists but cannot be opened (its encryption key was removed from
 * ENCRYPTION_KEYS): enrichment reports `tmdb_key_unreadable` instead of acting as if no key were stored,
 * and does not fall back to the deployment's key behind the user's back.
 */
export const UNREADABLE_TMDB_KEY = { unreadable: true } as const;

/** The key enrichment runs with: a key, an unreadable stored one, or none. */
export type TmdbKey = string | typeof UNREADABLE_TMDB_KEY | undefined;

/** The TMDB key a user's calls use: their own (POST /users/api-keys/), else the deployment's TMDB_API_KEY. */
export function tmdbKeyOf(env: Env, keys: { tmdb?: { secret: string }; unreadable?: readonly string[] }): TmdbKey {
  if (keys.tmdb) return keys.tmdb.secret;
  if (keys.unreadable?.includes('tmdb')) return UNREADABLE_TMDB_KEY;
  return optionalSecret(env.TMDB_API_KEY);
}

/** v4 read tokens are JWTs; v3 keys are 32 hex characters. */
export function isReadAccessToken(key: string): boolean {
  return key.startsWith('eyJ') || key.split('.').length === 3;
}

export class TmdbClient {
  private readonly policy: RetryPolicy;
  private readonly deps: UpstreamDeps;
  /** Calls made by this client (enrichment budgets on it); retries are not counted here. */
  calls = 0;
  /** HTTP requests sent (retries included) and the cap on them: the subrequests this client may use. */
  private readonly count: RequestCount;

  /**
   * `maxRequests`: a hard cap on the requests (retries included) this client may send, so that an
   * invocation never exceeds its subrequest budget even when TMDB fails and every call is retried.
   * Past it, calls fail at once with `upstream_unavailable`.
   */
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    policy: Partial<RetryPolicy> = {},
    deps: Partial<UpstreamDeps> = {},
    maxRequests = Number.POSITIVE_INFINITY,
  ) {
    this.policy = { maxAttempts: 3, baseDelayMs: 250, maxInlineWaitSeconds: 3, timeoutMs: 10_000, ...policy };
    this.count = { sent: 0, max: maxRequests };
    const base = { ...defaultDeps(), ...deps };
    this.deps = { ...base, fetch: countedFetch(base.fetch, this.count, SERVICE) };
  }

  /** HTTP requests sent, retries included: the subrequests this client has used. */
  get requests(): number {
    return this.count.sent;
  }

  static fromEnv(env: Env, apiKey: string, maxRequests?: number): TmdbClient {
    return new TmdbClient(
      env.TMDB_API_URL,
      apiKey,
      { timeoutMs: timeoutMs(env) },
      { gate: tmdbGate(env, apiKey) },
      maxRequests,
    );
  }

  /** GET a path under /3; undefined when TMDB answers 404. */
  async get<T>(path: string, query: Record<string, string> = {}): Promise<T | undefined> {
    const url = new URL(`${this.baseUrl.replace(/\/$/, '')}${path}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const headers = new Headers({ Accept: 'application/json', 'User-Agent': USER_AGENT });
    if (isReadAccessToken(this.apiKey)) headers.set('Authorization', `Bearer ${this.apiKey}`);
    else url.searchParams.set('api_key', this.apiKey);
    this.calls += 1;
    const response = await requestWithRetry(SERVICE, url.toString(), { headers }, this.policy, this.deps);
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (response.status === 401) {
      await response.body?.cancel();
      throw new ApiError(
        502,
        'TMDB rejected the API key; store a valid one with POST /users/api-keys/ (service_name "tmdb")',
      );
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new ApiError(502, `TMDB answered with unexpected HTTP ${response.status}`, {
        code: 'upstream_unavailable',
      });
    }
    return readJson<T>(SERVICE, response);
  }

  movie(id: number) {
    return this.get<TmdbMovie>(`/movie/${id}`);
  }
  show(id: number) {
    return this.get<TmdbShow>(`/tv/${id}`);
  }
  season(showId: number, seasonNumber: number) {
    return this.get<TmdbSeason>(`/tv/${showId}/season/${seasonNumber}`);
  }
  find(externalId: string, source: 'imdb_id' | 'tvdb_id') {
    return this.get<TmdbFind>(`/find/${encodeURIComponent(externalId)}`, { external_source: source });
  }
}
