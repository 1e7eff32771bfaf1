/**
 * @module
 * Every limit, lifetime and TTL in one place, plus reading the deployment's configuration.
 * Misconfiguration surfaces as a 503 with a message naming the setting, never as a 500.
 */
import { ApiError } from './http/errors';

export const ACCESS_TOKEN_TTL_SECONDS = 60 * 60;
export const REFRESH_TOKEN_TTL_SECONDS = 24 * 60 * 60;
export const MIN_JWT_SECRET_LENGTH = 32;

/** Login throttling: failures count toward one streak while each comes within this window of the last one. */
export const LOGIN_FAILURE_WINDOW_MS = 15 * 60 * 1000;
/** Failures for one account (from any address) that lock it. */
export const LOGIN_FAILURES_PER_ACCOUNT = 10;
/** Distinct usernames one client address may fail against before it is locked for every login. */
export const LOGIN_USERNAMES_PER_ADDRESS = 20;
/** The first lockout; each further failure doubles it, up to the maximum. */
export const LOGIN_LOCKOUT_BASE_SECONDS = 60;
export const LOGIN_LOCKOUT_MAX_SECONDS = 60 * 60;
/** Registrations one client address may attempt per window. */
export const REGISTRATIONS_PER_ADDRESS = 100;
export const REGISTRATION_WINDOW_MS = 60 * 60 * 1000;

/** Cloudflare's production runtime rejects PBKDF2 above 100,000 iterations. */
export const PBKDF2_ITERATIONS = 100_000;
export const PBKDF2_SALT_BYTES = 16;

/** Every request body but the import routes' below. */
export const MAX_BODY_BYTES = 64 * 1024;
/**
 * `POST /trakt/import/`: Trakt's export ZIP as downloaded. A 100,000-play export (Trakt's cap) is tens
 * of MB of JSON, a few MB zipped; the other files of the export (ratings, lists) ride along.
 */
export const MAX_IMPORT_ZIP_BYTES = 32 * 1024 * 1024;
/** `POST /trakt/import/history/`: 1,000 export items are about 350 KB; room for long titles and extra ids. */
export const MAX_IMPORT_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * An export whose history files declare at most this many bytes uncompressed (about 1,000 plays) is
 * imported within the request (200); a larger one continues in the background, one file per
 * invocation (202).
 */
export const INLINE_IMPORT_BYTES = 512 * 1024;
/** A queued or running import that has not moved for this long no longer blocks a new upload. */
export const IMPORT_STALE_MS = 60 * 60 * 1000;

export const OAUTH_STATE_TTL_SECONDS = 10 * 60;

/** Per-attempt timeout of upstream calls (`UPSTREAM_TIMEOUT_MS`): its default and its ceiling. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000;
/** A refresh lease is derived from the timeout, so the timeout must stay small enough for leases to be short. */
export const MAX_UPSTREAM_TIMEOUT_MS = 30_000;

/** Trakt pages one sync chunk fetches by default (SYNC_PAGES_PER_RUN). */
export const DEFAULT_PAGES_PER_RUN = 40;
/**
 * Subrequests one sync or enrichment invocation may make by default (SYNC_SUBREQUEST_BUDGET): under
 * Workers Free's 50, with room for a token refresh. Workers Paid deployments may raise it.
 */
export const DEFAULT_SUBREQUEST_BUDGET = 45;

/**
 * Subrequests every sync or enrichment invocation keeps back from SYNC_SUBREQUEST_BUDGET: room for a
 * token refresh (and its retry) in a sync chunk, the same margin in an enrichment run.
 */
export const SUBREQUEST_RESERVE = 2;

const positiveInt = (value: string | undefined, fallback: number) => {
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 1 ? n : fallback;
};

export function pagesPerRun(env: Env): number {
  return positiveInt(env.SYNC_PAGES_PER_RUN, DEFAULT_PAGES_PER_RUN);
}
export function subrequestBudget(env: Env): number {
  return positiveInt(env.SYNC_SUBREQUEST_BUDGET, DEFAULT_SUBREQUEST_BUDGET);
}

export const DEFAULT_PAGE_SIZE = 5;
export const MAX_PAGE_SIZE = 100;

export function jwtSecret(env: Env): string {
  const secret = env.JWT_SECRET;
  if (!secret || secret.length < MIN_JWT_SECRET_LENGTH) {
    throw new ApiError(
      503,
      `Server is not configured: JWT_SECRET must be set to at least ${MIN_JWT_SECRET_LENGTH} characters`,
    );
  }
  return secret;
}

/**
 * `UPSTREAM_TIMEOUT_MS`: unset or empty means the default; anything but a whole number of milliseconds
 * from 1 to MAX_UPSTREAM_TIMEOUT_MS is a misconfiguration (503 naming the setting).
 */
export function upstreamTimeoutMs(env: Pick<Env, 'UPSTREAM_TIMEOUT_MS'>): number {
  const raw = String(env.UPSTREAM_TIMEOUT_MS ?? '').trim();
  if (raw === '') return DEFAULT_UPSTREAM_TIMEOUT_MS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > MAX_UPSTREAM_TIMEOUT_MS) {
    throw new ApiError(
      503,
      'Server is not configured: UPSTREAM_TIMEOUT_MS must be a whole number of milliseconds from 1 to ' +
        `${MAX_UPSTREAM_TIMEOUT_MS}`,
    );
  }
  return value;
}

/** An optional secret: empty strings count as unset (so `.dev.vars` can list every name). */
export function optionalSecret(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

export function corsOrigins(env: Env): string[] | '*' {
  const raw = (env.CORS_ORIGINS ?? '*').trim();
  if (raw === '*' || raw === '') return '*';
  return raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
}

export type RegistrationMode = 'open' | 'closed';

/** `REGISTRATION`: `open` (the default) or `closed`; anything else is a configuration error. */
export function registrationMode(env: Env): RegistrationMode {
  const raw = (env.REGISTRATION ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'open') return 'open';
  if (raw === 'closed') return 'closed';
  throw new ApiError(503, 'Server is not configured: REGISTRATION must be "open" or "closed"');
}

/**
 * The JWT `iss` and `aud` of this deployment: `JWT_ISSUER`, or the host the request was sent to.
 * Tokens minted for one deployment (or host) are refused by another that shares the secret.
 */
export function jwtIssuer(env: Env, requestUrl: string): string {
  return env.JWT_ISSUER?.trim() || new URL(requestUrl).host;
}

// ---------------------------------------------------------------------------------------------
// Public sharing (/u/:handle/…, src/sharing/).

/** The parts a user can share. */
export const SHARE_PARTS = ['recent', 'now', 'stats', 'calendar', 'review'] as const;
/** Plays in recent.json, the feeds and the widget. */
export const SHARE_RECENT_LIMIT = 50;
/** `Cache-Control` max-age of a public answer (browsers, proxies); the edge copy is versioned instead. */
export const SHARE_MAX_AGE_SECONDS = 60;
/**
 * How long the edge keeps a handle's record (user, parts, data version) without asking D1: the
 * longest a location may serve a revoked handle, or old data after a sync (the location that
 * handled the change forgets it at once).
 */
export const SHARE_RECORD_TTL_SECONDS = 30;
/** How long the edge keeps a versioned answer (it can never be stale: a new version is a new key). */
export const SHARE_CONTENT_TTL_SECONDS = 24 * 60 * 60;
/** now.json: Trakt's /users/me/watching is asked at most once per this many seconds per user. */
export const SHARE_NOW_TTL_SECONDS = 60;
/** The single-flight lease of the one request that asks Trakt for now.json. */
export const SHARE_NOW_LEASE_SECONDS = 15;
/** calendar.ics: episodes airing within this many days. */
export const CALENDAR_DAYS = 60;
/** calendar.ics: a show counts as "being watched" with a play within this many days. */
export const CALENDAR_WATCHING_DAYS = 365;

// ---------------------------------------------------------------------------------------------
// Webhooks (src/webhooks/).

/** Endpoints one user may register. */
export const MAX_WEBHOOKS_PER_USER = 10;
/** Per-attempt timeout of a delivery. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/**
 * Seconds to wait before each retry (the Standard Webhooks reference schedule): an attempt at once,
 * then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h: 8 attempts over about 27.5 hours.
 */
export const WEBHOOK_RETRY_DELAYS_SECONDS = [5, 300, 1800, 7200, 18000, 36000, 36000] as const;
/** An endpoint is disabled once it has failed for this long without a success… */
export const WEBHOOK_DISABLE_AFTER_MS = 24 * 60 * 60 * 1000;
/** …over at least this many attempts in a row. */
export const WEBHOOK_DISABLE_MIN_FAILURES = 8;
/** Plays listed in one `play.created` body (newest first); `count` says how many the batch had. */
export const WEBHOOK_MAX_PLAYS_PER_DELIVERY = 100;
/** Delivery log rows kept per endpoint (older ones are pruned as new ones are written). */
export const WEBHOOK_LOG_KEEP = 100;
/** How long a consumer holds a delivery while it makes an attempt. */
export const WEBHOOK_LEASE_SECONDS = 60;

/** `WEBHOOKS_ALLOW_INSECURE=true` (local development, tests): http and loopback URLs are accepted. */
export function webhooksAllowInsecure(env: Env): boolean {
  return String(env.WEBHOOKS_ALLOW_INSECURE ?? '').trim() === 'true';
}
