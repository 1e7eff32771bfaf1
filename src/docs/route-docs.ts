/**
 * @module
 * What the routing table cannot say about each route: a summary, and its responses with the
 * output schemas the handlers produce (imported from each feature's schemas module, so route
 * files need no edits). Keyed by `"METHOD /path"` exactly as the route is registered (Hono
 * path syntax, no trailing slash). Request schemas are NOT listed here: the generator reads them
 * from the validators themselves, and which routes need a JWT from the `requireUser` middleware.
 *
 * test/openapi.test.ts fails when a registered route has no entry here.
 */
import { z } from 'zod';
import {
  fetchContinuesOutput,
  fetchMoviesOutput,
  fetchShowsOutput,
  seasonsEpisodesOutput,
  storedMoviesOutput,
  storedShowsOutput,
  syncStatusOutput,
} from '../history/schemas';
import {
  authenticateOutput,
  authStatusOutput,
  callbackGetOutput,
  callbackPostOutput,
  deviceCodeOutput,
  deviceTokenOutput,
  disconnectOutput,
  refreshTokenOutput,
} from '../trakt/schemas';
import { accessOutput, apiKeyOutput, meOutput, tokenPairOutput, userOutput } from '../users/schemas';

export type ResponseDoc = {
  description: string;
  /** JSON body schema (output side). Omitted: no body, or `html` below. */
  schema?: z.ZodType;
  /** The response is an HTML page (instead of, or as an alternative to, JSON). */
  html?: boolean;
};

export type RouteDoc = {
  summary: string;
  description?: string;
  /** Defaults to the first path segment (`users`, `trakt`, …). */
  tag?: string;
  /** Success and route-specific error responses. 400 (validation), 401 (JWT) and the generic error response are added by the generator. */
  responses: Record<number, ResponseDoc>;
};

const healthOutput = z.object({ status: z.literal('ok'), version: z.string() });
const watchingOutput = z.object({
  watching: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe("Trakt's /users/me/watching item, or null when nothing is playing"),
});
const openApiOutput = z.record(z.string(), z.unknown()).describe('This OpenAPI 3.1 document');

const error = (description: string): ResponseDoc => ({ description });

export const ROUTE_DOCS: Record<string, RouteDoc> = {
  'GET /health': {
    summary: 'Liveness check and version',
    tag: 'meta',
    responses: { 200: { description: 'The API is up', schema: healthOutput } },
  },
  'GET /openapi.json': {
    summary: 'This OpenAPI 3.1 document',
    tag: 'meta',
    responses: { 200: { description: 'The document', schema: openApiOutput } },
  },
  'GET /docs': {
    summary: 'Interactive API reference (HTML, works offline)',
    tag: 'meta',
    responses: { 200: { description: 'The reference page', html: true } },
  },

  'POST /users/register': {
    summary: 'Register an account',
    responses: {
      201: { description: 'Created', schema: userOutput },
      409: error('A user with that username already exists'),
    },
  },
  'POST /users/token': {
    summary: 'Log in: get an access and a refresh JWT',
    responses: {
      200: { description: 'Token pair', schema: tokenPairOutput },
      401: error('Invalid username or password'),
    },
  },
  'POST /users/token/refresh': {
    summary: 'Exchange a refresh JWT for a new access JWT',
    responses: {
      200: { description: 'New access token', schema: accessOutput },
      401: error('Invalid or expired refresh token'),
    },
  },
  'GET /users/me': { summary: 'The signed-in user', responses: { 200: { description: 'Profile', schema: meOutput } } },
  'POST /users/api-keys': {
    summary: 'Store (or replace) credentials for a service',
    description:
      'For Trakt: `service_name: "trakt"`, `service_user_id`: the client id, `api_key`: the client secret. Secrets are encrypted at rest and never returned.',
    responses: {
      201: { description: 'Stored', schema: apiKeyOutput },
      200: { description: 'Replaced', schema: apiKeyOutput },
    },
  },
  'GET /users/api-keys': {
    summary: 'List stored credentials (without secrets)',
    responses: { 200: { description: 'Stored keys', schema: z.array(apiKeyOutput) } },
  },
  'DELETE /users/api-keys/:service_name': {
    summary: 'Delete stored credentials for a service',
    responses: { 204: { description: 'Deleted' }, 404: error('No API key stored for that service') },
  },

  'GET /trakt/oauth-helper': {
    summary: 'Browser helper page for connecting Trakt',
    description:
      'Sign in, authorize on Trakt, paste the code or land back here, see the status, disconnect. Loading the page needs no JWT.',
    responses: { 200: { description: 'The helper page', html: true } },
  },
  'GET /trakt/auth-status': {
    summary: 'Is the Trakt account connected?',
    responses: { 200: { description: 'Connection status', schema: authStatusOutput } },
  },
  'GET /trakt/authenticate': {
    summary: 'Get the Trakt authorization URL',
    responses: {
      200: { description: 'Authorization URL (state is single-use, valid 10 minutes)', schema: authenticateOutput },
      400: error('No Trakt client credentials'),
    },
  },
  'GET /trakt/oauth-callback': {
    summary: "Trakt's redirect target: completes the connection",
    description:
      'No JWT: the state names the user. Browsers (Accept: text/html) get a small HTML page instead of JSON.',
    responses: {
      200: { description: 'Connected', schema: callbackGetOutput, html: true },
      400: error('Invalid authorization code, invalid state, or an error from Trakt'),
    },
  },
  'POST /trakt/oauth-callback': {
    summary: 'Complete the connection with a code and state',
    responses: {
      200: { description: 'Connected', schema: callbackPostOutput },
      400: error('Invalid authorization code, or invalid or expired state'),
    },
  },
  'GET /trakt/refresh-token': {
    summary: 'Refresh the Trakt access token now',
    responses: {
      200: { description: 'The new token', schema: refreshTokenOutput },
      401: error('No Trakt token found, or re-authorization required'),
    },
  },
  'GET /trakt/watching': {
    summary: 'What the user is watching on Trakt right now',
    responses: { 200: { description: 'Now watching', schema: watchingOutput } },
  },
  'DELETE /trakt/auth': {
    summary: 'Disconnect Trakt (revokes the token at Trakt when possible)',
    responses: { 200: { description: 'Disconnected', schema: disconnectOutput } },
  },
  'POST /trakt/device/code': {
    summary: 'Start the device flow (for devices without a browser)',
    responses: {
      200: { description: 'Show user_code and verification_url to the user', schema: deviceCodeOutput },
      400: error('No Trakt client credentials'),
    },
  },
  'POST /trakt/device/token': {
    summary: 'Poll the device flow',
    responses: {
      200: { description: 'Connected (or slow down)', schema: deviceTokenOutput },
      202: { description: 'Still pending', schema: deviceTokenOutput },
    },
  },

  // Sync and history (src/sync). fetch-latest-* answer GET (seed) and POST alike.
  ...fetchDocs('movies', fetchMoviesOutput),
  ...fetchDocs('shows', fetchShowsOutput),
  'GET /trakt/get-stored-movies': {
    summary: 'Stored watched movies, paginated (page, page_size)',
    responses: { 200: { description: 'One page of movies, most recently watched first', schema: storedMoviesOutput } },
  },
  'GET /trakt/get-stored-shows': {
    summary: 'Stored watched shows, paginated (page, page_size)',
    responses: { 200: { description: 'One page of shows, most recently watched first', schema: storedShowsOutput } },
  },
  'GET /trakt/get-watched-seasons-episodes': {
    summary: "A stored show's watched seasons and episodes",
    responses: {
      200: { description: 'Seasons and episodes', schema: seasonsEpisodesOutput },
      404: error('No watched show with that trakt_id'),
    },
  },
  'GET /trakt/sync-status': {
    summary: 'Sync state: last run, next run, counts, progress of a sync in the background',
    responses: { 200: { description: 'Sync status', schema: syncStatusOutput } },
  },
};

function fetchDocs(kind: 'movies' | 'shows', schema: z.ZodType): Record<string, RouteDoc> {
  const doc: RouteDoc = {
    summary: `Sync the latest watched ${kind} from Trakt now`,
    description: `Incremental: fetches only what changed at Trakt since the last sync${kind === 'shows' ? ' (shows, seasons and episodes)' : ''}, enriched from TMDB. A sync larger than one chunk (SYNC_PAGES_PER_RUN Trakt pages) answers 202 and continues through the queue.`,
    responses: {
      200: { description: 'Synced; counts of what changed', schema },
      202: {
        description: 'A large sync: its first chunk is stored and it continues in the background (see sync-status)',
        schema: fetchContinuesOutput,
      },
      401: error('Missing JWT, or No Trakt token found / re-authorization required'),
      409: error('A sync for this user is already running'),
      429: error('Trakt or TMDB rate limit; retry after the Retry-After header'),
    },
  };
  return { [`GET /trakt/fetch-latest-${kind}`]: doc, [`POST /trakt/fetch-latest-${kind}`]: doc };
}
