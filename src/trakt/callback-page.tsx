/**
 * @module
 * The small HTML pages a browser sees on the OAuth callback (when it asks for text/html): the
 * confirmation page, which names the API account and links only through a plain
 * `<form method="post">` (no JavaScript), and the outcome page. `hono/jsx` escapes every
 * interpolated value; the CSP forbids scripts, framing and posting anywhere but this origin.
 */
import type { Child } from 'hono/jsx';

export const CALLBACK_PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Where the confirmation form posts (relative to the `/trakt` router). */
export const CONFIRM_PATH = '/oauth-callback/confirm';

/**
 * What the callback says for an `error` parameter from Trakt: fixed texts per RFC 6749 error code,
 * never the parameter itself (it comes from whoever crafted the link).
 */
const OAUTH_ERROR_MESSAGES: Record<string, string> = {
  access_denied: 'Authorization was denied on Trakt; nothing was connected',
  temporarily_unavailable: 'Trakt is temporarily unavailable; nothing was connected. Try again later',
  server_error: 'Trakt had an error; nothing was connected. Try again later',
};
const OTHER_OAUTH_ERROR =
  'Trakt did not authorize the request; nothing was connected. Start again at /trakt/authenticate/';

export function oauthErrorMessage(error: string): string {
  return Object.hasOwn(OAUTH_ERROR_MESSAGES, error) ? OAUTH_ERROR_MESSAGES[error]! : OTHER_OAUTH_ERROR;
}

const STYLE = `
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5; }
.ok { color: #1a7f37; } .fail { color: #b42318; }
button { font: inherit; padding: 0.5rem 1rem; cursor: pointer; }
`;

function Layout(props: { title: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{props.title}</title>
        <style>{STYLE}</style>
      </head>
      <body>{props.children}</body>
    </html>
  );
}

/**
 * Asks the person in front of the browser to confirm which API account the Trakt account joins. With
 * `code` (NowPlaying's callback, src/nowplaying/), it also shows Trakt's code for a client that completes
 * with it (NowPlaying's Connect dialog and setup script), as NowPlaying's own callback page does.
 */
export function confirmPage(props: { apiUsername: string; confirmation: string; action: string; code?: string }) {
  return (
    '<!doctype html>' +
    (
      <Layout title="Connect Trakt?">
        <h1>Connect your Trakt account?</h1>
        {props.code === undefined ? null : (
          <section>
            <p>Your authorization code:</p>
            <p>
              <code id="code">{props.code}</code>
            </p>
            <p>
              Paste it into NowPlaying's "Connect Trakt" dialog (or this page's address into its setup script), or
              confirm here. Not both: it can be used once.
            </p>
          </section>
        )}
        <p id="message">
          Trakt approved access. Confirm to link that Trakt account to the API account{' '}
          <strong id="api-username">{props.apiUsername}</strong>.
        </p>
        <p>If this is not your API account, or you did not start this, close this page: nothing is linked.</p>
        <form method="post" action={props.action}>
          <input type="hidden" name="confirmation" value={props.confirmation} />
          <button type="submit" id="confirm">
            Link to {props.apiUsername}
          </button>
        </form>
      </Layout>
    ).toString()
  );
}

/** The outcome: connected, or why not (fixed messages of this API only, never a reflected parameter). */
export function outcomePage(outcome: { ok: boolean; message: string }) {
  const title = outcome.ok ? 'Trakt connected' : 'Trakt connection failed';
  return (
    '<!doctype html>' +
    (
      <Layout title={title}>
        <h1 class={outcome.ok ? 'ok' : 'fail'}>{title}</h1>
        <p id="message">{outcome.message}</p>
        <p>You can close this window.</p>
      </Layout>
    ).toString()
  );
}
