/**
 * The OpenAPI document is generated from the routing table: every route appears, request
 * schemas are the validators' own, security matches what the API actually enforces, and the
 * documented response schemas accept what the API actually returns. (Validation against the
 * OpenAPI 3.1 meta-schema needs Ajv's code generation, which workerd forbids: that test runs in
 * Node against the served document, test-e2e/openapi.validate.test.ts.)
 */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { createApp } from '../src/app';
import { collectRoutes, jsonSchema, type OpenApiDocument, openApiPath } from '../src/docs/openapi';
import { callbackQuery } from '../src/trakt/schemas';
import { apiKeyInput, registerInput } from '../src/users/schemas';
import { call, expectError, registerAndLogin } from './support/api';

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

const registered = () => createApp().routes.filter((r) => r.method !== 'ALL');

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

  it('contains every route registered on the app, and nothing else', async () => {
    const doc = await document();
    const expected = new Set(registered().map((r) => `${r.method} ${openApiPath(r.path)}`));
    expect(expected.size).toBeGreaterThan(15);
    const documented = new Set(operations(doc).map((o) => `${o.method} ${o.path}`));
    expect([...documented].sort()).toEqual([...expected].sort());
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
    ]);
    for (const { method, path, op } of operations(doc)) {
      const key = `${method} ${path}`;
      const shouldNeedJwt = (path.startsWith('/users/') || path.startsWith('/trakt/')) && !publicRoutes.has(key);
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

  it('request parameters and bodies come from the validators’ own zod schemas', async () => {
    const doc = await document();
    const register = doc.paths['/users/register']!.post as unknown as Operation;
    expect(register.requestBody!.content['application/json']!.schema).toEqual(jsonSchema(registerInput, 'input'));
    expect(register.requestBody!.content['application/json']!.schema).toMatchObject({
      required: ['username', 'password'],
      properties: { password: { minLength: 8 } },
    });
    const apiKeys = doc.paths['/users/api-keys']!.post as unknown as Operation;
    expect(apiKeys.requestBody!.content['application/json']!.schema).toEqual(jsonSchema(apiKeyInput, 'input'));
    expect(apiKeys.responses['400']).toBeDefined();

    const callback = doc.paths['/trakt/oauth-callback']!.get as unknown as Operation;
    const callbackProps = Object.keys((jsonSchema(callbackQuery, 'input') as { properties: object }).properties);
    expect(callback.parameters!.map((p) => [p.name, p.in, p.required])).toEqual(
      callbackProps.map((name) => [name, 'query', false]),
    );
    expect(callback.responses['200']!.content).toHaveProperty(['text/html']);

    const movies = doc.paths['/trakt/get-stored-movies']!.get as unknown as Operation;
    expect(movies.parameters!.map((p) => [p.name, p.in, p.required])).toEqual([
      ['page', 'query', false],
      ['page_size', 'query', false],
      ['sort', 'query', false],
      ['order', 'query', false],
      ['q', 'query', false],
      ['year', 'query', false],
    ]);
    const episodes = doc.paths['/trakt/get-watched-seasons-episodes']!.get as unknown as Operation;
    expect(episodes.parameters!.map((p) => [p.name, p.in, p.required])).toEqual([['trakt_id', 'query', true]]);

    const del = doc.paths['/users/api-keys/{service_name}']!.delete as unknown as Operation;
    expect(del.parameters).toEqual([
      { name: 'service_name', in: 'path', required: true, schema: expect.objectContaining({ type: 'string' }) },
    ]);
    expect(Object.keys(del.responses)).toEqual(expect.arrayContaining(['204', '404', '400', '401', 'default']));
  });

  it('documented response schemas accept what the API actually returns', async () => {
    const contracts = new Map(collectRoutes(createApp().routes).map((r) => [r.key, r.contract]));
    const check = (key: string, status: number, body: unknown) => {
      const schema = contracts.get(key)?.responses[status]?.schema;
      expect(schema, `${key} ${status} has a schema`).toBeDefined();
      expect(() => (schema as z.ZodType).parse(body), `${key} ${status}`).not.toThrow();
    };
    const user = await registerAndLogin();
    check('GET /health', 200, (await call('GET', '/health')).body);
    const token = await call('POST', '/users/token/', { json: { username: user.username, password: user.password } });
    check('POST /users/token', 200, token.body);
    check(
      'POST /users/token/refresh',
      200,
      (await call('POST', '/users/token/refresh/', { json: { refresh: user.refresh } })).body,
    );
    check('GET /users/me', 200, (await call('GET', '/users/me/', { token: user.access })).body);
    const saved = await call('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'tmdb', api_key: 'k' },
    });
    check('POST /users/api-keys', saved.status, saved.body);
    check('GET /users/api-keys', 200, (await call('GET', '/users/api-keys/', { token: user.access })).body);
    check('GET /trakt/auth-status', 200, (await call('GET', '/trakt/auth-status/', { token: user.access })).body);
    check('DELETE /trakt/auth', 200, (await call('DELETE', '/trakt/auth/', { token: user.access })).body);
    check(
      'GET /trakt/get-stored-movies',
      200,
      (await call('GET', '/trakt/get-stored-movies/?page=1&page_size=2', { token: user.access })).body,
    );
    check(
      'GET /trakt/get-stored-shows',
      200,
      (await call('GET', '/trakt/get-stored-shows/', { token: user.access })).body,
    );
    check('GET /trakt/sync-status', 200, (await call('GET', '/trakt/sync-status/', { token: user.access })).body);
    check('GET /trakt/history', 200, (await call('GET', '/trakt/history/', { token: user.access })).body);
    check('GET /trakt/stats', 200, (await call('GET', '/trakt/stats/?tz=Asia/Kolkata', { token: user.access })).body);
    check('GET /trakt/export', 200, (await call('GET', '/trakt/export/', { token: user.access })).body);
    const register = await call('POST', '/users/register/', {
      json: { username: `${user.username}_2`, password: 'long enough password' },
    });
    check('POST /users/register', 201, register.body);
  });
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
