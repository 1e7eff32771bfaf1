/**
 * @module
 * What `GET /trakt/auth-status/` says for a connection row (pure: the row, the authorize URL and `now`
 * in; the answer out), from the one set of connection-status rules (`connectionView`). Shared by the
 * API's route and NowPlaying's (src/nowplaying/); the table of states is in STORAGE.md ("What
 * GET /trakt/auth-status/ answers").
 */
import { APP_REJECTED } from './client';
import { type ConnectionState, connectionView } from './connections';
import type { AuthStatusOutput } from './schemas';

export function authStatusView(row: ConnectionState | undefined, authUrl: string, now: number): AuthStatusOutput {
  const view = connectionView(row, now);
  if (view.state === 'not_connected') return { authenticated: false, auth_url: authUrl };
  if (view.state === 'reauthorization_required') {
    return { authenticated: false, auth_url: authUrl, reason: 'reauthorization_required' };
  }
  if (view.state === 'app_rejected') {
    // Trakt rejects the app itself: nothing works with it, though every token is kept.
    return { authenticated: false, auth_url: authUrl, reason: 'app_rejected', message: APP_REJECTED };
  }
  if (view.worksUntil) {
    // Trakt refused the refresh token; the access token works until it expires (or Trakt rejects it).
    return {
      authenticated: true,
      token_expired: false,
      expires_at: view.expiresAt,
      warning: 'reauthorization_required_soon',
      works_until: view.worksUntil,
      auth_url: authUrl,
    };
  }
  if (view.credentialsRejected) {
    // Every token is kept: once the client id/secret are fixed, the next refresh restores the connection.
    if (view.tokenExpired) return { authenticated: false, auth_url: authUrl, reason: 'client_credentials_rejected' };
    return {
      authenticated: true,
      token_expired: false,
      expires_at: view.expiresAt,
      reason: 'client_credentials_rejected',
    };
  }
  return { authenticated: true, token_expired: view.tokenExpired, expires_at: view.expiresAt };
}
