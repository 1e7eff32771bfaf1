/**
 * @module
 * Builds the API once: middleware, routes, the JSON error handler, 404 and 405.
 * The Worker entry and the tests use the same app.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { adminRoutes } from './admin/routes';
import type { AppEnv } from './app-env';
import { corsOrigins, MAX_BODY_BYTES, MAX_IMPORT_BATCH_BYTES, MAX_IMPORT_ZIP_BYTES } from './config';
import { database } from './db/client';
import { docsRoutes } from './docs/routes';
import { healthRoutes } from './health/routes';
import { historyRoutes } from './history/routes';
import { describe } from './http/describe';
import { ApiError, errorBody, handleError } from './http/errors';
import { importRoutes, ZIP_CONTENT_TYPE } from './import/routes';
import { NOWPLAYING_BASE } from './nowplaying/errors';
import { nowPlayingRoutes } from './nowplaying/routes';
import { requestLog } from './observability/request-log';
import { reviewRoutes } from './review/routes';
import { PUBLIC_PREFIX, publicRoutes, sharingSettingsRoutes } from './sharing/routes';
import { CONFIRM_PATH } from './trakt/callback-page';
import { connectionRoutes } from './trakt/connection.routes';
import { oauthHelperRoutes } from './trakt/oauth-helper.routes';
import { usersRoutes } from './users/routes';
import { dashboardRoutes } from './web/dashboard/routes';
import { reviewPageRoutes } from './web/review/routes';
import { webhookRoutes } from './webhooks/routes';

/** The one route that takes a form body: the OAuth callback page's confirmation (src/trakt/callback-page.tsx). */
const FORM_POST_PATH = new RegExp(`^/trakt${CONFIRM_PATH}/?$`);
/** The one route that takes a ZIP body: the export import (src/import/routes.ts). */
const ZIP_POST_PATH = /^\/trakt\/import\/?$/;
const IMPORT_BATCH_PATH = /^\/trakt\/import\/history\/?$/;

const limitOf = (maxSize: number) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, `Request body too large (limit ${maxSize} bytes)`);
    },
  });
const defaultBodyLimit = limitOf(MAX_BODY_BYTES);
const zipBodyLimit = limitOf(MAX_IMPORT_ZIP_BYTES);
const batchBodyLimit = limitOf(MAX_IMPORT_BATCH_BYTES);
/** MAX_BODY_BYTES on every route but the import routes, which take a whole export or 1,000 of its items. */
const bodyLimitFor = (path: string) =>
  ZIP_POST_PATH.test(path) ? zipBodyLimit : IMPORT_BATCH_PATH.test(path) ? batchBodyLimit : defaultBodyLimit;

export function createApp() {
  // strict: false — every path works with and without a trailing slash (the API reference writes `/users/me/`).
  const app = new Hono<AppEnv>({ strict: false });

  app.use(requestId());
  app.use(requestLog);
  // The public answers (/u/…) are made to be embedded: framed (the widget), loaded as images (the card) and read
  // from any origin; everything else keeps the strict defaults.
  const strictHeaders = secureHeaders();
  const embeddableHeaders = secureHeaders({ xFrameOptions: false, crossOriginResourcePolicy: 'cross-origin' });
  app.use((c, next) => (c.req.path.startsWith(PUBLIC_PREFIX) ? embeddableHeaders : strictHeaders)(c, next));
  app.use((c, next) =>
    cors({
      origin: c.req.path.startsWith(PUBLIC_PREFIX) ? '*' : corsOrigins(c.env),
      allowHeaders: ['Authorization', 'Content-Type'],
      exposeHeaders: ['X-Request-Id', 'Retry-After', 'ETag'],
      maxAge: 600,
    })(c, next),
  );
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        c.json(errorBody(`Method ${c.req.method} not allowed`), 405, { Allow: methods.join(', ') }),
    }),
  );
  app.use((c, next) => bodyLimitFor(c.req.path)(c, next));

  // Every request body this API accepts is JSON (but the browser's plain-HTML confirmation form and the export
  // ZIP); say so instead of failing validation on an ignored body.
  app.use(async (c, next) => {
    const hasBody = (c.req.header('Content-Length') ?? '0') !== '0' || c.req.header('Transfer-Encoding') !== undefined;
    const type = c.req.header('Content-Type') ?? '';
    const form = FORM_POST_PATH.test(c.req.path) && /^application\/x-www-form-urlencoded\b/i.test(type);
    const zip = ZIP_POST_PATH.test(c.req.path) && ZIP_CONTENT_TYPE.test(type);
    if (hasBody && c.req.method !== 'GET' && !form && !zip && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
      throw new ApiError(415, 'Content-Type must be application/json');
    }
    await next();
  });

  // The drizzle handle for this request, built once from its D1 binding (no module-level singleton).
  app.use(async (c, next) => {
    c.set('db', database(c.env.DB));
    await next();
  });

  // Chained, so the returned app's type carries every route (AppType, for hono/client). `/trakt` is the
  // API reference's prefix for two concerns: the Trakt connection (src/trakt/) and the watch history
  // (src/history/: syncs, stored reads, sync status).
  const routes = app
    .route('/health', healthRoutes)
    .route('/admin', adminRoutes)
    .route('/users', usersRoutes)
    .route('/users/me/sharing', sharingSettingsRoutes)
    .route('/users/me/webhooks', webhookRoutes)
    .route('/trakt', connectionRoutes)
    .route('/trakt', oauthHelperRoutes)
    .route('/trakt', historyRoutes)
    .route('/trakt', importRoutes)
    // NowPlaying's clients (its web app, its setup script), in the shapes they read: src/nowplaying/.
    .route(NOWPLAYING_BASE, nowPlayingRoutes)
    .route('/trakt', reviewRoutes)
    .route('/u', publicRoutes);
  // The web dashboard, and the bare origin redirecting to it (HTML, outside the typed client's routes).
  app.route('/app/review', reviewPageRoutes);
  app.route('/app', dashboardRoutes);
  app.get(
    '/',
    describe({
      summary: 'The dashboard, for a newcomer opening the bare origin',
      tag: 'meta',
      responses: {
        302: { description: 'Redirect to /app/' },
        200: { description: 'The dashboard page (/app/), for a client that follows the redirect', html: true },
      },
    }),
    (c) => c.redirect('/app/'),
  );
  app.route('/', docsRoutes(app));

  app.notFound((c) => c.json(errorBody(`Not found: ${c.req.method} ${c.req.path}`), 404));
  app.onError(handleError);
  return routes;
}

/** The API's type: `hc<AppType>(url)` (src/client.ts) gives typed calls and responses. */
export type AppType = ReturnType<typeof createApp>;
