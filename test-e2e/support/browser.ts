/**
 * @module
 * Debian's Chromium driven by playwright-core (no browser download): headless, sandbox off
 * (CI runs as root), no background networking, a fresh profile per launch. Collects CSP
 * violations, page errors and dialogs so tests can assert there were none.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The browser's time zone in every e2e test. */
export const BROWSER_TIME_ZONE = 'Europe/Berlin';

export type Watched = { page: Page; dialogs: string[]; cspViolations: string[]; pageErrors: string[] };

export async function launch(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'trakt-e2e-chromium-'));
  // launchPersistentContext passes --user-data-dir=<profile>: a fresh, throwaway profile.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    // A zone with DST, whatever the machine's: the dashboard asks for the stats in the browser's zone.
    timezoneId: BROWSER_TIME_ZONE,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function watchedPage(context: BrowserContext): Promise<Watched> {
  const page = await context.newPage();
  const watched: Watched = { page, dialogs: [], cspViolations: [], pageErrors: [] };
  page.on('dialog', (dialog) => {
    watched.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => watched.pageErrors.push(error.message));
  page.on('console', (message) => {
    if (/Content Security Policy|Trusted Type/i.test(message.text())) watched.cspViolations.push(message.text());
  });
  return watched;
}

export async function text(page: Page, selector: string): Promise<string> {
  return ((await page.textContent(selector)) ?? '').trim();
}
