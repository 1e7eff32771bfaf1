/**
 * @module
 * `GET /app/`: the dashboard. The shell is rendered with hono/jsx (./page.tsx); the client script is
 * ./client/main.ts bundled by scripts/build-web.mjs into ./client.generated.ts. Its CSP allows exactly that script
 * and the stylesheet by hash, images from the TMDB image host only, and calls to this origin only.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../../app-env';
import { pageCsp } from '../../docs/self-contained-page';
import { describe } from '../../http/describe';
import { DASHBOARD_SCRIPT } from './client.generated';
import { DashboardPage } from './page';
import { DASHBOARD_STYLE } from './style';

let baseCsp: Promise<string> | undefined;

/** The page CSP plus `img-src` for the configured image host (computed once per isolate, then a string join). */
async function dashboardCsp(imageBaseUrl: string): Promise<string> {
  baseCsp ??= pageCsp(DASHBOARD_STYLE, DASHBOARD_SCRIPT);
  let imageOrigin = "'none'";
  try {
    imageOrigin = new URL(imageBaseUrl).origin;
  } catch {
    // A malformed TMDB_IMAGE_BASE_URL: no images, the cards show their placeholders.
  }
  return `${await baseCsp}; img-src ${imageOrigin}`;
}

export const dashboardRoutes = new Hono<AppEnv>().get(
  '/',
  describe({
    summary: 'Web dashboard',
    description:
      'Sign in, connect Trakt, sync, and browse your history as posters and charts. Loading the page needs no ' +
      'JWT; every call it makes does.',
    responses: { 200: { description: 'The dashboard page', html: true } },
  }),
  async (c) => {
    c.header('Content-Security-Policy', await dashboardCsp(c.env.TMDB_IMAGE_BASE_URL));
    c.header('Cache-Control', 'no-store');
    c.header('Referrer-Policy', 'no-referrer');
    const registrationOpen = (c.env as { REGISTRATION?: string }).REGISTRATION !== 'closed';
    return c.html(
      `<!doctype html>${(
        <DashboardPage style={DASHBOARD_STYLE} script={DASHBOARD_SCRIPT} registrationOpen={registrationOpen} />
      ).toString()}`,
    );
  },
);
