/**
 * Sharing in a real headless Chromium against `wrangler dev` + the simulator (issue 28): the widget inside an
 * `<iframe>` of a page on ANOTHER origin renders its plays and posters with no script and no CSP violation;
 * the card loads as an image there too; the year-in-review page works in the dashboard (signed in, with its
 * share link) and as the public page the link leads to. Screenshots go to test-e2e/artifacts/.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, text, watchedPage } from './support/browser';
import { api, apiUser, approveAt, sim, stack, unique } from './support/http';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');

let context: BrowserContext;
let close: () => Promise<void>;
let site: Server;
let siteUrl: string;
let embedding = '';

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  ({ context, close } = await launch());
  // "Someone's personal site": another origin (localhost vs the API's 127.0.0.1, another port).
  site = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(embedding);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://localhost:${(site.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await close?.();
  await new Promise((resolve) => site?.close(resolve));
});

/** A synced API user (Trakt through the real OAuth callback, TMDB from the simulator) sharing every part. */
async function sharedUser() {
  const app = await sim<{ client_id: string; client_secret: string }>('POST', '/apps', {
    redirect_uris: [stack().redirectUri],
  });
  const traktUser = unique('trakt');
  await sim('POST', '/accounts', {
    username: traktUser,
    movies: 6,
    shows: 2,
    seasons_per_show: 1,
    episodes_per_season: 3,
  });
  await sim('POST', '/session', { username: traktUser });
  const user = await apiUser();
  await api('POST', '/users/api-keys/', {
    token: user.access,
    json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
  });
  await api('POST', '/users/api-keys/', {
    token: user.access,
    json: { service_name: 'tmdb', api_key: 'sim-tmdb-key' },
  });
  const auth = await api<{ auth_url: string }>('GET', '/trakt/authenticate/', { token: user.access });
  const redirect = await approveAt(auth.body.auth_url);
  // A GET of the callback never links: the signed-in user confirms with the POST.
  const callback = { code: redirect.searchParams.get('code'), state: redirect.searchParams.get('state') };
  expect((await api('POST', '/trakt/oauth-callback/', { token: user.access, json: callback })).status).toBe(200);
  // The new connection's first sync was queued at once and runs in the background: wait for it to end, so the
  // fetches below are not recorded behind it (202) but run and answer 200.
  for (let poll = 0; poll < 120; poll++) {
    const status = await api<{ in_progress: boolean; last_sync_at: string | null; progress: object }>(
      'GET',
      '/trakt/sync-status/',
      { token: user.access },
    );
    if (status.body.last_sync_at && !status.body.in_progress && Object.keys(status.body.progress).length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expect((await api('POST', '/trakt/fetch-latest-movies/', { token: user.access })).status).toBe(200);
  expect((await api('POST', '/trakt/fetch-latest-shows/', { token: user.access })).status).toBe(200);
  const handle = unique('fan').toLowerCase().replace(/_/g, '-');
  const shared = await api('PUT', '/users/me/sharing/', {
    token: user.access,
    json: { handle, parts: ['recent', 'stats', 'review'] },
  });
  expect(shared.status).toBe(200);
  return { ...user, handle };
}

describe('sharing in Chromium', () => {
  it('the widget renders inside an iframe on another origin, without script; the card loads as an image', async () => {
    const user = await sharedUser();
    const base = `${stack().apiUrl}/u/${user.handle}`;
    embedding = `<!doctype html><title>My site</title><h1>My site</h1>
      <iframe id="widget" src="${base}/widget" width="420" height="640" title="What I watched"></iframe>
      <img id="card" src="${base}/card.svg" alt="My watch stats">`;
    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(siteUrl);
    const frame =
      page.frames().find((f) => f.url().startsWith(`${base}/widget`)) ??
      (await (await page.$('#widget'))!.contentFrame())!;
    await frame.waitForSelector('li');
    const recent = await api<{ plays: Array<{ poster_url: string | null }> }>('GET', `/u/${user.handle}/recent.json`);
    expect(await frame.locator('li').count()).toBe(Math.min(10, recent.body.plays.length));
    expect(await frame.locator('script').count()).toBe(0);
    await frame.waitForFunction(() => [...document.images].every((image) => image.complete && image.naturalWidth > 0));
    expect(await frame.locator('img').count()).toBeGreaterThan(0);
    expect(await frame.textContent('footer')).toMatch(/Trakt.*TMDB/s);
    await page.waitForFunction(() => {
      const card = document.getElementById('card') as HTMLImageElement;
      return card.complete && card.naturalWidth > 0;
    });
    expect(w.cspViolations).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'widget-embedded.png') });
    await page.close();
  });

  it('the year-in-review page: in the dashboard (signed in, with its share link) and public', async () => {
    const user = await sharedUser();
    const stats = await api<{ last_play_at: string }>('GET', '/trakt/stats/', { token: user.access });
    const year = new Date(stats.body.last_play_at).getUTCFullYear();
    const review = await api<{ plays: { total: number } }>('GET', `/trakt/review/${year}/`, { token: user.access });

    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(`${stack().apiUrl}/app/`);
    await page.evaluate((token) => sessionStorage.setItem('trakt-oauth-helper.access', token), user.access);
    await page.goto(`${stack().apiUrl}/app/review/?year=${year}`);
    await page.waitForSelector('#review[data-ready="true"]');
    expect(await text(page, '#heading')).toBe(`${year} in review`);
    expect(await text(page, '#plays')).toBe(review.body.plays.total.toLocaleString('en-US'));
    expect(await page.locator('#months li').count()).toBe(12);
    await page.waitForSelector('#share-link:not([hidden])');
    const link = await page.getAttribute('#share-link', 'href');
    expect(link).toBe(`${stack().apiUrl}/u/${user.handle}/review/${year}`);
    await page.screenshot({ path: join(ARTIFACTS, 'review-dashboard.png'), fullPage: true });

    // The public page, in a fresh page without the session.
    await page.evaluate(() => sessionStorage.clear());
    await page.goto(link!);
    await page.waitForSelector('#review[data-ready="true"]');
    expect(await text(page, '#plays')).toBe(review.body.plays.total.toLocaleString('en-US'));
    expect(await page.locator('#share').isHidden()).toBe(true);
    expect(w.cspViolations).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'review-public.png'), fullPage: true });
    await page.close();
  });
});
