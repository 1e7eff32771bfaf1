/**
 * @module
 * The year-in-review document: served at `/app/review/` (./routes.tsx) and, public, at
 * `/u/<handle>/review/<year>` (src/sharing/routes.ts). One document, built once per isolate, under the shell's
 * hash-based CSP plus images from the TMDB image host.
 */
import { script, style } from '../dist/review';
import { pageCsp, pageHtml } from '../page';
import { ReviewBody } from './page';

const built = new Map<string, Promise<{ html: string; csp: string }>>();

function imageOrigin(imageBaseUrl: string): string {
  try {
    return new URL(imageBaseUrl).origin;
  } catch {
    return "'none'";
  }
}

function build(images: string) {
  let page = built.get(images);
  if (!page) {
    const assets = { script, style };
    page = Promise.all([pageHtml({ title: 'Year in review', assets, body: <ReviewBody /> }), pageCsp(assets)]).then(
      ([html, csp]) => ({ html, csp: `${csp}; img-src ${images}` }),
    );
    built.set(images, page);
  }
  return page;
}

/** The page as a body and headers (the public route caches it like any public answer). */
export async function reviewPage(env: Env) {
  const { html, csp } = await build(imageOrigin(env.TMDB_IMAGE_BASE_URL));
  return {
    body: html,
    contentType: 'text/html; charset=UTF-8',
    headers: { 'Content-Security-Policy': csp, 'Referrer-Policy': 'no-referrer' },
  };
}
