/**
 * The dashboard's "Import a Trakt export" panel in a real headless Chromium against `wrangler dev` + the simulator:
 * a user with no Trakt connection chooses the simulator's export of an account (several history files), the browser
 * unzips it (DecompressionStream) and sends its batches with a progress bar; the API then serves every play.
 * Choosing it again adds nothing; a file that is not an export, and an export with a bad item, stop with the reason
 * (the files before the bad one stay). No console errors, page errors or CSP violations.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, text, type Watched, watchedPage } from './support/browser';
import { api, apiUser, sim, stack, unique } from './support/http';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');

let context: BrowserContext;
let close: () => Promise<void>;
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  ({ context, close } = await launch());
});
afterAll(async () => {
  await close?.();
});

function consoleErrors(w: Watched): string[] {
  const errors: string[] = [];
  w.page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}

async function signedIn(): Promise<{ w: Watched; errors: string[]; access: string }> {
  const user = await apiUser();
  const w = await watchedPage(context);
  const errors = consoleErrors(w);
  await w.page.setViewportSize({ width: 1280, height: 900 });
  await w.page.goto(`${stack().apiUrl}/app/`);
  await w.page.fill('#username', user.username);
  await w.page.fill('#password', user.password);
  await w.page.click('#signin-submit');
  await w.page.waitForSelector('#dashboard:not([hidden])');
  return { w, errors, access: user.access };
}

async function choose(page: Page, name: string, buffer: Buffer): Promise<void> {
  await page.setInputFiles('#import-file', { name, mimeType: 'application/zip', buffer });
}

async function finished(page: Page): Promise<{ state: string; status: string }> {
  await page.waitForSelector('#import-status[data-state="done"], #import-status[data-state="failed"]', {
    timeout: 90_000,
  });
  return {
    state: (await page.getAttribute('#import-status', 'data-state')) ?? '',
    status: await text(page, '#import-status'),
  };
}

async function exportOf(username: string): Promise<Buffer> {
  const res = await fetch(`${stack().simUrl}/_sim/accounts/${username}/export.zip`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('dashboard: Import a Trakt export', () => {
  it('unzips the export in the browser, sends its history in batches with progress, and shows it', async () => {
    const traktUser = unique('export');
    await sim('POST', '/accounts', {
      username: traktUser,
      movies: 900,
      shows: 10,
      seasons_per_show: 2,
      episodes_per_season: 10,
      plays_per_item: 2,
    });
    const summary = await sim<{ total_plays: number }>('GET', `/accounts/${traktUser}/summary`);
    expect(summary.total_plays).toBeGreaterThan(2000); // three or more history files
    const zip = await exportOf(traktUser);
    const { w, errors, access } = await signedIn();
    const { page } = w;
    expect(await page.isVisible('#import')).toBe(true);

    // The progress bar moves while the batches go out.
    const progressSeen: number[] = [];
    await page.exposeFunction('recordProgress', (value: number) => progressSeen.push(value));
    await page.evaluate(() => {
      const bar = document.getElementById('import-progress') as HTMLProgressElement;
      new MutationObserver(() =>
        (window as unknown as { recordProgress(v: number): void }).recordProgress(bar.value / (bar.max || 1)),
      ).observe(bar, { attributes: true });
    });
    await choose(page, 'trakt-export.zip', zip);
    const outcome = await finished(page);
    expect(outcome.state).toBe('done');
    expect(outcome.status).toContain(`Import complete: ${summary.total_plays} plays added, 0 already stored`);
    expect(outcome.status).toMatch(/\(\d+ history files\)/);
    expect(progressSeen.some((v) => v > 0 && v < 1)).toBe(true);
    const bar = await page.$eval('#import-progress', (el) => [
      (el as HTMLProgressElement).value,
      (el as HTMLProgressElement).max,
    ]);
    expect(bar[0]).toBe(bar[1]);

    // The API serves every play, and the page redrew its totals and grid.
    const stats = await api<{ movies: { plays: number }; episodes: { plays: number } }>('GET', '/trakt/stats/', {
      token: access,
    });
    expect(stats.body.movies.plays + stats.body.episodes.plays).toBe(summary.total_plays);
    await page.waitForFunction(
      (plays) => document.getElementById('total-plays')?.textContent === String(plays),
      summary.total_plays,
    );
    expect(await page.$$eval('#grid li', (items) => items.length)).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-import.png'), fullPage: false });

    // Choosing it again adds nothing.
    await page.evaluate(() => {
      document.getElementById('import-status')!.removeAttribute('data-state');
    });
    await choose(page, 'trakt-export.zip', zip);
    const again = await finished(page);
    expect(again.status).toContain(`Import complete: 0 plays added, ${summary.total_plays} already stored`);

    expect(errors).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    expect(w.cspViolations).toEqual([]);
  });

  it('stops with the reason: not an export, and a bad item (the files before it stay)', async () => {
    const { w, errors, access } = await signedIn();
    const { page } = w;
    await choose(page, 'notes.zip', Buffer.from('just some text, not a zip'));
    const notZip = await finished(page);
    expect(notZip.state).toBe('failed');
    expect(notZip.status).toMatch(/Import stopped: The file is not a ZIP archive/);

    const movie = (id: number) => ({
      id,
      watched_at: '2024-05-01T20:00:00.000Z',
      action: 'watch',
      type: 'movie',
      movie: { title: `Film ${id}`, year: 2001, ids: { trakt: 7_000 + id } },
    });
    const bad = zipSync({
      'watched-history-1.json': encode([movie(1), movie(2)]),
      'watched-history-2.json': encode([movie(3), { ...movie(4), type: 'person' }]),
      'watched-movies.json': encode([]),
    });
    await page.evaluate(() => {
      document.getElementById('import-status')!.removeAttribute('data-state');
    });
    await choose(page, 'export.zip', Buffer.from(bad));
    const stopped = await finished(page);
    expect(stopped.state).toBe('failed');
    expect(stopped.status).toContain('watched-history-2.json: item 1: unknown item type "person"');
    const history = await api<{ items: Array<{ id: number }> }>('GET', '/trakt/history/', { token: access });
    expect(history.body.items.map((i) => i.id).sort()).toEqual([1, 2]);
    expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    expect(w.cspViolations).toEqual([]);
  });
});
