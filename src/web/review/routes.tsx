/**
 * @module
 * `GET /app/review/`: the year-in-review page in the dashboard (signed in); the document is ./document.tsx,
 * which src/sharing/routes.ts also serves at `/u/<handle>/review/<year>`.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../../app-env';
import { describe } from '../../http/describe';
import { reviewPage } from './document';

export const reviewPageRoutes = new Hono<AppEnv>().get(
  '/',
  describe({
    summary: 'Year in review page (dashboard)',
    description: 'Shows the signed-in user’s review (`?year=`); loading the page needs no JWT, its calls do.',
    responses: { 200: { description: 'The page', html: true } },
  }),
  async (c) => {
    const page = await reviewPage(c.env);
    c.header('Content-Security-Policy', page.headers['Content-Security-Policy']);
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-store');
    return c.html(page.body);
  },
);
