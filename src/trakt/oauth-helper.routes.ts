/**
 * @module
 * `GET /trakt/oauth-helper/`: the browser helper page for connecting Trakt (see
 * src/web/oauth-helper/). Loading the page needs no JWT; every call it makes does.
 * Its own CSP (hashes of its one script and style) replaces the app-wide default.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { describe } from '../http/describe';
import { oauthHelperPage } from '../web/oauth-helper/page';

export const oauthHelperRoutes = new Hono<AppEnv>().get(
  '/oauth-helper',
  describe({
    summary: 'Browser helper page for connecting Trakt',
    description:
      'Sign in, authorize on Trakt, paste the code or land back here, see the status, disconnect. ' +
      'Loading the page needs no JWT.',
    responses: { 200: { description: 'The helper page', html: true } },
  }),
  (c) => oauthHelperPage.respond(c),
);
