/**
 * @module
 * `GET /openapi.json` (generated from the app's routing table, see openapi.ts) and `GET /docs`
 * (the offline reference page). Public: neither exposes anything a client could not learn by
 * calling the API.
 */
import { Hono } from 'hono';
import type { RouterRoute } from 'hono/types';
import { z } from 'zod';
import type { AppEnv } from '../app-env';
import { describe } from '../http/describe';
import { docsPage } from '../web/docs/page';
import { openApiFor } from './openapi';

const openApiOutput = z.record(z.string(), z.unknown()).describe('This OpenAPI 3.1 document');

/** `app` is the whole API, read at request time so that every route registered on it is documented. */
export function docsRoutes(app: { routes: RouterRoute[] }) {
  return new Hono<AppEnv>()
    .get(
      '/openapi.json',
      describe({
        summary: 'This OpenAPI 3.1 document',
        tag: 'meta',
        responses: { 200: { description: 'The document', schema: openApiOutput } },
      }),
      (c) => c.json(openApiFor(app)),
    )
    .get(
      '/docs',
      describe({
        summary: 'Interactive API reference (HTML, works offline)',
        tag: 'meta',
        responses: { 200: { description: 'The reference page', html: true } },
      }),
      (c) => docsPage.respond(c),
    );
}
