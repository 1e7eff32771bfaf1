/**
 * @module request-log
 * Records every upstream request (not `/_sim/*`) with its route template and status, and
 * counts requests per "METHOD /path-template". Secrets are never stored in full: query
 * values that look like keys, tokens, codes or secrets and the credential are cut to a prefix.
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { SimEnv } from './env';
import { REQUEST_LOG_LIMIT, type SimContext } from './state';
import { redact } from './util';

const SECRET_PARAM = /key|token|secret|code|password/i;

export function requestLogMiddleware(ctx: SimContext): MiddlewareHandler<SimEnv> {
  return async (c, next) => {
    const url = new URL(c.req.url);
    if (url.pathname.startsWith('/_sim')) return next();
    const started = ctx.now();
    const startedWall = Date.now();
    await next();
    const handler = matchedRoutes(c).findLast((route) => route.method !== 'ALL');
    const template = `${c.req.method} ${handler?.path ?? url.pathname}`;
    const state = ctx.state;
    state.counters.set(template, (state.counters.get(template) ?? 0) + 1);

    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = SECRET_PARAM.test(k) ? (redact(v) ?? '') : v;
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const apiKey = url.searchParams.get('api_key');
    const auth =
      bearer !== undefined ? `bearer ${redact(bearer)}` : apiKey !== null ? `api_key ${redact(apiKey)}` : null;
    state.requestLog.push({
      method: c.req.method,
      host: url.host,
      path: url.pathname,
      query,
      template,
      status: c.res.status,
      time: new Date(started).toISOString(),
      duration_ms: Date.now() - startedWall,
      auth,
      trakt_api_key: redact(c.req.header('trakt-api-key')),
      trakt_api_version: c.req.header('trakt-api-version') ?? null,
      user_agent: c.req.header('user-agent') ?? null,
      fault: c.get('fault') ?? null,
    });
    if (state.requestLog.length > REQUEST_LOG_LIMIT)
      state.requestLog.splice(0, state.requestLog.length - REQUEST_LOG_LIMIT);
  };
}
