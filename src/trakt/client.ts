/**
 * @module
 * The one HTTP client for Trakt (auth host and API host). It owns the required headers, the
 * per-request timeout, retries and rate-limit handling (via upstream/policy.ts) and the mapping of
 * Trakt's failures to the API reference's error messages. No other module calls Trakt.
 */
import { ApiError } from '../http/errors';
import { traktGate } from '../pacing/gate';
import {
  countedFetch,
  defaultDeps,
  parseRetryAfter,
  type RequestCount,
  type RetryPolicy,
  readJson,
  requestWithRetry,
  timeoutMs,
  type UpstreamDeps,
} from '../upstream/policy';
import { USER_AGENT } from '../version';
import { backgroundCallsLeft, parseRateLimit, secondsUntilReset, type UserRateLimit } from './rate-limit';
import {
  deviceCodeResponse,
  type Pagination,
  type TraktDeviceCode,
  type TraktTokenResponse,
  tokenResponse,
} from './upstream-schemas';

const SERVICE = 'Trakt';
/** Trakt clamps `limit` to 250 per page. */
export const TRAKT_MAX_PAGE_LIMIT = 250;

export const CLIENT_CREDENTIALS_REJECTED =
  'Trakt rejected the client credentials; check your Trakt client id and secret';

/**
 * Trakt answers 403 to every call made with the app's client id (and `invalid_client` to a refresh): the app
 * was deleted (Trakt deleted free members' apps on 31 July 2026, trakt/trakt-api #897 and #902) or its client
 * id is no longer valid. Fixed text, with the two ways out.
 */
export const APP_REJECTED =
  'The Trakt app behind this connection no longer works (Trakt rejects its client id: the app was deleted or is ' +
  'no longer valid). Your tokens are kept. Either create a new Trakt app, store its client id and secret with ' +
  'POST /users/api-keys/ and authorize again at /trakt/authenticate/, or import your Trakt data export ' +
  '(Settings → Data on trakt.tv) with POST /trakt/import/, which needs no app.';
/** A 403 that is not Trakt's: an HTML page from the firewall in front of it. Never ends anything. */
export const FIREWALL_REFUSED = "Trakt's firewall refused the request (HTTP 403); try again later";
export const VIP_REQUIRED =
  'Trakt requires a VIP account for this request (HTTP 426); details.upgrade_url links to the upgrade page';
export const ACCOUNT_LIMIT =
  "A Trakt account limit was exceeded (HTTP 420); the account's limits are listed in its Trakt settings";

/** Grants are single-use: one attempt, no inline wait (see tokenRequest). */
const GRANT_POLICY: Partial<RetryPolicy> = { maxAttempts: 1, maxInlineWaitSeconds: 0 };

/**
 * Appends `path` to a base URL keeping the base's own path (`https://proxy.example/trakt` +
 * `/oauth/token` → `https://proxy.example/trakt/oauth/token`); `new URL(path, base)` would drop it.
 */
export function joinUrl(base: string, path: string): URL {
  return new URL(`${base.replace(/\/+$/, '')}${path}`);
}

/** An HTML page (a firewall's or a CDN's) rather than an API answer. */
function isHtmlPage(response: Response, text: string): boolean {
  return /text\/html/i.test(response.headers.get('Content-Type') ?? '') || /^\s*</.test(text);
}

/** The OAuth `error` field of an answer, or undefined when it is not a JSON object with one. */
function parseOAuthError(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    const error = parsed && typeof parsed === 'object' ? (parsed as { error?: unknown }).error : undefined;
    return typeof error === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}

export type TraktCredentials = {
  clientId: string;
  clientSecret: string;
  /** `deployment`: TRAKT_CLIENT_ID/SECRET set by the operator; `user`: keys the user stored (nothing vouches for them). */
  source: 'deployment' | 'user';
};

export type TraktClientOptions = {
  apiUrl: string;
  authUrl: string;
  redirectUri: string;
  credentials: TraktCredentials;
  policy?: Partial<RetryPolicy>;
  deps?: Partial<UpstreamDeps>;
};

export type DeviceTokenResult =
  | { status: 'success'; token: TraktTokenResponse }
  | { status: 'pending' | 'invalid' | 'already_used' | 'expired' | 'denied' | 'slow_down' };

const DEVICE_STATUS: Record<number, Exclude<DeviceTokenResult['status'], 'success'>> = {
  400: 'pending',
  404: 'invalid',
  409: 'already_used',
  410: 'expired',
  418: 'denied',
  429: 'slow_down',
};

export class TraktClient {
  private readonly policy: RetryPolicy;
  private readonly deps: UpstreamDeps;

  /** HTTP requests sent (retries included); no cap of its own: a sync chunk budgets its pages on `requests`. */
  private readonly count: RequestCount = { sent: 0, max: Number.POSITIVE_INFINITY };

  /** The user's rate-limit window as Trakt's last answer described it (`X-Ratelimit`). */
  private userLimit?: UserRateLimit;

  constructor(private readonly options: TraktClientOptions) {
    this.policy = {
      maxAttempts: 3,
      baseDelayMs: 250,
      maxInlineWaitSeconds: 5,
      timeoutMs: 10_000,
      classify429: (response, now) => this.classify429(response, now),
      ...options.policy,
    };
    const base = { ...defaultDeps(), ...options.deps };
    this.deps = { ...base, fetch: countedFetch(base.fetch, this.count, SERVICE) };
  }

  /** HTTP requests this client has sent, retries and token grants included: the subrequests it has used. */
  get requests(): number {
    return this.count.sent;
  }

  /** `limiterKey`: whose share of the app-wide limiter this client's calls take (see traktLimiterKey). */
  static fromEnv(
    env: Env,
    credentials: TraktCredentials,
    limiterKey: string,
    overrides: Partial<TraktClientOptions> = {},
  ): TraktClient {
    return new TraktClient({
      apiUrl: env.TRAKT_API_URL,
      authUrl: env.TRAKT_AUTH_URL,
      redirectUri: env.TRAKT_REDIRECT_URI,
      credentials,
      policy: { timeoutMs: timeoutMs(env) },
      deps: { gate: traktGate(env, limiterKey) },
      ...overrides,
    });
  }

  get clientId(): string {
    return this.options.credentials.clientId;
  }

  /**
   * A 429 from Trakt itself (JSON, usually with `X-Ratelimit`) is a per-user limit (GETs: 500 per 5 minutes;
   * POSTs: 1 per second): only this user's calls wait, until the window's `until`. Cloudflare's HTML
   * rate-limit page in front of Trakt (no `X-Ratelimit`, Retry-After 300) limits the deployment's address:
   * the whole app pauses.
   */
  private classify429(response: Response, now: number) {
    const known = parseRateLimit(response.headers.get('X-Ratelimit'));
    const json = /json/i.test(response.headers.get('Content-Type') ?? '');
    if (!known && !json) return { scope: 'app' as const };
    if (known) this.userLimit = { ...known, remaining: 0 };
    // Retry-After is relative, so no clock skew between Trakt and this Worker can stretch or cut the wait.
    const retryAfter = response.headers.get('Retry-After');
    const seconds = retryAfter || !known ? parseRetryAfter(retryAfter, now) : secondsUntilReset(known, now);
    return { scope: 'caller' as const, retryAfterSeconds: seconds };
  }

  /** GETs background work may still send in the user's current window (the interactive reserve kept back). */
  userCallsLeft(now = Date.now()): number {
    return backgroundCallsLeft(this.userLimit, now);
  }

  /** Seconds until the user's window ends, when background work has used its share of it; else 0. */
  userBudgetWaitSeconds(now = Date.now()): number {
    return this.userCallsLeft(now) <= 0 ? secondsUntilReset(this.userLimit, now) : 0;
  }

  /** The browser URL that starts authorization, with its PKCE challenge (S256; the verifier stays with the state). */
  authorizeUrl(state: string, codeChallenge: string): string {
    const url = joinUrl(this.options.authUrl, '/oauth/authorize');
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.clientId);
    url.searchParams.set('redirect_uri', this.options.redirectUri);
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', codeChallenge);
    url.searchParams.set('code_challenge_method', 'S256');
    return url.toString();
  }

  /** The client secret, when one is stored: with PKCE Trakt does not need it, but it is still sent when known. */
  private secret(): { client_secret?: string } {
    const secret = this.options.credentials.clientSecret;
    return secret ? { client_secret: secret } : {};
  }

  private headers(accessToken?: string): Headers {
    const headers = new Headers({
      'Content-Type': 'application/json',
      'trakt-api-version': '2',
      'trakt-api-key': this.clientId,
      'User-Agent': USER_AGENT,
    });
    if (accessToken) headers.set('Authorization', `Bearer ${accessToken}`);
    return headers;
  }

  private async postAuth(
    path: string,
    body: Record<string, unknown>,
    policy: Partial<RetryPolicy> = {},
  ): Promise<Response> {
    return requestWithRetry(
      SERVICE,
      joinUrl(this.options.authUrl, path).toString(),
      { method: 'POST', headers: this.headers(), body: JSON.stringify(body) },
      { ...this.policy, ...policy },
      this.deps,
    );
  }

  /**
   * One grant request (code exchange or refresh), sent exactly once: the request may have reached
   * Trakt even when no answer came back, and a grant is single-use, so a blind retry would spend it
   * twice. Outcomes:
   * - 200 with a token set: success;
   * - 400 `{"error":"invalid_grant"}`: the only definitive "this grant is dead" (code `invalid_grant`);
   * - any other 4xx but 429 from Trakt (401/403, `invalid_client`): the client credentials were refused
   *   (code `client_credentials_rejected`) — nothing about the tokens;
   * - an HTML page (a firewall in front of Trakt), a timeout, 429, 5xx, 52x, a lost connection or a
   *   garbled 200: transient, try again later.
   */
  private async tokenRequest(body: Record<string, unknown>, invalidGrantMessage: string): Promise<TraktTokenResponse> {
    const response = await this.postAuth(
      '/oauth/token',
      {
        ...body,
        client_id: this.clientId,
        ...this.secret(),
        redirect_uri: this.options.redirectUri,
      },
      GRANT_POLICY,
    );
    if (response.ok) return this.parse(tokenResponse, await readJson(SERVICE, response));
    if (response.status >= 500) throw this.unexpected(response);
    const text = await response.text();
    const error = parseOAuthError(text);
    if (response.status === 400 && error === 'invalid_grant') {
      throw new ApiError(400, invalidGrantMessage, { code: 'invalid_grant' });
    }
    // A firewall's page says nothing about the credentials or the tokens: transient, like an outage.
    if (isHtmlPage(response, text)) {
      throw new ApiError(503, FIREWALL_REFUSED.replace('403', String(response.status)), {
        code: 'upstream_unavailable',
      });
    }
    throw new ApiError(400, CLIENT_CREDENTIALS_REJECTED, {
      code: 'client_credentials_rejected',
      details: { trakt_status: response.status, trakt_error: error ?? 'not_json' },
    });
  }

  /** Exchanges an authorization code, with the PKCE verifier of the state it was issued for (absent: a pre-PKCE state). */
  exchangeCode(code: string, codeVerifier?: string): Promise<TraktTokenResponse> {
    return this.tokenRequest(
      { code, grant_type: 'authorization_code', ...(codeVerifier ? { code_verifier: codeVerifier } : {}) },
      'Invalid authorization code',
    );
  }

  refresh(refreshToken: string): Promise<TraktTokenResponse> {
    return this.tokenRequest(
      { refresh_token: refreshToken, grant_type: 'refresh_token' },
      'Trakt authorization was revoked or has expired; authorize again',
    );
  }

  async revoke(token: string): Promise<void> {
    const response = await this.postAuth('/oauth/revoke', { token, client_id: this.clientId, ...this.secret() });
    await response.body?.cancel();
    if (!response.ok) throw this.unexpected(response);
  }

  async deviceCode(): Promise<TraktDeviceCode> {
    const response = await this.postAuth('/oauth/device/code', { client_id: this.clientId });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw new ApiError(400, CLIENT_CREDENTIALS_REJECTED, { code: 'client_credentials_rejected' });
    }
    if (!response.ok) throw this.unexpected(response);
    return this.parse(deviceCodeResponse, await readJson(SERVICE, response));
  }

  /** One poll of the device-token endpoint. 429 here means "poll slower", so it is never retried inline. */
  async deviceToken(deviceCode: string): Promise<DeviceTokenResult> {
    let response: Response;
    try {
      response = await this.postAuth(
        '/oauth/device/token',
        { code: deviceCode, client_id: this.clientId, ...this.secret() },
        { maxInlineWaitSeconds: 0, maxAttempts: 1, pauseOn429: false },
      );
    } catch (error) {
      if (error instanceof ApiError && (error.code === 'rate_limited' || error.code === 'user_rate_limited')) {
        return { status: 'slow_down' };
      }
      throw error;
    }
    if (response.status === 200)
      return { status: 'success', token: this.parse(tokenResponse, await readJson(SERVICE, response)) };
    if (response.status === 401 && parseOAuthError(await response.clone().text()) === 'invalid_client') {
      await response.body?.cancel();
      throw new ApiError(400, CLIENT_CREDENTIALS_REJECTED, { code: 'client_credentials_rejected' });
    }
    const status = DEVICE_STATUS[response.status];
    await response.body?.cancel();
    if (status) return { status };
    throw this.unexpected(response);
  }

  /**
   * GET an API path with the user's access token. 401 surfaces as `upstream_unauthorized` so the
   * caller can refresh once and retry. 204 yields `data: null`.
   */
  async get<T>(
    path: string,
    accessToken: string,
    query: Record<string, string | number | undefined> = {},
  ): Promise<{ data: T | null; pagination?: Pagination }> {
    const url = joinUrl(this.options.apiUrl, path);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    const response = await requestWithRetry(
      SERVICE,
      url.toString(),
      { method: 'GET', headers: this.headers(accessToken) },
      this.policy,
      this.deps,
    );
    this.userLimit = parseRateLimit(response.headers.get('X-Ratelimit')) ?? this.userLimit;
    if (response.status === 401) {
      await response.body?.cancel();
      throw new ApiError(401, 'Trakt token expired', { code: 'upstream_unauthorized' });
    }
    if (response.status === 403) throw await this.forbidden(response);
    if (response.status === 426) {
      const upgradeUrl = response.headers.get('X-Upgrade-URL');
      await response.body?.cancel();
      throw new ApiError(403, VIP_REQUIRED, {
        code: 'trakt_vip_required',
        details: {
          trakt_status: 426,
          ...(upgradeUrl && /^https:\/\//.test(upgradeUrl) ? { upgrade_url: upgradeUrl } : {}),
        },
      });
    }
    if (response.status === 420) {
      await response.body?.cancel();
      throw new ApiError(403, ACCOUNT_LIMIT, { code: 'trakt_account_limit', details: { trakt_status: 420 } });
    }
    if (response.status === 423) {
      await response.body?.cancel();
      throw new ApiError(423, 'Your Trakt account is locked or deactivated; contact Trakt support');
    }
    if (response.status === 204) return { data: null };
    if (!response.ok) throw this.unexpected(response);
    const data = await readJson<T>(SERVICE, response);
    return { data, pagination: readPagination(response.headers) };
  }

  /**
   * A 403 from the API host. Trakt's own (a JSON or empty body) refuses the client id: the app is gone
   * (`trakt_app_rejected`). An HTML page is the firewall in front of Trakt: transient, it ends nothing.
   */
  private async forbidden(response: Response): Promise<ApiError> {
    const text = await response.text().catch(() => '');
    if (isHtmlPage(response, text)) {
      return new ApiError(503, FIREWALL_REFUSED, { code: 'upstream_unavailable', retryAfter: 60 });
    }
    return new ApiError(403, APP_REJECTED, { code: 'trakt_app_rejected', details: { trakt_status: 403 } });
  }

  /**
   * Whether Trakt still knows this client id, asked without a user token: the API checks `trakt-api-key`
   * before the bearer, so a known app answers 401 and a deleted one 403. Undefined when the answer says
   * neither (an outage, a firewall page). Used after a refresh answered `invalid_client`, which a wrong
   * secret causes as well as a deleted app.
   */
  async clientIdAccepted(): Promise<boolean | undefined> {
    let response: Response;
    try {
      response = await requestWithRetry(
        SERVICE,
        joinUrl(this.options.apiUrl, '/sync/last_activities').toString(),
        { method: 'GET', headers: this.headers() },
        { ...this.policy, maxAttempts: 1, maxInlineWaitSeconds: 0 },
        this.deps,
      );
    } catch {
      return undefined;
    }
    if (response.status === 401) {
      await response.body?.cancel();
      return true;
    }
    if (response.status === 403)
      return (await this.forbidden(response)).code === 'trakt_app_rejected' ? false : undefined;
    await response.body?.cancel();
    return undefined;
  }

  private unexpected(response: Response): ApiError {
    void response.body?.cancel();
    return new ApiError(502, `Trakt answered with unexpected HTTP ${response.status}`, {
      code: 'upstream_unavailable',
    });
  }

  private parse<T>(
    schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } },
    value: unknown,
  ): T {
    const parsed = schema.safeParse(value);
    if (!parsed.success)
      throw new ApiError(502, 'Trakt returned an invalid response; try again later', {
        code: 'upstream_invalid_response',
      });
    return parsed.data;
  }
}

export function readPagination(headers: Headers): Pagination | undefined {
  const read = (name: string) => {
    const value = Number(headers.get(`X-Pagination-${name}`));
    return Number.isInteger(value) && value >= 0 ? value : undefined;
  };
  const page = read('Page');
  const limit = read('Limit');
  const pageCount = read('Page-Count');
  const itemCount = read('Item-Count');
  if (page === undefined || pageCount === undefined) return undefined;
  return { page, limit: limit ?? 0, pageCount, itemCount: itemCount ?? 0 };
}
