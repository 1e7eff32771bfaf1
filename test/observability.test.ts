import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import worker from '../src/index';
import { isSecretFieldName, log, REDACTED, redact, scrubString } from '../src/observability/log';
import { newScope, runInScope } from '../src/observability/scope';
import { uniqueName } from './support/api';
import { apiWith, ok, read } from './support/client';
import { createTraktApp } from './support/trakt';
import { callWith, envWith, fakeDataset } from './support/worker';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Every console line written while the spies are installed, parsed when it is JSON. */
function captureConsole() {
  const lines: string[] = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    });
  }
  const events = () =>
    lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, any>];
      } catch {
        return [];
      }
    });
  return { lines, events };
}

describe('logger', () => {
  it('redacts secret-named fields at any depth and secret-looking fragments in strings', () => {
    expect(redact({ access_token: 'a', nested: { clientSecret: 'b', list: [{ password: 'c' }] }, user_id: 7 })).toEqual(
      {
        access_token: REDACTED,
        nested: { clientSecret: REDACTED, list: [{ password: REDACTED }] },
        user_id: 7,
      },
    );
    expect(scrubString('GET /cb?code=abc123&state=xyz Bearer tok.en api_key=k')).toBe(
      `GET /cb?code=${REDACTED}&state=${REDACTED} Bearer ${REDACTED} api_key=${REDACTED}`,
    );
    expect(scrubString('jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.c2lnbmF0dXJl here')).toBe(`jwt ${REDACTED} here`);
    for (const name of ['token', 'refresh_token', 'apiKey', 'ENCRYPTION_KEYS', 'state', 'device_code', 'Authorization'])
      expect(isSecretFieldName(name), name).toBe(true);
    for (const name of ['user_id', 'states_deleted', 'refresh_failures', 'status', 'route', 'reason', 'outcome'])
      expect(isSecretFieldName(name), name).toBe(false);
  });

  it('writes one JSON object per line, honours LOG_LEVEL and carries the scope fields', () => {
    const { lines, events } = captureConsole();
    runInScope(newScope({ LOG_LEVEL: 'warn' }, { request_id: 'r-1' }), () => {
      log.info('hidden');
      log.warn('shown', { user_id: 3 });
      log.error('also_shown');
    });
    log.debug('hidden_without_scope'); // default level is info
    log.info('shown_without_scope');
    expect(lines).toHaveLength(3);
    expect(events()).toEqual([
      { level: 'warn', event: 'shown', request_id: 'r-1', user_id: 3 },
      { level: 'error', event: 'also_shown', request_id: 'r-1' },
      { level: 'info', event: 'shown_without_scope' },
    ]);
  });
});

describe('no secret ever reaches a log line', () => {
  it('register, keys, connect, refresh, sync, cron, queue, admin, disconnect: no log line holds a secret', async () => {
    const adminToken = `admin-${crypto.randomUUID()}-${crypto.randomUUID()}`;
    const metrics = fakeDataset();
    const debugEnv = { LOG_LEVEL: 'debug', ADMIN_TOKEN: adminToken, METRICS: metrics.dataset };
    /** The typed client as `token`'s holder; `raw` for the deliberately wrong requests. */
    const client = (token?: string) => apiWith(debugEnv, token);
    const raw = (method: string, path: string, options: Parameters<typeof callWith>[3] = {}) =>
      callWith(debugEnv, method, path, options);
    const { lines, events } = captureConsole();
    const stages: Record<string, number> = {};
    const mark = (stage: string) => {
      stages[stage] = lines.length;
    };

    // Register, log in, refresh the JWT.
    const username = uniqueName('secret');
    const password = `pw-${crypto.randomUUID()}`;
    await ok(client().users.register.$post({ json: { username, password } }), 201);
    const login = await ok(client().users.token.$post({ json: { username, password } }));
    expect((await raw('POST', '/users/token/', { json: { username, password: 'wrong-password' } })).status).toBe(401);
    const refreshed = await ok(client().users.token.refresh.$post({ json: { refresh: login.body.refresh } }));
    const token = login.body.access;
    mark('register');

    // API keys: the Trakt app and a TMDB key.
    const app = await createTraktApp(sim);
    const tmdbKey = `tmdbkey${crypto.randomUUID().replace(/-/g, '')}`;
    await sim.registerTmdbKey(tmdbKey);
    await ok(
      client(token).users['api-keys'].$post({
        json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
      }),
      201,
    );
    await ok(client(token).users['api-keys'].$post({ json: { service_name: 'tmdb', api_key: tmdbKey } }), 201);
    mark('keys');

    // Connect through the simulator (the code and state travel in the callback's query string).
    const account = `trakt_secret_${crypto.randomUUID().slice(0, 8)}`;
    await sim.createAccount({ username: account, movies: 3, shows: 1 });
    await sim.setSession(account);
    const auth = await ok(client(token).trakt.authenticate.$get());
    const redirect = await sim.authorize(auth.body.auth_url);
    expect(redirect.code && redirect.state).toBeTruthy();
    // A replayed code is refused: error paths log too.
    const posted = { json: { code: redirect.code!, state: redirect.state! } };
    expect((await read(client(token).trakt['oauth-callback'].$post(posted))).status).toBe(200);
    expect((await read(client(token).trakt['oauth-callback'].$post(posted))).status).toBe(400);
    mark('connect');

    // Refresh the Trakt token, then sync both kinds (TMDB enrichment included).
    const traktRefresh = await ok(client(token).trakt['refresh-token'].$get());
    mark('refresh');
    await ok(client(token).trakt['fetch-latest-movies'].$get());
    await ok(client(token).trakt['fetch-latest-shows'].$get());
    mark('sync');

    // Cron, then the queue consumer for what it enqueued, and one dead letter.
    const userId = (await ok(client(token).users.me.$get())).body.id;
    await env.DB.prepare('UPDATE trakt_connections SET next_sync_at = ? WHERE user_id = ?')
      .bind(new Date(Date.now() - 60_000).toISOString(), userId)
      .run();
    const send = vi.spyOn(env.SYNC_QUEUE, 'sendBatch');
    await worker.scheduled(
      createScheduledController({ scheduledTime: Date.now() }),
      envWith(debugEnv),
      createExecutionContext(),
    );
    const sent = send.mock.calls.flatMap((args) =>
      (args[0] as Array<{ body: { user_id: number } }>).map((m) => m.body),
    );
    expect(sent.map((b) => b.user_id)).toContain(userId);
    mark('cron');
    await sim.addPlay(account, { type: 'movie', trakt_id: (await sim.catalog(account)).movies[0]!.trakt });
    const batch = createMessageBatch('trakt-sync', [
      {
        id: 'm-1',
        timestamp: Date.now(),
        attempts: 1,
        body: { user_id: userId, enqueued_at: new Date().toISOString() },
      },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, envWith(debugEnv), ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['m-1']);
    const dead = createMessageBatch('trakt-sync-dlq', [
      {
        id: 'd-1',
        timestamp: Date.now(),
        attempts: 6,
        body: { user_id: userId, enqueued_at: new Date().toISOString() },
      },
    ]);
    await worker.queue(dead, envWith(debugEnv), createExecutionContext());
    mark('queue');

    // The operator view, with a wrong token first.
    expect((await raw('GET', '/admin/status', { token: `${adminToken}x` })).status).toBe(401);
    const operator = await ok(client(adminToken).admin.status.$get());
    // The cron run and the dead letter above were recorded for the operator view.
    expect(operator.body.dead_lettered_last_24h).toBeGreaterThanOrEqual(1);
    expect(operator.body.last_cron_run).toMatchObject({ outcome: 'ok', claimed: expect.any(Number) });
    expect(operator.body.last_cron_run?.claimed).toBeGreaterThanOrEqual(1);
    mark('admin');

    // Disconnect (revokes at Trakt).
    await ok(client(token).trakt.auth.$delete());
    mark('disconnect');

    // Positive controls: each stage wrote the lines it should.
    const all = events();
    const has = (predicate: (e: Record<string, any>) => boolean, what: string) =>
      expect(all.some(predicate), what).toBe(true);
    has((e) => e.event === 'request' && e.route === '/users/register' && e.status === 201, 'register request');
    has((e) => e.event === 'request' && e.route === '/users/token' && e.status === 401, 'failed login request');
    has((e) => e.event === 'request' && e.route === '/users/api-keys' && e.user_id === userId, 'api-keys request');
    has((e) => e.event === 'request' && e.route === '/trakt/oauth-callback' && e.status === 400, 'callback request');
    has((e) => e.event === 'token_refresh' && e.outcome === 'refreshed' && e.user_id === userId, 'refresh');
    has((e) => e.event === 'sync' && e.outcome === 'ok' && e.kinds === 'movies' && e.trakt_calls > 0, 'movies sync');
    has((e) => e.event === 'sync' && e.trigger === 'queue' && e.outcome === 'ok', 'queue sync');
    has((e) => e.event === 'upstream_response' && e.service === 'TMDB', 'TMDB upstream call');
    has((e) => e.event === 'upstream_response' && e.service === 'Trakt', 'Trakt upstream call');
    has((e) => e.event === 'cron' && e.outcome === 'ok' && e.claimed >= 1, 'cron run');
    has((e) => e.event === 'queue_message' && e.outcome === 'synced' && e.user_id === userId, 'queue message');
    has((e) => e.event === 'queue_message' && e.outcome === 'dead_lettered', 'dead letter');
    has((e) => e.event === 'request' && e.route === '/admin/status' && e.status === 401, 'admin request');
    has((e) => e.event === 'request' && e.route === '/trakt/auth' && e.method === 'DELETE', 'disconnect request');
    const order = ['register', 'keys', 'connect', 'refresh', 'sync', 'cron', 'queue', 'admin', 'disconnect'];
    order.forEach((stage, i) => {
      const before = i === 0 ? 0 : stages[order[i - 1]!]!;
      expect(stages[stage]! - before, `lines written during ${stage}`).toBeGreaterThan(0);
    });
    expect(lines.length).toBe(all.length); // every line is one JSON object

    // The secrets of every stage. Trakt's tokens are read from the simulator's own records.
    const state = sim.instance.state;
    const traktTokens = [...state.tokens.values()].flatMap((t) => [t.accessToken, t.refreshToken]);
    expect(traktTokens.length).toBeGreaterThanOrEqual(4); // the connect and the refresh each issued a pair
    const encryptionKeys = env.ENCRYPTION_KEYS.split(',').map((entry) => entry.split(':')[1]!);
    const secrets: Record<string, string[]> = {
      password: [password, 'wrong-password'],
      jwt: [login.body.access, login.body.refresh, refreshed.body.access],
      jwt_secret: [env.JWT_SECRET],
      encryption_keys: encryptionKeys,
      trakt_client: [app.client_secret, app.client_id],
      tmdb_key: [tmdbKey],
      oauth: [redirect.code!, redirect.state!],
      trakt_tokens: [...traktTokens, traktRefresh.body.access_token],
      admin_token: [adminToken],
    };
    for (const [kind, values] of Object.entries(secrets)) {
      expect(values.length, kind).toBeGreaterThan(0);
      for (const value of values) {
        expect(value.length, kind).toBeGreaterThanOrEqual(8);
        const leaking = lines.filter((line) => line.includes(value));
        expect(leaking, `${kind} appears in a log line`).toEqual([]);
      }
    }
    // And the metrics carry no user-specific or secret text either.
    expect(metrics.points.length).toBeGreaterThan(0);
    const metricText = JSON.stringify(metrics.points);
    for (const value of Object.values(secrets).flat()) expect(metricText.includes(value)).toBe(false);
  });
});

describe('metrics (fake Analytics Engine binding)', () => {
  it('writes a sync point with its outcome, duration and counts', async () => {
    const metrics = fakeDataset();
    const { connectedUser } = await import('./support/trakt');
    const user = await connectedUser(sim, { movies: 4, shows: 0 });
    await ok(apiWith({ METRICS: metrics.dataset }, user.access).trakt['fetch-latest-movies'].$get());
    const syncs = metrics.of('sync');
    expect(syncs).toHaveLength(1);
    const [sync] = syncs;
    expect(sync!.blobs).toEqual(['ok', 'none', 'movies', 'request']);
    const [duration, traktCalls, tmdbCalls, rowsRead, rowsWritten] = sync!.doubles;
    expect(duration).toBeGreaterThanOrEqual(0);
    expect(traktCalls).toBeGreaterThanOrEqual(4); // last_activities, watched, playback, history
    expect(tmdbCalls).toBe(0); // no TMDB key stored for this user
    expect(rowsRead).toBeGreaterThan(0);
    expect(rowsWritten).toBeGreaterThanOrEqual(4); // at least the 4 movies
    const upstream = metrics.of('upstream');
    expect(upstream.length).toBe(traktCalls);
    for (const point of upstream) expect(point.blobs.slice(0, 2)).toEqual(['Trakt', 'api.trakt.sim.test']);
  });

  it('writes an upstream point for a 429 and a failed sync point with its reason', async () => {
    const metrics = fakeDataset();
    const { connectedUser } = await import('./support/trakt');
    const user = await connectedUser(sim, { movies: 2, shows: 0 });
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, times: 1, kind: '429', retry_after: 120 });
    const res = await read(apiWith({ METRICS: metrics.dataset }, user.access).trakt['fetch-latest-movies'].$get());
    expect(res.status).toBe(429);
    expect(metrics.of('upstream').map((p) => p.blobs)).toEqual([['Trakt', 'api.trakt.sim.test', '429']]);
    expect(metrics.of('sync').map((p) => p.blobs)).toEqual([['failed', 'user_rate_limited', 'movies', 'request']]);
  });

  it('writes refresh, cron and queue points; nothing at all without the binding', async () => {
    const metrics = fakeDataset();
    const { connectedUser } = await import('./support/trakt');
    const user = await connectedUser(sim, { movies: 1, shows: 0 });
    await ok(apiWith({ METRICS: metrics.dataset }, user.access).trakt['refresh-token'].$get());
    expect(metrics.of('refresh').map((p) => p.blobs)).toEqual([['refreshed']]);

    vi.spyOn(env.SYNC_QUEUE, 'sendBatch').mockResolvedValue(undefined as never);
    await worker.scheduled(
      createScheduledController({ scheduledTime: Date.now() }),
      envWith({ METRICS: metrics.dataset }),
      createExecutionContext(),
    );
    const [cron] = metrics.of('cron');
    expect(cron!.blobs).toEqual(['ok']);
    expect(cron!.doubles[3]).toBeGreaterThanOrEqual(1); // claimed: this user was due at once
    expect(cron!.doubles[4]).toBe(cron!.doubles[3]); // all claimed were enqueued

    const batch = createMessageBatch('trakt-sync', [
      { id: 'q', timestamp: Date.now(), attempts: 2, body: { nope: 1 } },
    ]);
    await worker.queue(batch, envWith({ METRICS: metrics.dataset }), createExecutionContext());
    expect(metrics.of('queue')).toEqual([{ blobs: ['trakt-sync', 'invalid'], doubles: [2] }]);

    // Without a METRICS binding the same work writes nothing and fails nothing.
    const before = metrics.points.length;
    await ok(apiWith({ METRICS: undefined }, user.access).trakt['fetch-latest-movies'].$get());
    expect(metrics.points.length).toBe(before);
  });
});

describe('request log line', () => {
  it('names the route pattern, never the URL or its query, with status, duration and user id', async () => {
    const { events } = captureConsole();
    const { connectedUser } = await import('./support/trakt');
    const user = await connectedUser(sim, { movies: 1, shows: 1 });
    const shows = await ok(
      apiWith({ LOG_LEVEL: 'info' }, user.access).trakt['get-stored-shows'].$get({
        query: { page: '2', page_size: '7' },
      }),
    );
    await callWith({ LOG_LEVEL: 'info' }, 'GET', '/nope/secret-path?code=abcdef123');
    const requests = events().filter((e) => e.event === 'request');
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({
      level: 'info',
      method: 'GET',
      route: '/trakt/get-stored-shows',
      status: 200,
      user_id: user.id,
    });
    expect(typeof requests[0]!.request_id).toBe('string');
    expect(requests[0]!.request_id).toBe(shows.headers.get('X-Request-Id'));
    expect(typeof requests[0]!.duration_ms).toBe('number');
    expect(requests[1]).toMatchObject({ route: null, status: 404, user_id: null });
    expect(JSON.stringify(requests)).not.toMatch(/page_size|secret-path|abcdef123/);
  });
});
