/**
 * @module
 * `GET /openapi.json` (generated from the app's routing table, see openapi.ts) and `GET /docs`
 * (the offline reference page). Public: neither exposes anything a client could not learn by
 * calling the API.
 */
import { Hono } from 'hono';
import type { RouterRoute } from 'hono/types';
import type { AppEnv } from '../app-env';
import { docsPage } from './docs-page';
import { openApiFor } from './openapi';

/** `app` is the whole API, read at request time so that every route registered on it is documented. */
export function docsRoutes(app: { routes: RouterRoute[] }) {
  return new Hono<AppEnv>()
    .get('/openapi.json', (c) => c.json(openApiFor(app)))
    .get('/docs', (c) => docsPage.respond(c));
}
