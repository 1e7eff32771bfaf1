/**
 * The dashboard page as the Worker serves it (`GET /app/`, and `/` redirecting to it): no JWT needed to load it,
 * self-contained, a CSP that allows exactly its inline script and style by hash and images only from the TMDB image
 * host, and registration offered only when it is open. Behaviour in a real browser is covered by
 * test-e2e/dashboard.browser.test.ts.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app';
import { call } from './support/api';
import { directives, inlineBlocks, sha256Base64 } from './support/page';

describe('GET /app/', () => {
  it('serves the page without authentication, with and without the trailing slash', async () => {
    for (const path of ['/app/', '/app']) {
      const res = await call('GET', path);
      expect(res.status).toBe(200);
      expect(res.headers.get('Content-Type')).toMatch(/^text\/html; charset=UTF-8/i);
      expect(res.headers.get('Cache-Control')).toBe('no-store');
      expect(res.headers.get('Referrer-Policy')).toBe('no-referrer');
      expect(res.body).toMatch(/^<!doctype html>\n<html lang="en">/);
      expect(res.body).toContain('<h1>Watch history</h1>');
      expect(res.body).toContain('<form id="signin-form">');
    }
  });

  it('redirects the bare origin to the dashboard', async () => {
    // Straight to the app: a fetch through the Worker entry follows redirects.
    const res = await createApp().request('/', {}, env);
    expect(res.status).toBe(302);
    expect(res.headers.get('Location')).toBe('/app/');
  });

  it('allows exactly its one inline script and style by hash, images from the TMDB host, calls to itself', async () => {
    const res = await call('GET', '/app/');
    const scripts = inlineBlocks(res.body, 'script');
    const styles = inlineBlocks(res.body, 'style');
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    expect(scripts[0]!.length).toBeGreaterThan(1000); // the bundled client, not an empty block
    const csp = directives(res.headers.get('Content-Security-Policy') ?? '');
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual([`'sha256-${await sha256Base64(scripts[0]!)}'`]);
    expect(csp.get('style-src')).toEqual([`'sha256-${await sha256Base64(styles[0]!)}'`]);
    expect(csp.get('img-src')).toEqual([new URL(env.TMDB_IMAGE_BASE_URL).origin]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('require-trusted-types-for')).toEqual(["'script'"]);
    expect(csp.get('trusted-types')).toEqual(["'none'"]);
  });

  it('loads nothing from elsewhere: no external script, style, font or image reference in the page', async () => {
    const { body } = await call('GET', '/app/');
    expect(body).not.toMatch(/<script[^>]+src=/);
    expect(body).not.toMatch(/<link[^>]+rel="?stylesheet/);
    expect(body).not.toMatch(/@import|url\(/);
    expect(body).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('offers registration when it is open, and not when REGISTRATION is closed', async () => {
    const open = await call('GET', '/app/');
    expect(open.body).toMatch(/<button type="button" id="register">/);
    const closed = await createApp().request('/app/', {}, { ...env, REGISTRATION: 'closed' });
    expect(closed.status).toBe(200);
    expect(await closed.text()).toMatch(/<button type="button" id="register" hidden="">/);
  });
});
