/**
 * The dashboard (`/app/`) in a real headless Chromium against `wrangler dev` + the simulator: sign in, connect
 * through the helper page, sync, then posters that actually loaded, the charts, the totals the API reports, a
 * show's episodes, the filters, search and infinite scroll; keyboard-only sign-in; no horizontal scroll at 360 px;
 * zero console errors and CSP violations. Screenshots at both widths go to test-e2e/artifacts/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_TIME_ZONE, launch, text, type Watched, watchedPage } from './support/browser';
import { api, apiUser, sim, stack, unique } from './support/http';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const TMDB_KEY = 'sim-tmdb-key';

let context: BrowserContext;
let close: () => Promise<void>;
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  ({ context, close } = await launch());
});
afterAll(async () => {
  await close?.();
});

const appUrl = () => `${stack().apiUrl}/app/`;

/** Console errors, on top of the page errors and CSP violations the shared helper collects. */
function consoleErrors(w: Watched): string[] {
  const errors: string[] = [];
  w.page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#signin-submit');
  await page.waitForSelector('#dashboard:not([hidden])');
}

/** A Trakt app and a watched account at the simulator, and an API user holding the app's and TMDB's keys. */
async function connectedSetup(movies: number, shows: number) {
  const app = await sim<{ client_id: string; client_secret: string }>('POST', '/apps', {
    redirect_uris: [stack().redirectUri],
  });
  const traktUser = unique('trakt');
  await sim('POST', '/accounts', { username: traktUser, movies, shows, seasons_per_show: 2, episodes_per_season: 4 });
  await sim('POST', '/session', { username: traktUser });
  const user = await apiUser();
  await api('POST', '/users/api-keys/', {
    token: user.access,
    json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
  });
  await api('POST', '/users/api-keys/', { token: user.access, json: { service_name: 'tmdb', api_key: TMDB_KEY } });
  return user;
}

async function loadedPosters(page: Page): Promise<number> {
  return page.$$eval(
    '#grid img.poster',
    (images) =>
      images.filter((image) => (image as HTMLImageElement).complete && (image as HTMLImageElement).naturalWidth > 0)
        .length,
  );
}

/** Scrolls through the grid so lazy images load, then back to the top. */
async function scrollThrough(page: Page): Promise<void> {
  const height = await page.evaluate(() => document.body.scrollHeight);
  for (let y = 0; y <= height; y += 400) {
    await page.evaluate((top) => window.scrollTo(0, top), y);
    await page.waitForTimeout(50);
  }
}

describe('dashboard against the simulator', () => {
  it('signs in, connects, syncs, and shows posters, charts, totals, a show, filters and infinite scroll', async () => {
    const user = await connectedSetup(40, 4);
    const w = await watchedPage(context);
    const errors = consoleErrors(w);
    const { page } = w;
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(appUrl());
    expect(await page.isVisible('#dashboard')).toBe(false);
    await signIn(page, user.username, user.password);
    expect(await text(page, '#whoami')).toBe(user.username);
    await page.waitForSelector('#connection-state[data-state="disconnected"]');
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await page.evaluate(() => document.cookie)).toBe('');

    // Connect: the helper page shares the session, authorizes at the simulator, lands back on itself, and links
    // when the signed-in user confirms.
    await page.click('#connect');
    await page.waitForSelector('#status[data-state="disconnected"]');
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/trakt/oauth-helper/' && !url.search, { timeout: 30_000 }),
      page.click('#start'),
    ]);
    await page.waitForSelector('#landed:not([hidden])', { timeout: 30_000 });
    await page.click('#confirm');
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
    await page.goto(appUrl());
    await page.waitForSelector('#connection-state[data-state="connected"]');

    // First sync from the browser; it ends when the progress bar is gone and the button is enabled again.
    await page.click('#sync-now');
    await page.waitForSelector('#sync-now:not([disabled])', { timeout: 120_000 });
    await page.waitForSelector('#sync-progress[hidden]', { state: 'attached', timeout: 120_000 });
    expect(await page.getAttribute('#message', 'class')).toBe('ok');

    // The TMDB work goes on in the background after the sync (and the new connection's first sync, queued when it
    // connected, may still be running): minutes count once their titles are enriched. Once nothing is pending, a
    // fresh page shows the same totals as the API.
    for (let poll = 0; poll < 240; poll++) {
      const status = await api<{
        in_progress: boolean;
        enrichment: { pending_titles: number; pending_seasons: number };
      }>('GET', '/trakt/sync-status/', { token: user.access });
      const { pending_titles, pending_seasons } = status.body.enrichment;
      if (!status.body.in_progress && pending_titles + pending_seasons === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await page.goto(appUrl());
    await page.waitForSelector('#connection-state[data-state="connected"]');

    // Totals match what the API reports.
    const stats = await api<{
      movies: { plays: number; watched: number; minutes: number };
      episodes: { plays: number; minutes: number };
      shows: { watched: number };
    }>('GET', '/trakt/stats/', { token: user.access });
    expect(stats.status).toBe(200);
    const plays = stats.body.movies.plays + stats.body.episodes.plays;
    expect(plays).toBeGreaterThanOrEqual(40);
    await page.waitForFunction(
      (expected) => document.getElementById('total-plays')?.textContent === expected,
      String(plays),
    );
    expect(await text(page, '#total-titles')).toBe(String(stats.body.movies.watched + stats.body.shows.watched));
    expect(await text(page, '#total-hours')).toBe(
      String(Math.round((stats.body.movies.minutes + stats.body.episodes.minutes) / 60)),
    );

    // Charts drawn.
    expect(await page.$$eval('#month-chart rect.bar', (bars) => bars.length)).toBe(24);
    expect(await page.$$eval('#heatmap rect', (cells) => cells.length)).toBe(365);
    expect(await page.$$eval('#weekday-hour rect', (cells) => cells.length)).toBe(168);
    expect(await page.$$eval('#weekday-hour rect:not(.l0)', (cells) => cells.length)).toBeGreaterThan(0);
    // The dashboard made the browser's zone the account's stats zone, so its grid is kept for it.
    expect((await api<{ time_zone: string | null }>('GET', '/users/me/', { token: user.access })).body.time_zone).toBe(
      BROWSER_TIME_ZONE,
    );
    expect(await page.$$eval('#genres li', (items) => items.length)).toBeGreaterThan(0);

    // Posters: at least 20 actually loaded, each card with a title, a relative time and a play count.
    await scrollThrough(page);
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLImageElement>('#grid img.poster')].filter(
          (i) => i.complete && i.naturalWidth > 0,
        ).length >= 20,
      undefined,
      { timeout: 30_000 },
    );
    expect(await loadedPosters(page)).toBeGreaterThanOrEqual(20);
    const firstCard = await page.$eval('#grid li.card', (card) => card.textContent ?? '');
    expect(firstCard).toMatch(/(ago|this minute|yesterday|last (week|month|year))/);
    expect(firstCard).toMatch(/\d+ plays?/);

    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-1440.png'), fullPage: false });

    // Infinite scroll: pages of 24 plays load as the end of the grid comes into view, until every play is shown.
    expect(plays).toBeGreaterThan(2 * 24);
    await page.waitForFunction(
      (total) => {
        document.getElementById('sentinel')?.scrollIntoView();
        return document.querySelectorAll('#grid li.card').length >= total;
      },
      plays,
      { polling: 250, timeout: 60_000 },
    );
    expect(await page.$$eval('#grid li.card', (cards) => cards.length)).toBe(plays);
    await page.waitForSelector('#more', { state: 'hidden' }); // the last page said there is no next one

    // Filters.
    await page.selectOption('#type', 'movies');
    await page.waitForFunction(() => {
      const cards = [...document.querySelectorAll<HTMLElement>('#grid li.card')];
      return cards.length > 0 && cards.every((card) => card.dataset.kind === 'movie');
    });
    await page.selectOption('#type', 'episodes');
    await page.waitForFunction(() => {
      const cards = [...document.querySelectorAll<HTMLElement>('#grid li.card')];
      return cards.length > 0 && cards.every((card) => card.dataset.kind === 'episode');
    });

    // A show's seasons and episodes.
    const showTitle = await page.$eval('#grid li.card .title', (title) => title.textContent ?? '');
    await page.click('#grid li.card button.card-body');
    await page.waitForSelector('#show-dialog[open] li.episode');
    expect(await text(page, '#show-title')).toBe(showTitle);
    expect(await page.$$eval('#show-dialog li.episode[data-watched="true"]', (items) => items.length)).toBeGreaterThan(
      0,
    );
    await page.keyboard.press('Escape');
    await page.waitForSelector('#show-dialog:not([open])', { state: 'attached' });

    // Search by title.
    const movies = await api<{ movies: Array<{ movie: { title: string } }> }>(
      'GET',
      '/trakt/get-stored-movies/?page_size=1',
      { token: user.access },
    );
    const title = movies.body.movies[0]!.movie.title;
    await page.selectOption('#type', 'all');
    await page.fill('#q', title);
    await page.waitForFunction((wanted) => {
      const titles = [...document.querySelectorAll('#grid li.card .title')].map((t) => t.textContent ?? '');
      return titles.length > 0 && titles.every((t) => t.toLowerCase().includes(wanted.toLowerCase()));
    }, title);

    expect(w.cspViolations).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('signs in with the keyboard alone', async () => {
    const user = await apiUser();
    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(appUrl());
    await page.waitForFunction(() => document.activeElement?.id === 'username');
    await page.keyboard.type(user.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(user.password);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#dashboard:not([hidden])');
    expect(await text(page, '#whoami')).toBe(user.username);
    expect(w.pageErrors).toEqual([]);
    expect(w.cspViolations).toEqual([]);
    await page.close();
  });

  it('fits a 360 px wide screen without horizontal scroll', async () => {
    const user = await connectedSetup(6, 1);
    const w = await watchedPage(context);
    const { page } = w;
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(appUrl());
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await signIn(page, user.username, user.password);
    await page.waitForSelector('#connection-state[data-state="disconnected"]');
    await page.waitForSelector('#month-chart');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-360.png'), fullPage: true });
    expect(w.pageErrors).toEqual([]);
    expect(w.cspViolations).toEqual([]);
    await page.close();
  });
});
