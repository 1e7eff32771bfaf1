/**
 * @module
 * The one router for the `/trakt` prefix. Every `/trakt/*` URL is composed here:
 * - the connection (auth status, OAuth, device flow, refresh, disconnect): `./connection.routes.ts`;
 * - the browser helper page: `./oauth-helper.routes.ts`;
 * - the watch history (sync, stored reads, sync status): `../history/routes.ts`.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { historyRoutes } from '../history/routes';
import { connectionRoutes } from './connection.routes';
import { oauthHelperRoutes } from './oauth-helper.routes';

export const traktRoutes = new Hono<AppEnv>()
  .route('/', connectionRoutes)
  .route('/', oauthHelperRoutes)
  .route('/', historyRoutes);
