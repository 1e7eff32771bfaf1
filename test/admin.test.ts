import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { adminStatusOutput } from '../src/admin/schemas';
import { STATUS_QUERIES } from '../src/admin/status';
import { recordCronRun, recordDeadLetter } from '../src/observability/records';
import { call, expectError } from './support/api';
import { apiWith, read } from './support/client';
import { callWith } from './support/worker';

const ADMIN_TOKEN = 'operator-token-0123456789-abcdefghijklmnop';
/** The operator's call, through the typed client. */
const admin = (headers: Record<string, string> = {}) =>
  read(apiWith({ ADMIN_TOKEN }, ADMIN_TOKEN, headers).admin.status.$get());
/** A call with a wrong token (`null`: no Authorization header). */
const intruder = (token: string | null, headers: Record<string, string> = {}) =>
  callWith({ ADMIN_TOKEN }, 'GET', '/admin/status', { token: token ?? undefined, headers });

const iso = (ms: number) => new Date(ms).toISOString();
const HOUR = 3600_000;

/** Users and connections written straight to D1, in one batch. */
async function seedUsers(count: number, connection?: { status: string; nextSyncAt?: string }) {
  const ids: number[] = [];
  const inserts = Array.from({ length: count }, () =>
    env.DB.prepare("INSERT INTO users (username, password_hash, created_at) VALUES (?, 'x', ?) RETURNING id").bind(
      `admin_${crypto.randomUUID().slice(0, 12)}`,
      iso(Date.now()),
    ),
  );
  for (const result of await env.DB.batch<{ id: number }>(inserts)) ids.push(result.results[0]!.id);
  if (connection) {
    const far = iso(Date.now() + 30 * 86400_000);
    await env.DB.batch(
      ids.map((id) =>
        env.DB.prepare(
          `INSERT INTO trakt_connections (user_id, status, token_version, token_set_id, expires_at,
             token_lifetime_seconds, connected_at, updated_at, next_sync_at)
           VALUES (?, ?, 1, 'none', ?, 604800, ?, ?, ?)`,
        ).bind(id, connection.status, far, far, far, connection.nextSyncAt ?? far),
      ),
    );
  }
  return ids;
}

/** The same figures by brute force (full scans), as the ground truth. */
async function groundTruth(now: number) {
  const one = async <T>(query: string, ...values: unknown[]) =>
    (await env.DB.prepare(query)
      .bind(...values)
      .first<T>())!;
  const byStatus = await env.DB.prepare('SELECT status, count(*) AS n FROM trakt_connections GROUP BY status').all<{
    status: string;
    n: number;
  }>();
  return {
    users: (await one<{ n: number }>('SELECT count(*) AS n FROM users')).n,
    connections: Object.fromEntries(byStatus.results.map((r) => [r.status, r.n])),
    syncs_in_progress: (
      await one<{ n: number }>('SELECT count(*) AS n FROM sync_state WHERE lease_until > ?', iso(now))
    ).n,
    oldest: (
      await one<{ m: string | null }>("SELECT min(next_sync_at) AS m FROM trakt_connections WHERE status = 'active'")
    ).m,
    dead: (
      await one<{ n: number }>('SELECT count(*) AS n FROM sync_dead_letters WHERE dead_at >= ?', iso(now - 24 * HOUR))
    ).n,
    backlog: (await one<{ n: number }>('SELECT count(*) AS n FROM sync_state NOT INDEXED WHERE tmdb_backlog != 0')).n,
  };
}

describe('GET /admin/status: the gate', () => {
  it('404 when ADMIN_TOKEN is unset, whatever the token', async () => {
    expectError(await call('GET', '/admin/status'), 404);
    expectError(await call('GET', '/admin/status', { token: ADMIN_TOKEN }), 404);
    expectError(await callWith({ ADMIN_TOKEN: '   ' }, 'GET', '/admin/status', { token: ADMIN_TOKEN }), 404);
  });

  it('401 without a token or with a wrong one (same length, prefix, longer); 200 with the right one', async () => {
    expectError(await intruder(null), 401, 'Invalid or missing admin token');
    expectError(await intruder(ADMIN_TOKEN.replace(/.$/, '?')), 401);
    expectError(await intruder(ADMIN_TOKEN.slice(0, -1)), 401);
    expectError(await intruder(`${ADMIN_TOKEN}x`), 401);
    // A user JWT is not an admin token.
    expectError(await intruder('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.c2ln'), 401);
    const ok = await admin();
    expect(ok.status).toBe(200);
    expect(adminStatusOutput.safeParse(ok.body).success).toBe(true);
  });

  it('503 when ADMIN_TOKEN is set but too short to be a secret', async () => {
    const res = await callWith({ ADMIN_TOKEN: 'short' }, 'GET', '/admin/status', { token: 'short' });
    expectError(res, 503, 'Server is not configured: ADMIN_TOKEN must be at least 32 characters');
  });

  it('throttles one address after 30 requests a minute (429 with Retry-After); others are unaffected', async () => {
    const ip = `198.51.100.${Math.floor(Math.random() * 250)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++)
      statuses.push((await intruder('wrong-token-wrong-token-wrong-token', { 'CF-Connecting-IP': ip })).status);
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    const limited = await admin({ 'CF-Connecting-IP': ip });
    expectError(limited, 429, 'Too many requests; try again later');
    expect(limited.headers.get('Retry-After')).toBe('60');
    expect((await admin({ 'CF-Connecting-IP': '203.0.113.9' })).status).toBe(200);
  });
});

describe('GET /admin/status: the figures', () => {
  it('match a seeded database, and new connection statuses appear without code changes', async () => {
    const now = Date.now();
    const before = (await admin()).body;

    const active = await seedUsers(5, { status: 'active', nextSyncAt: iso(now - 2 * HOUR) });
    await seedUsers(2, { status: 'reauthorization_required' });
    const rejected = await seedUsers(3, { status: 'client_credentials_rejected' });
    await seedUsers(4); // no connection
    // Two syncs hold a lease, one lease expired long ago (a crashed run), one user never synced.
    const leases: Array<[number, string | null]> = [
      [active[0]!, iso(now + 5 * 60_000)],
      [active[1]!, iso(now + 9 * 60_000)],
      [active[2]!, iso(now - HOUR)],
      [active[3]!, null],
    ];
    // Two libraries still waiting for TMDB: one whose last run ran out of budget, one whose run failed
    // (its last figures say nothing was skipped: the flag, not the figures, is the backlog).
    const exhausted = JSON.stringify({ upstream_calls: 3, enrichment: { calls: 300, skipped: 'budget_exhausted' } });
    const done = JSON.stringify({ upstream_calls: 3, enrichment: { calls: 2 } });
    await env.DB.batch(
      leases.map(([userId, until], i) =>
        env.DB.prepare(
          'INSERT INTO sync_state (user_id, lease_id, lease_until, last_result, tmdb_backlog) VALUES (?, ?, ?, ?, ?)',
        ).bind(userId, until ? `lease-${i}` : null, until, i === 0 ? exhausted : done, i < 2 ? 1 : 0),
      ),
    );
    await recordDeadLetter(env.DB, active[4]!, 6, now - HOUR);
    await recordDeadLetter(env.DB, active[4]!, 6, now - 2 * HOUR);
    await recordDeadLetter(env.DB, active[3]!, 6, now - 30 * HOUR); // older than a day
    await recordCronRun(env.DB, {
      startedAt: now - 1000,
      finishedAt: now,
      outcome: 'ok',
      refreshed: 2,
      refreshFailures: 1,
      claimed: 7,
      enqueued: 6,
      statesDeleted: 3,
    });
    // A status change moves a connection between counters.
    await env.DB.prepare("UPDATE trakt_connections SET status = 'reauthorization_required' WHERE user_id = ?")
      .bind(rejected[0])
      .run();

    const res = await admin();
    expect(res.status).toBe(200);
    const status = res.body;
    const truth = await groundTruth(Date.parse(status.generated_at));
    expect(status.users).toBe(truth.users);
    expect(status.connections).toEqual(truth.connections);
    expect(status.syncs_in_progress).toBe(truth.syncs_in_progress);
    expect(status.sync_lag.oldest_next_sync_at).toBe(truth.oldest);
    expect(status.dead_lettered_last_24h).toBe(truth.dead);
    expect(status.tmdb_backlog_users).toBe(truth.backlog);

    // And the deltas are exactly what was seeded (the ground truth could be wrong too).
    const delta = (key: string) => (status.connections[key] ?? 0) - (before.connections[key] ?? 0);
    expect(status.users - before.users).toBe(14);
    expect(delta('active')).toBe(5);
    expect(delta('reauthorization_required')).toBe(3);
    expect(delta('client_credentials_rejected')).toBe(2);
    expect(status.syncs_in_progress - before.syncs_in_progress).toBe(2);
    expect(status.dead_lettered_last_24h - before.dead_lettered_last_24h).toBe(2);
    expect(status.tmdb_backlog_users - before.tmdb_backlog_users).toBe(2);
    expect(status.sync_lag.seconds).toBeGreaterThanOrEqual(2 * 3600 - 5);
    expect(status.last_cron_run).toEqual({
      started_at: iso(now - 1000),
      finished_at: iso(now),
      duration_ms: 1000,
      outcome: 'ok',
      refreshed: 2,
      refresh_failures: 1,
      claimed: 7,
      enqueued: 6,
      states_deleted: 3,
      error: null,
    });

    // Deleting users (cascading to their connections) keeps the counters exact.
    await env.DB.prepare('DELETE FROM users WHERE id IN (?, ?)').bind(active[0], rejected[1]).run();
    const after = (await admin()).body;
    expect(after.users).toBe(status.users - 2);
    expect(after.connections.active).toBe(status.connections.active! - 1);
    expect(after.connections.client_credentials_rejected ?? 0).toBe(
      status.connections.client_credentials_rejected! - 1,
    );
    expect(after.connections).toEqual((await groundTruth(Date.parse(after.generated_at))).connections);
  });

  it('every figure is read through an index or a counter, never by scanning a large table', async () => {
    const plans: Array<[string, string[]]> = [];
    for (const [name, query] of Object.entries(STATUS_QUERIES)) {
      const bound = query.includes('?1') ? [iso(Date.now())] : [];
      const rows = await env.DB.prepare(`EXPLAIN QUERY PLAN ${query}`)
        .bind(...bound)
        .all<{ detail: string }>();
      plans.push([name, rows.results.map((r) => r.detail)]);
    }
    for (const query of [
      `EXPLAIN QUERY PLAN SELECT count(*) FROM sync_dead_letters WHERE dead_at >= '${iso(Date.now())}'`,
      'EXPLAIN QUERY PLAN SELECT * FROM cron_runs ORDER BY id DESC LIMIT 1',
    ]) {
      plans.push([query, (await env.DB.prepare(query).all<{ detail: string }>()).results.map((r) => r.detail)]);
    }
    expect(plans).toHaveLength(6);
    for (const [name, details] of plans) {
      expect(details.length, name).toBeGreaterThan(0);
      for (const detail of details) {
        // ops_counters holds one row per counter (users + one per connection status): scanning it is reading it.
        if (detail.startsWith('SCAN ops_counters')) continue;
        // Newest cron run: a backwards walk of the rowid tree that stops at the first row.
        if (detail === 'SCAN cron_runs' && name.includes('ORDER BY id DESC LIMIT 1')) continue;
        expect(detail, name).toMatch(/^SEARCH |USING (COVERING )?INDEX |USING INTEGER PRIMARY KEY/);
      }
    }
    const all = plans.flatMap(([, d]) => d).join('\n');
    expect(all).toContain('sync_state_lease_idx');
    expect(all).toContain('sync_state_tmdb_backlog_idx');
    expect(all).toContain('trakt_connections_due_idx');
    expect(all).toContain('sync_dead_letters_dead_at_idx');
  });
});
