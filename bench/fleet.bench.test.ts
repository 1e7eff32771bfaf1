/**
 * Fleet benchmarks (workerd): the cron's claim and fan-out at 25,000 and 100,000 due users with the
 * D1 meter (rows read and written, sendBatch calls, the spread of delays and the sync start rate
 * it implies), then the discrete-event model of a fleet hour under the app-wide limiters
 * (bench/fleet-model.ts). sendBatch is recorded, not delivered: the consumer would otherwise run
 * 100,000 syncs of users that do not exist. Figures are printed as `@@BENCH@@ {json}` lines.
 */
import { createExecutionContext, createScheduledController } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import worker from '../src/index';
import { CRON_PERIOD_MS, MAX_ENQUEUES_PER_RUN, type SyncMessage } from '../src/jobs/scheduled';
import { DEFAULT_TMDB_MAX_RPS, DEFAULT_TRAKT_APP_MAX_RPS } from '../src/pacing/gate';
import { meterD1 } from '../test/support/d1-meter';
import type { CronRunFigures as RunFigures } from './fleet-format';
import { DEFAULT_MIX, simulateFleet } from './fleet-model';
import { BENCH_MARKER } from './format';

afterEach(() => {
  vi.restoreAllMocks();
});

function emit(name: string, data: unknown) {
  console.log(`${BENCH_MARKER} ${JSON.stringify({ name, data })}`);
}

/** `count` users with an active connection, written in a few set-based statements. */
async function seedConnections(count: number, prefix: string, nextSyncAt: (i: number) => string) {
  const now = new Date().toISOString();
  const far = new Date(Date.now() + 30 * 86400_000).toISOString();
  await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
     INSERT INTO users (username, password_hash, created_at) SELECT ?2 || i, 'x', ?3 FROM n`,
  )
    .bind(count, prefix, now)
    .run();
  const first = (await env.DB.prepare('SELECT min(id) AS id FROM users WHERE username LIKE ?1')
    .bind(`${prefix}%`)
    .first<{ id: number }>())!.id;
  // next_sync_at per user comes from JS (the spread under test), in chunks of one JSON parameter each.
  for (let start = 0; start < count; start += 10_000) {
    const rows = Array.from({ length: Math.min(10_000, count - start) }, (_, k) => [
      first + start + k,
      nextSyncAt(start + k),
    ]);
    await env.DB.prepare(
      `INSERT INTO trakt_connections (user_id, status, token_version, token_set_id, expires_at,
         token_lifetime_seconds, connected_at, updated_at, next_sync_at)
       SELECT json_extract(j.value, '$[0]'), 'active', 1, 'none', ?2, 604800, ?3, ?3, json_extract(j.value, '$[1]')
       FROM json_each(?1) j`,
    )
      .bind(JSON.stringify(rows), far, now)
      .run();
  }
}

async function cronRun(run: number, runTime: number): Promise<RunFigures> {
  const sendBatch = vi.spyOn(env.SYNC_QUEUE, 'sendBatch').mockResolvedValue(undefined as never);
  const started = Date.now();
  const { meter } = await meterD1(() =>
    worker.scheduled(createScheduledController({ scheduledTime: runTime }), env, createExecutionContext()),
  );
  const wall = Date.now() - started;
  const batches = sendBatch.mock.calls.map(([batch]) => batch as Array<{ body: SyncMessage; delaySeconds: number }>);
  sendBatch.mockRestore();
  const delays = batches.flat().map((m) => m.delaySeconds);
  const perSecond = new Map<number, number>();
  for (const d of delays) perSecond.set(d, (perSecond.get(d) ?? 0) + 1);
  return {
    run,
    claimed: delays.length,
    send_batch_calls: batches.length,
    largest_batch: Math.max(0, ...batches.map((b) => b.length)),
    rows_read: meter.rowsRead,
    rows_written: meter.rowsWritten,
    statements: meter.statements.length,
    wall_ms: wall,
    delay_min_s: delays.length ? Math.min(...delays) : 0,
    delay_max_s: delays.length ? Math.max(...delays) : 0,
    starts_peak_per_second: Math.max(0, ...perSecond.values()),
    starts_mean_per_second: Math.round((delays.length / (CRON_PERIOD_MS / 1000)) * 10) / 10,
  };
}

describe('cron fan-out at scale', () => {
  for (const users of [25_000, 100_000]) {
    it(`${users.toLocaleString('en')} users all due at once (a first deploy, or after an outage)`, async () => {
      const runTime = Math.ceil(Date.now() / CRON_PERIOD_MS) * CRON_PERIOD_MS;
      const prefix = `fleet${users}_`;
      // Worst case: every user overdue at the same instant (first deploy, or after an outage).
      await seedConnections(users, prefix, () => new Date(runTime - 60_000).toISOString());
      const burst: RunFigures[] = [];
      for (let run = 0; burst.reduce((n, r) => n + r.claimed, 0) < users && run < 10; run++) {
        burst.push(await cronRun(run, runTime + run * CRON_PERIOD_MS));
      }
      expect(burst.reduce((n, r) => n + r.claimed, 0)).toBe(users);
      for (const r of burst) expect(r.claimed).toBeLessThanOrEqual(MAX_ENQUEUES_PER_RUN);
      for (const r of burst) expect(r.delay_max_s).toBeLessThan(CRON_PERIOD_MS / 1000);
      emit(`cron_${users}`, { users, cap: MAX_ENQUEUES_PER_RUN, burst });
    });
  }
});

describe('a simulated fleet hour under the limiters', () => {
  it('100,000 users (and 25,000 / 50,000 for comparison): peak Trakt and TMDB rates, deferrals, delays', () => {
    const scenarios = [
      { users: 25_000, intervalMinutes: 60 },
      { users: 50_000, intervalMinutes: 60 },
      { users: 100_000, intervalMinutes: 60 },
      { users: 100_000, intervalMinutes: 240 },
    ];
    const results = scenarios.map((s) =>
      simulateFleet({
        ...s,
        cronPeriodMs: CRON_PERIOD_MS,
        traktRps: DEFAULT_TRAKT_APP_MAX_RPS,
        tmdbRps: DEFAULT_TMDB_MAX_RPS,
        hours: s.intervalMinutes === 240 ? 6 : 3,
      }),
    );
    for (const r of results) {
      expect(r.syncs_due).toBeGreaterThan(0);
      expect(r.trakt_calls).toBeGreaterThan(0);
      expect(r.trakt_peak_per_second).toBeLessThanOrEqual(DEFAULT_TRAKT_APP_MAX_RPS);
      expect(r.tmdb_peak_per_second).toBeLessThanOrEqual(DEFAULT_TMDB_MAX_RPS);
    }
    emit('fleet_model', { mix: DEFAULT_MIX, results });
  });
});
