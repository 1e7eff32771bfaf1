/**
 * @module faults
 * One-shot fault injection: a registered fault answers the next N matching requests instead
 * of the real handler (5xx, 429, Trakt's 401/403/423 rejections, 426 VIP required, 420 account limit, a hang
 * until the client aborts,
 * malformed JSON, the HTML error page Cloudflare serves in front of Trakt, a 401 `invalid_client`),
 * then stops. Some faults let the real handler run first or hold a request for the test to order events:
 * - `process_then_502`: the request IS processed (a refresh rotates the token), then a Cloudflare
 *   502 page replaces the answer, as when the connection to the origin drops after it answered;
 * - `hold`: the request waits (unprocessed) until `/_sim/faults/release`, then is processed;
 * - `process_then_hold`: the request is processed at once, its answer waits until released.
 */
import type { MiddlewareHandler } from 'hono';
import type { SimBindings, SimEnv } from './env';
import type { Fault, SimContext, SimulatorState } from './state';
import { iso, randomHex } from './util';

/** How long a `hang` holds a request when the client never aborts. */
export const HANG_MAX_MS = 60_000;

export interface RequestFacts {
  method: string;
  host: string;
  path: string;
  query: URLSearchParams;
}

/** Finds the first matching fault with uses left and consumes one use. */
export function takeFault(state: SimulatorState, req: RequestFacts): Fault | null {
  for (const fault of state.faults) {
    if (fault.remaining <= 0) continue;
    if (fault.method !== null && fault.method.toUpperCase() !== req.method.toUpperCase()) continue;
    if (fault.host !== null && fault.host !== req.host) continue;
    if (fault.pathPrefix !== null && !req.path.startsWith(fault.pathPrefix)) continue;
    if (fault.pathRegex !== null && !fault.pathRegex.test(req.path)) continue;
    if (!Object.entries(fault.query).every(([k, v]) => req.query.get(k) === v)) continue;
    if (fault.after > 0) {
      fault.after--;
      return null;
    }
    fault.remaining--;
    return fault;
  }
  return null;
}

const STATUS_TEXT: Record<number, string> = {
  429: 'Too many requests',
  500: 'Internal server error',
  502: 'Bad gateway',
  503: 'Service unavailable',
  504: 'Gateway time-out',
  520: 'Web server is returning an unknown error',
  521: 'Web server is down',
  522: 'Connection timed out',
  524: 'A timeout occurred',
};

/** An HTML error page in the style Cloudflare serves for its edge errors. */
export function cloudflareHtml(status: number, host: string): string {
  const title =
    status === 429 ? 'Error 1015: You are being rate limited' : `${status}: ${STATUS_TEXT[status] ?? 'Error'}`;
  const errorType = status === 429 ? 'Error' : (STATUS_TEXT[status] ?? 'Error');
  const errorCode = status === 429 ? '1015' : status;
  return `<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>${host} | ${title}</title>
<meta charset="UTF-8" />
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<meta name="robots" content="noindex, nofollow" />
</head>
<body>
<div id="cf-wrapper">
  <div id="cf-error-details" class="cf-error-details-wrapper">
    <div class="cf-wrapper cf-header cf-error-overview">
      <h1><span class="cf-error-type">${errorType}</span> <span class="cf-error-code">${errorCode}</span></h1>
      <h2 class="cf-subheadline">${status === 429 ? 'You are being rate limited' : 'Cloudflare'}</h2>
    </div>
    <div class="cf-error-footer cf-wrapper">
      <p><span class="cf-footer-item">Cloudflare Ray ID: <strong class="font-semibold">${randomHex(8)}</strong></span>
      <span class="cf-footer-item">Performance &amp; security by Cloudflare</span></p>
    </div>
  </div>
</div>
</body>
</html>
`;
}

function html(status: number, host: string, extra: Record<string, string> = {}): Response {
  return new Response(cloudflareHtml(status, host), {
    status,
    headers: {
      'Content-Type': 'text/html; charset=UTF-8',
      Server: 'cloudflare',
      'CF-RAY': `${randomHex(8)}-SJC`,
      ...extra,
    },
  });
}

function json(status: number, body: unknown, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...extra },
  });
}

/** Holds the request until the client aborts, the faults are cleared, or HANG_MAX_MS pass. */
async function hang(state: SimulatorState, signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      state.hanging.delete(done);
      resolve();
    };
    const timer = setTimeout(done, HANG_MAX_MS);
    state.hanging.add(done);
    signal?.addEventListener('abort', done);
    if (signal?.aborted) done();
  });
}

/** The response a fault produces; `tmdb` selects TMDB's JSON error style for 5xx/429. */
export async function faultResponse(
  fault: Fault,
  req: RequestFacts,
  ctx: SimContext,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const tmdb = req.path === '/3' || req.path.startsWith('/3/');
  const retryAfter: Record<string, string> =
    fault.retryAfter === null ? {} : { 'Retry-After': String(fault.retryAfter) };
  switch (fault.kind) {
    case '500':
    case '502':
    case '503':
    case '520': {
      const status = Number(fault.kind);
      if (tmdb)
        return json(
          status,
          { status_code: 11, status_message: 'Internal error: Something went wrong, contact TMDb.', success: false },
          retryAfter,
        );
      return status === 500
        ? json(500, { error: 'server_error', error_description: 'Internal Server Error' }, retryAfter)
        : html(status, req.host, retryAfter);
    }
    case '429': {
      const seconds = fault.retryAfter ?? 1;
      if (tmdb)
        return json(
          429,
          {
            status_code: 25,
            status_message: 'Your request count (41) is over the allowed limit of (40).',
            success: false,
          },
          { 'Retry-After': String(seconds) },
        );
      const { trakt_get_limit: limit, trakt_window_seconds: period } = ctx.state.config;
      const rateLimit = JSON.stringify({
        name: 'AUTHED_API_GET_LIMIT',
        period,
        limit,
        remaining: 0,
        until: iso(ctx.now() + seconds * 1000),
      });
      return json(
        429,
        { error: 'rate_limit_exceeded', error_description: 'Rate Limit Exceeded' },
        { 'Retry-After': String(seconds), 'X-Ratelimit': rateLimit },
      );
    }
    case 'html_error': {
      const status = fault.status ?? 502;
      // Cloudflare's own 429 page: Retry-After 300 and no X-Ratelimit.
      const seconds = fault.retryAfter ?? (status === 429 ? 300 : null);
      return html(status, req.host, seconds === null ? {} : { 'Retry-After': String(seconds) });
    }
    case '401':
      return json(
        401,
        { error: 'invalid_token', error_description: 'The access token is invalid' },
        {
          'WWW-Authenticate':
            'Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"',
        },
      );
    case '403':
      return json(403, { error: 'forbidden', error_description: 'Invalid API key or unapproved app.' });
    case '423':
      return json(423, {
        error: 'locked_user_account',
        error_description: 'Locked User Account - have the user contact support.',
      });
    case '426':
      // A method that needs VIP: the header links to the upgrade page.
      return json(
        426,
        { error: 'vip_required', error_description: 'VIP Enhanced - this method requires a VIP account.' },
        { 'X-Upgrade-URL': 'https://trakt.tv/vip' },
      );
    case '420':
      // An account limit was exceeded (lists, watchlist, history): Trakt sends no body.
      return new Response(null, { status: 420 });
    case 'invalid_client':
      return json(401, {
        error: 'invalid_client',
        error_description:
          'Client authentication failed due to unknown client, no client authentication included, or unsupported ' +
          'authentication method.',
      });
    case 'process_then_502':
    case 'hold':
    case 'process_then_hold':
      throw new Error(`fault ${fault.kind} wraps the handler; faultMiddleware runs it`);
    case 'malformed_json':
      return new Response('{"error": "truncated", "items": [{"id": 1, "watched_at": "2026-', {
        status: 200,
        headers: { 'Content-Type': 'application/json; charset=utf-8' },
      });
    case 'hang':
      await hang(ctx.state, signal);
      return html(524, req.host);
  }
}

/** How often a held request checks whether it was released. */
const HOLD_POLL_MS = 5;

/**
 * Holds a request until `/_sim/faults/release` (or a reset), the client aborts, or HANG_MAX_MS pass.
 * It polls a release counter instead of waiting on a promise the releaser resolves: in workerd the
 * releaser (a test) may run in another request's context, which must not settle this one's promises.
 */
async function holdUntilReleased(state: SimulatorState, signal: AbortSignal | undefined): Promise<void> {
  const ticket = state.releases;
  state.held += 1;
  try {
    for (
      let waited = 0;
      state.releases === ticket && !signal?.aborted && waited < HANG_MAX_MS;
      waited += HOLD_POLL_MS
    ) {
      await new Promise((resolve) => setTimeout(resolve, HOLD_POLL_MS));
    }
  } finally {
    state.held = Math.max(0, state.held - 1);
  }
}

/** Lets every held request go on; returns how many there were. */
export function releaseHeld(state: SimulatorState): number {
  const held = state.held;
  state.releases += 1;
  return held;
}

/** Middleware: answers with a fault when one matches (admin `/_sim/*` paths are never faulted). */
export function faultMiddleware(ctx: SimContext): MiddlewareHandler<SimEnv> {
  return async (c, next) => {
    const url = new URL(c.req.url);
    if (url.pathname.startsWith('/_sim')) return next();
    const facts: RequestFacts = { method: c.req.method, host: url.host, path: url.pathname, query: url.searchParams };
    const fault = takeFault(ctx.state, facts);
    if (!fault) return next();
    c.set('fault', fault.kind);
    const signal = (c.env as SimBindings | undefined)?.signal ?? c.req.raw.signal;
    if (fault.kind === 'hold') {
      await holdUntilReleased(ctx.state, signal);
      return next();
    }
    if (fault.kind === 'process_then_hold') {
      await next();
      await holdUntilReleased(ctx.state, signal);
      return;
    }
    if (fault.kind === 'process_then_502') {
      await next();
      c.res = html(502, url.host);
      return;
    }
    return faultResponse(fault, facts, ctx, signal);
  };
}
