/**
 * @module app
 * Builds one simulator: a Hono app serving Trakt's auth host (`/oauth/*`), Trakt's API host
 * (`/sync/*`, `/users/*`), TMDB (`/3/*`) and the admin surface (`/_sim/*`) from one origin
 * (the paths don't collide), with all state in memory in this instance.
 */
import { Hono } from 'hono';
import { adminRoutes } from './admin';
import type { SimEnv } from './env';
import { faultMiddleware } from './faults';
import { requestLogMiddleware } from './request-log';
import { initialState, type SimContext, SimError, type SimulatorState } from './state';
import { TMDB_NOT_FOUND, tmdbRoutes } from './tmdb';
import { traktApiRoutes } from './trakt-api';
import { traktOAuthRoutes } from './trakt-oauth';

export interface SimulatorOptions {
  /** Clock in ms (default `Date.now`); admin `/_sim/clock` adds an offset on top. */
  now?: () => number;
}

export interface SimulatorInstance {
  app: Hono<SimEnv>;
  state: SimulatorState;
  /** The simulator's current time (injected clock + admin offset), ms. */
  now: () => number;
  /** Serves a request; `signal` lets a `hang` fault end when the caller aborts. */
  fetch: (request: Request, options?: { signal?: AbortSignal }) => Promise<Response>;
}

export function createSimulator(options: SimulatorOptions = {}): SimulatorInstance {
  const state = initialState();
  const clock = options.now ?? Date.now;
  const ctx: SimContext = { state, now: () => clock() + state.clockOffsetMs };

  const app = new Hono<SimEnv>();
  // Behind a path prefix (config `path_prefix`): strip it and serve the rest; refuse unprefixed requests.
  const unprefixed = new WeakSet<Request>();
  app.use('*', async (c, next) => {
    const prefix = state.config.path_prefix;
    const url = new URL(c.req.url);
    if (prefix === null || unprefixed.has(c.req.raw) || url.pathname.startsWith('/_sim')) return next();
    if (!url.pathname.startsWith(`${prefix}/`)) {
      return c.json(
        { error: 'not_found', error_description: `This simulator serves under ${prefix}; got ${url.pathname}` },
        404,
      );
    }
    url.pathname = url.pathname.slice(prefix.length);
    const inner = new Request(url, c.req.raw);
    unprefixed.add(inner);
    return app.fetch(inner, c.env);
  });
  app.use('*', requestLogMiddleware(ctx));
  app.use('*', faultMiddleware(ctx));
  app.route('/_sim', adminRoutes(ctx));
  app.route('/oauth', traktOAuthRoutes(ctx));
  app.route('/3', tmdbRoutes(ctx));
  app.route('/', traktApiRoutes(ctx));

  app.notFound((c) => {
    if (c.req.path === '/3' || c.req.path.startsWith('/3/')) return c.json(TMDB_NOT_FOUND, 404);
    return c.json({ error: 'not_found', error_description: `No route for ${c.req.method} ${c.req.path}` }, 404);
  });
  app.onError((err, c) => {
    if (err instanceof SimError) return c.json({ error: err.message }, err.status);
    return c.json({ error: 'simulator_error', message: err instanceof Error ? err.message : String(err) }, 500);
  });

  return {
    app,
    state,
    now: ctx.now,
    fetch: async (request, opts = {}) => app.fetch(request, { signal: opts.signal ?? request.signal }),
  };
}
