/**
 * @module
 * The shell every browser page shares: one `hono/jsx` document with exactly one inline `<style>`
 * and one inline `<script>`, no external resources, served under a strict Content-Security-Policy
 * that allows exactly those two blocks by their SHA-256 hashes.
 *
 * A page is a folder `src/web/<page>/`: `page.tsx` (its markup, passed to `definePage`),
 * `client.ts` (its browser code, type-checked with tsconfig.web.json) and `style.css`.
 * scripts/build-web.mjs bundles the client and the style into `src/web/dist/<page>.ts`, which
 * `page.tsx` imports as `{ script, style }`.
 *
 * Hashes rather than per-response nonces: the pages are static (the server reflects nothing
 * into them; every dynamic value is inserted by the page's own script as text), so the document
 * and its hashes are computed once per isolate and every response is identical.
 * `require-trusted-types-for 'script'` makes Chromium refuse any string-to-HTML sink
 * (`innerHTML` and friends) in these pages, as a second line against XSS.
 */
import type { Context } from 'hono';
import type { Child } from 'hono/jsx';

export type PageAssets = { script: string; style: string };

export type PageDefinition = {
  /** A trusted constant from this codebase, never request data. */
  title: string;
  /** The generated `src/web/dist/<page>.ts` module. */
  assets: PageAssets;
  /** The markup inside `<body>`, before the script. */
  body: Child;
};

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  let binary = '';
  for (const byte of new Uint8Array(digest)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The CSP for a page whose only script and style are the given inline blocks. */
export async function pageCsp({ script, style }: PageAssets): Promise<string> {
  const [styleHash, scriptHash] = await Promise.all([sha256Base64(style), sha256Base64(script)]);
  return [
    "default-src 'none'",
    `script-src 'sha256-${scriptHash}'`,
    `style-src 'sha256-${styleHash}'`,
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

function Document({ title, assets, body }: PageDefinition) {
  // The script and style are our own build output, inserted verbatim so their hashes match
  // (scripts/build-web.mjs refuses any text that could close the element early).
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{title}</title>
        <style dangerouslySetInnerHTML={{ __html: assets.style }} />
      </head>
      <body>
        {body}
        <script dangerouslySetInnerHTML={{ __html: assets.script }} />
      </body>
    </html>
  );
}

/** The document text. */
export async function pageHtml(page: PageDefinition): Promise<string> {
  return `<!doctype html>\n${await (<Document {...page} />).toString()}\n`;
}

/** Builds a page once per isolate and serves it with its CSP. */
export function definePage(page: PageDefinition) {
  let built: Promise<{ html: string; csp: string }> | undefined;
  const build = () =>
    (built ??= Promise.all([pageHtml(page), pageCsp(page.assets)]).then(([html, csp]) => ({ html, csp })));
  return {
    build,
    async respond(c: Context): Promise<Response> {
      const { html, csp } = await build();
      c.header('Content-Security-Policy', csp);
      c.header('Cache-Control', 'no-store');
      return c.html(html);
    },
  };
}
