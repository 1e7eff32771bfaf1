import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { LATEST_MIGRATION, MIGRATIONS_TABLE } from '../src/db/migrations';
import { forgetReadiness } from '../src/health/readiness';
import { api, apiWith, expectStatus, ok, read } from './support/client';
import { meterD1 } from './support/d1-meter';

const ALL_OK = { database: 'ok', kv: 'ok', configuration: 'ok', migrations: 'ok', encryption: 'ok' };

// The probe's answer is reused for a few seconds per isolate; these tests change D1 under it.
beforeEach(() => forgetReadiness());

describe('GET /health (liveness)', () => {
  it('answers without touching D1 or KV', async () => {
    const { result, meter } = await meterD1(() => read(api().health.$get()));
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ status: 'ok', version: expect.any(String) });
    expect(meter.statements).toEqual([]);
    // Positive control: the meter does record the readiness probe's queries.
    const ready = await meterD1(() => read(api().health.ready.$get()));
    expect(ready.meter.statements.length).toBeGreaterThanOrEqual(2);
  });
});

describe('GET /health/ready', () => {
  it('200 with every check ok on a migrated, configured deployment', async () => {
    const res = await read(api().health.ready.$get());
    expectStatus(res, 200);
    expect(res.body).toEqual({ status: 'ready', checks: ALL_OK });
    expect(res.headers.get('Cache-Control')).toBe('no-store');
  });

  it('503 naming the configuration check for malformed ENCRYPTION_KEYS, without echoing any value', async () => {
    const res = await read(apiWith({ ENCRYPTION_KEYS: 'k1:not-base64!!,k2' }).health.ready.$get());
    expectStatus(res, 503);
    expect(res.body).toEqual({
      status: 'not_ready',
      checks: { ...ALL_OK, configuration: 'failed' },
      problems: { configuration: 'configuration is missing or malformed' },
    });
    const text = JSON.stringify(res.body);
    expect(text).not.toContain('not-base64');
    expect(text).not.toContain(env.JWT_SECRET);
  });

  it('503 for a short JWT_SECRET, a bad upstream URL, an unknown LOG_LEVEL or a short ADMIN_TOKEN', async () => {
    const cases = [
      { JWT_SECRET: 'short' },
      { TRAKT_API_URL: 'not a url' },
      { LOG_LEVEL: 'verbose' },
      { ADMIN_TOKEN: 'short' },
    ];
    for (const overrides of cases) {
      const res = await read(apiWith(overrides).health.ready.$get());
      expectStatus(res, 503, JSON.stringify(overrides));
      expect(res.body.checks).toEqual({ ...ALL_OK, configuration: 'failed' });
    }
  });

  it('503 naming the migrations check while the latest migration is not applied', async () => {
    const applied = await env.DB.prepare(`SELECT * FROM ${MIGRATIONS_TABLE} WHERE name = ?`)
      .bind(LATEST_MIGRATION)
      .first<{ id: number; name: string; applied_at: string }>();
    expect(applied?.name).toBe(LATEST_MIGRATION);
    await env.DB.prepare(`DELETE FROM ${MIGRATIONS_TABLE} WHERE name = ?`).bind(LATEST_MIGRATION).run();
    forgetReadiness();
    try {
      const res = await read(api().health.ready.$get());
      expectStatus(res, 503);
      expect(res.body.checks).toEqual({ ...ALL_OK, migrations: 'failed' });
      expect(res.body.problems).toEqual({ migrations: "D1 migrations are not applied up to the code's latest" });
    } finally {
      await env.DB.prepare(`INSERT INTO ${MIGRATIONS_TABLE} (id, name, applied_at) VALUES (?, ?, ?)`)
        .bind(applied!.id, applied!.name, applied!.applied_at)
        .run();
    }
    forgetReadiness();
    expect((await read(api().health.ready.$get())).status).toBe(200);
  });

  it('503 naming the database check when a migrated table is gone', async () => {
    await env.DB.prepare('ALTER TABLE users RENAME TO users_gone').run();
    forgetReadiness();
    try {
      const res = await read(api().health.ready.$get());
      expectStatus(res, 503);
      expect(res.body.checks.database).toBe('failed');
      expect(res.body.problems.database).toBe('D1 did not answer a query');
      expect(JSON.stringify(res.body)).not.toMatch(/users|SQLITE|no such table/i);
    } finally {
      await env.DB.prepare('ALTER TABLE users_gone RENAME TO users').run();
    }
    forgetReadiness();
    expect((await read(api().health.ready.$get())).status).toBe(200);
  });

  it('reuses its answer for a few seconds per isolate: a flood of probes costs D1 and KV one round of checks', async () => {
    const first = await meterD1(() => read(api().health.ready.$get()));
    expect(first.result.status).toBe(200);
    expect(first.meter.statements.length).toBeGreaterThanOrEqual(3);
    const kvGet = vi.spyOn(env.KV, 'get');
    try {
      const flood = await meterD1(() => Promise.all(Array.from({ length: 20 }, () => read(api().health.ready.$get()))));
      expect(flood.result.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(flood.result.every((r) => r.headers.get('Cache-Control') === 'no-store')).toBe(true);
      expect(flood.meter.statements).toEqual([]);
      expect(kvGet).not.toHaveBeenCalled();
    } finally {
      kvGet.mockRestore();
    }
    // A failure is reused too, and another configuration never gets this answer.
    forgetReadiness();
    await env.DB.prepare('ALTER TABLE users RENAME TO users_gone').run();
    try {
      expect((await read(api().health.ready.$get())).status).toBe(503);
      const again = await meterD1(() => read(api().health.ready.$get()));
      expect(again.result.status).toBe(503);
      expect(again.meter.statements).toEqual([]);
      expect((await ok(apiWith({ LOG_LEVEL: 'verbose' }).health.ready.$get(), 503)).body.checks.configuration).toBe(
        'failed',
      );
    } finally {
      await env.DB.prepare('ALTER TABLE users_gone RENAME TO users').run();
    }
  });

  it('the answer expires after READINESS_CACHE_MS', async () => {
    const { cachedReadiness, READINESS_CACHE_MS } = await import('../src/health/readiness');
    const now = Date.now();
    const a = cachedReadiness(env, now);
    expect(cachedReadiness(env, now + READINESS_CACHE_MS - 1)).toBe(a);
    const b = cachedReadiness(env, now + READINESS_CACHE_MS);
    expect(b).not.toBe(a);
    expect((await b).ready).toBe(true);
    expect(READINESS_CACHE_MS).toBeGreaterThanOrEqual(1000);
    expect(READINESS_CACHE_MS).toBeLessThanOrEqual(10_000);
  });

  it("LATEST_MIGRATION names the newest file in migrations/, so the check can't go stale", () => {
    const names = env.TEST_MIGRATIONS.map((m) => m.name);
    expect(names.length).toBeGreaterThan(0);
    expect([...names].sort()).toEqual(names);
    expect(LATEST_MIGRATION).toBe(names.at(-1));
  });
});
