/**
 * @module
 * The OAuth helper page (`GET /trakt/oauth-helper/`), served by the API itself so it needs no
 * configuration: its script (./client.ts) calls this origin's own endpoints.
 *
 * Sign in (POST /users/token/) or paste a JWT → status (GET /trakt/auth-status/) → store Trakt
 * app credentials if the API says they are missing (POST /users/api-keys/) → authorize
 * (GET /trakt/authenticate/, then open `auth_url`) → complete with the code, the whole redirect
 * URL, or by landing back here with `?code=…&state=…` and pressing the confirmation button
 * (POST /trakt/oauth-callback/ with the JWT; this page is also GET /trakt/oauth-callback/) →
 * disconnect (DELETE /trakt/auth/).
 *
 * Safety: the server reflects nothing into the page; this markup is static. The script reads
 * the query itself and inserts every value as text (see ./client.ts); the CSP allows only that
 * script and ./style.css (by hash) and Trusted Types forbid HTML sinks.
 */
import { script, style } from '../dist/oauth-helper';
import { definePage } from '../page';

const body = (
  <main>
    <h1>Connect your Trakt account</h1>
    <p class="muted">
      This page talks only to this API. Your access token stays in this tab (session storage) and is never sent anywhere
      else.
    </p>
    <p id="message" role="status" aria-live="polite"></p>

    <section id="landed" hidden>
      <h2>Trakt sent an authorization code</h2>
      <p>
        Code: <code id="landed-code"></code>
      </p>
      <p class="muted">
        Nothing is linked until you confirm. If you did not start this authorization from this API, close this page.
      </p>
      <button type="button" id="confirm">
        Link this Trakt account
      </button>
    </section>

    <section id="signin">
      <h2>1. Sign in to this API</h2>
      <form id="login-form">
        <label>
          <span>Username</span>
          <input id="username" name="username" autocomplete="username" required />
        </label>
        <label>
          <span>Password</span>
          <input id="password" name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit" id="login">
          Sign in
        </button>
      </form>
      <details>
        <summary>Or paste an access token (JWT)</summary>
        <form id="jwt-form">
          <label>
            <span>Access token from POST /users/token/</span>
            <input id="jwt" name="jwt" autocomplete="off" spellcheck={false} required />
          </label>
          <button type="submit" id="use-jwt">
            Use this token
          </button>
        </form>
      </details>
    </section>

    <section id="session" hidden>
      <p>
        Signed in as <strong id="whoami"></strong>.{' '}
        <button type="button" id="signout">
          Sign out
        </button>
      </p>
    </section>

    <section id="connection" hidden>
      <h2>2. Trakt connection</h2>
      <p>
        Status:{' '}
        <strong id="status" data-state="unknown">
          unknown
        </strong>{' '}
        <span id="expiry"></span>
      </p>
      <button type="button" id="check-status">
        Check status
      </button>
      <button type="button" id="disconnect" hidden>
        Disconnect
      </button>
    </section>

    <section id="credentials" hidden>
      <h2>Trakt app credentials</h2>
      <p class="muted">
        Create an app at trakt.tv/oauth/applications with this API's redirect URI, then store its credentials here (they
        are encrypted at rest).
      </p>
      <form id="credentials-form">
        <label>
          <span>Client ID</span>
          <input id="client-id" name="client-id" autocomplete="off" spellcheck={false} required />
        </label>
        <label>
          <span>Client secret</span>
          <input id="client-secret" name="client-secret" type="password" autocomplete="off" required />
        </label>
        <button type="submit" id="save-credentials">
          Save credentials
        </button>
      </form>
    </section>

    <section id="authorize" hidden>
      <h2>3. Authorize on Trakt</h2>
      <button type="button" id="start">
        Authorize on Trakt
      </button>
      <button type="button" id="get-link">
        Only show the link
      </button>
      <p id="auth-link-row" hidden>
        Authorization link:{' '}
        {/* biome-ignore lint/a11y: href and text are set by client.ts from the API's answer; hidden until then. */}
        <a id="auth-link" rel="noopener noreferrer"></a>
      </p>
      <form id="complete-form">
        <label>
          <span>Code, or the whole URL Trakt redirected to</span>
          <input id="code" name="code" autocomplete="off" spellcheck={false} required />
        </label>
        <label>
          <span>State (filled in from the authorization link)</span>
          <input id="state" name="state" autocomplete="off" spellcheck={false} />
        </label>
        <button type="submit" id="complete">
          Complete connection
        </button>
      </form>
    </section>
  </main>
);

export const oauthHelperPage = definePage({ title: 'Connect Trakt', assets: { script, style }, body });
