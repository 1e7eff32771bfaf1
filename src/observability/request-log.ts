/**
 * @module
 * One log line per HTTP request: `{"event": "request", request_id, method, route, status,
 * duration_ms, user_id}`. `route` is the matched route pattern (`/trakt/get-stored-movies`,
 * never the raw URL, whose query may carry an OAuth code or state); requests that match no route
 * log `route: null`. `user_id` is set once the JWT is verified (null otherwise).
 */
import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import type { AppEnv } from '../app-env';
import { log } from './log';
import { currentScope, newScope, runInScope } from './scope';

/** The pattern of the route that answered: the last matched one that is not a catch-all middleware. */
function routePattern(c: Parameters<typeof matchedRoutes>[0]): string | null {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== 'ALL' || !route.path.endsWith('*')) return route.path;
  }
  return null;
}

export const requestLog = createMiddleware<AppEnv>(async (c, next) => {
  const started = Date.now();
  const requestId = c.get('requestId');
  const observe = async () => {
    await next();
    const status = c.res.status;
    const fields = {
      method: c.req.method,
      route: routePattern(c),
      status,
      duration_ms: Date.now() - started,
      user_id: c.get('userId') ?? null,
    };
    if (status >= 500) log.error('request', fields);
    else log.info('request', fields);
  };
  const scope = currentScope();
  if (scope) {
    scope.fields.request_id = requestId;
    return observe();
  }
  // Called without the Worker entry (app.request in tests): open a scope here.
  return runInScope(newScope(c.env, { request_id: requestId }), observe);
});
