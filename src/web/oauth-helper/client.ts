/**
 * @module
 * The OAuth helper page's browser code (markup in ./page.tsx). Bundled by scripts/build-web.mjs
 * and inlined into the page, allowed by the CSP through its hash.
 *
 * Safety: every value from the address bar or the API is inserted with `textContent` or as a
 * form value, never as HTML; Trakt's `error` parameter is never shown (a fixed text per known code).
 * A code in the address (this page is also GET /trakt/oauth-callback/) is only shown: it is sent to the
 * API when the signed-in person presses the confirmation button, never on page load. The JWT pair lives in sessionStorage (falling back to memory), never
 * in localStorage or a cookie, in the session the dashboard shares (../shared/browser/session.ts).
 * The code and state are removed from the address bar as soon as read.
 */
import type { AuthenticateOutput, AuthStatusOutput, CallbackPostOutput, DisconnectOutput } from '../../trakt/schemas';
import type { ApiKeyOutput, MeOutput, TokenPairOutput } from '../../users/schemas';
import { type Answer, type ApiFailure, Session, store, stored } from '../shared/browser/session';

/** The OAuth state of an authorization started here, until Trakt sends the user back. */
const STATE_KEY = 'trakt-oauth-helper.state';

type Connected = Extract<AuthStatusOutput, { authenticated: true }>;
type NotConnected = Extract<AuthStatusOutput, { authenticated: false }>;
/** What the page reads from GET /trakt/auth-status/ (both of its answer shapes, flattened). */
type AuthStatus = Partial<Omit<Connected, 'authenticated' | 'reason'>> & {
  authenticated?: boolean;
  reason?: Connected['reason'] | NotConnected['reason'];
  message?: string;
};
/** An answer as the page sees it: the fields of `Body` are checked at run time before use. */
type Reply<Body> = Answer<Partial<Body>>;

const session = new Session();

function $<Element extends HTMLElement = HTMLElement>(id: string): Element {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as Element;
}
const input = (id: string) => $<HTMLInputElement>(id);

function say(kind: '' | 'ok' | 'fail', text: string): void {
  const message = $('message');
  message.className = kind;
  message.textContent = text;
}

const isString = (value: unknown): value is string => typeof value === 'string';

/** One call through the shared session; never throws (no answer at all is status 0). */
function api<Body>(method: string, path: string, body?: unknown): Promise<Reply<Body>> {
  return session.call<Partial<Body>>(method, path, body);
}

function problem(reply: { status: number; failure: ApiFailure | null }): string {
  const failure = reply.failure;
  if (!failure) return `Request failed (HTTP ${reply.status})`;
  return failure.hint ? `${failure.message} — ${failure.hint}` : failure.message;
}

function setStatus(state: 'unknown' | 'connected' | 'disconnected', label: string, expiry: string): void {
  $('status').dataset.state = state;
  $('status').textContent = label;
  $('expiry').textContent = expiry;
  $('disconnect').hidden = state !== 'connected';
}

function setSignedIn(name: string | null): void {
  $('signin').hidden = !!name;
  $('session').hidden = !name;
  $('connection').hidden = !name;
  $('authorize').hidden = !name;
  if (name) $('whoami').textContent = name;
  else {
    $('credentials').hidden = true;
    setStatus('unknown', 'unknown', '');
  }
}

function signOut(message: string | null): void {
  session.signOut();
  setSignedIn(null);
  if (message) say('fail', message);
}

async function checkSession(): Promise<boolean> {
  if (!session.signedIn) {
    setSignedIn(null);
    return false;
  }
  const r = await api<MeOutput>('GET', '/users/me/');
  if (!r.ok || !r.data || !isString(r.data.username)) {
    signOut(r.status === 401 ? `Your session has expired; sign in again. (${problem(r)})` : problem(r));
    return false;
  }
  setSignedIn(r.data.username);
  return true;
}

async function refreshStatus(): Promise<void> {
  const r = await api<AuthStatus>('GET', '/trakt/auth-status/');
  if (!r.ok || !r.data) {
    setStatus('unknown', 'unknown', '');
    say('fail', problem(r));
    if (r.status === 401) signOut(null);
    return;
  }
  if (r.data.authenticated === true && isString(r.data.expires_at)) {
    const label = r.data.token_expired ? 'connected (token expired; it refreshes on next use)' : 'connected';
    setStatus('connected', label, `token expires ${r.data.expires_at}`);
    $('expiry').dataset.expiresAt = r.data.expires_at;
  } else {
    setStatus('disconnected', isString(r.data.reason) ? `not connected (${r.data.reason})` : 'not connected', '');
    // app_rejected: the API's fixed text saying the app behind the connection no longer works, and the way out.
    if (isString(r.data.message)) say('fail', r.data.message);
  }
}

async function authUrl(): Promise<string | null> {
  const r = await api<AuthenticateOutput>('GET', '/trakt/authenticate/');
  if (!r.ok || !r.data || !isString(r.data.auth_url)) {
    if (r.failure?.message === 'No Trakt client credentials') $('credentials').hidden = false;
    say('fail', problem(r));
    return null;
  }
  let url: URL;
  try {
    url = new URL(r.data.auth_url);
  } catch {
    say('fail', 'The API returned an invalid authorization URL');
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    say('fail', 'The API returned an unexpected authorization URL');
    return null;
  }
  const state = url.searchParams.get('state');
  if (state) {
    store(STATE_KEY, state);
    input('state').value = state;
  }
  const link = $<HTMLAnchorElement>('auth-link');
  link.href = url.href;
  link.textContent = url.href;
  $('auth-link-row').hidden = false;
  return url.href;
}

async function complete(codeInput: string, stateInput: string): Promise<void> {
  let code = codeInput.trim();
  let state = stateInput.trim();
  if (/^https?:\/\//i.test(code)) {
    let redirect: URL;
    try {
      redirect = new URL(code);
    } catch {
      say('fail', 'That does not look like a valid URL');
      return;
    }
    const error = redirect.searchParams.get('error');
    if (error) {
      say('fail', `Trakt returned an error: ${error}`);
      return;
    }
    state = redirect.searchParams.get('state') || state;
    code = redirect.searchParams.get('code') || '';
  }
  if (!code) {
    say('fail', 'Paste the code (or the whole redirect URL) first');
    return;
  }
  if (!state) state = stored(STATE_KEY) || '';
  if (!state) {
    say('fail', 'The state is missing: start the authorization from this page, or paste the whole redirect URL');
    return;
  }
  say('', 'Completing the connection…');
  const r = await api<CallbackPostOutput>('POST', '/trakt/oauth-callback/', { code, state });
  if (!r.ok || !r.data) {
    say('fail', problem(r));
    return;
  }
  store(STATE_KEY, null);
  input('code').value = '';
  input('state').value = '';
  const message = isString(r.data.message) ? r.data.message : 'Connected';
  say('ok', message + (isString(r.data.expires_at) ? ` Token expires ${r.data.expires_at}.` : ''));
  await refreshStatus();
}

/** RFC 6749's authorization error codes, each with a fixed text: the `error` parameter itself is never shown. */
const REFUSED = 'Trakt refused the authorization request; nothing was connected. Start again from this page.';
const OAUTH_ERROR_TEXTS = new Map<string, string>([
  ['access_denied', 'Authorization was denied on Trakt; nothing was connected.'],
  ['invalid_request', REFUSED],
  ['unauthorized_client', 'Trakt does not allow this app to ask for authorization; check the Trakt app.'],
  ['unsupported_response_type', REFUSED],
  ['invalid_scope', REFUSED],
  ['server_error', 'Trakt had an error; nothing was connected. Try again later.'],
  ['temporarily_unavailable', 'Trakt is temporarily unavailable; nothing was connected. Try again later.'],
]);
const OTHER_OAUTH_ERROR = 'Trakt did not authorize the request; nothing was connected. Start again from this page.';

// Values Trakt put in the address bar: read them, then remove them from the URL and history.
const params = new URLSearchParams(location.search);
type Landed = { code: string | null; state: string | null; error: string | null; description: string | null };
let landed: Landed = {
  code: params.get('code'),
  state: params.get('state'),
  error: params.get('error'),
  description: params.get('error_description'),
};
if (landed.code || landed.state || landed.error || landed.description) {
  history.replaceState(null, '', location.pathname);
}
if (landed.code) input('code').value = landed.code;
if (landed.state) input('state').value = landed.state;

/**
 * What Trakt sent back is only shown, never sent on by itself: whoever made the browser load this address may
 * not be the person in front of it (an <img> or a hidden request carrying someone else's state). The person
 * signed in here confirms with the button, and the API links only when the state was issued to that same user.
 */
function offerConfirmation(username: string): void {
  if (!landed.code) return;
  $('landed').hidden = false;
  $('landed-code').textContent = landed.code;
  $('confirm').textContent = `Link this Trakt account to ${username}`;
  say('', `Trakt sent an authorization code. If you started this, confirm to link it to ${username}.`);
}

async function afterSignIn(): Promise<void> {
  if (!(await checkSession())) return;
  await refreshStatus();
  offerConfirmation($('whoami').textContent ?? '');
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const username = input('username').value;
  const r = await api<TokenPairOutput>('POST', '/users/token/', { username, password: input('password').value });
  input('password').value = '';
  if (!r.ok || !r.data || !isString(r.data.access)) {
    say('fail', problem(r));
    return;
  }
  session.start({ access: r.data.access, refresh: r.data.refresh ?? null, username });
  say('ok', 'Signed in.');
  await afterSignIn();
});

$('jwt-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  session.adopt(
    input('jwt')
      .value.trim()
      .replace(/^Bearer\s+/i, ''),
  );
  input('jwt').value = '';
  if (await checkSession()) {
    say('ok', 'Token accepted.');
    await afterSignIn();
  }
});

$('signout').addEventListener('click', () => {
  signOut(null);
  say('', 'Signed out.');
});

$('check-status').addEventListener('click', refreshStatus);

$('disconnect').addEventListener('click', async () => {
  const r = await api<DisconnectOutput>('DELETE', '/trakt/auth/');
  if (!r.ok || !r.data) {
    say('fail', problem(r));
    return;
  }
  say('ok', r.data.revoked_at_trakt ? 'Disconnected; the token was revoked at Trakt.' : 'Disconnected.');
  await refreshStatus();
});

$('credentials-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const r = await api<ApiKeyOutput>('POST', '/users/api-keys/', {
    service_name: 'trakt',
    service_user_id: input('client-id').value.trim(),
    api_key: input('client-secret').value.trim(),
  });
  input('client-secret').value = '';
  if (!r.ok) {
    say('fail', problem(r));
    return;
  }
  $('credentials').hidden = true;
  say('ok', 'Trakt app credentials saved. Now authorize on Trakt.');
});

$('start').addEventListener('click', async () => {
  const url = await authUrl();
  if (url) {
    say('', 'Opening Trakt…');
    location.assign(url);
  }
});

$('get-link').addEventListener('click', async () => {
  if (await authUrl()) {
    say('', 'Open the link (on any device), approve, then paste the code or the URL you were sent to below.');
  }
});

$('complete-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void complete(input('code').value, input('state').value);
});

window.addEventListener('pageshow', (event) => {
  if (event.persisted && session.signedIn) void refreshStatus();
});

$('confirm').addEventListener('click', async () => {
  const pending = landed;
  if (!pending.code) return;
  landed = { code: null, state: null, error: null, description: null };
  $('landed').hidden = true;
  await complete(pending.code, pending.state ?? '');
});

void (async function start() {
  if (landed.error) {
    // The address is written by whoever sent the browser here: only known codes, each with a fixed text.
    say('fail', OAUTH_ERROR_TEXTS.get(landed.error) ?? OTHER_OAUTH_ERROR);
    landed.code = null;
  } else if (landed.code && !session.signedIn) {
    say('', 'Trakt sent an authorization code. Sign in to see it and confirm the connection.');
  }
  await afterSignIn();
})();
