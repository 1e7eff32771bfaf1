/**
 * @module
 * Trakt's device flow for headless setups: the pending device code is sealed in KV per user
 * (`trakt_device:<user>`, TTL = Trakt's expires_in) so it never travels through the client. Polls are
 * spaced by the code's `interval` here as well as at Trakt (the `device_token` budget in src/budgets).
 */
import { deviceTokenRule } from '../budgets/policy';
import { resetBudget, spendBudget } from '../budgets/store';
import { aadFor, open, seal } from '../crypto/envelope';
import { ApiError } from '../http/errors';
import { saveAuthorizedTokens, type TokenStoreContext } from './tokens';

type PendingDevice = { device_code: string; interval: number; expires_at: number };

function pollingTooFast(retryAfter: number): ApiError {
  return new ApiError(429, 'Polling too fast; wait before polling again', { code: 'rate_limited', retryAfter });
}

const key = (userId: number) => `trakt_device:${userId}`;
const PURPOSE = 'trakt_device_code';

export async function startDeviceFlow(ctx: TokenStoreContext, now = Date.now()) {
  const code = await (await ctx.client()).deviceCode();
  const pending: PendingDevice = {
    device_code: code.device_code,
    interval: code.interval,
    expires_at: now + code.expires_in * 1000,
  };
  await ctx.kv.put(key(ctx.userId), await seal(ctx.ring, JSON.stringify(pending), aadFor(ctx.userId, PURPOSE)), {
    expirationTtl: Math.max(60, code.expires_in),
  });
  await resetBudget(ctx.db, ctx.userId, 'device_token'); // the new code's first poll may come at once
  return {
    user_code: code.user_code,
    verification_url: code.verification_url,
    expires_in: code.expires_in,
    interval: code.interval,
  };
}

export async function pollDeviceFlow(ctx: TokenStoreContext, now = Date.now()) {
  const sealed = await ctx.kv.get(key(ctx.userId));
  const pending = sealed
    ? (JSON.parse(
        await open(ctx.ring, sealed, aadFor(ctx.userId, PURPOSE)).catch(() => 'null'),
      ) as PendingDevice | null)
    : null;
  if (!pending) throw new ApiError(404, 'No device authorization in progress; start one with POST /trakt/device/code/');
  if (now >= pending.expires_at) {
    await ctx.kv.delete(key(ctx.userId));
    throw new ApiError(410, 'The device code has expired; start again with POST /trakt/device/code/');
  }
  // Trakt's interval, enforced here: a poll sooner than it never reaches Trakt (nor the app's shared limiter).
  const spacing = await spendBudget(ctx.db, ctx.userId, 'device_token', deviceTokenRule(pending.interval), now);
  if (!spacing.allowed) throw pollingTooFast(spacing.retryAfterSeconds);
  const result = await (await ctx.client()).deviceToken(pending.device_code);
  switch (result.status) {
    case 'success': {
      const { expiresAt } = await saveAuthorizedTokens(ctx, result.token);
      await ctx.kv.delete(key(ctx.userId));
      return { status: 'success' as const, expires_at: expiresAt };
    }
    case 'pending':
      return { status: 'pending' as const, interval: pending.interval };
    case 'slow_down':
      throw pollingTooFast(pending.interval);
    case 'expired':
      await ctx.kv.delete(key(ctx.userId));
      throw new ApiError(410, 'The device code has expired; start again with POST /trakt/device/code/');
    case 'denied':
      await ctx.kv.delete(key(ctx.userId));
      throw new ApiError(403, 'The user denied the device authorization');
    case 'already_used':
      await ctx.kv.delete(key(ctx.userId));
      throw new ApiError(409, 'This device code was already used');
    case 'invalid':
      await ctx.kv.delete(key(ctx.userId));
      throw new ApiError(404, 'Trakt does not recognise the device code; start again with POST /trakt/device/code/');
  }
}

/** Deletes the user's pending device code, if any (account deletion). */
export async function forgetDeviceFlow(kv: KVNamespace, userId: number): Promise<void> {
  await kv.delete(key(userId));
}
