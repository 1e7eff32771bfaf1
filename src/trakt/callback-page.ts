/**
 * @module
 * The small HTML page a browser sees after Trakt redirects back (when it asks for text/html).
 * `hono/html` escapes every interpolated value; the page has no scripts and a CSP that forbids them.
 */
import { html } from 'hono/html';

export const CALLBACK_PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function callbackPage(outcome: { ok: boolean; message: string }) {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${outcome.ok ? 'Trakt connected' : 'Trakt connection failed'}</title>
    <style>
      body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5; }
      .ok { color: #1a7f37; } .fail { color: #b42318; }
    </style>
  </head>
  <body>
    <h1 class="${outcome.ok ? 'ok' : 'fail'}">${outcome.ok ? 'Trakt connected' : 'Trakt connection failed'}</h1>
    <p id="message">${outcome.message}</p>
    <p>You can close this window.</p>
  </body>
</html>`;
}
