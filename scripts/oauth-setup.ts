/**
 * `npm run oauth-setup`: connect a Trakt account from the terminal.
 *
 * Signs in to the API (offering to register on 401), stores the Trakt app credentials when the
 * API has none, prints (and tries to open) the authorization URL, takes the redirect URL or the
 * bare code back, completes through POST /trakt/oauth-callback/ and confirms with auth-status.
 * Every prompt has a flag, so it can be scripted. Exit codes: 0 connected (or already
 * connected), 1 failure, 2 usage error or input needed but not available.
 *
 * Plain Node 22 (type stripping; no dependencies): `node scripts/oauth-setup.ts --help`.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';

const HELP = `Connect your Trakt account to this API.

Usage: npm run oauth-setup -- [options]

  --server <url>         API base URL (default http://localhost:8787)
  --username <name>      API username
  --password <password>  API password (or set OAUTH_SETUP_PASSWORD)
  --register             register the account if signing in fails
  --client-id <id>       Trakt app client id (stored if the API has no credentials)
  --client-secret <s>    Trakt app client secret
  --code <code>          authorization code, with --state: the state of the authorization URL it came from
                         (each code is bound to its own authorization by PKCE)
  --state <state>        the state that goes with --code
  --redirect-url <url>   the whole URL Trakt redirected to (carries code and state)
  --no-browser           print the authorization URL without opening a browser
  --yes, -y              answer yes to every question (register, reconnect)
  --help, -h             show this help

Without flags it asks for what it needs. Exit codes: 0 connected, 1 failed, 2 usage error.`;

const DEFAULT_SERVER = 'http://localhost:8787';

class Failure extends Error {
  exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

type Options = {
  server?: string;
  username?: string;
  password?: string;
  register: boolean;
  clientId?: string;
  clientSecret?: string;
  code?: string;
  state?: string;
  redirectUrl?: string;
  browser: boolean;
  yes: boolean;
};

const parseCli = (args: string[]) =>
  parseArgs({
    args,
    strict: true,
    options: {
      server: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      register: { type: 'boolean', default: false },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      code: { type: 'string' },
      state: { type: 'string' },
      'redirect-url': { type: 'string' },
      'no-browser': { type: 'boolean', default: false },
      yes: { type: 'boolean', short: 'y', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });

function parseOptions(argv: string[]): Options | 'help' {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    throw new Failure(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}`, 2);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  return {
    server: v.server,
    username: v.username,
    password: v.password ?? process.env.OAUTH_SETUP_PASSWORD,
    register: v.register,
    clientId: v['client-id'],
    clientSecret: v['client-secret'],
    code: v.code,
    state: v.state,
    redirectUrl: v['redirect-url'],
    browser: !v['no-browser'],
    yes: v.yes,
  };
}

// ---- terminal input: one line reader over stdin (TTY or pipe); hidden echo for secrets ----

class MutableStdout extends Writable {
  muted = false;
  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: () => void): void {
    if (!this.muted) process.stdout.write(chunk, encoding);
    callback();
  }
}

const output = new MutableStdout();
const rl = createInterface({ input: process.stdin, output, terminal: process.stdin.isTTY === true });
const lines = rl[Symbol.asyncIterator]();
let inputEnded = false;

async function readLine(): Promise<string | null> {
  if (inputEnded) return null;
  const next = await lines.next();
  if (next.done) {
    inputEnded = true;
    return null;
  }
  return next.value;
}

/** Asks for a value; `flag` names the option that answers it non-interactively. */
async function ask(
  question: string,
  flag: string,
  options: { fallback?: string; secret?: boolean } = {},
): Promise<string> {
  const suffix = options.fallback ? ` [${options.fallback}]` : '';
  process.stdout.write(`${question}${suffix}: `);
  output.muted = options.secret === true && process.stdin.isTTY === true;
  const line = await readLine();
  output.muted = false;
  if (options.secret && process.stdin.isTTY) process.stdout.write('\n');
  if (line === null) {
    if (options.fallback !== undefined) {
      process.stdout.write(`${options.fallback}\n`);
      return options.fallback;
    }
    process.stdout.write('\n');
    throw new Failure(`No input available for "${question}": pass ${flag}`, 2);
  }
  const value = line.trim();
  if (!value && options.fallback !== undefined) return options.fallback;
  if (!value) return ask(question, flag, options);
  return value;
}

async function confirm(question: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  process.stdout.write(`${question} [y/N]: `);
  const line = await readLine();
  if (line === null) {
    process.stdout.write('\n');
    return false;
  }
  return /^y(es)?$/i.test(line.trim());
}

// ---- the API ----

type Reply = { status: number; body: Record<string, unknown> | null };

function apiClient(server: string) {
  let token: string | undefined;
  const call = async (method: string, path: string, json?: unknown): Promise<Reply> => {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (json !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${server}${path}`, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new Failure(
        `Cannot reach the API at ${server} (${error instanceof Error ? error.message : String(error)}). Is it ` +
          'running? Start it with: npm run dev',
      );
    }
    const text = await res.text();
    let body: Record<string, unknown> | null = null;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : null;
    } catch {
      body = null;
    }
    return { status: res.status, body };
  };
  return {
    call,
    setToken: (value: string) => {
      token = value;
    },
  };
}

function errorOf(reply: Reply): string {
  const error = reply.body?.error;
  return typeof error === 'string' ? error : `HTTP ${reply.status}`;
}

/** The API's message, plus what to do about it for the errors the API reference documents. */
function explain(reply: Reply): string {
  const error = errorOf(reply);
  const details = reply.body?.details as { hint?: unknown } | undefined;
  const hint = typeof details?.hint === 'string' ? details.hint : undefined;
  const advice: Record<string, string> = {
    'No Trakt client credentials':
      'Pass --client-id and --client-secret (from https://trakt.tv/oauth/applications) so they can be stored.',
    'Invalid authorization code':
      'Trakt rejected the code: it expired (codes last 10 minutes), was already used, or belongs to another app or ' +
      'redirect URI. Run this again for a fresh one.',
    'Invalid username or password': 'Check them, or pass --register to create the account.',
    'No Trakt token found': 'The account is not connected yet.',
  };
  const extra =
    advice[error] ??
    (error.startsWith('Invalid or expired state')
      ? 'Run this again: each authorization URL works once, for 10 minutes.'
      : hint);
  return extra ? `${error}\n  → ${extra}` : error;
}

function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined); // no browser here: the printed URL is enough
    child.unref();
  } catch {
    // ignore
  }
}

/** Code and state from a pasted redirect URL, a query string, or a bare code. */
function parseAuthorizationInput(input: string, fallbackState: string | null): { code: string; state: string | null } {
  const value = input.trim();
  let params: URLSearchParams | undefined;
  if (/^https?:\/\//i.test(value)) {
    try {
      params = new URL(value).searchParams;
    } catch {
      throw new Failure('That redirect URL could not be parsed');
    }
  } else if (/(^|[?&])(code|error)=/.test(value)) {
    params = new URLSearchParams(value.replace(/^.*\?/, ''));
  }
  if (!params) return { code: value, state: fallbackState };
  const error = params.get('error');
  if (error) {
    throw new Failure(
      error === 'access_denied'
        ? 'Authorization was denied on Trakt; nothing was connected.'
        : `Trakt returned an error: ${error}`,
    );
  }
  const code = params.get('code');
  if (!code) throw new Failure('The redirect URL has no code parameter');
  return { code, state: params.get('state') ?? fallbackState };
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function signIn(api: ReturnType<typeof apiClient>, options: Options): Promise<void> {
  const username = options.username ?? (await ask('Username', '--username'));
  const password = options.password ?? (await ask('Password', '--password', { secret: true }));
  let reply = await api.call('POST', '/users/token/', { username, password });
  if (reply.status === 401) {
    const register =
      options.register ||
      (await confirm(`Signing in failed (${errorOf(reply)}). Register "${username}" as a new account?`, options.yes));
    if (!register) throw new Failure(explain(reply));
    const created = await api.call('POST', '/users/register/', { username, password });
    if (created.status === 409)
      throw new Failure(
        `Invalid username or password\n  → "${username}" already exists, so it was not registered; ` +
          'check the password.',
      );
    if (created.status !== 201) throw new Failure(`Registration failed: ${explain(created)}`);
    say(`Registered "${username}".`);
    reply = await api.call('POST', '/users/token/', { username, password });
  }
  const access = reply.body?.access;
  if (reply.status !== 200 || typeof access !== 'string') throw new Failure(`Signing in failed: ${explain(reply)}`);
  api.setToken(access);
  say(`Signed in as ${username}.`);
}

async function authorizationUrl(api: ReturnType<typeof apiClient>, options: Options): Promise<string> {
  let reply = await api.call('GET', '/trakt/authenticate/');
  if (reply.status === 400 && errorOf(reply) === 'No Trakt client credentials') {
    say('The API has no Trakt app credentials for you yet (create an app at https://trakt.tv/oauth/applications).');
    const missing = (error: unknown) => {
      // Not interactive and no flags: report the API's own error with what to pass.
      throw error instanceof Failure && error.exitCode === 2 ? new Failure(explain(reply), 2) : error;
    };
    const clientId = options.clientId ?? (await ask('Trakt client ID', '--client-id').catch(missing));
    const clientSecret =
      options.clientSecret ?? (await ask('Trakt client secret', '--client-secret', { secret: true }).catch(missing));
    const stored = await api.call('POST', '/users/api-keys/', {
      service_name: 'trakt',
      service_user_id: clientId,
      api_key: clientSecret,
    });
    if (stored.status !== 200 && stored.status !== 201)
      throw new Failure(`Storing the Trakt credentials failed: ${explain(stored)}`);
    say('Stored your Trakt app credentials (encrypted).');
    reply = await api.call('GET', '/trakt/authenticate/');
  }
  const url = reply.body?.auth_url;
  if (reply.status !== 200 || typeof url !== 'string')
    throw new Failure(`Could not start authorization: ${explain(reply)}`);
  return url;
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (options === 'help') {
    say(HELP);
    return 0;
  }
  // A code given up front cannot come from this run's authorization URL, and PKCE binds it to its own.
  if (options.code !== undefined && options.state === undefined) {
    throw new Failure(
      '--code needs --state (the state of the authorization URL the code came from), or pass --redirect-url',
      2,
    );
  }
  const server = (options.server ?? (await ask('API server URL', '--server', { fallback: DEFAULT_SERVER }))).replace(
    /\/+$/,
    '',
  );
  if (!/^https?:\/\//i.test(server)) throw new Failure(`--server must be an http(s) URL, got "${server}"`, 2);
  const api = apiClient(server);
  await signIn(api, options);

  const before = await api.call('GET', '/trakt/auth-status/');
  if (before.status !== 200) throw new Failure(`Checking the connection failed: ${explain(before)}`);
  const explicitCode = options.code !== undefined || options.redirectUrl !== undefined;
  if (before.body?.authenticated === true && !explicitCode) {
    say(`Trakt is already connected (token expires ${String(before.body.expires_at)}).`);
    if (!(await confirm('Connect again?', options.yes))) return 0;
  }

  const authUrl = await authorizationUrl(api, options);
  const state = new URL(authUrl).searchParams.get('state');
  let input = options.redirectUrl ?? options.code;
  if (input === undefined) {
    say(`\nOpen this URL, sign in to Trakt and approve:\n\n  ${authUrl}\n`);
    if (options.browser && process.stdin.isTTY) openBrowser(authUrl);
    say(
      "Trakt then sends you to the API's redirect URI, which shows the code. If you confirmed the link there (signed " +
        'in to this API), you are done: press Enter.',
    );
    say('Otherwise paste the whole URL you were sent to (or just the code).');
    process.stdout.write('Redirect URL or code: ');
    const line = await readLine();
    if (line === null) throw new Failure('No input available for the redirect URL: pass --redirect-url or --code', 2);
    input = line.trim();
  }

  if (input) {
    const { code, state: finalState } = parseAuthorizationInput(input, options.state ?? state);
    if (!finalState) throw new Failure('No state: pass the whole redirect URL, or a code obtained from this run');
    const done = await api.call('POST', '/trakt/oauth-callback/', { code, state: finalState });
    if (done.status !== 200) throw new Failure(`Completing the connection failed: ${explain(done)}`);
    say(String(done.body?.message ?? 'Connected.'));
  }

  const after = await api.call('GET', '/trakt/auth-status/');
  if (after.status === 200 && after.body?.authenticated === true) {
    say(`Connected to Trakt. Token expires ${String(after.body.expires_at)}.`);
    return 0;
  }
  throw new Failure(
    `Trakt is not connected: ${
      after.status === 200 ? 'the authorization did not complete (paste the redirect URL next time)' : explain(after)
    }`,
  );
}

main(process.argv.slice(2)).then(
  (code) => {
    rl.close();
    process.exitCode = code;
  },
  (error: unknown) => {
    rl.close();
    if (error instanceof Failure) {
      process.stderr.write(`Error: ${error.message}\n`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(
        `Unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 1;
    }
  },
);
