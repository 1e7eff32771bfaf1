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
import { z } from 'zod';
import type { AppEnv } from './app-env';
import { corsOrigins, MAX_BODY_BYTES } from './config';
import { database } from './db/client';
import { docsRoutes } from './docs/routes';
import { describe } from './http/describe';
import { ApiError, errorBody, handleError } from './http/errors';
import { traktRoutes } from './trakt/routes';
import { usersRoutes } from './users/routes';
import { VERSION } from './version';

const healthOutput = z.object({ status: z.literal('ok'), version: z.string() });

export function createApp() {
  // strict: false — every path works with and without a trailing slash (the API reference writes `/users/me/`).
  const app = new Hono<AppEnv>({ strict: false });

  app.use(requestId());
  app.use(secureHeaders());
  app.use((c, next) =>
    cors({
      origin: corsOrigins(c.env),
      allowHeaders: ['Authorization', 'Content-Type'],
      exposeHeaders: ['X-Request-Id', 'Retry-After'],
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
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError(413, `Request body too large (limit ${MAX_BODY_BYTES} bytes)`);
      },
    }),
  );

  // Every request body this API accepts is JSON; say so instead of failing validation on an ignored body.
  app.use(async (c, next) => {
    const hasBody = (c.req.header('Content-Length') ?? '0') !== '0' || c.req.header('Transfer-Encoding') !== undefined;
    const type = c.req.header('Content-Type') ?? '';
    if (hasBody && c.req.method !== 'GET' && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
      throw new ApiError(415, 'Content-Type must be application/json');
    }
    await next();
  });

  // The drizzle handle for this request, built once from its D1 binding (no module-level singleton).
  app.use(async (c, next) => {
    c.set('db', database(c.env.DB));
    await next();
  });

  app.get(
    '/health',
    describe({
      summary: 'Liveness check and version',
      tag: 'meta',
      responses: { 200: { description: 'The API is up', schema: healthOutput } },
    }),
    (c) => c.json({ status: 'ok', version: VERSION } satisfies z.input<typeof healthOutput>),
  );
  app.route('/users', usersRoutes);
  app.route('/trakt', traktRoutes);
  app.route('/', docsRoutes(app));

  app.notFound((c) => c.json(errorBody(`Not found: ${c.req.method} ${c.req.path}`), 404));
  app.onError(handleError);
  return app;
}
