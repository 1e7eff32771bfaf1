/**
 * The OAuth helper page as the Worker serves it: no JWT needed to load it, self-contained,
 * a CSP that allows exactly its own script and style by hash, nothing reflected from the
 * query, and every endpoint its script calls exists. (Behaviour in a real browser, including
 * XSS probes, is covered by test-e2e/oauth-helper.browser.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { call, expectError } from './support/api';
import { directives, inlineBlocks, sha256Base64 } from './support/page';

describe('GET /trakt/oauth-helper/', () => {
  it('serves the page without authentication, with and without the trailing slash', async () => {
    for (const path of ['/trakt/oauth-helper/', '/trakt/oauth-helper']) {
      const res = await call('GET', path);
      expect(res.status).toBe(200);
      expect(res.headers.get('Content-Type')).toMatch(/^text\/html; charset=UTF-8/i);
      expect(res.headers.get('Cache-Control')).toBe('no-store');
      expect(res.body).toContain('<h1>Connect your Trakt account</h1>');
    }
  });

  it('has a strict CSP that allows exactly its inline script and style by hash', async () => {
    const res = await call('GET', '/trakt/oauth-helper/');
    const csp = res.headers.get('Content-Security-Policy')!;
    expect(csp).toBeTruthy();
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    const d = directives(csp);
    expect(d.get('default-src')).toEqual(["'none'"]);
    expect(d.get('connect-src')).toEqual(["'self'"]);
    expect(d.get('frame-ancestors')).toEqual(["'none'"]);
    expect(d.get('base-uri')).toEqual(["'none'"]);
    expect(d.get('form-action')).toEqual(["'none'"]);
    expect(d.get('require-trusted-types-for')).toEqual(["'script'"]);

    const scripts = inlineBlocks(res.body, 'script');
    const styles = inlineBlocks(res.body, 'style');
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    expect(d.get('script-src')).toEqual([`'sha256-${await sha256Base64(scripts[0]!)}'`]);
    expect(d.get('style-src')).toEqual([`'sha256-${await sha256Base64(styles[0]!)}'`]);
    // The app-wide secure headers still apply.
    expect(res.headers.get('X-Frame-Options')).toBe('SAMEORIGIN');
    expect(res.headers.get('Referrer-Policy')).toBe('no-referrer');
  });

  it('is self-contained: no external scripts, styles, fonts, images or inline handlers', async () => {
    const { body } = await call('GET', '/trakt/oauth-helper/');
    expect(body).not.toMatch(/<script[^>]*\ssrc=/i);
    expect(body).not.toMatch(/<link\b/i);
    expect(body).not.toMatch(/<img\b|<iframe\b|<object\b|<embed\b/i);
    expect(inlineBlocks(body, 'style')[0]).not.toMatch(/@import|@font-face|url\(/i);
    expect(body).not.toMatch(/\son[a-z]+=/i); // no onclick= etc.; the CSP would block them anyway
    expect(body).not.toMatch(/\sstyle=/i);
    expect(body).not.toMatch(/https?:\/\//); // no absolute URLs at all: everything is same-origin
  });

  it('reflects nothing from the query: the document is byte-identical whatever the parameters', async () => {
    const plain = await call('GET', '/trakt/oauth-helper/');
    const payload = encodeURIComponent('"><img src=x onerror=alert(1)><script>alert(1)</script>');
    const probed = await call(
      'GET',
      `/trakt/oauth-helper/?code=${payload}&state=${payload}&error=${payload}&error_description=${payload}`,
    );
    expect(probed.status).toBe(200);
    expect(probed.body).toBe(plain.body);
    expect(probed.headers.get('Content-Security-Policy')).toBe(plain.headers.get('Content-Security-Policy'));
  });

  it('inserts values as text: the script uses no HTML sinks, eval or storage beyond sessionStorage', async () => {
    const { body } = await call('GET', '/trakt/oauth-helper/');
    const script = inlineBlocks(body, 'script')[0]!;
    expect(script).toContain('textContent');
    expect(script).not.toMatch(
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*['"]/,
    );
    expect(script).not.toMatch(/localStorage|document\.cookie/);
    expect(script).toContain('sessionStorage');
  });

  it('every endpoint its script calls exists and requires a JWT (401, not 404)', async () => {
    const { body } = await call('GET', '/trakt/oauth-helper/');
    const script = inlineBlocks(body, 'script')[0]!;
    const calls = [...script.matchAll(/api\(["']([A-Z]+)["'], ["']([^"']+)["']/g)].map((m) => ({
      method: m[1]!,
      path: m[2]!,
    }));
    expect(calls.map((c) => `${c.method} ${c.path}`).sort()).toEqual(
      [
        'DELETE /trakt/auth/',
        'GET /trakt/auth-status/',
        'GET /trakt/authenticate/',
        'GET /users/me/',
        'POST /trakt/oauth-callback/',
        'POST /users/api-keys/',
        'POST /users/token/',
      ].sort(),
    );
    for (const { method, path } of calls) {
      const res = await call(method, path, method === 'GET' ? {} : { json: {} });
      if (path === '/users/token/')
        expectError(res, 400); // public, validates its body
      else expectError(res, 401);
    }
  });

  it('other methods get the JSON 405', async () => {
    const res = await call('POST', '/trakt/oauth-helper/');
    expectError(res, 405);
    expect(res.headers.get('Allow')).toContain('GET');
  });
});
