/**
 * @module
 * `GET /trakt/oauth-helper/`: the browser helper page for connecting Trakt (see
 * oauth-helper-page.ts). Loading the page needs no JWT; every call it makes does.
 * Its own CSP (hashes of its one script and style) replaces the app-wide default.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { oauthHelperPage } from './oauth-helper-page';

export const oauthHelperRoutes = new Hono<AppEnv>().get('/oauth-helper', (c) => oauthHelperPage.respond(c));
