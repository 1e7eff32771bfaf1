/**
 * @module
 * `GET /app/`: the dashboard page (./page.tsx in the shared shell, ./client.ts bundled into src/web/dist/). On top of
 * the shell's CSP it allows images from the TMDB image host only (`TMDB_IMAGE_BASE_URL`'s origin). The document and
 * its CSP depend only on the deployment's settings, so each variant is built once per isolate.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../../app-env';
import { describe } from '../../http/describe';
import { script, style } from '../dist/dashboard';
import { pageCsp, pageHtml } from '../page';
import { DashboardBody } from './page';

type Built = { html: string; csp: string };
const built = new Map<string, Promise<Built>>();

/** The origin images may come from; `'none'` for a malformed setting (cards then show their placeholders). */
function imageOrigin(imageBaseUrl: string): string {
  try {
    return new URL(imageBaseUrl).origin;
  } catch {
    return "'none'";
  }
}

function dashboard(registrationOpen: boolean, images: string): Promise<Built> {
  const key = `${registrationOpen}|${images}`;
  let page = built.get(key);
  if (!page) {
    const assets = { script, style };
    page = Promise.all([
      pageHtml({ title: 'Watch history', assets, body: <DashboardBody registrationOpen={registrationOpen} /> }),
      pageCsp(assets),
    ]).then(([html, csp]) => ({ html, csp: `${csp}; img-src ${images}` }));
    built.set(key, page);
  }
  return page;
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
    const { html, csp } = await dashboard(c.env.REGISTRATION !== 'closed', imageOrigin(c.env.TMDB_IMAGE_BASE_URL));
    c.header('Content-Security-Policy', csp);
    c.header('Cache-Control', 'no-store');
    c.header('Referrer-Policy', 'no-referrer');
    return c.html(html);
  },
);
