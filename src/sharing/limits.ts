/**
 * @module
 * Abuse limits on the public endpoints: every UNCACHED hit (one that reads D1 or may call Trakt) is
 * counted per client IP and per handle with the Workers Rate Limiting bindings (wrangler.toml:
 * SHARE_IP_RATE_LIMITER, SHARE_HANDLE_RATE_LIMITER). Hits served from the edge cache cost nothing
 * and are not counted. Unknown handles count against the IP like any other uncached hit, so
 * scanning for handles is throttled too.
 */
import { ApiError } from '../http/errors';

export const TOO_MANY_PUBLIC_REQUESTS = 'Too many requests; try again later';
/** The limiters' period: what a throttled client is told to wait. */
const RETRY_AFTER_SECONDS = 60;

export async function chargeUncachedHit(env: Env, clientIp: string | undefined, handle: string): Promise<void> {
  const checks: Array<Promise<{ success: boolean }>> = [];
  if (env.SHARE_IP_RATE_LIMITER) checks.push(env.SHARE_IP_RATE_LIMITER.limit({ key: `ip:${clientIp ?? 'unknown'}` }));
  if (env.SHARE_HANDLE_RATE_LIMITER) checks.push(env.SHARE_HANDLE_RATE_LIMITER.limit({ key: `handle:${handle}` }));
  const results = await Promise.all(checks);
  if (results.some((r) => !r.success)) {
    throw new ApiError(429, TOO_MANY_PUBLIC_REQUESTS, { retryAfter: RETRY_AFTER_SECONDS });
  }
}
