/**
 * @module
 * The dashboard's calls to this API, typed by the contract (./types.ts). The session they run in is the pages'
 * shared one (src/web/shared/browser/session.ts): the JWT pair in sessionStorage under the keys the OAuth helper
 * page (src/web/oauth-helper/client.ts) reads too, so a user signed in here is signed in there; a 401 renews the
 * access JWT once; and GETs are conditional: each answer's ETag is kept with its body, sent back as
 * `If-None-Match`, and a `304` reuses the kept body.
 */
import type { TokenPairOutput } from '../../../users/schemas';
import { Session } from '../../shared/browser/session';
import type {
  AuthStatus,
  HistoryPage,
  Me,
  SeasonsEpisodes,
  StatsAnswer,
  StoredMovies,
  StoredShows,
  SyncStatus,
} from './types';

export { ApiFailure } from '../../shared/browser/session';

export class Api {
  private readonly session: Session;
  /** Whether this page has made sure the account's stats zone is the browser's (see `stats`). */
  private statsZoneChecked = false;

  constructor(onSignedOut: (reason: string) => void) {
    this.session = new Session({
      conditional: true,
      onSignedOut: (reason) => {
        this.statsZoneChecked = false;
        onSignedOut(reason);
      },
    });
  }

  get signedIn(): boolean {
    return this.session.signedIn;
  }

  get username(): string | null {
    return this.session.username;
  }

  async signIn(username: string, password: string): Promise<void> {
    const tokens = await this.send<TokenPairOutput>('POST', '/users/token/', { username, password });
    this.session.start({ access: tokens.access, refresh: tokens.refresh, username });
  }

  async register(username: string, password: string): Promise<void> {
    await this.send('POST', '/users/register/', { username, password });
    await this.signIn(username, password);
  }

  signOut(): void {
    this.statsZoneChecked = false;
    this.session.signOut();
  }

  /** A call that changes something; answers with the JSON body (or null for 204). */
  send<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    return this.session.send<T>(method, path, body);
  }

  sendWithStatus<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    return this.session.sendWithStatus<T>(method, path, body);
  }

  authStatus = () => this.session.get<AuthStatus>('/trakt/auth-status/');
  syncStatus = () => this.session.get<SyncStatus>('/trakt/sync-status/');
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
        const me = await this.session.get<Me>('/users/me/');
        if (me.time_zone !== zone && zone !== 'UTC') await this.send('PATCH', '/users/me/', { time_zone: zone });
      } catch {
        // The stats below are exact either way.
      }
    }
    return this.session.get<StatsAnswer>(`/trakt/stats/?tz=${encodeURIComponent(zone)}`);
  };
  history = (query: URLSearchParams) => this.session.get<HistoryPage>(`/trakt/history/?${query}`);
  storedMovies = (query: URLSearchParams) => this.session.get<StoredMovies>(`/trakt/get-stored-movies/?${query}`);
  storedShows = (query: URLSearchParams) => this.session.get<StoredShows>(`/trakt/get-stored-shows/?${query}`);
  seasonsEpisodes = (traktId: number) =>
    this.session.get<SeasonsEpisodes>(`/trakt/get-watched-seasons-episodes/?trakt_id=${traktId}`);
}

/** The browser's IANA time zone, for the weekday × hour grid and the calendar. */
export function timeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}
