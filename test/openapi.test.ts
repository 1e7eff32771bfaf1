/**
 * The served OpenAPI document against the running API: it lists the API reference's endpoints,
 * every documented operation is routed, security matches what the API enforces, the documented
 * request schemas agree with the validators, and the documented response schemas accept real
 * responses of EVERY documented route for a synced account (a route without a sample fails).
 * Schemas are checked with @cfworker/json-schema (JSON Schema 2020-12, no code generation, so it
 * runs in workerd). Validation against the OpenAPI 3.1 meta-schema needs Ajv's code generation,
 * which workerd forbids: that test runs in Node, test-e2e/openapi.validate.test.ts.
 */

import { exports } from 'cloudflare:workers';
import { Validator } from '@cfworker/json-schema';
import { zipSync } from 'fflate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSimulator, SIM_DEFAULT_TMDB_KEY, type Simulator } from '../simulator/support/harness';
import { createApp } from '../src/app';
import { collectRoutes, type OpenApiDocument } from '../src/docs/openapi';
import { call, expectError, type JsonResponse, registerAndLogin, uniqueName } from './support/api';
import { nowPlayingSamples } from './support/nowplaying-samples';
import { connectedUser, createTraktApp, storeTraktCredentials } from './support/trakt';
import { callWith } from './support/worker';

/** The operator routes exist only on a deployment with ADMIN_TOKEN set. */
const ADMIN_TOKEN = 'openapi-test-admin-token-0123456789abcdef';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => sim.restore());

type Operation = {
  operationId: string;
  summary: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; required: boolean; schema: unknown }>;
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
};

async function document(): Promise<OpenApiDocument> {
  const res = await call<OpenApiDocument>('GET', '/openapi.json');
  expect(res.status).toBe(200);
  return res.body;
}

function operations(doc: OpenApiDocument): Array<{ method: string; path: string; op: Operation }> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      op: op as unknown as Operation,
    })),
  );
}

/** A JSON Schema 2020-12 validator for a schema of the document (its `#/components/…` refs resolve). */
function validatorFor(doc: OpenApiDocument, schema: unknown): Validator {
  return new Validator({ ...(schema as object), components: doc.components } as never, '2020-12', false);
}

/** A real answer: its status, body and the media type of its Content-Type (none without a body). */
type Sample = { status: number; body: unknown; mediaType: string | null };

/**
 * Real responses of every documented route (success and documented errors), from a synced
 * account with movies, shows, seasons and episodes, so list item schemas are exercised too.
 * A route added later fails the response-schema test until it gets a sample here.
 */
async function responseSamples(): Promise<Map<string, Sample[]>> {
  const samples = new Map<string, Sample[]>();
  const add = (key: string, res: JsonResponse) => {
    const mediaType = res.headers.get('Content-Type')?.split(';')[0]?.trim().toLowerCase() ?? null;
    samples.set(key, [...(samples.get(key) ?? []), { status: res.status, body: res.body, mediaType }]);
  };

  add('GET /health', await call('GET', '/health'));
  add('GET /health/ready', await call('GET', '/health/ready'));
  add('GET /admin/status', await callWith({ ADMIN_TOKEN }, 'GET', '/admin/status', { token: ADMIN_TOKEN }));
  add('GET /openapi.json', await call('GET', '/openapi.json'));
  add('GET /docs', await call('GET', '/docs'));
  add('GET /trakt/oauth-helper', await call('GET', '/trakt/oauth-helper/'));
  add('GET /app', await call('GET', '/app/'));
  // The redirect itself (straight to the Worker), and what a client that follows it gets (call() follows).
  add('GET /', await callWith({}, 'GET', '/'));
  add('GET /', await call('GET', '/'));

  // Users and API keys.
  const username = uniqueName('sample');
  const password = 'long enough password';
  add('POST /users/register', await call('POST', '/users/register/', { json: { username, password } }));
  const pair = await call('POST', '/users/token/', { json: { username, password } });
  add('POST /users/token', pair);
  add(
    'POST /users/token/refresh',
    await call('POST', '/users/token/refresh/', { json: { refresh: pair.body.refresh } }),
  );
  const access = pair.body.access as string;
  add('GET /users/me', await call('GET', '/users/me/', { token: access }));
  add('PATCH /users/me', await call('PATCH', '/users/me/', { token: access, json: { time_zone: 'Europe/Berlin' } }));
  add('PATCH /users/me', await call('PATCH', '/users/me/', { token: access, json: { time_zone: 'Mars/Base' } })); // 400
  const key = { service_name: 'tmdb', api_key: SIM_DEFAULT_TMDB_KEY };
  add('POST /users/api-keys', await call('POST', '/users/api-keys/', { token: access, json: key })); // 201
  add('POST /users/api-keys', await call('POST', '/users/api-keys/', { token: access, json: key })); // 200, replaced
  add('GET /users/api-keys', await call('GET', '/users/api-keys/', { token: access }));
  add('DELETE /users/api-keys/{service_name}', await call('DELETE', '/users/api-keys/tmdb/', { token: access }));
  add('DELETE /users/api-keys/{service_name}', await call('DELETE', '/users/api-keys/tmdb/', { token: access })); // 404

  // A synced account: movies (some without TMDB data), shows with seasons and episodes, playback progress.
  const user = await connectedUser(sim, {
    movies: 8,
    shows: 2,
    seasons_per_show: 2,
    episodes_per_season: 3,
    null_tmdb_fraction: 0.25,
    missing_on_tmdb_fraction: 0.25,
  });
  const catalog = await sim.catalog(user.traktUsername);
  const show = catalog.shows[0]!;
  await sim.setPlayback(user.traktUsername, {
    type: 'episode',
    trakt_id: show.seasons[0]!.episodes[1]!.trakt,
    progress: 40,
  });
  expect((await call('POST', '/users/api-keys/', { token: user.access, json: key })).status).toBe(201);
  add('GET /trakt/fetch-latest-movies', await call('GET', '/trakt/fetch-latest-movies/', { token: user.access }));
  add('POST /trakt/fetch-latest-movies', await call('POST', '/trakt/fetch-latest-movies/', { token: user.access }));
  add('GET /trakt/fetch-latest-shows', await call('GET', '/trakt/fetch-latest-shows/', { token: user.access }));
  add('POST /trakt/fetch-latest-shows', await call('POST', '/trakt/fetch-latest-shows/', { token: user.access }));
  add('GET /trakt/fetch-latest-movies', await call('GET', '/trakt/fetch-latest-movies/', { token: access })); // 401
  await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind: 'hold' });
  const running = call('POST', '/trakt/fetch-latest-shows/', { token: user.access });
  await sim.whenHeld();
  // 409
  add('POST /trakt/fetch-latest-shows', await call('POST', '/trakt/fetch-latest-shows/', { token: user.access }));
  await sim.releaseHeld();
  expect((await running).status).toBe(200);

  const stored = await call('GET', '/trakt/get-stored-movies/?page_size=100', { token: user.access });
  expect(stored.body.movies).toHaveLength(8);
  add('GET /trakt/get-stored-movies', stored);
  add('GET /trakt/get-stored-movies', await call('GET', '/trakt/get-stored-movies/', { token: access })); // empty
  const shows = await call('GET', '/trakt/get-stored-shows/', { token: user.access });
  expect(shows.body.shows).toHaveLength(2);
  add('GET /trakt/get-stored-shows', shows);
  const detail = await call('GET', `/trakt/get-watched-seasons-episodes/?trakt_id=${show.trakt}`, {
    token: user.access,
  });
  expect(detail.body.episodes.length).toBeGreaterThan(0);
  add('GET /trakt/get-watched-seasons-episodes', detail);
  add(
    'GET /trakt/get-watched-seasons-episodes',
    await call('GET', '/trakt/get-watched-seasons-episodes/?trakt_id=999999', { token: user.access }),
  ); // 404
  add('GET /trakt/sync-status', await call('GET', '/trakt/sync-status/', { token: user.access }));
  add('GET /trakt/history', await call('GET', '/trakt/history/', { token: user.access }));
  add('GET /trakt/stats', await call('GET', '/trakt/stats/?tz=Asia/Kolkata', { token: user.access }));
  add('GET /trakt/export', await call('GET', '/trakt/export/', { token: user.access }));

  // The year in review, sharing and the public answers, webhooks.
  const reviewYear = new Date(
    (await call('GET', '/trakt/stats/', { token: user.access })).body.last_play_at,
  ).getUTCFullYear();
  add('GET /trakt/review/{year}', await call('GET', `/trakt/review/${reviewYear}/`, { token: user.access }));
  add('GET /trakt/review/{year}', await call('GET', '/trakt/review/1800/', { token: user.access })); // 400
  add('GET /app/review', await call('GET', '/app/review/'));
  add('GET /users/me/sharing', await call('GET', '/users/me/sharing/', { token: user.access })); // 404: off
  const handle = uniqueName('share').toLowerCase().replace(/_/g, '-');
  const parts = ['recent', 'now', 'stats', 'calendar', 'review'];
  add(
    'PUT /users/me/sharing',
    await call('PUT', '/users/me/sharing/', { token: user.access, json: { handle, parts } }),
  );
  add('PUT /users/me/sharing', await call('PUT', '/users/me/sharing/', { token: access, json: { handle, parts } })); // 409
  add('GET /users/me/sharing', await call('GET', '/users/me/sharing/', { token: user.access }));
  for (const name of [
    'recent.json',
    'now.json',
    'stats.json',
    'feed.atom',
    'feed.rss',
    'calendar.ics',
    'widget',
    'card.svg',
  ])
    add(`GET /u/{handle}/${name}`, await call('GET', `/u/${handle}/${name}`));
  add('GET /u/{handle}/recent.json', await call('GET', '/u/nobody-here/recent.json')); // 404
  add('GET /u/{handle}/review/{file}', await call('GET', `/u/${handle}/review/${reviewYear}.json`));
  add('GET /u/{handle}/review/{file}', await call('GET', `/u/${handle}/review/${reviewYear}`));
  add('DELETE /users/me/sharing', await call('DELETE', '/users/me/sharing/', { token: access }));
  const hook = await call('POST', '/users/me/webhooks/', {
    token: user.access,
    json: { url: 'https://hooks.receiver.test/openapi', events: ['play.created'] },
  });
  add('POST /users/me/webhooks', hook);
  add('GET /users/me/webhooks', await call('GET', '/users/me/webhooks/', { token: user.access }));
  add(
    'PATCH /users/me/webhooks/{id}',
    await call('PATCH', `/users/me/webhooks/${hook.body.id}/`, { token: user.access, json: { enabled: false } }),
  );
  add(
    'PATCH /users/me/webhooks/{id}',
    await call('PATCH', '/users/me/webhooks/wh_none/', { token: user.access, json: { enabled: true } }),
  ); // 404
  add(
    'POST /users/me/webhooks/{id}/test',
    await call('POST', `/users/me/webhooks/${hook.body.id}/test/`, { token: user.access }),
  );
  add(
    'POST /users/me/webhooks/{id}/test',
    await call('POST', '/users/me/webhooks/wh_none/test/', { token: user.access }),
  );
  add(
    'GET /users/me/webhooks/{id}/deliveries',
    await call('GET', `/users/me/webhooks/${hook.body.id}/deliveries/`, { token: user.access }),
  );
  add(
    'GET /users/me/webhooks/{id}/deliveries',
    await call('GET', '/users/me/webhooks/wh_none/deliveries/', { token: user.access }),
  );
  add(
    'DELETE /users/me/webhooks/{id}',
    await call('DELETE', `/users/me/webhooks/${hook.body.id}/`, { token: user.access }),
  );
  add(
    'DELETE /users/me/webhooks/{id}',
    await call('DELETE', `/users/me/webhooks/${hook.body.id}/`, { token: user.access }),
  );
  add('GET /trakt/sync-status', await call('GET', '/trakt/sync-status/', { token: access })); // never synced

  // Watching: something, then nothing.
  await sim.startWatching(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[0]!.trakt });
  add('GET /trakt/watching', await call('GET', '/trakt/watching/', { token: user.access }));
  await sim.stopWatching(user.traktUsername);
  add('GET /trakt/watching', await call('GET', '/trakt/watching/', { token: user.access }));

  // Connection: status, refresh, the code flow (JSON, HTML and a refusal), the device flow, disconnect.
  add('GET /trakt/auth-status', await call('GET', '/trakt/auth-status/', { token: user.access }));
  add('GET /trakt/auth-status', await call('GET', '/trakt/auth-status/', { token: access }));
  add('GET /trakt/refresh-token', await call('GET', '/trakt/refresh-token/', { token: user.access }));
  add('GET /trakt/refresh-token', await call('GET', '/trakt/refresh-token/', { token: access })); // 401
  add('GET /trakt/authenticate', await call('GET', '/trakt/authenticate/', { token: access })); // 400
  const app = await createTraktApp(sim);
  await storeTraktCredentials(access, app);
  await sim.createAccount({ username: `${username}_trakt`, movies: 1, shows: 0 });
  await sim.setSession(`${username}_trakt`);
  const authorizeOnce = async () => {
    const auth = await call('GET', '/trakt/authenticate/', { token: access });
    add('GET /trakt/authenticate', auth);
    return sim.authorize(auth.body.auth_url);
  };
  const landed = await authorizeOnce();
  const page = await call('GET', `/trakt/oauth-callback/?code=${landed.code}&state=${landed.state}`, {
    headers: { Accept: 'application/json' },
  });
  add('GET /trakt/oauth-callback', page); // the helper page, whatever the Accept header
  // The confirmation form lives on NowPlaying's callback page (src/nowplaying/), for a state of this API.
  const npPage = await call('GET', `/api/trakt/oauth-callback/?code=${landed.code}&state=${landed.state}`);
  add('GET /api/trakt/oauth-callback', npPage);
  const confirmation = /name="confirmation" value="([^"]+)"/.exec(String(npPage.body))?.[1];
  expect(confirmation).toEqual(expect.any(String));
  const confirm = () =>
    call('POST', '/trakt/oauth-callback/confirm/', {
      body: new URLSearchParams({ confirmation: confirmation! }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'text/html' },
    });
  add('POST /trakt/oauth-callback/confirm', await confirm());
  add('POST /trakt/oauth-callback/confirm', await confirm()); // 400: used
  const posted = await authorizeOnce();
  add(
    'POST /trakt/oauth-callback',
    await call('POST', '/trakt/oauth-callback/', { token: access, json: { code: posted.code, state: posted.state } }),
  );
  add(
    'POST /trakt/oauth-callback',
    await call('POST', '/trakt/oauth-callback/', { token: access, json: { code: 'x', state: posted.state } }),
  ); // 400
  const device = await call('POST', '/trakt/device/code/', { token: access });
  add('POST /trakt/device/code', device);
  add('POST /trakt/device/token', await call('POST', '/trakt/device/token/', { token: access })); // 202
  await sim.approveDevice(device.body.user_code, `${username}_trakt`);
  add('POST /trakt/device/token', await call('POST', '/trakt/device/token/', { token: access })); // 429: too soon
  await sim.advanceClock(device.body.interval);
  const realNow = Date.now;
  Date.now = () => realNow() + device.body.interval * 1000; // the API spaces polls by its own clock too
  try {
    const connected = await call('POST', '/trakt/device/token/', { token: access });
    expect(connected.status).toBe(200);
    add('POST /trakt/device/token', connected);
  } finally {
    Date.now = realNow;
  }
  add('DELETE /trakt/auth', await call('DELETE', '/trakt/auth/', { token: access }));
  add('DELETE /trakt/auth', await call('DELETE', '/trakt/auth/', { token: access })); // nothing left
  add('POST /trakt/device/code', await call('POST', '/trakt/device/code/', { token: user.access })); // 200 again
  add('DELETE /trakt/history', await call('DELETE', '/trakt/history/', { token: user.access })); // 204

  // Importing Trakt's export: a small ZIP (200), a larger one (202), refusals; the latest import; batches.
  const importer = await registerAndLogin();
  const asZip = (body: Uint8Array | string, type = 'application/zip') =>
    call('POST', '/trakt/import/', { token: importer.access, body, headers: { 'Content-Type': type } });
  add('GET /trakt/import', await call('GET', '/trakt/import/', { token: importer.access })); // 404
  const small = await sim.exportZip(user.traktUsername);
  add('POST /trakt/import', await asZip(small)); // 200
  add('GET /trakt/import', await call('GET', '/trakt/import/', { token: importer.access }));
  add('POST /trakt/import', await asZip('not a zip')); // 400
  add('POST /trakt/import', await asZip(small, 'text/plain')); // 415
  const large = zipSync({ 'watched-history-1.json': new TextEncoder().encode(`[${' '.repeat(600_000)}]`) });
  add('POST /trakt/import', await asZip(large)); // 202
  add('POST /trakt/import', await asZip(large)); // 409
  const item = {
    id: 1,
    watched_at: '2024-01-01T00:00:00.000Z',
    action: 'watch',
    type: 'movie',
    movie: { title: 'A movie', year: 2000, ids: { trakt: 1 } },
  };
  const batch = (json: unknown) => call('POST', '/trakt/import/history/', { token: importer.access, json });
  add('POST /trakt/import/history', await batch([item]));
  add('POST /trakt/import/history', await batch([{ ...item, type: 'person' }])); // 400

  // Account routes, on a user of their own (they revoke sessions and delete the account).
  const owner = await registerAndLogin();
  const newPassword = 'another long enough password';
  const asOwner = (method: string, path: string, json: unknown) => call(method, path, { token: owner.access, json });
  add('POST /users/logout', await asOwner('POST', '/users/logout/', { refresh: 'not-a-refresh-token' })); // 400
  add('POST /users/logout', await asOwner('POST', '/users/logout/', { refresh: owner.refresh })); // 204
  const wrongPassword = { current_password: 'not the password', new_password: newPassword };
  add('POST /users/me/password', await asOwner('POST', '/users/me/password/', wrongPassword)); // 403
  const rightPassword = { current_password: owner.password, new_password: newPassword };
  add('POST /users/me/password', await asOwner('POST', '/users/me/password/', rightPassword)); // 204
  add('DELETE /users/me', await asOwner('DELETE', '/users/me/', { password: owner.password })); // 403: changed
  add('DELETE /users/me', await asOwner('DELETE', '/users/me/', { password: newPassword })); // 204

  // NowPlaying's clients under /api/ (src/nowplaying/).
  await nowPlayingSamples(sim, add);
  return samples;
}

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document with a bearer JWT scheme and an Error schema', async () => {
    const doc = await document();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components).toMatchObject({
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Error: { type: 'object', required: ['error'] } },
    });
  });

  it('documents every endpoint of the API reference, and every documented operation is routed', async () => {
    const doc = await document();
    const documented = new Set(operations(doc).map((o) => `${o.method} ${o.path}`));
    const apiReference = [
      'POST /users/api-keys',
      'GET /trakt/auth-status',
      'GET /trakt/authenticate',
      'GET /trakt/oauth-callback',
      'POST /trakt/oauth-callback',
      'GET /trakt/refresh-token',
      'GET /trakt/fetch-latest-movies',
      'GET /trakt/fetch-latest-shows',
      'GET /trakt/get-stored-movies',
      'GET /trakt/get-stored-shows',
      'GET /trakt/get-watched-seasons-episodes',
    ];
    expect(apiReference.filter((key) => !documented.has(key))).toEqual([]);
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(15);
    for (const { method, path } of ops) {
      const url = path.replace(/\{[^}]+\}/g, 'x');
      const res = await callWith({ ADMIN_TOKEN }, method, url, method === 'POST' ? { json: {} } : {});
      // An unknown handle under /u/ answers exactly like an unrouted path (on purpose: no hint it exists);
      // test/sharing.test.ts checks those routes with real handles.
      const publicAnswer = path.startsWith('/u/{handle}/');
      const unrouted =
        res.status === 405 || (!publicAnswer && res.status === 404 && /^Not found: /.test(res.body?.error ?? ''));
      expect(unrouted, `${method} ${path} is documented but not routed`).toBe(false);
    }
  });

  it('has a describe() contract (summary and responses) on every route', () => {
    const routes = collectRoutes(createApp().routes);
    expect(routes.length).toBeGreaterThan(15);
    const undocumented = routes.filter((r) => !r.contract).map((r) => r.key);
    expect(undocumented, 'add describe({summary, responses}) to these routes').toEqual([]);
    for (const route of routes) {
      expect(route.contract!.summary, route.key).not.toBe('');
      expect(Object.keys(route.contract!.responses).length, route.key).toBeGreaterThan(0);
    }
  });

  it('documents every answer of the device-token poll, slow_down as a 429', async () => {
    const doc = await document();
    const poll = doc.paths['/trakt/device/token']!.post as unknown as Operation;
    expect(Object.keys(poll.responses).sort()).toEqual(
      ['200', '202', '400', '401', '403', '404', '409', '410', '429', 'default'].sort(),
    );
    expect(poll.responses['429']!.description).toMatch(/slow_down/);
    expect(JSON.stringify(poll.responses['200'])).not.toMatch(/slow_down/);
  });

  it('has unique operationIds and only resolvable $refs', async () => {
    const doc = await document();
    const ids = operations(doc).map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      const target = ref
        .replace(/^#\//, '')
        .split('/')
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
      expect(target, ref).toBeTruthy();
    }
  });

  it('marks exactly the routes the rules say need a JWT', async () => {
    const doc = await document();
    const publicRoutes = new Set([
      'POST /users/register',
      'POST /users/token',
      'POST /users/token/refresh',
      'GET /trakt/oauth-callback',
      'POST /trakt/oauth-callback/confirm',
      'GET /trakt/oauth-helper',
      // NowPlaying's sign-in (under /api/, src/nowplaying/).
      'POST /users/login',
      'POST /auth/login',
    ]);
    for (const { method, path, op } of operations(doc)) {
      const key = `${method} ${path}`;
      // The NowPlaying layer follows the same rules under /api/.
      const bare = path.replace(/^\/api(?=\/)/, '');
      const shouldNeedJwt =
        (bare.startsWith('/users/') || bare.startsWith('/trakt/')) && !publicRoutes.has(`${method} ${bare}`);
      expect(op.security ?? [], key).toEqual(shouldNeedJwt ? [{ bearerAuth: [] }] : []);
      if (shouldNeedJwt) expect(op.responses['401'], key).toBeDefined();
    }
  });

  it('security matches the API: documented-secured routes answer 401 without a JWT, public ones do not', async () => {
    const doc = await document();
    for (const { method, path, op } of operations(doc)) {
      const url = path.replace(/\{[^}]+\}/g, 'x');
      const res = await call(method, url, method === 'GET' || method === 'DELETE' ? {} : { json: {} });
      if (op.security?.length) expectError(res, 401);
      else expect(res.status, `${method} ${path}`).not.toBe(401);
    }
  });

  it('documented request schemas agree with the validators: what the document rejects, the API rejects', async () => {
    const doc = await document();
    const bodySchema = (path: string, method: string) =>
      (doc.paths[path]![method] as unknown as Operation).requestBody!.content['application/json']!.schema;
    const register = validatorFor(doc, bodySchema('/users/register', 'post'));
    const bodies: Array<[unknown, boolean]> = [
      [{ username: uniqueName('doc'), password: 'long enough password' }, true],
      [{ username: uniqueName('doc'), password: 'short' }, false],
      [{ password: 'long enough password' }, false],
      [{ username: 42, password: 'long enough password' }, false],
    ];
    for (const [body, valid] of bodies) {
      expect(register.validate(body).valid, JSON.stringify(body)).toBe(valid);
      expect((await call('POST', '/users/register/', { json: body })).status, JSON.stringify(body)).toBe(
        valid ? 201 : 400,
      );
    }

    const user = await registerAndLogin();
    const apiKey = validatorFor(doc, bodySchema('/users/api-keys', 'post'));
    const keyBodies: Array<[unknown, boolean]> = [
      [{ service_name: 'tmdb', api_key: 'k' }, true],
      [{ service_name: 'tmdb' }, false],
      [{ service_name: 'tmdb', api_key: '' }, false],
    ];
    for (const [body, valid] of keyBodies) {
      expect(apiKey.validate(body).valid, JSON.stringify(body)).toBe(valid);
      const res = await call('POST', '/users/api-keys/', { token: user.access, json: body });
      expect(res.status === 400, JSON.stringify(body)).toBe(!valid);
    }

    // Query parameters: every value the API accepts is valid for the documented parameter schema (the
    // document states no bounds yet, so a value the API refuses must at least get the documented 400).
    const movies = doc.paths['/trakt/get-stored-movies']!.get as unknown as Operation;
    expect(movies.parameters!.map((p) => [p.name, p.in, p.required])).toEqual([
      ['page', 'query', false],
      ['page_size', 'query', false],
      ['sort', 'query', false],
      ['order', 'query', false],
      ['q', 'query', false],
      ['year', 'query', false],
    ]);
    expect(movies.responses['400']).toBeDefined();
    const param = (name: string) => validatorFor(doc, movies.parameters!.find((p) => p.name === name)!.schema);
    for (const [name, value, accepted] of [
      ['page_size', '100', true],
      ['page_size', '1', true],
      ['page', '7', true],
      ['page_size', '101', false],
      ['page', '0', false],
    ] as const) {
      const res = await call('GET', `/trakt/get-stored-movies/?${name}=${value}`, { token: user.access });
      expect(res.status, `${name}=${value}`).toBe(accepted ? 200 : 400);
      if (accepted) expect(param(name).validate(value).valid, `${name}=${value} is valid per the document`).toBe(true);
    }
    const episodes = doc.paths['/trakt/get-watched-seasons-episodes']!.get as unknown as Operation;
    expect(episodes.parameters!.filter((p) => p.required).map((p) => p.name)).toEqual(['trakt_id']);
    expectError(await call('GET', '/trakt/get-watched-seasons-episodes/', { token: user.access }), 400);
    const del = doc.paths['/users/api-keys/{service_name}']!.delete as unknown as Operation;
    expect(del.parameters!.map((p) => [p.name, p.in, p.required])).toEqual([['service_name', 'path', true]]);
  });

  it('documented response schemas accept what every route returns for a synced account (all sampled)', async () => {
    const doc = await document();
    const samples = await responseSamples();
    const keys = operations(doc).map((o) => `${o.method} ${o.path}`);
    const unsampled = keys.filter((key) => !samples.has(key));
    expect(unsampled, 'add a sample response for these routes in responseSamples() (test/openapi.test.ts)').toEqual([]);
    const stale = [...samples.keys()].filter((key) => !keys.includes(key));
    expect(stale, 'samples for routes that are not documented').toEqual([]);

    let checked = 0;
    for (const { method, path, op } of operations(doc)) {
      const key = `${method} ${path}`;
      const list = samples.get(key)!;
      expect(list.length, key).toBeGreaterThan(0);
      for (const sample of list) {
        const response = op.responses[String(sample.status)] ?? op.responses.default;
        expect(op.responses[String(sample.status)], `${key} documents status ${sample.status}`).toBeDefined();
        if (sample.status === 204 || sample.status === 302) {
          expect(response!.content, `${key} ${sample.status} has no body`).toBeUndefined();
          expect(sample.body, key).toBe('');
          checked += 1;
          continue;
        }
        // The media type the answer really has must be one the document gives for its status.
        const type = sample.mediaType;
        const content = type ? response!.content?.[type] : undefined;
        expect(content, `${key} ${sample.status} answers ${type}, which the document must list`).toBeDefined();
        if (type === 'text/html') {
          expect(sample.body, key).toMatch(/<html[\s>]/i);
        } else if (type === 'application/json') {
          const result = validatorFor(doc, content!.schema).validate(sample.body);
          expect(
            result.errors.slice(0, 3),
            `${key} ${sample.status}: ${JSON.stringify(sample.body).slice(0, 300)}`,
          ).toEqual([]);
        } else if (type) {
          // Feeds, the calendar, the card: a non-empty text body of the documented media type.
          expect(String(sample.body).length, key).toBeGreaterThan(0);
        }
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(keys.length);
  }, 120_000);
});

describe('GET /docs', () => {
  it('serves a self-contained reference page under a hash-based CSP', async () => {
    const res = await exports.default.fetch(new Request('http://api.test/docs'));
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
    const html = await res.text();
    const csp = res.headers.get('Content-Security-Policy')!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/connect-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(script)));
    expect(csp).toContain(`script-src 'sha256-${btoa(String.fromCharCode(...digest))}'`);
    expect(html).not.toMatch(/<script[^>]*\ssrc=|<link\b|https?:\/\//i);
    expect(script).toMatch(/fetch\(["']\/openapi\.json["']/);
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});
