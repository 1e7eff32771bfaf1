/**
 * @module
 * `GET /docs`: an interactive API reference that works offline. Its script (./client.ts)
 * fetches `/openapi.json` and renders each operation (parameters, request body and response
 * schemas) with a "try it" form that calls this origin. No CDN, no framework: bundling Swagger
 * UI or Scalar would add megabytes and need `'unsafe-inline'` styles; this page keeps the same
 * strict, hash-based CSP as the OAuth helper (see ../page.tsx).
 */
import { script, style } from '../dist/docs';
import { definePage } from '../page';

const body = (
  <>
    <header>
      <h1 id="title">API reference</h1>
      <p id="description">Loading /openapi.json…</p>
      <p>
        <a href="/openapi.json">/openapi.json</a> · <a href="/trakt/oauth-helper/">Trakt connection helper</a>
      </p>
    </header>
    <div id="auth">
      <label>
        Bearer token (from POST /users/token; kept in this tab only){' '}
        <input id="token" autocomplete="off" spellcheck={false} />
      </label>
    </div>
    <main id="operations"></main>
  </>
);

export const docsPage = definePage({ title: 'API reference', assets: { script, style }, body });
