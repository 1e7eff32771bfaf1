/**
 * @module
 * The NowPlaying compatibility layer, mounted at `/api` (src/app.ts): the requests NowPlaying's own clients
 * make (MikeGonzaBar/NowPlaying: its web app, which prefixes every path with `VITE_API_BASE_URL`, `/api` by
 * default; its OAuth setup script, given `<host>/api` as its server), answered in the shapes they read,
 * over this API's services. No query lives here: each route maps a request onto a service and its answer
 * onto NowPlaying's shape. The API's own endpoints at the root keep their shapes; NowPlaying's helper page
 * and the Trakt redirect URI use those root routes.
 * - `/api/users/*`, and `/api/auth/login/` for the setup script: ./accounts.routes.ts;
 * - `/api/trakt/*`: the connection (./connect.routes.ts) and the library (./library.routes.ts);
 * - errors as NowPlaying reads them (401 only for the JWT, `error` and `detail`): ./errors.ts.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { npAccountRoutes, npLoginRoutes } from './accounts.routes';
import { npConnectRoutes } from './connect.routes';
import { npErrors } from './errors';
import { npLibraryRoutes } from './library.routes';

export const nowPlayingRoutes = new Hono<AppEnv>()
  .use(npErrors)
  .route('/users', npAccountRoutes)
  .route('/auth', npLoginRoutes)
  .route('/trakt', npConnectRoutes)
  .route('/trakt', npLibraryRoutes);
