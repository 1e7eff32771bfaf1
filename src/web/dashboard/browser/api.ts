/**
 * @module
 * The dashboard's calls to this API (same origin): the JWT pair lives in sessionStorage under the same key as the
 * OAuth helper page's, so a user signed in here is signed in there. GETs are conditional: each answer's ETag is
 * kept with its body, sent back as `If-None-Match`, and a `304` reuses the kept body.
 */
import type {
  AuthStatus,
  HistoryPage,
  SeasonsEpisodes,
  StatsAnswer,
  StoredMovies,
  StoredShows,
  SyncStatus,
} from './types';

/** Shared with the OAuth helper page (src/trakt/oauth-helper-page.ts), which reads the same key. */
export const ACCESS_KEY = 'trakt-oauth-helper.access';
const REFRESH_KEY = 'trakt-dashboard.refresh';
const USER_KEY = 'trakt-dashboard.username';

/** An API answer that was not a success, with the API's own `error` text. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

function stored(key: string): string | null {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function store(key: string, value: string | null): void {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch {
    // Storage disabled: the session lasts as long as the page.
  }
}

export type Session = { access: string; refresh: string | null; username: string | null };

export function loadSession(): Session | null {
  const access = stored(ACCESS_KEY);
  return access ? { access, refresh: stored(REFRESH_KEY), username: stored(USER_KEY) } : null;
}

export function saveSession(session: Session | null): void {
  store(ACCESS_KEY, session?.access ?? null);
  store(REFRESH_KEY, session?.refresh ?? null);
  store(USER_KEY, session?.username ?? null);
}

async function failure(response: Response): Promise<ApiFailure> {
  let message = `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { error?: unknown; detail?: unknown };
    if (typeof body.error === 'string') message = body.error;
    else if (typeof body.detail === 'string') message = body.detail;
  } catch {
    // Not JSON: keep the status line.
  }
  const retryAfter = Number(response.headers.get('Retry-After'));
  return new ApiFailure(response.status, message, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
}

export class Api {
  private readonly etags = new Map<string, { etag: string; body: unknown }>();
  /** Whether this page has made sure the account's stats zone is the browser's (see `stats`). */
  private statsZoneChecked = false;

  constructor(
    private session: Session | null,
    private readonly onSignedOut: (reason: string) => void,
  ) {}

  get signedIn(): boolean {
    return this.session !== null;
  }

  get username(): string | null {
    return this.session?.username ?? null;
  }

  async signIn(username: string, password: string): Promise<void> {
    const tokens = await this.send<{ access: string; refresh: string }>('POST', '/users/token/', {
      username,
      password,
    });
    this.session = { access: tokens.access, refresh: tokens.refresh, username };
    saveSession(this.session);
  }

  async register(username: string, password: string): Promise<void> {
    await this.send('POST', '/users/register/', { username, password });
    await this.signIn(username, password);
  }

  signOut(): void {
    this.session = null;
    this.etags.clear();
    this.statsZoneChecked = false;
    saveSession(null);
  }

  private async request(method: string, path: string, body?: unknown, retried = false): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.session) headers.Authorization = `Bearer ${this.session.access}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const cached = method === 'GET' ? this.etags.get(path) : undefined;
    if (cached) headers['If-None-Match'] = cached.etag;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
    if (response.status === 401 && this.session && !path.startsWith('/users/token')) {
      if (!retried && (await this.renew())) return this.request(method, path, body, true);
      this.signOut();
      this.onSignedOut('Your session has ended; please sign in again.');
    }
    return response;
  }

  /** Trades the refresh JWT for a new access JWT; false when there is none or it was refused. */
  private async renew(): Promise<boolean> {
    const refresh = this.session?.refresh;
    if (!refresh || !this.session) return false;
    const response = await fetch('/users/token/refresh/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ refresh }),
      credentials: 'omit',
    });
    if (!response.ok) return false;
    const { access } = (await response.json()) as { access: string };
    this.session = { ...this.session, access };
    saveSession(this.session);
    return true;
  }

  /** A GET whose answer is reused when the API says it has not changed (304). */
  async get<T>(path: string): Promise<T> {
    const response = await this.request('GET', path);
    if (response.status === 304) {
      const cached = this.etags.get(path);
      if (cached) return cached.body as T;
    }
    if (!response.ok) throw await failure(response);
    const body = (await response.json()) as T;
    const etag = response.headers.get('ETag');
    if (etag) this.etags.set(path, { etag, body });
    return body;
  }

  /** A call that changes something; answers with the JSON body (or null for 204) and the status. */
  async send<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body);
    if (!response.ok) throw await failure(response);
    this.etags.clear();
    return (response.status === 204 ? null : await response.json()) as T;
  }

  async sendWithStatus<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const response = await this.request(method, path, body);
    if (!response.ok) throw await failure(response);
    this.etags.clear();
    return { status: response.status, body: (await response.json()) as T };
  }

  authStatus = () => this.get<AuthStatus>('/trakt/auth-status/');
  syncStatus = () => this.get<SyncStatus>('/trakt/sync-status/');
  /**
   * The stats with the weekday × hour grid in the browser's zone. The first call of a page makes that zone the
   * account's stats zone (PATCH /users/me), whose grid the API keeps, so the read does not go through every play.
   * The setting changes no answer, only which zone is cheap, so a failure to set it is ignored.
   */
  stats = async () => {
    const zone = timeZone();
    if (!this.statsZoneChecked) {
      this.statsZoneChecked = true;
      try {
        const me = await this.get<{ time_zone: string | null }>('/users/me/');
        if (me.time_zone !== zone && zone !== 'UTC') await this.send('PATCH', '/users/me/', { time_zone: zone });
      } catch {
        // The stats below are exact either way.
      }
    }
    return this.get<StatsAnswer>(`/trakt/stats/?tz=${encodeURIComponent(zone)}`);
  };
  history = (query: URLSearchParams) => this.get<HistoryPage>(`/trakt/history/?${query}`);
  storedMovies = (query: URLSearchParams) => this.get<StoredMovies>(`/trakt/get-stored-movies/?${query}`);
  storedShows = (query: URLSearchParams) => this.get<StoredShows>(`/trakt/get-stored-shows/?${query}`);
  seasonsEpisodes = (traktId: number) =>
    this.get<SeasonsEpisodes>(`/trakt/get-watched-seasons-episodes/?trakt_id=${traktId}`);
}

/** The browser's IANA time zone, for the weekday × hour grid and the calendar. */
export function timeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}
