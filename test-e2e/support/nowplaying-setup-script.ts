/**
 * A replay of NowPlaying's OAuth setup script ("Option A (Recommended)" of its OAuth guide), written from
 * its documented requests (/work/shared/NOWPLAYING.md §3, the API reference's OAuth guide), not from its
 * code. Run as a child process by test-e2e/nowplaying.replay.test.ts, which answers its prompts on stdin:
 * 1. prompts for the server URL (NowPlaying's users give `<host>/api` for this API), a username, a password;
 * 2. POST `<server>/auth/login/` `{username, password}`: a status ≥ 400 aborts; reads `access`;
 * 3. GET `<server>/trakt/authenticate/` with `Authorization: Bearer` and `Content-Type: application/json`:
 *    ≥ 400 aborts; reads `auth_url` and prints it ("opens the browser");
 * 4. prompts for the full redirect URL and takes `code` and `state` from its query (`state` null if absent);
 * 5. POST `<server>/trakt/oauth-callback/` `{code, state}` with the same headers: ≥ 400 fails; a truthy
 *    `success` prints `expires_at`.
 * Exit code 0 on success, 1 on any failure (the original only prints; the exit code lets the test tell).
 */
import { createInterface } from 'node:readline/promises';

const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: false });

async function ask(prompt: string): Promise<string> {
  return (await rl.question(prompt)).trim();
}

function fail(message: string): never {
  console.log(`FAILED: ${message}`);
  rl.close();
  process.exit(1);
}

async function main() {
  console.log('Trakt OAuth setup');
  const server = (await ask('Server URL (e.g. http://localhost:8000): ')).replace(/\/+$/, '');
  const username = await ask('Username: ');
  const password = await ask('Password: ');

  console.log('Step 1: signing in');
  const login = await fetch(`${server}/auth/login/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (login.status >= 400) fail(`sign-in answered HTTP ${login.status}`);
  const access = ((await login.json()) as { access?: string }).access;
  if (!access) fail('no access token in the sign-in answer');
  const headers = { Authorization: `Bearer ${access}`, 'Content-Type': 'application/json' };

  console.log('Step 2: asking for the Trakt authorization URL');
  const authenticate = await fetch(`${server}/trakt/authenticate/`, { headers });
  if (authenticate.status >= 400) fail(`authenticate answered HTTP ${authenticate.status}`);
  const authUrl = ((await authenticate.json()) as { auth_url?: string }).auth_url;
  if (!authUrl) fail('no auth_url in the answer');
  console.log(`Open this URL in your browser and authorize: ${authUrl}`);

  const pasted = await ask('Paste the full redirect URL: ');
  let code: string | null = null;
  let state: string | null = null;
  try {
    const query = new URL(pasted).searchParams;
    code = query.get('code');
    state = query.get('state');
  } catch {
    fail('that is not a URL');
  }
  if (!code) fail('no authorization code in the URL');
  console.log(`Authorization code: ${code.slice(0, 10)}...`);

  console.log('Step 3: completing the connection');
  const callback = await fetch(`${server}/trakt/oauth-callback/`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ code, state }),
  });
  if (callback.status >= 400) fail(`oauth-callback answered HTTP ${callback.status}`);
  const result = (await callback.json()) as { success?: boolean; expires_at?: string; error?: string };
  if (!result.success) fail(`authentication failed: ${result.error}`);
  console.log(`SUCCESS. Token expires at: ${result.expires_at}`);
  rl.close();
}

await main();
