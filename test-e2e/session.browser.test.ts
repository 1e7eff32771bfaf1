/**
 * The pages' one session (src/web/shared/browser/session.ts) in a real headless Chromium against `wrangler dev`:
 * a sign-in on the OAuth helper page is the dashboard's too (same tab, same sessionStorage keys, the username
 * included); a refused access JWT is renewed once with the refresh JWT on either page; without a refresh JWT the
 * session ends, its keys are forgotten and the dashboard asks to sign in again.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, text, watchedPage } from './support/browser';
import { apiUser, stack } from './support/http';

let context: BrowserContext;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ context, close } = await launch());
});
afterAll(async () => {
  await close?.();
});

const KEYS = {
  access: 'trakt-oauth-helper.access',
  refresh: 'trakt-dashboard.refresh',
  username: 'trakt-dashboard.username',
};
/** A well-formed JWT the API refuses (bad signature). */
const REFUSED = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwidHlwIjoiYWNjZXNzIn0.c2lnbmF0dXJl';

const keysOf = (page: Page) =>
  page.evaluate((keys) => Object.fromEntries(Object.values(keys).map((k) => [k, sessionStorage.getItem(k)])), KEYS);

async function setKeys(page: Page, values: Record<string, string | null>): Promise<void> {
  await page.evaluate((entries) => {
    for (const [key, value] of entries) {
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    }
  }, Object.entries(values));
}

describe('one session for every page', () => {
  it('a sign-in on the helper page signs in the dashboard, username included', async () => {
    const user = await apiUser();
    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(`${stack().apiUrl}/trakt/oauth-helper/`);
    await page.fill('#username', user.username);
    await page.fill('#password', user.password);
    await page.click('#login');
    await page.waitForSelector('#session:not([hidden])');
    const keys = await keysOf(page);
    expect(keys[KEYS.access]).toMatch(/^ey/);
    expect(keys[KEYS.refresh]).toMatch(/^ey/);
    expect(keys[KEYS.username]).toBe(user.username);

    await page.goto(`${stack().apiUrl}/app/`);
    await page.waitForSelector('#dashboard:not([hidden])');
    expect(await text(page, '#whoami')).toBe(user.username);
    expect(w.pageErrors).toEqual([]);
    expect(w.cspViolations).toEqual([]);
    await page.close();
  });

  it('renews a refused access JWT once with the refresh JWT, on the helper page and on the dashboard', async () => {
    const user = await apiUser();
    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(`${stack().apiUrl}/trakt/oauth-helper/`);
    await setKeys(page, { [KEYS.access]: REFUSED, [KEYS.refresh]: user.refresh, [KEYS.username]: user.username });
    await page.reload();
    await page.waitForSelector('#status[data-state="disconnected"]');
    expect(await text(page, '#whoami')).toBe(user.username);
    const renewed = (await keysOf(page))[KEYS.access];
    expect(renewed).toMatch(/^ey/);
    expect(renewed).not.toBe(REFUSED);

    await setKeys(page, { [KEYS.access]: REFUSED });
    await page.goto(`${stack().apiUrl}/app/`);
    await page.waitForSelector('#dashboard:not([hidden])');
    await page.waitForSelector('#connection-state[data-state="disconnected"]');
    expect(await text(page, '#whoami')).toBe(user.username);
    expect((await keysOf(page))[KEYS.access]).not.toBe(REFUSED);
    expect((await keysOf(page))[KEYS.refresh]).toBe(user.refresh);
    expect(w.pageErrors).toEqual([]);
    await page.close();
  });

  it('without a refresh JWT a refused session ends: its keys are forgotten and the dashboard asks to sign in', async () => {
    const user = await apiUser();
    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(`${stack().apiUrl}/app/`);
    await setKeys(page, { [KEYS.access]: REFUSED, [KEYS.refresh]: null, [KEYS.username]: user.username });
    await page.reload();
    await page.waitForSelector('#signin:not([hidden])');
    await page.waitForFunction(() => document.getElementById('message')?.className === 'fail');
    // The message is the first 401's ("Your session has ended…") unless a read started before the sign-out
    // answers after it; either way the page is signed out and says why in red.
    expect(await text(page, '#message')).toMatch(/session has ended|credentials were not provided|Invalid token/);
    expect(await page.isHidden('#dashboard')).toBe(true);
    expect(await keysOf(page)).toEqual({ [KEYS.access]: null, [KEYS.refresh]: null, [KEYS.username]: null });
    expect(w.pageErrors).toEqual([]);
    await page.close();
  });
});
