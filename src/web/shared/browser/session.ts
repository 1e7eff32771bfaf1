/**
 * @module
 * The one session and fetch layer of the pages (the dashboard, the OAuth helper, the year in review, the API
 * reference), in the browser:
 *
 * - storage: the tab's sessionStorage (falling back to memory where it is refused), never localStorage or a
 *   cookie; the dashboard, the OAuth helper and the year in review keep the JWT pair under the same keys, so
 *   signing in on one signs in on the others;
 * - `apiFetch`: every call to this API (same origin, no cookies, no HTTP cache, JSON);
 * - `Session`: the JWT pair, a 401 that renews the access JWT once with the refresh JWT (or ends the session),
 *   and, for a page that keeps answers, conditional GETs (`If-None-Match` with each answer's ETag; a 304 reuses it);
 * - `ApiFailure`: the one error type of a call the API refused, with its `error` text, hint and Retry-After.
 */
import type { TokenPairOutput } from '../../../users/schemas';

/** sessionStorage keys of the signed-in session, shared by the dashboard and the OAuth helper page. */
export const SESSION_KEYS = {
  access: 'trakt-oauth-helper.access',
  refresh: 'trakt-dashboard.refresh',
  username: 'trakt-dashboard.username',
} as const;

const memory = new Map<string, string>();

/** The value stored under `key` in this tab (sessionStorage, else this page's memory). */
export function stored(key: string): string | null {
  try {
    const value = sessionStorage.getItem(key);
    if (value !== null) return value;
  } catch {
    // Storage refused: memory only.
  }
  return memory.get(key) ?? null;
}

/** Stores (or, with null, forgets) a value for this tab. */
export function store(key: string, value: string | null): void {
  if (value === null) memory.delete(key);
  else memory.set(key, value);
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch {
    // Storage refused: the value lasts as long as the page.
  }
}

export type FetchOptions = {
  method?: string;
  /** The access JWT, sent as `Authorization: Bearer …`. */
  token?: string | null;
  /** A JSON body, serialized here. */
  json?: unknown;
  /** A body already serialized (the API reference page sends what its reader typed). */
  body?: string;
  headers?: Record<string, string>;
};

/** A call to this API: same origin, without cookies or the HTTP cache, answers wanted as JSON. */
export function apiFetch(path: string, options: FetchOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body = options.body;
  if (options.json !== undefined) body = JSON.stringify(options.json);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return fetch(path, { method: options.method ?? 'GET', headers, body, credentials: 'omit', cache: 'no-store' });
}

/** An API answer that was not a success (or no answer: status 0), with the API's own `error` text. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfter: number | null = null,
    /** `details.hint` of the API's error body: what to do about it. */
    readonly hint: string | null = null,
  ) {
    super(message);
  }

  /** The failure of a parsed answer (`body`: its JSON, or null when it had none). */
  static of(status: number, body: unknown, headers?: Headers): ApiFailure {
    const fields = (body ?? {}) as { error?: unknown; detail?: unknown; details?: { hint?: unknown } };
    let message = `Request failed (HTTP ${status})`;
    if (typeof fields.error === 'string') message = fields.error;
    else if (typeof fields.detail === 'string') message = fields.detail;
    const hint = typeof fields.details?.hint === 'string' ? fields.details.hint : null;
    const retryAfter = Number(headers?.get('Retry-After'));
    return new ApiFailure(status, message, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null, hint);
  }

  /** No answer at all (offline, DNS, a refused connection). */
  static unreachable(): ApiFailure {
    return new ApiFailure(0, 'The API could not be reached');
  }
}

/** A response's JSON body, or null when it has none or it is not JSON. */
async function jsonOf(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** What a call answered, for pages that show every outcome (`Session.call` never throws). */
export type Answer<T> = { ok: boolean; status: number; data: T | null; failure: ApiFailure | null };

/** The pair of POST /users/token/ (`refresh` null for an access JWT pasted by hand), and whose it is. */
export type SessionTokens = Pick<TokenPairOutput, 'access'> & { refresh: string | null; username: string | null };

export type SessionOptions = {
  /** Keep each GET's answer with its ETag and ask again with `If-None-Match` (the dashboard's reads). */
  conditional?: boolean;
  /** Called when a 401 ends the session (the access JWT refused and no refresh JWT renews it). */
  onSignedOut?: (reason: string) => void;
};

/** The signed-in session of a page: the JWT pair in this tab's storage, and the calls made with it. */
export class Session {
  private readonly etags = new Map<string, { etag: string; body: unknown }>();

  constructor(private readonly options: SessionOptions = {}) {}

  get tokens(): SessionTokens | null {
    const access = stored(SESSION_KEYS.access);
    return access ? { access, refresh: stored(SESSION_KEYS.refresh), username: stored(SESSION_KEYS.username) } : null;
  }

  get signedIn(): boolean {
    return this.tokens !== null;
  }

  get username(): string | null {
    return this.tokens?.username ?? null;
  }

  /** Keeps the JWT pair of a sign-in (POST /users/token/) and who signed in. */
  start(tokens: SessionTokens): void {
    this.save(tokens);
  }

  /** Uses an access JWT pasted by hand: no refresh JWT, and no name until the API says whose it is. */
  adopt(access: string): void {
    this.save({ access, refresh: null, username: null });
  }

  signOut(): void {
    this.etags.clear();
    this.save(null);
  }

  private save(tokens: SessionTokens | null): void {
    store(SESSION_KEYS.access, tokens?.access ?? null);
    store(SESSION_KEYS.refresh, tokens?.refresh ?? null);
    store(SESSION_KEYS.username, tokens?.username ?? null);
  }

  /**
   * One call with the access JWT. A 401 renews the access JWT once with the refresh JWT and calls again; without a
   * refresh JWT, or when it is refused too, the session ends (`onSignedOut`) and the 401 is the answer. Sign-in
   * calls (`/users/token…`) answer their 401 as it is.
   */
  async request(method: string, path: string, json?: unknown, retried = false): Promise<Response> {
    const tokens = this.tokens;
    const cached = this.options.conditional && method === 'GET' ? this.etags.get(path) : undefined;
    const response = await apiFetch(path, {
      method,
      token: tokens?.access,
      json,
      headers: cached ? { 'If-None-Match': cached.etag } : {},
    });
    if (response.status === 401 && tokens && !path.startsWith('/users/token')) {
      if (!retried && (await this.renew(tokens))) return this.request(method, path, json, true);
      this.signOut();
      this.options.onSignedOut?.('Your session has ended; please sign in again.');
    }
    return response;
  }

  /** Trades the refresh JWT for a new access JWT; false when there is none or it was refused. */
  private async renew(tokens: SessionTokens): Promise<boolean> {
    if (!tokens.refresh) return false;
    const response = await apiFetch('/users/token/refresh/', { method: 'POST', json: { refresh: tokens.refresh } });
    if (!response.ok) return false;
    const { access } = (await response.json()) as { access: string };
    this.save({ ...tokens, access });
    return true;
  }

  /** A GET that throws `ApiFailure` unless it succeeds; with `conditional`, a 304 answers the kept body. */
  async get<T>(path: string): Promise<T> {
    const response = await this.request('GET', path);
    if (response.status === 304) {
      const cached = this.etags.get(path);
      if (cached) return cached.body as T;
    }
    const body = await jsonOf(response);
    if (!response.ok) throw ApiFailure.of(response.status, body, response.headers);
    const etag = response.headers.get('ETag');
    if (this.options.conditional && etag) this.etags.set(path, { etag, body });
    return body as T;
  }

  /** A call that changes something: throws `ApiFailure` unless it succeeds; answers its status and JSON body. */
  async sendWithStatus<T = unknown>(
    method: string,
    path: string,
    json?: unknown,
  ): Promise<{ status: number; body: T }> {
    const response = await this.request(method, path, json);
    const body = await jsonOf(response);
    if (!response.ok) throw ApiFailure.of(response.status, body, response.headers);
    this.etags.clear();
    return { status: response.status, body: body as T };
  }

  /** `sendWithStatus`, its JSON body only (null for a 204). */
  async send<T = unknown>(method: string, path: string, json?: unknown): Promise<T> {
    return (await this.sendWithStatus<T>(method, path, json)).body;
  }

  /** A call that never throws: what the API answered, or why there was no answer (`failure`, status 0). */
  async call<T>(method: string, path: string, json?: unknown): Promise<Answer<T>> {
    let response: Response;
    try {
      response = await this.request(method, path, json);
    } catch {
      return { ok: false, status: 0, data: null, failure: ApiFailure.unreachable() };
    }
    const data = await jsonOf(response);
    const failure = response.ok ? null : ApiFailure.of(response.status, data, response.headers);
    return { ok: response.ok, status: response.status, data: data as T | null, failure };
  }
}
