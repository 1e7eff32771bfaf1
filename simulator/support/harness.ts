/**
 * Test wiring for the upstream simulator (simulator/): `installSimulator()` creates a fresh
 * in-memory Trakt + TMDB simulator and routes `globalThis.fetch` calls to `*.sim.test` hosts
 * into it (the API Worker's outbound fetch included, since it runs in the test isolate).
 * Any other host throws: tests never reach the real network.
 *
 * Usage (the caller restores the spy):
 *
 *   let sim: Simulator;
 *   beforeEach(() => { sim = installSimulator(); });
 *   afterEach(() => { vi.restoreAllMocks(); });   // or sim.restore()
 *
 * Hosts (any `*.sim.test` host reaches the same simulator; the paths don't collide):
 *   Trakt API  https://api.trakt.sim.test     (/sync/*, /users/*)
 *   Trakt auth https://auth.trakt.sim.test    (/oauth/*)
 *   TMDB       https://api.tmdb.sim.test/3    (/3/*)
 * The admin methods below call `/_sim/*` directly (not through the spy).
 *
 * Clocks: the simulator keeps its own clock (the real wall clock captured when this module loads,
 * or `now`, plus `advanceClock()`), so faking `Date.now` in a test moves only the API's clock.
 * When a test means "Trakt's token expired", say so to the simulator: `expireAccountTokens()`,
 * `expireToken()` or `advanceClock()`.
 *
 * Ordering without sleeps: a `hold` fault parks matching requests; `whenHeld()` resolves once
 * they are parked and `releaseHeld()` lets them through to the real handler.
 */
import { type MockInstance, vi } from 'vitest';
import type { z } from 'zod';
import type {
  AccountInfo,
  AppCredentials,
  CatalogInfo,
  ConfigInput,
  FaultInfo,
  PlayInfo,
  RefreshTokenSends,
  TokenSet,
} from '../src/admin';
import { createSimulator, type SimulatorInstance } from '../src/app';
import type {
  accountSchema,
  appSchema,
  faultSchema,
  playbackSchema,
  playSchema,
  renameTitleSchema,
  resetSchema,
  tokensSchema,
  watchingSchema,
} from '../src/schemas';
import type { RequestLogEntry, SimConfig } from '../src/state';
import type { Summary } from '../src/views';

export type {
  AccountInfo,
  AppCredentials,
  CatalogInfo,
  FaultInfo,
  PlayInfo,
  RefreshTokenSends,
  RequestLogEntry,
  SimConfig,
  Summary,
  TokenSet,
};

export const SIM_TRAKT_API_URL = 'https://api.trakt.sim.test';
export const SIM_TRAKT_AUTH_URL = 'https://auth.trakt.sim.test';
export const SIM_TMDB_API_URL = 'https://api.tmdb.sim.test/3';
/** Redirect URI registered by `createApp()` when none is given (= TRAKT_REDIRECT_URI in wrangler.toml). */
export const SIM_DEFAULT_REDIRECT_URI = 'http://localhost:8787/trakt/oauth-callback/';
/** A TMDB key the simulator accepts without registration (config `tmdb_default_key`). */
export const SIM_DEFAULT_TMDB_KEY = 'sim-tmdb-key';

const ADMIN_ORIGIN = 'https://admin.sim.test';
/** `whenHeld` checks the held count this often, and gives up (failing the test) after the limit. */
const HELD_POLL_MS = 5;
const HELD_WAIT_LIMIT_MS = 20_000;

export type AppInput = z.input<typeof appSchema>;
export type AccountInput = z.input<typeof accountSchema>;
export type TokensInput = z.input<typeof tokensSchema>;
export type PlayInput = z.input<typeof playSchema>;
export type ResetInput = z.input<typeof resetSchema>;
export type RenameTitleInput = z.input<typeof renameTitleSchema>;
export type PlaybackInput = z.input<typeof playbackSchema>;
export type WatchingInput = z.input<typeof watchingSchema>;
export type FaultInput = z.input<typeof faultSchema>;

export interface AuthorizeResult {
  status: number;
  location: string | null;
  code: string | null;
  state: string | null;
  error: string | null;
}

export interface TraktRequestOptions {
  accessToken?: string;
  clientId?: string;
  /** Defaults to `2`; `null` omits the header. */
  version?: string | null;
  method?: string;
  body?: unknown;
}

export interface Simulator {
  /** The underlying simulator (Hono app + state) for anything not wrapped here. */
  readonly instance: SimulatorInstance;
  /** The `globalThis.fetch` spy routing `*.sim.test` to the simulator. */
  readonly fetchSpy: MockInstance<typeof fetch>;
  /** Restores `globalThis.fetch` (same as `vi.restoreAllMocks()` for this spy). */
  restore(): void;
  /** Raw admin call: `/_sim/<path>`; throws on non-2xx. */
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;

  reset(): Promise<void>;
  config(input: ConfigInput): Promise<SimConfig>;
  /** Moves the simulator clock forward (token/code/device expiry, rate-limit windows). */
  advanceClock(seconds: number): Promise<void>;
  /** Registers a Trakt app (random credentials unless given; redirect URI defaults to SIM_DEFAULT_REDIRECT_URI). */
  createApp(input?: Partial<AppInput>): Promise<AppCredentials>;
  /** Trakt deletes the app: its client id answers 403 on the API and invalid_client on OAuth (createApp with the same credentials restores it). */
  deleteApp(clientId: string): Promise<void>;
  registerTmdbKey(apiKey: string): Promise<void>;
  createAccount(input: AccountInput): Promise<AccountInfo>;
  setSession(username: string): Promise<void>;
  /** Issues a token set directly (no OAuth dance). */
  issueTokens(input: TokensInput): Promise<TokenSet>;
  expireToken(accessToken: string): Promise<void>;
  /** Trakt rejects every access token issued so far to this account (401); refreshing still works. */
  expireAccountTokens(username: string): Promise<number>;
  /** As if the user revoked the app on trakt.tv: every access and refresh token of the account stops working. */
  revokeAccountTokens(username: string): Promise<number>;
  /** Trakt stops honouring the refresh token of the set with this access token; the access token still works. */
  expireRefreshToken(accessToken: string): Promise<void>;
  /** Whether Trakt accepts this access token now. */
  tokenActive(accessToken: string): Promise<boolean>;

  addPlay(username: string, input: PlayInput): Promise<PlayInfo>;
  removePlay(username: string, historyId: number): Promise<PlayInfo>;
  /** All plays of the account, newest first (the truth history is derived from). */
  plays(username: string): Promise<PlayInfo[]>;
  resetShow(username: string, input: ResetInput): Promise<{ show_trakt_id: number; reset_at: string }>;
  /** Renames a catalog title (every account with its seed sees the new title). */
  renameTitle(input: RenameTitleInput): Promise<{ type: 'movie' | 'show'; trakt_id: number; title: string }>;
  setPlayback(username: string, input: PlaybackInput): Promise<{ id: number; progress: number; paused_at: string }>;
  removePlayback(username: string, playbackId: number): Promise<void>;
  startWatching(username: string, input: WatchingInput): Promise<{ started_at: string; expires_at: string }>;
  /** Stops watching; with `scrobble: true` the item is added to history. */
  stopWatching(username: string, options?: { scrobble?: boolean }): Promise<{ play: PlayInfo | null }>;
  summary(username: string): Promise<Summary>;
  /** The account's seeded titles with their ids and TMDB status (`ok` | `null_tmdb` | `missing`). */
  catalog(username: string): Promise<CatalogInfo>;
  /** The account's data export ZIP (trakt.tv Settings → Data → Export); `perFile` history items per file. */
  exportZip(username: string, options?: { perFile?: number }): Promise<Uint8Array>;

  approveDevice(userCode: string, username?: string): Promise<void>;
  denyDevice(userCode: string): Promise<void>;
  expireDevice(userCode: string): Promise<void>;
  /** Follows an authorize URL like a browser would and parses the redirect. */
  authorize(url: string | URL): Promise<AuthorizeResult>;

  addFault(input: FaultInput): Promise<FaultInfo>;
  clearFaults(): Promise<void>;
  /** Resolves once `count` requests are held by `hold`/`process_then_hold` faults at the same time. */
  whenHeld(count?: number): Promise<void>;
  /** Lets every held request go on; returns how many there were. */
  releaseHeld(): Promise<number>;
  /** How refresh tokens were sent to `/oauth/token` (a correct client never sends one twice). */
  refreshTokenSends(): Promise<RefreshTokenSends>;
  requests(): Promise<RequestLogEntry[]>;
  /** Requests per "METHOD /path-template", e.g. `GET /sync/history/movies`. */
  counters(): Promise<Record<string, number>>;
  clearRequests(): Promise<void>;

  /** Calls the simulated Trakt API with the usual headers (through the fetch spy). */
  trakt(path: string, options?: TraktRequestOptions): Promise<Response>;
  /** Calls simulated TMDB (`path` after `/3`) with `Authorization: Bearer <key>` (through the fetch spy). */
  tmdb(path: string, apiKey?: string): Promise<Response>;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/** Serves a request from the simulator, rejecting like `fetch` when the signal aborts. */
function routeToSimulator(
  instance: SimulatorInstance,
  request: Request,
  signal: AbortSignal | undefined,
): Promise<Response> {
  if (!signal) return instance.fetch(request);
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<Response>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    instance.fetch(request, { signal }).then(
      (response) => {
        signal.removeEventListener('abort', onAbort);
        resolve(response);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The real wall clock, captured before any test can fake `Date.now`. */
const wallClock = Date.now.bind(Date);

export function installSimulator(options: { now?: () => number } = {}): Simulator {
  const instance = createSimulator({ now: options.now ?? wallClock });

  const fetchSpy = vi
    .spyOn(globalThis, 'fetch')
    .mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      if (!url.hostname.endsWith('.sim.test')) {
        throw new Error(
          `[simulator] blocked a real network call to ${url.origin}${url.pathname}: in tests only *.sim.test ` +
            'hosts are reachable (they are routed to the upstream simulator).',
        );
      }
      const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined;
      return routeToSimulator(instance, request, signal);
    });

  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const response = await instance.fetch(new Request(`${ADMIN_ORIGIN}/_sim${path}`, init));
    const text = await response.text();
    if (!response.ok) throw new Error(`[simulator] ${method} /_sim${path} → ${response.status}: ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
  const user = (username: string): string => `/accounts/${encodeURIComponent(username)}`;

  return {
    instance,
    fetchSpy,
    restore: () => fetchSpy.mockRestore(),
    admin,

    reset: async () => {
      await admin('POST', '/reset');
    },
    config: (input) => admin<SimConfig>('POST', '/config', input),
    advanceClock: async (seconds) => {
      await admin('POST', '/clock', { advance_seconds: seconds });
    },
    createApp: (input = {}) =>
      admin<AppCredentials>('POST', '/apps', { redirect_uris: [SIM_DEFAULT_REDIRECT_URI], ...input }),
    deleteApp: async (clientId) => {
      await admin('DELETE', `/apps/${encodeURIComponent(clientId)}`);
    },
    registerTmdbKey: async (apiKey) => {
      await admin('POST', '/tmdb-keys', { api_key: apiKey });
    },
    createAccount: (input) => admin<AccountInfo>('POST', '/accounts', input),
    setSession: async (username) => {
      await admin('POST', '/session', { username });
    },
    issueTokens: (input) => admin<TokenSet>('POST', '/tokens', input),
    expireToken: async (accessToken) => {
      await admin('POST', '/tokens/expire', { access_token: accessToken });
    },
    expireAccountTokens: async (username) =>
      (await admin<{ expired: number }>('POST', `${user(username)}/tokens/expire`)).expired,
    revokeAccountTokens: async (username) =>
      (await admin<{ revoked: number }>('POST', `${user(username)}/tokens/revoke`)).revoked,
    expireRefreshToken: async (accessToken) => {
      await admin('POST', '/tokens/expire-refresh', { access_token: accessToken });
    },
    tokenActive: async (accessToken) =>
      (await admin<{ active: boolean }>('POST', '/tokens/active', { access_token: accessToken })).active,

    addPlay: (username, input) => admin<PlayInfo>('POST', `${user(username)}/plays`, input),
    removePlay: (username, id) => admin<PlayInfo>('DELETE', `${user(username)}/plays/${id}`),
    plays: (username) => admin<PlayInfo[]>('GET', `${user(username)}/plays`),
    resetShow: (username, input) => admin('POST', `${user(username)}/resets`, input),
    renameTitle: (input) => admin('POST', '/titles', input),
    setPlayback: (username, input) => admin('POST', `${user(username)}/playback`, input),
    removePlayback: async (username, id) => {
      await admin('DELETE', `${user(username)}/playback/${id}`);
    },
    startWatching: (username, input) => admin('POST', `${user(username)}/watching`, input),
    stopWatching: (username, opts = {}) =>
      admin('POST', `${user(username)}/watching/stop`, { scrobble: opts.scrobble ?? false }),
    summary: (username) => admin<Summary>('GET', `${user(username)}/summary`),
    catalog: (username) => admin<CatalogInfo>('GET', `${user(username)}/catalog`),
    exportZip: async (username, opts = {}) => {
      const query = opts.perFile === undefined ? '' : `?per_file=${opts.perFile}`;
      const response = await instance.fetch(new Request(`${ADMIN_ORIGIN}/_sim${user(username)}/export.zip${query}`));
      if (!response.ok) throw new Error(`[simulator] export.zip → ${response.status}: ${await response.text()}`);
      return new Uint8Array(await response.arrayBuffer());
    },

    approveDevice: async (userCode, username) => {
      await admin(
        'POST',
        '/device/approve',
        username === undefined ? { user_code: userCode } : { user_code: userCode, username },
      );
    },
    denyDevice: async (userCode) => {
      await admin('POST', '/device/deny', { user_code: userCode });
    },
    expireDevice: async (userCode) => {
      await admin('POST', '/device/expire', { user_code: userCode });
    },
    authorize: async (url) => {
      const response = await instance.fetch(new Request(url, { redirect: 'manual' }));
      const location = response.headers.get('location');
      const params = location === null ? null : new URL(location).searchParams;
      return {
        status: response.status,
        location,
        code: params?.get('code') ?? null,
        state: params?.get('state') ?? null,
        error: params?.get('error') ?? null,
      };
    },

    addFault: (input) => admin<FaultInfo>('POST', '/faults', input),
    clearFaults: async () => {
      await admin('DELETE', '/faults');
    },
    whenHeld: async (count = 1) => {
      // Polls the in-memory count rather than awaiting a promise the held request settles: in workerd a
      // promise settled from another request's context (the API Worker's fetch) would never wake this one.
      for (let waited = 0; instance.state.held < count; waited += HELD_POLL_MS) {
        if (waited > HELD_WAIT_LIMIT_MS) throw new Error(`[simulator] fewer than ${count} requests held`);
        await new Promise((resolve) => setTimeout(resolve, HELD_POLL_MS));
      }
    },
    releaseHeld: async () => (await admin<{ released: number }>('POST', '/faults/release')).released,
    refreshTokenSends: () => admin<RefreshTokenSends>('GET', '/refresh-token-sends'),
    requests: () => admin<RequestLogEntry[]>('GET', '/requests'),
    counters: () => admin<Record<string, number>>('GET', '/counters'),
    clearRequests: async () => {
      await admin('DELETE', '/requests');
    },

    trakt: (path, opts = {}) => {
      const headers = new Headers({ 'content-type': 'application/json', 'user-agent': 'simulator-tests/1.0' });
      if (opts.clientId !== undefined) headers.set('trakt-api-key', opts.clientId);
      const version = opts.version === undefined ? '2' : opts.version;
      if (version !== null) headers.set('trakt-api-version', version);
      if (opts.accessToken !== undefined) headers.set('authorization', `Bearer ${opts.accessToken}`);
      return fetch(`${SIM_TRAKT_API_URL}${path}`, {
        method: opts.method ?? 'GET',
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    },
    tmdb: (path, apiKey = SIM_DEFAULT_TMDB_KEY) =>
      fetch(`${SIM_TMDB_API_URL}${path}`, { headers: { authorization: `Bearer ${apiKey}` } }),
  };
}
