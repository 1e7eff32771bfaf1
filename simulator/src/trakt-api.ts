/**
 * @module trakt-api
 * Trakt's API host (`api.trakt.tv`): header enforcement, the per-token GET rate limit and the
 * sync/user endpoints. Everything is read from the account's one list of plays (see views.ts),
 * so history, watched and last_activities always agree.
 *
 * Header checks, in order: unknown/missing `trakt-api-key` → 403; `trakt-api-version` other
 * than `2` → 400; missing/unknown/expired/revoked bearer, or one issued to another app than the
 * `trakt-api-key` names → 401; over the per-user GET limit → 429. Every authenticated GET answer carries
 * `X-Ratelimit` ({name, period, limit, remaining, until}).
 */
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import type { SimEnv } from './env';
import { type PageRules, paginate } from './pagination';
import { takeFromWindow } from './rate-limit';
import type { SimContext } from './state';
import {
  activitiesJson,
  historyItemJson,
  playbackJson,
  watchedMovieJson,
  watchedShowJson,
  watchingJson,
} from './trakt-format';
import { tokenActive } from './trakt-oauth';
import { iso, parseTime } from './util';
import { history, summary, views } from './views';

export const HISTORY_PAGES: PageRules = { defaultLimit: 10, maxLimit: 250 };
export const WATCHED_PAGES: PageRules = { defaultLimit: 100, maxLimit: 250 };
export const WATCHED_PROGRESS_PAGES: PageRules = { defaultLimit: 100, maxLimit: 100 };
export const PLAYBACK_PAGES: PageRules = { defaultLimit: 10, maxLimit: 250 };

function extendedSet(c: Context<SimEnv>): Set<string> {
  return new Set(
    (c.req.query('extended') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/** Sends one page with Trakt's `X-Pagination-*` headers. */
function pageResponse<T>(
  c: Context<SimEnv>,
  all: readonly T[],
  rules: PageRules,
  render: (item: T) => unknown,
): Response {
  const page = paginate(all, { page: c.req.query('page'), limit: c.req.query('limit') }, rules);
  for (const [name, value] of Object.entries(page.headers)) c.header(name, value);
  return c.json(page.items.map(render));
}

export function traktApiRoutes(ctx: SimContext): Hono<SimEnv> {
  const app = new Hono<SimEnv>();
  const { state } = ctx;

  const authenticate: MiddlewareHandler<SimEnv> = async (c, next) => {
    const apiKey = c.req.header('trakt-api-key');
    if (apiKey === undefined || !state.apps.has(apiKey)) {
      return c.json({ error: 'forbidden', error_description: 'Invalid API key or unapproved app.' }, 403);
    }
    if (c.req.header('trakt-api-version') !== '2') {
      return c.json(
        { error: 'invalid_api_version', error_description: 'The trakt-api-version header must be 2.' },
        400,
      );
    }
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    const record = match?.[1] === undefined ? undefined : state.tokens.get(match[1]);
    const account = record === undefined ? undefined : state.accounts.get(record.username);
    // A token only works with the app it was issued to, as on Trakt.
    if (!record || !account || record.clientId !== apiKey || !tokenActive(record, ctx.now())) {
      c.header(
        'WWW-Authenticate',
        'Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"',
      );
      return c.json({ error: 'invalid_token', error_description: 'The access token is invalid' }, 401);
    }
    if (c.req.method === 'GET') {
      // Per user, whichever token or app sends the request; every answer says where the window stands.
      const now = ctx.now();
      const windowSeconds = state.config.trakt_window_seconds;
      const decision = takeFromWindow(
        state.traktWindows.get(record.username),
        now,
        state.config.trakt_get_limit,
        windowSeconds * 1000,
      );
      state.traktWindows.set(record.username, decision.state);
      c.header(
        'X-Ratelimit',
        JSON.stringify({
          name: 'AUTHED_API_GET_LIMIT',
          period: windowSeconds,
          limit: state.config.trakt_get_limit,
          remaining: decision.remaining,
          until: iso(decision.resetAt),
        }),
      );
      if (!decision.allowed) {
        c.header('Retry-After', String(decision.retryAfterSeconds));
        return c.json({ error: 'rate_limit_exceeded', error_description: 'Rate Limit Exceeded' }, 429);
      }
    }
    c.set('token', record);
    c.set('account', account);
    await next();
  };

  app.use('/sync/*', authenticate);
  app.use('/users/*', authenticate);

  /** Public endpoints (no OAuth, as on Trakt): only the app's `trakt-api-key` and the API version are checked. */
  const appOnly: MiddlewareHandler<SimEnv> = async (c, next) => {
    const apiKey = c.req.header('trakt-api-key');
    if (apiKey === undefined || !state.apps.has(apiKey)) {
      return c.json({ error: 'forbidden', error_description: 'Invalid API key or unapproved app.' }, 403);
    }
    if (c.req.header('trakt-api-version') !== '2') {
      return c.json(
        { error: 'invalid_api_version', error_description: 'The trakt-api-version header must be 2.' },
        400,
      );
    }
    await next();
  };

  // A movie's community figures: watchers and plays counted over every simulated account's plays.
  app.get('/movies/:id/stats', appOnly, (c) => {
    const id = Number(c.req.param('id'));
    const movie = Number.isInteger(id) ? state.catalog.movies.get(id) : undefined;
    if (!movie) return c.json({ error: 'not_found' }, 404);
    let watchers = 0;
    let plays = 0;
    for (const account of state.accounts.values()) {
      const mine = [...account.plays.values()].filter((p) => p.type === 'movie' && p.traktId === id).length;
      if (mine > 0) watchers += 1;
      plays += mine;
    }
    return c.json({ watchers, plays, collectors: 0, comments: 0, lists: 0, votes: movie.votes, favorited: 0 });
  });

  app.get('/sync/last_activities', (c) => c.json(activitiesJson(c.get('account').activities)));

  const historyHandler = (type: 'movies' | 'episodes' | 'all') => (c: Context<SimEnv>) => {
    const range = { startAt: parseTime(c.req.query('start_at')), endAt: parseTime(c.req.query('end_at')) };
    const full = extendedSet(c).has('full');
    const plays = history(c.get('account'), state.catalog, type, range);
    return pageResponse(c, plays, HISTORY_PAGES, (play) => historyItemJson(state.catalog, play, full));
  };
  app.get('/sync/history', historyHandler('all'));
  app.get('/sync/history/movies', historyHandler('movies'));
  app.get('/sync/history/episodes', historyHandler('episodes'));
  app.get('/sync/history/shows', historyHandler('episodes'));

  app.get('/sync/watched/movies', (c) => {
    const full = extendedSet(c).has('full');
    return pageResponse(c, views(c.get('account'), state.catalog).watchedMovies, WATCHED_PAGES, (item) =>
      watchedMovieJson(item, full),
    );
  });
  app.get('/sync/watched/shows', (c) => {
    const extended = extendedSet(c);
    const progress = extended.has('progress');
    const full = extended.has('full');
    const rules = progress ? WATCHED_PROGRESS_PAGES : WATCHED_PAGES;
    return pageResponse(c, views(c.get('account'), state.catalog).watchedShows, rules, (item) =>
      watchedShowJson(item, full, progress),
    );
  });

  const playbackHandler = (type: 'movie' | 'episode' | null) => (c: Context<SimEnv>) => {
    const full = extendedSet(c).has('full');
    const startAt = parseTime(c.req.query('start_at'));
    const endAt = parseTime(c.req.query('end_at'));
    const entries = [...c.get('account').playback.values()]
      .filter(
        (e) =>
          (type === null || e.type === type) &&
          (startAt === null || e.pausedAt >= startAt) &&
          (endAt === null || e.pausedAt <= endAt),
      )
      .sort((a, b) => b.pausedAt - a.pausedAt || b.id - a.id);
    const render = (entry: (typeof entries)[number]) => playbackJson(state.catalog, entry, full);
    // Pagination is optional on playback: without page/limit Trakt returns everything.
    if (c.req.query('page') === undefined && c.req.query('limit') === undefined) return c.json(entries.map(render));
    return pageResponse(c, entries, PLAYBACK_PAGES, render);
  };
  app.get('/sync/playback', playbackHandler(null));
  app.get('/sync/playback/movies', playbackHandler('movie'));
  app.get('/sync/playback/episodes', playbackHandler('episode'));

  app.get('/users/settings', (c) => {
    const account = c.get('account');
    return c.json({
      user: {
        username: account.username,
        private: false,
        deleted: false,
        name: account.username,
        vip: false,
        vip_ep: false,
        ids: { slug: account.slug, uuid: `sim-${account.slug}` },
        joined_at: iso(account.createdAt),
        location: null,
        about: null,
        gender: null,
        age: null,
        images: { avatar: { full: 'https://walter-r2.trakt.tv/images/users/avatar.png' } },
      },
      account: { timezone: 'UTC', date_format: 'dmy', time_24hr: true, cover_image: null },
      connections: {},
      sharing_text: { watching: "I'm watching [item]", watched: 'I just watched [item]', rated: '[item] [stars]' },
      limits: { list: { count: 2, item_count: 100 }, watchlist: { item_count: 100 }, favorites: { item_count: 50 } },
    });
  });

  const isSelf = (c: Context<SimEnv>): boolean => {
    const id = c.req.param('id');
    const account = c.get('account');
    return id === 'me' || id === account.username || id === account.slug;
  };

  app.get('/users/:id/watching', (c) => {
    if (!isSelf(c)) return c.json({ error: 'not_found' }, 404);
    const account = c.get('account');
    const watching = account.watching;
    if (!watching || watching.expiresAt <= ctx.now()) {
      account.watching = null;
      return c.body(null, 204);
    }
    return c.json(watchingJson(state.catalog, watching, extendedSet(c).has('full')));
  });

  // Trakt's own totals (the fields a sync checks; the rest as zeros). Computed live here, where Trakt may cache them.
  app.get('/users/:id/stats', (c) => {
    if (!isSelf(c)) return c.json({ error: 'not_found' }, 404);
    const s = summary(c.get('account'), state.catalog, ctx.now());
    const zeros = { collected: 0, ratings: 0, comments: 0 };
    return c.json({
      movies: { plays: s.movie_plays, watched: s.movies_watched, minutes: 0, ...zeros },
      shows: { watched: s.shows_watched, ...zeros },
      seasons: { ratings: 0, comments: 0 },
      episodes: { plays: s.episode_plays, watched: s.episodes_watched, minutes: 0, ...zeros },
      network: { friends: 0, followers: 0, following: 0 },
      ratings: { total: 0, distribution: {} },
    });
  });

  app.get('/users/:id', (c) => {
    if (!isSelf(c)) return c.json({ error: 'not_found' }, 404);
    const account = c.get('account');
    return c.json({
      username: account.username,
      private: false,
      deleted: false,
      name: account.username,
      vip: false,
      vip_ep: false,
      ids: { slug: account.slug },
    });
  });

  return app;
}
