/**
 * The OAuth helper page in a real headless Chromium against `wrangler dev` + the simulator:
 * a full connect (sign in → store app credentials → authorize on "Trakt" → redirected back to
 * the page → confirm → connected, with expiry → disconnect), the paste-the-redirect-URL path, the GET
 * callback (the same page: it links only on the signed-in owner's confirmation), and XSS probes through
 * every value the address carries.
 */

import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, text, watchedPage } from './support/browser';
import { api, apiUser, approveAt, stack, traktAppAndAccount } from './support/http';

let context: BrowserContext;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ context, close } = await launch());
});
afterAll(async () => {
  await close?.();
});

const helperUrl = () => `${stack().apiUrl}/trakt/oauth-helper/`;
const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/;

describe('helper page: connect against the simulator', () => {
  it('signs in, stores app credentials, authorizes, lands back, shows connected with expiry, disconnects', async () => {
    const { app } = await traktAppAndAccount();
    const user = await apiUser();
    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(helperUrl());

    await page.fill('#username', user.username);
    await page.fill('#password', user.password);
    await page.click('#login');
    await page.waitForSelector('#status[data-state="disconnected"]');
    expect(await text(page, '#whoami')).toBe(user.username);
    expect(await page.evaluate(() => sessionStorage.getItem('trakt-oauth-helper.access'))).toMatch(/^ey/);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    // No credentials yet: the API says so and the page offers the form.
    await page.click('#start');
    await page.waitForSelector('#credentials:not([hidden])');
    expect(await text(page, '#message')).toContain('No Trakt client credentials');
    await page.fill('#client-id', app.client_id);
    await page.fill('#client-secret', app.client_secret);
    await page.click('#save-credentials');
    await page.waitForSelector('#credentials[hidden]', { state: 'attached' });

    // Authorize: the page navigates to the simulator, which auto-approves and redirects back here. The code is
    // only shown; nothing is linked until the signed-in user confirms.
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(helperUrl()) && !url.search, { timeout: 30_000 }),
      page.click('#start'),
    ]);
    await page.waitForSelector('#landed:not([hidden])', { timeout: 30_000 });
    expect(await text(page, '#landed-code')).toMatch(/^[0-9a-f]{64}$/);
    expect(await text(page, '#confirm')).toBe(`Link this Trakt account to ${user.username}`);
    expect((await api('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(false);
    await page.click('#confirm');
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
    expect(await page.isHidden('#landed')).toBe(true);
    expect(await text(page, '#message')).toContain('Successfully authenticated with Trakt!');
    expect(await text(page, '#expiry')).toMatch(new RegExp(`^token expires ${ISO.source}$`));
    expect(page.url()).toBe(helperUrl()); // code and state removed from the address bar

    const status = await api<{ authenticated: boolean; expires_at: string }>('GET', '/trakt/auth-status/', {
      token: user.access,
    });
    expect(status.body.authenticated).toBe(true);
    expect(await text(page, '#expiry')).toBe(`token expires ${status.body.expires_at}`);

    await page.click('#disconnect');
    await page.waitForSelector('#status[data-state="disconnected"]');
    expect(await text(page, '#message')).toMatch(/^Disconnected/);
    expect((await api('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(false);

    expect(w.cspViolations).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    expect(w.dialogs).toEqual([]);
    await page.close();
  });

  it('completes with a pasted redirect URL after signing in with a pasted JWT', async () => {
    const { app } = await traktAppAndAccount();
    const user = await apiUser();
    await api('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
    });
    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(helperUrl());
    await page.click('summary');
    await page.fill('#jwt', `Bearer ${user.access}`);
    await page.click('#use-jwt');
    await page.waitForSelector('#status[data-state="disconnected"]');

    await page.click('#get-link');
    await page.waitForSelector('#auth-link-row:not([hidden])');
    const authUrl = (await page.getAttribute('#auth-link', 'href'))!;
    expect(await text(page, '#auth-link')).toBe(authUrl);
    const redirect = await approveAt(authUrl); // "on another device"
    await page.fill('#state', ''); // the whole URL carries it
    await page.fill('#code', redirect.href);
    await page.click('#complete');
    await page.waitForSelector('#status[data-state="connected"]');
    expect(await text(page, '#expiry')).toMatch(ISO);

    // A second use of the same code and state is refused, and the refusal is shown.
    await page.fill('#code', redirect.href);
    await page.click('#complete');
    await page.waitForFunction(() => document.getElementById('message')?.className === 'fail');
    expect(await text(page, '#message')).toMatch(/already used|Invalid/);
    expect(w.cspViolations).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    await page.close();
  });
});

describe("GET callback in a browser: the helper page, which links only on the signed-in user's confirmation", () => {
  it('shows the code, asks to sign in, names the account on the button, and links only when pressed', async () => {
    const { app } = await traktAppAndAccount();
    const user = await apiUser();
    await api('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
    });
    const auth = await api<{ auth_url: string }>('GET', '/trakt/authenticate/', { token: user.access });
    const redirect = await approveAt(auth.body.auth_url);
    const w = await watchedPage(context);
    const { page } = w;
    const callback = `${stack().apiUrl}/trakt/oauth-callback/?${redirect.searchParams}`;
    const res = await page.goto(callback);
    expect(res?.status()).toBe(200);
    await page.waitForFunction(() => (document.getElementById('message')?.textContent ?? '') !== '');
    expect(await text(page, '#message')).toBe(
      'Trakt sent an authorization code. Sign in to see it and confirm the connection.',
    );
    expect(page.url()).toBe(`${stack().apiUrl}/trakt/oauth-callback/`); // code and state removed from the address bar
    expect(await page.isHidden('#landed')).toBe(true);

    await page.fill('#username', user.username);
    await page.fill('#password', user.password);
    await page.click('#login');
    await page.waitForSelector('#landed:not([hidden])');
    expect(await text(page, '#landed-code')).toBe(redirect.searchParams.get('code'));
    expect(await text(page, '#confirm')).toBe(`Link this Trakt account to ${user.username}`);
    expect((await api('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(false);

    await page.click('#confirm');
    await page.waitForSelector('#status[data-state="connected"]');
    expect(await text(page, '#message')).toContain('Successfully authenticated with Trakt!');
    expect((await api('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(true);
    expect(w.cspViolations).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    await page.close();
  });

  it("a crafted link (someone else's state) links nothing, even for a signed-in browser that confirms", async () => {
    const { app } = await traktAppAndAccount();
    const attacker = await apiUser();
    await api('POST', '/users/api-keys/', {
      token: attacker.access,
      json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
    });
    const auth = await api<{ auth_url: string }>('GET', '/trakt/authenticate/', { token: attacker.access });
    const redirect = await approveAt(auth.body.auth_url); // the victim's Trakt session approves
    const victim = await apiUser();
    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(helperUrl());
    await page.evaluate((token) => sessionStorage.setItem('trakt-oauth-helper.access', token), victim.access);
    // Loaded as an image first (no script runs): nothing happens at all.
    await page.goto('about:blank');
    await page.setContent(`<img src="${stack().apiUrl}/trakt/oauth-callback/?${redirect.searchParams}">`);
    expect((await api('GET', '/trakt/auth-status/', { token: attacker.access })).body.authenticated).toBe(false);
    await page.goto(`${stack().apiUrl}/trakt/oauth-callback/?${redirect.searchParams}`);
    await page.waitForSelector('#landed:not([hidden])');
    expect(await text(page, '#confirm')).toBe(`Link this Trakt account to ${victim.username}`);
    await page.click('#confirm');
    await page.waitForFunction(() => document.getElementById('message')?.className === 'fail');
    expect(await text(page, '#message')).toMatch(/issued to another user/);
    for (const user of [attacker, victim]) {
      expect((await api('GET', '/trakt/auth-status/', { token: user.access })).body.authenticated).toBe(false);
    }
    await page.close();
  });
});

const PAYLOADS = [
  '"><img src=x onerror=window.__xss=1>',
  '<script>window.__xss=1</script>',
  "'><svg onload=window.__xss=1>",
  '<img src=x onerror=alert(1)>',
  'javascript:window.__xss=1',
];

describe('XSS probes', () => {
  it('helper page: code, state, error and error_description are shown as text only', async () => {
    const w = await watchedPage(context);
    const { page } = w;
    for (const payload of PAYLOADS) {
      const q = new URLSearchParams({ error: payload, error_description: payload, state: payload, code: payload });
      await page.goto(`${helperUrl()}?${q}`);
      await page.waitForFunction(() => (document.getElementById('message')?.textContent ?? '') !== '');
      // Only known error codes get a text of their own; the parameters are never shown.
      expect(await text(page, '#message')).toBe(
        'Trakt did not authorize the request; nothing was connected. Start again from this page.',
      );
      expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
      expect(await page.locator('img, svg, #message script').count()).toBe(0);

      const q2 = new URLSearchParams({ code: payload, state: payload });
      await page.goto(`${helperUrl()}?${q2}`);
      await page.waitForFunction(() => (document.getElementById('message')?.textContent ?? '') !== '');
      expect(await page.inputValue('#code')).toBe(payload);
      expect(await page.inputValue('#state')).toBe(payload);
      expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
    }
    expect(w.dialogs).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    await page.close();
  });

  it('helper page, signed in: the payload code is sent to the API and its error comes back as text', async () => {
    const user = await apiUser();
    const w = await watchedPage(context);
    const { page } = w;
    await page.goto(helperUrl());
    await page.evaluate((token) => sessionStorage.setItem('trakt-oauth-helper.access', token), user.access);
    for (const payload of PAYLOADS) {
      await page.goto(`${helperUrl()}?${new URLSearchParams({ code: payload, state: payload })}`);
      await page.waitForSelector('#landed:not([hidden])');
      expect(await text(page, '#landed-code')).toBe(payload);
      await page.click('#confirm');
      await page.waitForFunction(() => document.getElementById('message')?.className === 'fail');
      expect(await text(page, '#message')).toMatch(/^Invalid or expired state/);
      expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
    }
    expect(w.dialogs).toEqual([]);
    await page.close();
  });

  it('GET callback (the helper page): nothing is reflected, known errors get fixed texts', async () => {
    const w = await watchedPage(context);
    const { page } = w;
    for (const payload of PAYLOADS) {
      const probes: Array<Record<string, string>> = [
        { error: payload },
        { code: payload, state: payload },
        { code: payload },
      ];
      for (const q of probes) {
        const res = await page.goto(`${stack().apiUrl}/trakt/oauth-callback/?${new URLSearchParams(q)}`);
        expect(res?.headers()['content-type']).toMatch(/text\/html/);
        expect(res?.status()).toBe(200);
        expect(await res?.text()).not.toContain(payload); // the server reflects nothing
        await page.waitForFunction(() => (document.getElementById('message')?.textContent ?? '') !== '');
        // The error parameter is never reflected: a fixed message instead.
        if ('error' in q) {
          expect(await text(page, '#message')).toBe(
            'Trakt did not authorize the request; nothing was connected. Start again from this page.',
          );
        }
        expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
        expect(await page.locator('img, svg, body > main script').count()).toBe(0);
      }
    }
    const denied = new URLSearchParams({ error: 'access_denied', error_description: PAYLOADS[0]! });
    await page.goto(`${stack().apiUrl}/trakt/oauth-callback/?${denied}`);
    await page.waitForFunction(() => (document.getElementById('message')?.textContent ?? '') !== '');
    expect(await text(page, '#message')).toBe('Authorization was denied on Trakt; nothing was connected.');
    expect(w.dialogs).toEqual([]);
    await page.close();
  });
});
