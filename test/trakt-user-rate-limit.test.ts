/**
 * Trakt's per-user budget (issue 24, section 3): authenticated GETs are limited per user (500 per 5
 * minutes; the simulator enforces it), and every answer carries `X-Ratelimit`. The sync paces itself by
 * it so that it never meets a per-user 429 of its own making, and a 429 that comes anyway makes that
 * user's work wait until `until` without spending retries, and nobody else's.
 *
 * The simulator runs with a small limit (10 per window) so that a small library needs several windows,
 * and one clock drives both the simulator and the API.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import worker from '../src/index';
import { backgroundCallsLeft, interactiveReserve, parseRateLimit } from '../src/trakt/rate-limit';
import { call, expectError } from './support/api';
import { connectedUser } from './support/trakt';

let sim: Simulator;
let now: number;
let sent: Array<{ body: { user_id: number }; delaySeconds: number }>;
beforeEach(() => {
  now = Date.now();
  vi.spyOn(Date, 'now').mockImplementation(() => now);
  sim = installSimulator({ now: () => now });
  sent = [];
  vi.spyOn(env.SYNC_QUEUE, 'send').mockImplementation(async (body, options) => {
    sent.push({ body: body as { user_id: number }, delaySeconds: options?.delaySeconds ?? 0 });
    return undefined as never;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  sim.restore();
});

const LIMIT = 10;
const WINDOW_SECONDS = 300;

async function deliver(body: { user_id: number }) {
  const batch = createMessageBatch('trakt-sync', [
    { id: `m-${sent.length}-${now}`, timestamp: new Date(now), attempts: 1, body },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

describe('X-Ratelimit', () => {
  it('is read, and background work keeps 10% of the window for the user', () => {
    const header = JSON.stringify({
      name: 'AUTHED_API_GET_LIMIT',
      period: 300,
      limit: 500,
      remaining: 120,
      until: '2026-12-01T00:05:00Z',
    });
    const known = parseRateLimit(header)!;
    expect(known).toEqual({ limit: 500, remaining: 120, untilMs: Date.parse('2026-12-01T00:05:00Z') });
    expect(interactiveReserve(500)).toBe(50);
    expect(backgroundCallsLeft(known, Date.parse('2026-12-01T00:04:00Z'))).toBe(70);
    expect(backgroundCallsLeft(known, Date.parse('2026-12-01T00:05:00Z'))).toBe(Number.POSITIVE_INFINITY); // a new window
    expect(backgroundCallsLeft(undefined, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(parseRateLimit('not json')).toBeUndefined();
    expect(parseRateLimit(JSON.stringify({ limit: 1 }))).toBeUndefined();
  });
});

describe('pacing a sync by the user window', () => {
  it('a first sync needing several windows never meets a per-user 429: it waits for each new window', async () => {
    await sim.config({ trakt_get_limit: LIMIT, trakt_window_seconds: WINDOW_SECONDS });
    const user = await connectedUser(sim, { movies: 2500, shows: 0, plays_per_item: 1, rewatch_fraction: 0 });
    await sim.clearRequests();
    let message: { user_id: number } = { user_id: user.id };
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      sent = [];
      const result = await deliver(message);
      expect(result.explicitAcks).toHaveLength(1);
      expect(result.retryMessages).toEqual([]);
      const next = sent.find((m) => m.body.user_id === user.id);
      if (!next) break;
      delays.push(next.delaySeconds);
      now += next.delaySeconds * 1000; // the queue delivers it after its delay
      message = next.body;
    }
    const log = (await sim.requests()).filter((r) => r.host.startsWith('api.trakt'));
    expect(log.length).toBeGreaterThan(2 * (LIMIT - interactiveReserve(LIMIT))); // positive control: ≥ 3 windows
    expect(log.filter((r) => r.status === 429)).toEqual([]);
    // It waited for new windows, each wait no longer than a window.
    expect(delays.filter((d) => d > 0).length).toBeGreaterThanOrEqual(2);
    for (const d of delays) expect(d).toBeLessThanOrEqual(WINDOW_SECONDS);
    // In every window it left the interactive reserve untouched.
    const perWindow = new Map<number, number>();
    const start = Date.parse(log[0]!.time);
    for (const r of log) {
      const w = Math.floor((Date.parse(r.time) - start) / (WINDOW_SECONDS * 1000));
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
    }
    for (const count of perWindow.values()) expect(count).toBeLessThanOrEqual(LIMIT - interactiveReserve(LIMIT));
    // And it finished: every play stored.
    const status = await call('GET', '/trakt/sync-status/', { token: user.access });
    expect(status.body.progress).toEqual({});
    expect(status.body.counts.plays).toBe((await sim.summary(user.traktUsername)).movie_plays);
  });
});

describe('a per-user 429 that comes anyway', () => {
  it("holds the user's calls until `until` without spending retries, and holds nobody else", async () => {
    await sim.config({ trakt_get_limit: LIMIT, trakt_window_seconds: WINDOW_SECONDS });
    const user = await connectedUser(sim);
    const neighbour = await connectedUser(sim, {}, { app: user.app }); // same Trakt app: same app-wide limiter
    // The user's other apps spend their whole window (Trakt counts per user, whoever asks).
    const other = await sim.issueTokens({ username: user.traktUsername, client_id: user.app.client_id });
    for (let i = 0; i < LIMIT; i++) {
      await sim.trakt('/sync/last_activities', { accessToken: other.access_token, clientId: user.app.client_id });
    }
    await sim.clearRequests();
    sent.length = 0; // the new connections' first syncs, queued at once

    const limited = await call('GET', '/trakt/watching/', { token: user.access });
    expectError(limited, 429, /^Trakt rate limit reached; retry after \d+ seconds$/);
    const retryAfter = Number(limited.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(WINDOW_SECONDS - 5);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
    expect(await sim.requests()).toHaveLength(1);

    // Known to be spent: the next call of that user is not even sent.
    expectError(await call('GET', '/trakt/watching/', { token: user.access }), 429);
    expect(await sim.requests()).toHaveLength(1);
    // Nobody else waits: the app-wide limiter was not paused.
    expect((await call('GET', '/trakt/watching/', { token: neighbour.access })).status).toBe(200);

    // The user's background sync is put back until then, without spending a retry.
    const result = await deliver({ user_id: user.id });
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(1);
    const deferred = sent.find((m) => m.body.user_id === user.id)!;
    expect(deferred.delaySeconds).toBeGreaterThanOrEqual(retryAfter - 1);
    expect((await sim.requests()).filter((r) => r.path === '/sync/last_activities')).toEqual([]);

    now += retryAfter * 1000;
    expect((await call('GET', '/trakt/watching/', { token: user.access })).status).toBe(200);
  });
});
