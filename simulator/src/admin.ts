/**
 * @module admin
 * The control surface (`/_sim/*`, JSON in and out): reset, apps, TMDB keys, seeded accounts,
 * session, direct token issue/expiry/revocation (one token or all of an account's), play/reset/playback/watching
 * manipulation, an account's data export (the ZIP trakt.tv hands out), device-code approval, config and clock,
 * faults (and releasing held requests), and the request log and counters.
 * Reference: simulator/README.md.
 */
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import type { z } from 'zod';
import {
  addPlay,
  createAccount,
  getAccount,
  removePlay,
  removePlayback,
  resetShow,
  sessionAccount,
  setPlayback,
  startWatching,
  stopWatching,
} from './accounts';
import { BASE_DATE_MS, type CatalogMovie, type CatalogShow, type PlayAction, type TmdbStatus } from './dataset';
import type { SimEnv } from './env';
import { EXPORT_HISTORY_PER_FILE, exportZip } from './export';
import { releaseHeld } from './faults';
import {
  accountSchema,
  appSchema,
  clockSchema,
  configSchema,
  deviceSchema,
  expireTokenSchema,
  faultSchema,
  playbackSchema,
  playSchema,
  renameTitleSchema,
  resetSchema,
  sessionSchema,
  stopWatchingSchema,
  tmdbKeySchema,
  tokensSchema,
  watchingSchema,
} from './schemas';
import { type Play, type RequestLogEntry, resetState, type SimConfig, type SimContext, SimError } from './state';
import { findDevice, issueTokens, tokenActive, tokenJson } from './trakt-oauth';
import { iso, randomHex } from './util';
import { type Summary, summary, views } from './views';

export interface AppCredentials {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

export type TokenSet = ReturnType<typeof tokenJson>;

export interface AccountInfo {
  username: string;
  slug: string;
  seed: string;
  movies: number;
  shows: number;
  summary: Summary;
}

export interface PlayInfo {
  id: number;
  type: 'movie' | 'episode';
  trakt_id: number;
  watched_at: string;
  action: PlayAction;
}

export interface CatalogMovieInfo {
  trakt: number;
  slug: string;
  title: string;
  year: number;
  imdb: string;
  /** As Trakt reports it (null for the "null tmdb" few). */
  tmdb: number | null;
  /** The id TMDB knows it by (null when missing on TMDB). */
  tmdb_record_id: number | null;
  tmdb_status: TmdbStatus;
}

export interface CatalogShowInfo extends Omit<CatalogMovieInfo, 'imdb'> {
  imdb: string | null;
  tvdb: number;
  seasons: Array<{
    number: number;
    episodes: Array<{ number: number; trakt: number; tvdb: number; imdb: string | null; tmdb: number | null }>;
  }>;
}

export interface CatalogInfo {
  movies: CatalogMovieInfo[];
  shows: CatalogShowInfo[];
}

export interface FaultInfo {
  id: number;
  kind: string;
  remaining: number;
}

export type ConfigInput = z.input<typeof configSchema>;

/** How refresh tokens were sent to `/oauth/token`: a correct client never sends one twice. */
export interface RefreshTokenSends {
  sends: number;
  distinct: number;
  sent_more_than_once: number;
}

function playInfo(play: Play): PlayInfo {
  return { id: play.id, type: play.type, trakt_id: play.traktId, watched_at: iso(play.watchedAt), action: play.action };
}

function movieInfo(m: CatalogMovie): CatalogMovieInfo {
  return {
    trakt: m.traktId,
    slug: m.slug,
    title: m.title,
    year: m.year,
    imdb: m.imdb,
    tmdb: m.tmdb,
    tmdb_record_id: m.tmdbRecordId,
    tmdb_status: m.tmdbStatus,
  };
}

function showInfo(s: CatalogShow): CatalogShowInfo {
  return {
    trakt: s.traktId,
    slug: s.slug,
    title: s.title,
    year: s.year,
    imdb: s.imdb,
    tvdb: s.tvdb,
    tmdb: s.tmdb,
    tmdb_record_id: s.tmdbRecordId,
    tmdb_status: s.tmdbStatus,
    seasons: s.seasons.map((season) => ({
      number: season.number,
      episodes: season.episodes.map((e) => ({
        number: e.number,
        trakt: e.traktId,
        tvdb: e.tvdb,
        imdb: e.imdb,
        tmdb: e.tmdb,
      })),
    })),
  };
}

const time = (value: string | undefined): number | undefined => (value === undefined ? undefined : Date.parse(value));

/** zod-validated JSON body; failures answer 400 `{error: "invalid_body", issues}`. */
function body<T extends z.ZodType>(schema: T) {
  return zValidator('json', schema, (result, c) => {
    if (!result.success) return c.json({ error: 'invalid_body', issues: result.error.issues }, 400);
  });
}

export function adminRoutes(ctx: SimContext): Hono<SimEnv> {
  const app = new Hono<SimEnv>();
  const { state } = ctx;
  const numericParam = (raw: string): number => {
    if (!/^\d+$/.test(raw)) throw new SimError(400, `not a numeric id: ${raw}`);
    return Number(raw);
  };

  app.post('/reset', (c) => {
    resetState(state);
    return c.json({ ok: true });
  });

  app.get('/config', (c) => c.json(state.config));
  app.post('/config', body(configSchema), (c) => {
    Object.assign(state.config, c.req.valid('json'));
    return c.json<SimConfig>(state.config);
  });

  app.post('/clock', body(clockSchema), (c) => {
    const { advance_seconds: advance, now } = c.req.valid('json');
    if (now !== undefined) state.clockOffsetMs += Date.parse(now) - ctx.now();
    if (advance !== undefined) state.clockOffsetMs += advance * 1000;
    return c.json({ now: new Date(ctx.now()).toISOString(), offset_ms: state.clockOffsetMs });
  });

  app.post('/apps', body(appSchema), (c) => {
    const input = c.req.valid('json');
    const clientId = input.client_id ?? randomHex(32);
    const credentials: AppCredentials = {
      client_id: clientId,
      client_secret: input.client_secret ?? randomHex(32),
      redirect_uris: input.redirect_uris,
    };
    state.apps.set(clientId, { clientId, clientSecret: credentials.client_secret, redirectUris: input.redirect_uris });
    return c.json(credentials, 201);
  });

  // Trakt deleting an app (as it did to free members' apps on 31 July 2026): its client id answers 403 on the API
  // host and invalid_client on the auth host. Tokens issued to it are kept, so re-registering the same
  // credentials (POST /_sim/apps) brings them back to life, as an app Trakt restores would.
  app.delete('/apps/:client_id', (c) => {
    const clientId = c.req.param('client_id');
    if (!state.apps.delete(clientId)) throw new SimError(404, `unknown app: ${clientId}`);
    return c.json({ ok: true });
  });

  app.post('/tmdb-keys', body(tmdbKeySchema), (c) => {
    state.tmdbKeys.add(c.req.valid('json').api_key);
    return c.json({ ok: true }, 201);
  });

  // TMDB's upcoming episodes of a show (next_episode_to_air and air dates), replacing the default schedule.
  app.post('/tmdb/schedule', async (c) => {
    const input = (await c.req.json()) as {
      tmdb_id: number;
      episodes: Array<{ season: number; number: number; air_date: string; name?: string }>;
    };
    state.tmdbSchedules.set(
      input.tmdb_id,
      input.episodes.map((e) => ({
        season: e.season,
        number: e.number,
        airDate: e.air_date,
        name: e.name ?? `Episode ${e.number}`,
      })),
    );
    return c.json({ ok: true }, 201);
  });

  app.post('/accounts', body(accountSchema), (c) => {
    const input = c.req.valid('json');
    const historyStart = Date.parse(input.history_start);
    if (historyStart >= BASE_DATE_MS) throw new SimError(400, `history_start must be before ${iso(BASE_DATE_MS)}`);
    const account = createAccount(state, {
      username: input.username,
      seed: input.seed,
      movies: input.movies,
      shows: input.shows,
      seasonsPerShow: input.seasons_per_show,
      episodesPerSeason: input.episodes_per_season,
      playsPerItem: input.plays_per_item,
      rewatchFraction: input.rewatch_fraction,
      nullTmdbFraction: input.null_tmdb_fraction,
      missingOnTmdbFraction: input.missing_on_tmdb_fraction,
      historyStart,
      historyEnd: BASE_DATE_MS,
    });
    const info: AccountInfo = {
      username: account.username,
      slug: account.slug,
      seed: account.seed,
      movies: account.movieIds.length,
      shows: account.showIds.length,
      summary: summary(account, state.catalog, ctx.now()),
    };
    return c.json(info, 201);
  });

  app.get('/accounts/:username/summary', (c) =>
    c.json<Summary>(summary(getAccount(state, c.req.param('username')), state.catalog, ctx.now())),
  );

  app.get('/accounts/:username/catalog', (c) => {
    const account = getAccount(state, c.req.param('username'));
    const info: CatalogInfo = {
      movies: account.movieIds.flatMap((id) => {
        const m = state.catalog.movies.get(id);
        return m ? [movieInfo(m)] : [];
      }),
      shows: account.showIds.flatMap((id) => {
        const s = state.catalog.shows.get(id);
        return s ? [showInfo(s)] : [];
      }),
    };
    return c.json(info);
  });

  app.get('/accounts/:username/plays', (c) => {
    const account = getAccount(state, c.req.param('username'));
    const v = views(account, state.catalog);
    const all = [...v.movieHistory, ...v.episodeHistory].sort((a, b) => b.watchedAt - a.watchedAt || b.id - a.id);
    return c.json(all.map(playInfo));
  });

  // The account's data export, as trakt.tv's Settings → Data → Export downloads it. `per_file`: history items
  // per watched-history-N.json (default 1,000, as Trakt writes them).
  app.get('/accounts/:username/export.zip', (c) => {
    const account = getAccount(state, c.req.param('username'));
    const perFile = Number(c.req.query('per_file') ?? EXPORT_HISTORY_PER_FILE);
    if (!Number.isSafeInteger(perFile) || perFile < 1) throw new SimError(400, 'per_file must be a positive integer');
    const zip = exportZip(account, state.catalog, { perFile, now: ctx.now() });
    return c.body(zip as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': 'application/zip',
      'Content-Disposition': `attachment; filename="trakt-export-${account.slug}.zip"`,
    });
  });

  app.post('/accounts/:username/plays', body(playSchema), (c) => {
    const input = c.req.valid('json');
    const account = getAccount(state, c.req.param('username'));
    const play = addPlay(
      state,
      account,
      { type: input.type, traktId: input.trakt_id, watchedAt: time(input.watched_at), action: input.action },
      ctx.now(),
    );
    return c.json(playInfo(play), 201);
  });

  app.delete('/accounts/:username/plays/:id', (c) => {
    const account = getAccount(state, c.req.param('username'));
    return c.json(playInfo(removePlay(state, account, numericParam(c.req.param('id')), ctx.now())));
  });

  app.post('/titles', body(renameTitleSchema), (c) => {
    const input = c.req.valid('json');
    const item =
      input.type === 'movie' ? state.catalog.movies.get(input.trakt_id) : state.catalog.shows.get(input.trakt_id);
    if (!item) throw new SimError(404, `No ${input.type} with trakt id ${input.trakt_id}`);
    item.title = input.title;
    return c.json({ type: input.type, trakt_id: input.trakt_id, title: item.title });
  });

  app.post('/accounts/:username/resets', body(resetSchema), (c) => {
    const input = c.req.valid('json');
    const account = getAccount(state, c.req.param('username'));
    const at = resetShow(state, account, input.show_trakt_id, time(input.reset_at), ctx.now());
    return c.json({ show_trakt_id: input.show_trakt_id, reset_at: iso(at) }, 201);
  });

  app.post('/accounts/:username/playback', body(playbackSchema), (c) => {
    const input = c.req.valid('json');
    const account = getAccount(state, c.req.param('username'));
    const entry = setPlayback(
      state,
      account,
      { type: input.type, traktId: input.trakt_id, progress: input.progress, pausedAt: time(input.paused_at) },
      ctx.now(),
    );
    return c.json(
      {
        id: entry.id,
        type: entry.type,
        trakt_id: entry.traktId,
        progress: entry.progress,
        paused_at: iso(entry.pausedAt),
      },
      201,
    );
  });

  app.delete('/accounts/:username/playback/:id', (c) => {
    removePlayback(getAccount(state, c.req.param('username')), numericParam(c.req.param('id')), ctx.now());
    return c.json({ ok: true });
  });

  app.post('/accounts/:username/watching', body(watchingSchema), (c) => {
    const input = c.req.valid('json');
    const account = getAccount(state, c.req.param('username'));
    startWatching(
      state,
      account,
      { type: input.type, traktId: input.trakt_id, action: input.action, startedAt: time(input.started_at) },
      ctx.now(),
    );
    const w = account.watching;
    return c.json({ started_at: w ? iso(w.startedAt) : null, expires_at: w ? iso(w.expiresAt) : null }, 201);
  });

  app.post('/accounts/:username/watching/stop', body(stopWatchingSchema), (c) => {
    const account = getAccount(state, c.req.param('username'));
    const play = stopWatching(state, account, c.req.valid('json').scrobble, ctx.now());
    return c.json({ play: play ? playInfo(play) : null });
  });

  app.delete('/accounts/:username/watching', (c) => {
    stopWatching(state, getAccount(state, c.req.param('username')), false, ctx.now());
    return c.json({ play: null });
  });

  app.post('/session', body(sessionSchema), (c) => {
    const { username } = c.req.valid('json');
    getAccount(state, username);
    state.sessionUsername = username;
    return c.json({ username });
  });

  app.get('/session', (c) => c.json({ username: sessionAccount(state)?.username ?? null }));

  app.post('/tokens', body(tokensSchema), (c) => {
    const input = c.req.valid('json');
    getAccount(state, input.username);
    if (!state.apps.has(input.client_id)) throw new SimError(404, `unknown client_id ${input.client_id}`);
    const record = issueTokens(ctx, input.client_id, input.username, {
      expiresIn: input.expires_in,
      createdAt: input.created_at,
    });
    return c.json<TokenSet>(tokenJson(record), 201);
  });

  app.post('/tokens/expire', body(expireTokenSchema), (c) => {
    const record = state.tokens.get(c.req.valid('json').access_token);
    if (!record) throw new SimError(404, 'unknown access token');
    record.forcedExpired = true;
    return c.json({ ok: true });
  });
  // Trakt stops honouring the refresh token of this set (expired or revoked there); the access token still works.
  app.post('/tokens/expire-refresh', body(expireTokenSchema), (c) => {
    const record = state.tokens.get(c.req.valid('json').access_token);
    if (!record) throw new SimError(404, 'unknown access token');
    record.refreshUsed = true;
    return c.json({ ok: true });
  });
  /** Whether Trakt would accept this access token now (for assertions). */
  app.post('/tokens/active', body(expireTokenSchema), (c) => {
    const record = state.tokens.get(c.req.valid('json').access_token);
    return c.json({ active: record !== undefined && tokenActive(record, ctx.now()) });
  });

  app.post('/accounts/:username/tokens/expire', (c) => {
    const { username } = getAccount(state, c.req.param('username'));
    let expired = 0;
    for (const record of state.tokens.values()) {
      if (record.username !== username || record.forcedExpired) continue;
      record.forcedExpired = true;
      expired += 1;
    }
    return c.json({ expired });
  });

  app.post('/accounts/:username/tokens/revoke', (c) => {
    const { username } = getAccount(state, c.req.param('username'));
    let revoked = 0;
    for (const record of state.tokens.values()) {
      if (record.username !== username || record.revoked) continue;
      record.revoked = true;
      record.refreshUsed = true;
      revoked += 1;
    }
    return c.json({ revoked });
  });

  const device = (userCode: string) => {
    const grant = findDevice(ctx, userCode);
    if (!grant) throw new SimError(404, `unknown user_code ${userCode}`);
    return grant;
  };
  app.post('/device/approve', body(deviceSchema), (c) => {
    const input = c.req.valid('json');
    const grant = device(input.user_code);
    const account = input.username === undefined ? sessionAccount(state) : getAccount(state, input.username);
    if (!account) throw new SimError(400, 'no account to approve as: create one or pass username');
    grant.status = 'approved';
    grant.username = account.username;
    return c.json({ user_code: grant.userCode, status: grant.status, username: account.username });
  });
  app.post('/device/deny', body(deviceSchema), (c) => {
    const grant = device(c.req.valid('json').user_code);
    grant.status = 'denied';
    return c.json({ user_code: grant.userCode, status: grant.status });
  });
  app.post('/device/expire', body(deviceSchema), (c) => {
    const grant = device(c.req.valid('json').user_code);
    grant.expiresAt = ctx.now();
    return c.json({ user_code: grant.userCode, expired: true });
  });

  app.get('/faults', (c) =>
    c.json(state.faults.map((f): FaultInfo => ({ id: f.id, kind: f.kind, remaining: f.remaining }))),
  );
  app.post('/faults', body(faultSchema), (c) => {
    const input = c.req.valid('json');
    const fault = {
      id: state.nextFaultId++,
      method: input.match.method ?? null,
      host: input.match.host ?? null,
      pathPrefix: input.match.path_prefix ?? null,
      pathRegex: input.match.path_regex === undefined ? null : new RegExp(input.match.path_regex),
      query: input.match.query ?? {},
      remaining: input.times,
      after: input.after,
      kind: input.kind,
      retryAfter: input.retry_after ?? null,
      status: input.status ?? null,
    };
    state.faults.push(fault);
    return c.json<FaultInfo>({ id: fault.id, kind: fault.kind, remaining: fault.remaining }, 201);
  });
  app.delete('/faults', (c) => {
    state.faults = [];
    for (const release of state.hanging) release();
    releaseHeld(state);
    return c.json({ ok: true });
  });
  app.get('/faults/held', (c) => c.json({ held: state.held }));
  app.post('/faults/release', (c) => c.json({ released: releaseHeld(state) }));

  app.get('/refresh-token-sends', (c) => {
    const counts = [...state.refreshTokenSends.values()];
    return c.json<RefreshTokenSends>({
      sends: counts.reduce((sum, n) => sum + n, 0),
      distinct: counts.length,
      sent_more_than_once: counts.filter((n) => n > 1).length,
    });
  });

  app.get('/requests', (c) => c.json<RequestLogEntry[]>(state.requestLog));
  app.get('/counters', (c) => c.json<Record<string, number>>(Object.fromEntries(state.counters)));
  app.delete('/requests', (c) => {
    state.requestLog = [];
    state.counters = new Map();
    return c.json({ ok: true });
  });

  app.get('/catalog', (c) =>
    c.json<CatalogInfo>({
      movies: [...state.catalog.movies.values()].map(movieInfo),
      shows: [...state.catalog.shows.values()].map(showInfo),
    }),
  );

  return app;
}
