/**
 * @module
 * The OAuth helper page (`GET /trakt/oauth-helper/`), served by the API
 * itself so it needs no configuration: it calls this origin's own endpoints.
 *
 * Sign in (POST /users/token/) or paste a JWT → status (GET /trakt/auth-status/) → store Trakt
 * app credentials if the API says they are missing (POST /users/api-keys/) → authorize
 * (GET /trakt/authenticate/, then open `auth_url`) → complete with the code, the whole redirect
 * URL, or by landing back here with `?code=…&state=…` (POST /trakt/oauth-callback/) →
 * disconnect (DELETE /trakt/auth/).
 *
 * Safety: the server reflects nothing into the page. The script reads the query itself and
 * inserts every value (query parameters, API responses) with `textContent` or as a form value,
 * never as HTML; the CSP allows only this script and style (by hash) and Trusted Types forbid
 * HTML sinks. The JWT lives in sessionStorage (falling back to memory), never in localStorage
 * or a cookie. The code and state are removed from the address bar as soon as they are read.
 */
import { selfContainedPage } from '../docs/self-contained-page';

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --fail: #b42318; --muted: #6b7280; }
body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
h1 { margin-bottom: .25rem; } h2 { font-size: 1.1rem; margin-top: 1.75rem; }
section { border-top: 1px solid #8884; padding-top: .25rem; }
label { display: block; margin: .5rem 0; } label span { display: block; font-size: .9rem; color: var(--muted); }
input { width: 100%; box-sizing: border-box; padding: .4rem; font: inherit; }
button { font: inherit; padding: .35rem .9rem; margin: .25rem .5rem .25rem 0; cursor: pointer; }
#message { min-height: 1.5rem; padding: .5rem .75rem; border-radius: .4rem; }
#message.ok { color: var(--ok); border: 1px solid var(--ok); } #message.fail { color: var(--fail); border: 1px solid var(--fail); }
#message:empty { display: none; }
#status[data-state="connected"] { color: var(--ok); } #status[data-state="disconnected"] { color: var(--fail); }
.muted { color: var(--muted); font-size: .9rem; } code, #auth-link { word-break: break-all; }
`;

const BODY = `<main>
<h1>Connect your Trakt account</h1>
<p class="muted">This page talks only to this API. Your access token stays in this tab (session storage) and is never sent anywhere else.</p>
<p id="message" role="status" aria-live="polite"></p>

<section id="signin">
<h2>1. Sign in to this API</h2>
<form id="login-form">
<label><span>Username</span><input id="username" name="username" autocomplete="username" required></label>
<label><span>Password</span><input id="password" name="password" type="password" autocomplete="current-password" required></label>
<button type="submit" id="login">Sign in</button>
</form>
<details>
<summary>Or paste an access token (JWT)</summary>
<form id="jwt-form">
<label><span>Access token from POST /users/token/</span><input id="jwt" name="jwt" autocomplete="off" spellcheck="false" required></label>
<button type="submit" id="use-jwt">Use this token</button>
</form>
</details>
</section>

<section id="session" hidden>
<p>Signed in as <strong id="whoami"></strong>. <button type="button" id="signout">Sign out</button></p>
</section>

<section id="connection" hidden>
<h2>2. Trakt connection</h2>
<p>Status: <strong id="status" data-state="unknown">unknown</strong> <span id="expiry"></span></p>
<button type="button" id="check-status">Check status</button>
<button type="button" id="disconnect" hidden>Disconnect</button>
</section>

<section id="credentials" hidden>
<h2>Trakt app credentials</h2>
<p class="muted">Create an app at trakt.tv/oauth/applications with this API's redirect URI, then store its credentials here (they are encrypted at rest).</p>
<form id="credentials-form">
<label><span>Client ID</span><input id="client-id" name="client-id" autocomplete="off" spellcheck="false" required></label>
<label><span>Client secret</span><input id="client-secret" name="client-secret" type="password" autocomplete="off" required></label>
<button type="submit" id="save-credentials">Save credentials</button>
</form>
</section>

<section id="authorize" hidden>
<h2>3. Authorize on Trakt</h2>
<button type="button" id="start">Authorize on Trakt</button>
<button type="button" id="get-link">Only show the link</button>
<p id="auth-link-row" hidden>Authorization link: <a id="auth-link" rel="noopener noreferrer"></a></p>
<form id="complete-form">
<label><span>Code, or the whole URL Trakt redirected to</span><input id="code" name="code" autocomplete="off" spellcheck="false" required></label>
<label><span>State (filled in from the authorization link)</span><input id="state" name="state" autocomplete="off" spellcheck="false"></label>
<button type="submit" id="complete">Complete connection</button>
</form>
</section>
</main>`;

// Plain browser JavaScript, kept free of template-literal syntax so it can live in this string.
const SCRIPT = `
(function () {
  'use strict';
  var TOKEN_KEY = 'trakt-oauth-helper.access';
  var STATE_KEY = 'trakt-oauth-helper.state';
  var memory = {};
  function store(key, value) {
    memory[key] = value;
    try { if (value === null) sessionStorage.removeItem(key); else sessionStorage.setItem(key, value); } catch (e) { /* memory only */ }
  }
  function load(key) {
    try { var v = sessionStorage.getItem(key); if (v !== null) return v; } catch (e) { /* memory only */ }
    return memory[key] === undefined ? null : memory[key];
  }
  function $(id) { return document.getElementById(id); }
  function say(kind, text) { var m = $('message'); m.className = kind; m.textContent = text; }

  async function api(method, path, body) {
    var headers = { Accept: 'application/json' };
    var token = load(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    var init = { method: method, headers: headers, credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) { headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    var res;
    try { res = await fetch(path, init); } catch (e) { return { ok: false, status: 0, data: { error: 'The API could not be reached' } }; }
    var text = await res.text();
    var data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    return { ok: res.ok, status: res.status, data: data };
  }
  function problem(r) {
    var d = r.data || {};
    var text = typeof d.error === 'string' ? d.error : 'Request failed (HTTP ' + r.status + ')';
    if (d.details && typeof d.details.hint === 'string') text += ' — ' + d.details.hint;
    return text;
  }
  function isString(v) { return typeof v === 'string'; }

  function setSignedIn(name) {
    $('signin').hidden = !!name;
    $('session').hidden = !name;
    $('connection').hidden = !name;
    $('authorize').hidden = !name;
    if (name) $('whoami').textContent = name;
    else { $('credentials').hidden = true; setStatus('unknown', 'unknown', ''); }
  }
  function setStatus(state, label, expiry) {
    $('status').dataset.state = state;
    $('status').textContent = label;
    $('expiry').textContent = expiry;
    $('disconnect').hidden = state !== 'connected';
  }
  function signOut(message) {
    store(TOKEN_KEY, null);
    setSignedIn(null);
    if (message) say('fail', message);
  }

  async function checkSession() {
    if (!load(TOKEN_KEY)) { setSignedIn(null); return false; }
    var r = await api('GET', '/users/me/');
    if (!r.ok || !r.data || !isString(r.data.username)) { signOut(r.status === 401 ? 'Your session has expired; sign in again. (' + problem(r) + ')' : problem(r)); return false; }
    setSignedIn(r.data.username);
    return true;
  }
  async function refreshStatus() {
    var r = await api('GET', '/trakt/auth-status/');
    if (!r.ok || !r.data) { setStatus('unknown', 'unknown', ''); say('fail', problem(r)); if (r.status === 401) signOut(); return; }
    if (r.data.authenticated === true && isString(r.data.expires_at)) {
      var label = r.data.token_expired ? 'connected (token expired; it refreshes on next use)' : 'connected';
      setStatus('connected', label, 'token expires ' + r.data.expires_at);
      $('expiry').dataset.expiresAt = r.data.expires_at;
    } else {
      setStatus('disconnected', isString(r.data.reason) ? 'not connected (' + r.data.reason + ')' : 'not connected', '');
    }
  }

  async function authUrl() {
    var r = await api('GET', '/trakt/authenticate/');
    if (!r.ok || !r.data || !isString(r.data.auth_url)) {
      if (r.data && r.data.error === 'No Trakt client credentials') $('credentials').hidden = false;
      say('fail', problem(r));
      return null;
    }
    var url;
    try { url = new URL(r.data.auth_url); } catch (e) { say('fail', 'The API returned an invalid authorization URL'); return null; }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') { say('fail', 'The API returned an unexpected authorization URL'); return null; }
    var state = url.searchParams.get('state');
    if (state) { store(STATE_KEY, state); $('state').value = state; }
    $('auth-link').href = url.href;
    $('auth-link').textContent = url.href;
    $('auth-link-row').hidden = false;
    return url.href;
  }

  async function complete(input, stateInput) {
    var code = input.trim();
    var state = stateInput.trim();
    if (/^https?:\\/\\//i.test(code)) {
      var u;
      try { u = new URL(code); } catch (e) { say('fail', 'That does not look like a valid URL'); return; }
      var err = u.searchParams.get('error');
      if (err) { say('fail', 'Trakt returned an error: ' + err); return; }
      state = u.searchParams.get('state') || state;
      code = u.searchParams.get('code') || '';
    }
    if (!code) { say('fail', 'Paste the code (or the whole redirect URL) first'); return; }
    if (!state) state = load(STATE_KEY) || '';
    if (!state) { say('fail', 'The state is missing: start the authorization from this page, or paste the whole redirect URL'); return; }
    say('', 'Completing the connection…');
    var r = await api('POST', '/trakt/oauth-callback/', { code: code, state: state });
    if (!r.ok || !r.data) { say('fail', problem(r)); return; }
    store(STATE_KEY, null);
    $('code').value = '';
    $('state').value = '';
    say('ok', (isString(r.data.message) ? r.data.message : 'Connected') + (isString(r.data.expires_at) ? ' Token expires ' + r.data.expires_at + '.' : ''));
    await refreshStatus();
  }

  // Values Trakt put in the address bar: read them, then remove them from the URL and history.
  var params = new URLSearchParams(location.search);
  var landed = { code: params.get('code'), state: params.get('state'), error: params.get('error'), description: params.get('error_description') };
  if (landed.code || landed.state || landed.error || landed.description) history.replaceState(null, '', location.pathname);
  if (landed.code) $('code').value = landed.code;
  if (landed.state) $('state').value = landed.state;

  $('login-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var r = await api('POST', '/users/token/', { username: $('username').value, password: $('password').value });
    $('password').value = '';
    if (!r.ok || !r.data || !isString(r.data.access)) { say('fail', problem(r)); return; }
    store(TOKEN_KEY, r.data.access);
    say('ok', 'Signed in.');
    await afterSignIn();
  });
  $('jwt-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    store(TOKEN_KEY, $('jwt').value.trim().replace(/^Bearer\\s+/i, ''));
    $('jwt').value = '';
    if (await checkSession()) { say('ok', 'Token accepted.'); await afterSignIn(); }
  });
  $('signout').addEventListener('click', function () { signOut(null); say('', 'Signed out.'); });
  $('check-status').addEventListener('click', refreshStatus);
  $('disconnect').addEventListener('click', async function () {
    var r = await api('DELETE', '/trakt/auth/');
    if (!r.ok || !r.data) { say('fail', problem(r)); return; }
    say('ok', r.data.revoked_at_trakt ? 'Disconnected; the token was revoked at Trakt.' : 'Disconnected.');
    await refreshStatus();
  });
  $('credentials-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var r = await api('POST', '/users/api-keys/', { service_name: 'trakt', service_user_id: $('client-id').value.trim(), api_key: $('client-secret').value.trim() });
    $('client-secret').value = '';
    if (!r.ok) { say('fail', problem(r)); return; }
    $('credentials').hidden = true;
    say('ok', 'Trakt app credentials saved. Now authorize on Trakt.');
  });
  $('start').addEventListener('click', async function () {
    var url = await authUrl();
    if (url) { say('', 'Opening Trakt…'); location.assign(url); }
  });
  $('get-link').addEventListener('click', async function () {
    if (await authUrl()) say('', 'Open the link (on any device), approve, then paste the code or the URL you were sent to below.');
  });
  $('complete-form').addEventListener('submit', function (ev) { ev.preventDefault(); complete($('code').value, $('state').value); });
  window.addEventListener('pageshow', function (ev) { if (ev.persisted && load(TOKEN_KEY)) refreshStatus(); });

  async function afterSignIn() {
    if (!(await checkSession())) return;
    await refreshStatus();
    if (landed.code && landed.state) {
      var pending = landed;
      landed = {};
      await complete(pending.code, pending.state);
    }
  }

  (async function start() {
    if (landed.error) {
      say('fail', landed.error === 'access_denied' ? 'Authorization was denied on Trakt; nothing was connected.' : 'Trakt returned an error: ' + landed.error + (landed.description ? ' (' + landed.description + ')' : ''));
      landed.code = null;
    } else if (landed.code && !load(TOKEN_KEY)) {
      say('', 'Trakt sent an authorization code. Sign in to finish connecting.');
    }
    await afterSignIn();
  })();
})();
`;

export const oauthHelperPage = selfContainedPage({ title: 'Connect Trakt', style: STYLE, script: SCRIPT, body: BODY });
