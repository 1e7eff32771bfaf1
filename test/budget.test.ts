/**
 * The daily D1 budget (issue 25): the Worker counts its own rows per UTC day (d1_usage, from each statement's
 * meta), background work stops before D1_DAILY_ROWS_WRITTEN_BUDGET / D1_DAILY_ROWS_READ_BUDGET and continues
 * after 00:00 UTC from its checkpoint, interactive work keeps working, and /admin/status shows the day.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import {
  budgetAfter,
  DEFAULT_DAILY_ROWS_READ_BUDGET,
  DEFAULT_DAILY_ROWS_WRITTEN_BUDGET,
  dailyBudget,
} from '../src/budget/budget';
import { nextUtcMidnight, readDayUsage, recordUsage, resetPendingUsage, utcDay } from '../src/budget/usage';
import { claimDueConnections } from '../src/jobs/scheduled';
import { call } from './support/api';
import { deliverSyncMessage, syncQueue } from './support/sync-queue';
import { connectedUser } from './support/trakt';

let sim: Simulator;
beforeEach(() => {
  sim = installSimulator();
  resetPendingUsage();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  sim.restore();
});

describe('the budget (pure)', () => {
  it('defaults sized for Workers Free, 0 = unlimited, anything else invalid falls back to the default', () => {
    expect(dailyBudget({ D1_DAILY_ROWS_WRITTEN_BUDGET: '', D1_DAILY_ROWS_READ_BUDGET: '' } as Env)).toEqual({
      rowsRead: DEFAULT_DAILY_ROWS_READ_BUDGET,
      rowsWritten: DEFAULT_DAILY_ROWS_WRITTEN_BUDGET,
    });
    expect(DEFAULT_DAILY_ROWS_WRITTEN_BUDGET).toBeLessThan(100_000); // Free: 100,000 written a day
    expect(DEFAULT_DAILY_ROWS_READ_BUDGET).toBeLessThan(5_000_000); // Free: 5,000,000 read a day
    expect(dailyBudget({ D1_DAILY_ROWS_WRITTEN_BUDGET: '0', D1_DAILY_ROWS_READ_BUDGET: '12' } as Env)).toEqual({
      rowsRead: 12,
      rowsWritten: null,
    });
    expect(dailyBudget({ D1_DAILY_ROWS_WRITTEN_BUDGET: '-3', D1_DAILY_ROWS_READ_BUDGET: 'x' } as Env)).toEqual({
      rowsRead: DEFAULT_DAILY_ROWS_READ_BUDGET,
      rowsWritten: DEFAULT_DAILY_ROWS_WRITTEN_BUDGET,
    });
  });

  it('sizes work to what is left and stops before the budget; resets at 00:00 UTC', () => {
    const now = Date.parse('2026-12-01T21:30:00.000Z');
    const budget = { rowsRead: 100_000, rowsWritten: 10_000 };
    const page = { rowsRead: 1_000, rowsWritten: 2_000 };
    const fresh = budgetAfter(budget, { day: '2026-12-01', rowsRead: 0, rowsWritten: 0 }, now);
    expect(fresh.allowed).toBe(true);
    expect(fresh.fits(page)).toBe(5);
    expect(fresh.fits(page, { rowsRead: 0, rowsWritten: 1_000 })).toBe(4);
    expect(fresh.resetsAt).toBe('2026-12-02T00:00:00.000Z');
    const late = budgetAfter(budget, { day: '2026-12-01', rowsRead: 20_000, rowsWritten: 9_000 }, now);
    expect(late.fits(page)).toBe(0);
    expect(late.allowed).toBe(true);
    expect(budgetAfter(budget, { day: '2026-12-01', rowsRead: 0, rowsWritten: 10_000 }, now).allowed).toBe(false);
    expect(
      budgetAfter({ rowsRead: null, rowsWritten: null }, { day: 'x', rowsRead: 9e9, rowsWritten: 9e9 }, now).fits(page),
    ).toBe(Number.POSITIVE_INFINITY);
    expect(nextUtcMidnight(Date.parse('2026-12-31T23:59:59.999Z'))).toBe('2027-01-01T00:00:00.000Z');
  });
});

describe('the counter', () => {
  it("adds an invocation's rows with one upsert; reads alone wait in the isolate for a write or a minute", async () => {
    const now = Date.parse('2026-12-01T10:00:00.000Z');
    await recordUsage(env.DB, { d1RowsRead: 40, d1RowsWritten: 3 }, now, { background: false });
    expect(await readDayUsage(env.DB, now)).toEqual({ day: '2026-12-01', rowsRead: 40, rowsWritten: 4 });
    // A read-only request: held in the isolate, not written.
    expect(
      recordUsage(env.DB, { d1RowsRead: 7, d1RowsWritten: 0 }, now + 1_000, { background: false }),
    ).toBeUndefined();
    expect((await readDayUsage(env.DB, now)).rowsRead).toBe(40);
    // The next write takes it along; so does a minute's wait.
    await recordUsage(env.DB, { d1RowsRead: 0, d1RowsWritten: 1 }, now + 2_000, { background: false });
    expect(await readDayUsage(env.DB, now)).toEqual({ day: '2026-12-01', rowsRead: 47, rowsWritten: 6 });
    expect(
      recordUsage(env.DB, { d1RowsRead: 5, d1RowsWritten: 0 }, now + 3_000, { background: false }),
    ).toBeUndefined();
    await recordUsage(env.DB, { d1RowsRead: 5, d1RowsWritten: 0 }, now + 70_000, { background: false });
    expect((await readDayUsage(env.DB, now)).rowsRead).toBe(57);
    // Background work always writes its own figures; a new UTC day is a new row.
    const tomorrow = Date.parse('2026-12-02T00:00:01.000Z');
    await recordUsage(env.DB, { d1RowsRead: 9, d1RowsWritten: 2 }, tomorrow, { background: true });
    expect(await readDayUsage(env.DB, tomorrow)).toEqual({ day: utcDay(tomorrow), rowsRead: 9, rowsWritten: 3 });
  });

  it('counts the rows of requests through the Worker, and /admin/status shows the day against the budget', async () => {
    const adminEnv = { ...env, ADMIN_TOKEN: 'admin-token-for-the-budget-test-0123456789' };
    const before = await readDayUsage(env.DB, Date.now());
    const register = await call('POST', '/users/register/', {
      json: { username: `budget_${crypto.randomUUID().slice(0, 6)}`, password: 'correct horse battery' },
    });
    expect(register.status).toBe(201);
    const after = await readDayUsage(env.DB, Date.now());
    expect(after.rowsWritten).toBeGreaterThan(before.rowsWritten); // the registration's own rows, and the counter's
    const worker = (await import('../src/index')).default;
    const { createExecutionContext, waitOnExecutionContext } = await import('cloudflare:test');
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request('http://api.test/admin/status', { headers: { Authorization: `Bearer ${adminEnv.ADMIN_TOKEN}` } }),
      { ...adminEnv, D1_DAILY_ROWS_WRITTEN_BUDGET: '80000', D1_DAILY_ROWS_READ_BUDGET: '4000000' },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { d1_today: Record<string, unknown> };
    expect(body.d1_today).toEqual({
      rows_read: expect.any(Number),
      rows_written: expect.any(Number),
      budget_rows_read: 4_000_000,
      budget_rows_written: 80_000,
      resets_at: nextUtcMidnight(Date.now()),
    });
    expect(body.d1_today.rows_written).toBeGreaterThanOrEqual(after.rowsWritten);
  });
});

describe('background work under a tiny budget', () => {
  it("a first sync pauses before the budget while logins and reads work, and over the next days completes with exactly Trakt's data, no retry spent", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    let now = Date.parse('2026-12-01T08:00:00.000Z');
    vi.setSystemTime(now);
    const budgetEnv: Env = { ...env, D1_DAILY_ROWS_WRITTEN_BUDGET: '7000', D1_DAILY_ROWS_READ_BUDGET: '200000' };
    const password = 'correct horse battery';
    const user = await connectedUser(sim, {
      seed: 'budget-days',
      movies: 900,
      shows: 12,
      seasons_per_show: 3,
      episodes_per_season: 10,
    });
    const truth = await sim.summary(user.traktUsername);
    // Days pass on the Worker's clock: an access token lasts an hour, so each look logs in afresh.
    const freshToken = async () =>
      (await call('POST', '/users/token/', { json: { username: user.username, password } })).body.access as string;
    // The new connection queued its first sync at once.
    expect(syncQueue.map((m) => m.body)).toEqual([
      { user_id: user.id, enqueued_at: expect.any(String), kinds: ['movies', 'shows'] },
    ]);
    const deliveries: Array<{ acked: boolean; retried: boolean }> = [];
    const pausedDays: string[] = [];
    for (let day = 0; day < 12; day++) {
      // The day's messages, as the queue delivers them, until the sync is done or pauses.
      while (syncQueue.length > 0)
        deliveries.push(await deliverSyncMessage(syncQueue.shift()!.body, { env: budgetEnv }));
      const status = (await call('GET', '/trakt/sync-status/', { token: await freshToken() })).body;
      const usage = await readDayUsage(env.DB, now);
      // Background work stopped before the budget (interactive requests of this test count too).
      if (status.paused_until) {
        pausedDays.push(utcDay(now));
        expect(status.paused_until).toBe(nextUtcMidnight(now));
        expect(status.paused_reason).toMatch(/database budget/);
        expect(Object.keys(status.progress).length).toBeGreaterThan(0); // the pass waits at its cursor
        // Interactive work keeps working: a login, reads.
        const login = await call('POST', '/users/token/', { json: { username: user.username, password } });
        expect(login.status).toBe(200);
        expect((await call('GET', '/trakt/get-stored-movies/', { token: login.body.access })).status).toBe(200);
        expect((await call('GET', '/trakt/stats/', { token: login.body.access })).status).toBe(200);
        expect(usage.rowsWritten).toBeLessThan(7_000 + 200); // the budget, and this test's own requests
      } else if (Object.keys(status.progress).length === 0 && status.last_sync_at) break;
      // The next day: the cron claims the user at 00:00 UTC (their next sync was moved there) and the sync
      // continues from its cursor.
      now = Date.parse(nextUtcMidnight(now)) + 60_000;
      vi.setSystemTime(now);
      const claimed = await claimDueConnections(env, now);
      expect(claimed).toContain(user.id);
      syncQueue.push({ body: { user_id: user.id, enqueued_at: new Date(now).toISOString() } });
    }
    expect(pausedDays.length).toBeGreaterThanOrEqual(1);
    expect(deliveries.every((d) => d.acked && !d.retried)).toBe(true);
    // Complete, with exactly Trakt's data.
    const stored = async (sql: string) => (await env.DB.prepare(sql).bind(user.id).first<{ n: number }>())!.n;
    expect(await stored('SELECT count(*) AS n FROM plays WHERE user_id = ?')).toBe(truth.history_items.total);
    expect(await stored('SELECT count(*) AS n FROM movies WHERE user_id = ?')).toBe(truth.movies_watched);
    expect(await stored('SELECT count(*) AS n FROM shows WHERE user_id = ?')).toBe(truth.shows_watched);
    const token = await freshToken();
    const final = (await call('GET', '/trakt/sync-status/', { token })).body;
    expect(final.paused_until).toBeNull();
    expect(final.counts.plays).toBe(truth.history_items.total);

    // A manual fetch of a small delta works on a day whose background budget is spent.
    await env.DB.prepare('UPDATE d1_usage SET rows_written = 1000000 WHERE day = ?').bind(utcDay(now)).run();
    await sim.advanceClock(5);
    await sim.addPlay(user.traktUsername, {
      type: 'movie',
      trakt_id: (await sim.catalog(user.traktUsername)).movies[0]!.trakt,
    });
    const fetch = await call('POST', '/trakt/fetch-latest-movies/', { token });
    expect(fetch.status).toBe(200);
    expect(fetch.body.plays_added).toBe(1);
  }, 300_000);
});
