/**
 * @module
 * Generates the OpenAPI 3.1 document from the app's own routing table, so it cannot drift:
 * - operations: every `(method, path)` in `app.routes` (global `ALL` middleware excluded);
 * - request parameters and bodies: the zod schemas attached to each `validate()` middleware
 *   under `REQUEST_SCHEMA` (the very schemas that validate requests), via `z.toJSONSchema()`;
 * - security: an operation needs the bearer JWT iff `requireUser` (or `requireToken`) is in its handler chain
 *   (directly, or as `ALL` middleware on a matching path pattern);
 * - summaries, response schemas and non-JSON request bodies: the `describe()` marker on each route
 *   (src/http/describe.ts).
 * Routes without one still appear, with a placeholder summary (test/openapi.test.ts forbids that).
 */
import type { RouterRoute } from 'hono/types';
import { z } from 'zod';
import { contractOf, type RouteContract } from '../http/describe';
import { REQUEST_SCHEMA } from '../http/validate';
import { AUTH_MIDDLEWARES } from '../users/middleware';
import { VERSION } from '../version';

type JsonSchema = Record<string, unknown>;
type Attached = { target: string; schema: z.ZodType };

export type RouteInfo = {
  method: string;
  /** As registered in Hono, e.g. `/users/api-keys/:service_name`. */
  path: string;
  /** `"METHOD /path"`. */
  key: string;
  schemas: Attached[];
  /** From the route's `describe()` marker. */
  contract?: RouteContract;
  secured: boolean;
};

export const errorOutput = z.object({
  error: z.string().describe('What went wrong, for humans'),
  details: z.unknown().optional().describe('Validation problems ([{path, message}]) or hints, when there are any'),
});

const SECURITY_SCHEME = 'bearerAuth';

function attachedSchema(handler: unknown): Attached | undefined {
  if (typeof handler !== 'function') return undefined;
  return (handler as unknown as { [REQUEST_SCHEMA]?: Attached })[REQUEST_SCHEMA];
}

/** Whether a Hono `use()` path pattern (`*`, `/trakt/*`, `/users/me`) covers a route path. */
function patternCovers(pattern: string, path: string): boolean {
  if (pattern === '*' || pattern === '/*') return true;
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -2);
    return path === prefix || path.startsWith(`${prefix}/`);
  }
  return pattern === path;
}

/** Groups the routing table into one entry per `(method, path)` with its schemas and auth. */
export function collectRoutes(routes: readonly RouterRoute[]): RouteInfo[] {
  const securedPatterns = routes
    .filter((r) => r.method === 'ALL' && AUTH_MIDDLEWARES.has(r.handler))
    .map((r) => r.path);
  const byKey = new Map<string, RouteInfo>();
  for (const route of routes) {
    if (route.method === 'ALL') continue;
    const key = `${route.method} ${route.path}`;
    let info = byKey.get(key);
    if (!info) {
      info = {
        method: route.method,
        path: route.path,
        key,
        schemas: [],
        secured: securedPatterns.some((p) => patternCovers(p, route.path)),
      };
      byKey.set(key, info);
    }
    const attached = attachedSchema(route.handler);
    if (attached) info.schemas.push(attached);
    info.contract ??= contractOf(route.handler);
    if (AUTH_MIDDLEWARES.has(route.handler)) info.secured = true;
  }
  return [...byKey.values()];
}

/** `/users/api-keys/:service_name` → `/users/api-keys/{service_name}` (a `{regex}` constraint is dropped). */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?\??/g, '{$1}');
}

export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

const PARAM_LOCATION: Record<string, 'query' | 'path' | 'header' | 'cookie' | undefined> = {
  query: 'query',
  param: 'path',
  header: 'header',
  cookie: 'cookie',
};

function parametersFor(info: RouteInfo): JsonSchema[] {
  const parameters: JsonSchema[] = [];
  const seen = new Set<string>();
  for (const { target, schema } of info.schemas) {
    const location = PARAM_LOCATION[target];
    if (!location) continue;
    const object = jsonSchema(schema, 'input');
    const properties = (object.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((object.required ?? []) as string[]);
    for (const [name, property] of Object.entries(properties)) {
      const { description, ...propertySchema } = property;
      seen.add(`${location}:${name}`);
      parameters.push({
        name,
        in: location,
        required: location === 'path' || required.has(name),
        ...(typeof description === 'string' ? { description } : {}),
        schema: propertySchema,
      });
    }
  }
  // Path parameters nobody validates still have to be declared.
  for (const match of info.path.matchAll(/:([A-Za-z0-9_]+)/g)) {
    if (!seen.has(`path:${match[1]}`))
      parameters.push({ name: match[1], in: 'path', required: true, schema: { type: 'string' } });
  }
  return parameters;
}

function requestBodyFor(info: RouteInfo): JsonSchema | undefined {
  const content: Record<string, JsonSchema> = {};
  const raw = info.contract?.requestBody;
  if (raw) content[raw.contentType] = { schema: { type: 'string', contentMediaType: raw.contentType } };
  for (const { target, schema } of info.schemas) {
    if (target === 'json') content['application/json'] = { schema: jsonSchema(schema, 'input') };
    if (target === 'form') content['application/x-www-form-urlencoded'] = { schema: jsonSchema(schema, 'input') };
  }
  if (Object.keys(content).length === 0) return undefined;
  return { required: true, ...(raw ? { description: raw.description } : {}), content };
}

const errorRef = (doc: RouteContract | undefined) => ({ $ref: `#/components/schemas/${doc?.errors?.name ?? 'Error'}` });

function responsesFor(info: RouteInfo, doc: RouteContract | undefined): JsonSchema {
  const ERROR_REF = errorRef(doc);
  const errorResponse = (description: string) => ({
    description,
    content: { 'application/json': { schema: ERROR_REF } },
  });
  const responses: Record<string, JsonSchema> = {};
  for (const [status, response] of Object.entries(doc?.responses ?? { 200: { description: 'OK' } })) {
    const content: Record<string, JsonSchema> = {};
    if (response.schema) content['application/json'] = { schema: jsonSchema(response.schema, 'output') };
    if (response.html) content['text/html'] = { schema: { type: 'string' } };
    if (response.csv) content['text/csv'] = { schema: { type: 'string' } };
    if (response.mediaType) content[response.mediaType] = { schema: { type: 'string' } };
    const isError = Number(status) >= 400;
    if (isError && !response.schema) content['application/json'] = { schema: ERROR_REF };
    responses[status] =
      Object.keys(content).length > 0
        ? { description: response.description, content }
        : { description: response.description };
  }
  const validates = info.schemas.length > 0;
  if (validates) {
    const existing = responses['400'];
    const failed = errorResponse(
      existing ? `${String(existing.description)}; or the request failed validation` : 'The request failed validation',
    );
    // Keep what the route documents for its own 400 (e.g. an HTML page) next to the JSON validation error.
    responses['400'] = { ...failed, content: { ...(existing?.content as object | undefined), ...failed.content } };
  }
  if (info.secured && !responses['401'])
    responses['401'] = errorResponse('Missing, malformed, invalid or expired access JWT');
  responses.default = errorResponse('Any other error, always as {"error": …}');
  return responses;
}

function operationId(info: RouteInfo): string {
  const words = `${info.method.toLowerCase()} ${info.path}`.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return words.map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join('');
}

export type OpenApiDocument = {
  openapi: string;
  info: JsonSchema;
  servers: JsonSchema[];
  tags: JsonSchema[];
  paths: Record<string, Record<string, JsonSchema>>;
  components: JsonSchema;
};

const TAG_DESCRIPTIONS: Record<string, string> = {
  meta: 'Health and documentation',
  users: 'Accounts, JWTs and stored service credentials',
  trakt: 'Connecting Trakt (OAuth code and device flows) and reading from it',
  admin: 'The operator view (bearer ADMIN_TOKEN)',
  nowplaying:
    "NowPlaying's clients (its web app and OAuth setup script) under /api/, in the shapes they read " +
    '(errors as {"error", "detail"}; 401 only for the JWT)',
};

export function buildOpenApi(routes: readonly RouterRoute[]): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  const tags = new Set<string>();
  const errorSchemas: Record<string, JsonSchema> = { Error: jsonSchema(errorOutput, 'output') };
  for (const info of collectRoutes(routes)) {
    const doc = info.contract;
    if (doc?.errors) errorSchemas[doc.errors.name] ??= jsonSchema(doc.errors.schema, 'output');
    const tag = doc?.tag ?? info.path.split('/')[1] ?? 'meta';
    tags.add(tag);
    const parameters = parametersFor(info);
    const requestBody = requestBodyFor(info);
    const operation: JsonSchema = {
      operationId: operationId(info),
      summary: doc?.summary ?? `${info.method} ${info.path} (undocumented)`,
      ...(doc?.description ? { description: doc.description } : {}),
      tags: [tag],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses: responsesFor(info, doc),
      ...(info.secured ? { security: [{ [SECURITY_SCHEME]: [] }] } : {}),
    };
    (paths[openApiPath(info.path)] ??= {})[info.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Trakt watch-history API',
      version: VERSION,
      description:
        'Self-hostable Trakt watch-history API. Every path also accepts a trailing slash (`/trakt/auth-status/`). ' +
        'Errors are JSON `{"error": "...", "details"?: ...}`. ' +
        'Get a JWT with POST /users/token and send it as `Authorization: Bearer <access>`.',
    },
    servers: [{ url: '/' }],
    tags: [...tags].map((name) => ({
      name,
      ...(TAG_DESCRIPTIONS[name] ? { description: TAG_DESCRIPTIONS[name] } : {}),
    })),
    paths,
    components: {
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'The `access` token from POST /users/token',
        },
      },
      schemas: errorSchemas,
    },
  };
}

const cache = new WeakMap<readonly RouterRoute[], { size: number; doc: OpenApiDocument }>();

/** The document for an app, built on first use and rebuilt only if routes were added since. */
export function openApiFor(app: { routes: RouterRoute[] }): OpenApiDocument {
  const cached = cache.get(app.routes);
  if (cached && cached.size === app.routes.length) return cached.doc;
  const doc = buildOpenApi(app.routes);
  cache.set(app.routes, { size: app.routes.length, doc });
  return doc;
}
