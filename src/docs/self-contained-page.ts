/**
 * @module
 * Serving a self-contained HTML page (the OAuth helper, the API reference): one inline
 * `<style>` and one inline `<script>`, no external resources, and a strict
 * Content-Security-Policy that allows exactly those two blocks by their SHA-256 hashes.
 *
 * Hashes rather than per-response nonces: the pages are static (the server reflects nothing
 * into them; every dynamic value is inserted by the page's own script as text), so the hash is
 * computed once per isolate and the response can be identical for every request.
 * `require-trusted-types-for 'script'` makes Chromium refuse any string-to-HTML sink
 * (`innerHTML` and friends) in these pages, as a second line against XSS.
 */
import type { Context } from 'hono';

export type PageAssets = { title: string; style: string; script: string; body: string };

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  let binary = '';
  for (const byte of new Uint8Array(digest)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The CSP for a page whose only script and style are the given inline blocks. */
export async function pageCsp(style: string, script: string): Promise<string> {
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

/** The document text. `title` and `body` are trusted constants from this codebase, never request data. */
export function pageHtml(assets: PageAssets): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${assets.title}</title>
<style>${assets.style}</style>
</head>
<body>
${assets.body}
<script>${assets.script}</script>
</body>
</html>
`;
}

/** Builds a page once per isolate and serves it with its CSP. */
export function selfContainedPage(assets: PageAssets) {
  let built: Promise<{ html: string; csp: string }> | undefined;
  const build = () => (built ??= pageCsp(assets.style, assets.script).then((csp) => ({ html: pageHtml(assets), csp })));
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
