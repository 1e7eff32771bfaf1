/**
 * `npm run oauth-setup` (scripts/oauth-setup.ts) against the running API and simulator:
 * the interactive paste path driven through stdin, the scripted --code and --redirect-url
 * paths, and the failures with their messages and exit codes (wrong password, missing Trakt
 * credentials, a rejected code).
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { api, apiUser, approveAt, stack, traktAppAndAccount, unique } from './support/http';

const SCRIPT = join(resolve(import.meta.dirname, '..'), 'scripts/oauth-setup.ts');

type Run = { code: number | null; stdout: string; stderr: string };

/**
 * Runs the CLI; `onOutput` may answer prompts by writing to stdin. stdin is closed when `onOutput`
 * returns 'end' (or at once without it).
 */
function cli(
  args: string[],
  onOutput?: (stdout: string, write: (line: string) => void) => Promise<'end' | undefined> | 'end' | undefined,
): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [SCRIPT, '--server', stack().apiUrl, '--no-browser', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI timed out.\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, 45_000);
    const write = (line: string) => child.stdin.write(`${line}\n`);
    let busy = Promise.resolve();
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!onOutput) return;
      busy = busy.then(async () => {
        if ((await onOutput(stdout, write)) === 'end') child.stdin.end();
      });
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    if (!onOutput) child.stdin.end();
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

async function status(access: string) {
  return (await api<{ authenticated: boolean }>('GET', '/trakt/auth-status/', { token: access })).body.authenticated;
}

async function login(username: string, password: string) {
  return (await api<{ access: string }>('POST', '/users/token/', { json: { username, password } })).body.access;
}

describe('oauth-setup CLI', () => {
  it('interactive: registers, stores credentials, prints the URL, takes the redirect URL, confirms', async () => {
    const { app } = await traktAppAndAccount();
    const username = unique('cli');
    const password = 'a long enough password';
    let answered = false;
    const run = await cli(
      [
        '--username',
        username,
        '--password',
        password,
        '--register',
        '--client-id',
        app.client_id,
        '--client-secret',
        app.client_secret,
      ],
      async (out, write) => {
        const match = /^\s+(http\S+\/oauth\/authorize\S+)$/m.exec(out);
        if (match && !answered && out.includes('Redirect URL or code:')) {
          answered = true;
          write((await approveAt(match[1]!)).href); // what the user pastes from the browser
          return 'end';
        }
      },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Registered "${username}".`);
    expect(run.stdout).toContain('Stored your Trakt app credentials');
    expect(run.stdout).toContain('Successfully authenticated with Trakt!');
    expect(run.stdout).toMatch(/Connected to Trakt\. Token expires \d{4}-\d\d-\d\dT/);
    expect(await status(await login(username, password))).toBe(true);
  });

  it('scripted with --code and --state and, on a connected account, with --redirect-url', async () => {
    const { app } = await traktAppAndAccount();
    const user = await apiUser();
    await api('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
    });
    const auth = await api<{ auth_url: string }>('GET', '/trakt/authenticate/', { token: user.access });
    const state = new URL(auth.body.auth_url).searchParams.get('state')!;
    const code = (await approveAt(auth.body.auth_url)).searchParams.get('code')!;
    // A code given up front needs the state of the authorization it came from (PKCE binds the two).
    const alone = await cli(['--username', user.username, '--password', user.password, '--code', code]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--code needs --state');
    const byCode = await cli([
      '--username',
      user.username,
      '--password',
      user.password,
      '--code',
      code,
      '--state',
      state,
    ]);
    expect(byCode.stderr).toBe('');
    expect(byCode.code).toBe(0);
    expect(await status(user.access)).toBe(true);

    const again = await api<{ auth_url: string }>('GET', '/trakt/authenticate/', { token: user.access });
    const redirect = await approveAt(again.body.auth_url);
    const byUrl = await cli([
      '--username',
      user.username,
      '--password',
      user.password,
      '--redirect-url',
      redirect.href,
    ]);
    expect(byUrl.code).toBe(0);
    expect(byUrl.stdout).toMatch(/Connected to Trakt\. Token expires/);

    // Already connected and nothing to do: exits 0 without asking Trakt again.
    const noop = await cli(['--username', user.username, '--password', user.password]);
    expect(noop.code).toBe(0);
    expect(noop.stdout).toContain('Trakt is already connected');
  });

  it('wrong password: exit 1 with the API message; --register does not take over an existing name', async () => {
    const user = await apiUser();
    const wrong = await cli(['--username', user.username, '--password', 'not the password']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('Error: Invalid username or password');
    const register = await cli(['--username', user.username, '--password', 'not the password', '--register']);
    expect(register.code).toBe(1);
    expect(register.stderr).toMatch(/Invalid username or password[\s\S]*already exists/);
  });

  it('missing Trakt credentials and no flags for them: exit 2 naming the error and the flags', async () => {
    await traktAppAndAccount();
    const user = await apiUser();
    const run = await cli(['--username', user.username, '--password', user.password]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('No Trakt client credentials');
    expect(run.stderr).toContain('--client-id');
    expect(await status(user.access)).toBe(false);
  });

  it('a rejected code: exit 1 with "Invalid authorization code" and advice', async () => {
    const { app } = await traktAppAndAccount();
    const user = await apiUser();
    await api('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
    });
    const auth = await api<{ auth_url: string }>('GET', '/trakt/authenticate/', { token: user.access });
    const state = new URL(auth.body.auth_url).searchParams.get('state')!;
    const run = await cli([
      '--username',
      user.username,
      '--password',
      user.password,
      '--code',
      'not-a-real-code',
      '--state',
      state,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Invalid authorization code');
    expect(run.stderr).toContain('Run this again');
    expect(await status(user.access)).toBe(false);
  });

  it('a denial pasted back: exit 1, nothing connected', async () => {
    const { app } = await traktAppAndAccount();
    const user = await apiUser();
    await api('POST', '/users/api-keys/', {
      token: user.access,
      json: { service_name: 'trakt', service_user_id: app.client_id, api_key: app.client_secret },
    });
    const denied = `${stack().redirectUri}?error=access_denied&state=x`;
    const run = await cli(['--username', user.username, '--password', user.password, '--redirect-url', denied]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Authorization was denied on Trakt; nothing was connected.');
    expect(await status(user.access)).toBe(false);
  });
});
