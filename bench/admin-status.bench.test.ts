/**
 * The operator view at 100,000 users (`npm run bench`, not `npm test`): seeds 100,000 users and
 * connections (several statuses, due times spread over a day, sealed token sets), 200,000 stored API
 * keys (envelopes under two key ids: a rotation under way), their sync state (leases, TMDB
 * backlogs), a month of dead letters and 1,000 cron runs, then measures D1 rows read by
 * GET /admin/status — per figure and in total — next to what plain COUNT(*) queries would read.
 * Asserts sanity only (rows read stay far below the table sizes), never timing.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { STATUS_QUERIES } from '../src/admin/status';
import worker from '../src/index';
import { ENVELOPE_COUNTS_QUERY } from '../src/rotation/envelope-counts';
import { meterD1 } from '../test/support/d1-meter';
import { BENCH_MARKER } from './format';

const USERS = 100_000;
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdefghijklmnop';

const range = (n: number) => `WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < ${n})`;

async function rowsRead(query: string, ...values: unknown[]) {
  const result = await env.DB.prepare(query)
    .bind(...values)
    .all();
  return result.meta.rows_read ?? 0;
}

describe('operator status at scale', () => {
  it(`GET /admin/status reads a handful of rows at ${USERS.toLocaleString('en-US')} users`, async () => {
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const seedStarted = Date.now();
    await env.DB.prepare(
      `INSERT INTO users (username, password_hash, created_at) ${range(USERS)}
       SELECT 'bench_admin_' || x, 'x', '${iso(now)}' FROM seq`,
    ).run();
    const firstId = (await env.DB.prepare("SELECT min(id) AS id FROM users WHERE username LIKE 'bench_admin_%'").first<{
      id: number;
    }>())!.id;
    // 90% active (due times spread over the next day, 1% overdue), 6% re-authorization,
    // 3% credentials rejected, 1% new status.
    await env.DB.prepare(
      `INSERT INTO trakt_connections (user_id, status, token_version, token_set_id, sealed_tokens, expires_at,
         token_lifetime_seconds, connected_at, updated_at, next_sync_at)
       SELECT id,
              CASE WHEN id % 100 < 90 THEN 'active' WHEN id % 100 < 96 THEN 'reauthorization_required'
                   WHEN id % 100 < 99 THEN 'client_credentials_rejected' ELSE 'reauthorization_required_soon' END,
              1, 'none', CASE WHEN id % 10 < 7 THEN 'v1.k2.iv.ct' ELSE 'v1.k1.iv.ct' END,
              '${iso(now + 7 * 86400_000)}', 604800, '${iso(now)}', '${iso(now)}',
              strftime('%Y-%m-%dT%H:%M:%fZ', '${iso(now)}', ((id % 1440) - 15) || ' minutes')
       FROM users WHERE id >= ${firstId}`,
    ).run();
    // Two stored API keys each (a Trakt app and a TMDB key), 70% sealed with the new key k2: a rotation under way.
    await env.DB.prepare(
      `INSERT INTO api_keys (user_id, service_name, encrypted_key, created_at, updated_at)
       SELECT id, s.name, CASE WHEN (id + length(s.name)) % 10 < 7 THEN 'v1.k2.iv.ct' ELSE 'v1.k1.iv.ct' END,
              '${iso(now)}', '${iso(now)}'
       FROM users, (SELECT 'trakt' AS name UNION ALL SELECT 'tmdb') AS s WHERE id >= ${firstId}`,
    ).run();
    // Sync state for everyone: 0.2% holding a lease, 2% with a TMDB backlog.
    await env.DB.prepare(
      `INSERT INTO sync_state (user_id, lease_id, lease_until, last_result)
       SELECT id,
              CASE WHEN id % 500 = 0 THEN 'lease' END,
              CASE WHEN id % 500 = 0 THEN '${iso(now + 300_000)}' WHEN id % 500 = 1 THEN '${iso(now - 3600_000)}' END,
              CASE WHEN id % 50 = 0 THEN '{"upstream_calls":3,"enrichment":{"calls":300,"skipped":"budget_exhausted"}}'
                   ELSE '{"upstream_calls":1,"enrichment":{"calls":0}}' END
       FROM users WHERE id >= ${firstId}`,
    ).run();
    // A month of dead letters (5,000) and 1,000 cron runs.
    await env.DB.prepare(
      `INSERT INTO sync_dead_letters (user_id, attempts, dead_at) ${range(5000)}
       SELECT ${firstId} + x, 6, strftime('%Y-%m-%dT%H:%M:%fZ', '${iso(now)}', '-' || (x * 8) || ' minutes') FROM seq`,
    ).run();
    await env.DB.prepare(
      `INSERT INTO cron_runs (started_at, finished_at, duration_ms, outcome, refreshed, refresh_failures, claimed,
         enqueued, states_deleted) ${range(1000)}
       SELECT '${iso(now)}', '${iso(now)}', 100, 'ok', 0, 0, x, x, 0 FROM seq`,
    ).run();
    const seedMs = Date.now() - seedStarted;

    const started = Date.now();
    const { result, meter } = await meterD1(async () => {
      const response = await worker.fetch(
        new Request('http://api.test/admin/status', { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } }),
        { ...env, ADMIN_TOKEN } as Env,
        { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext,
      );
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    });
    const elapsedMs = Date.now() - started;
    expect(result.status).toBe(200);
    expect(result.body.users).toBeGreaterThanOrEqual(USERS);
    expect(result.body.connections.active).toBeGreaterThanOrEqual(USERS * 0.9 - 1);
    expect(result.body.encryption.k2).toBeGreaterThanOrEqual(USERS * 3 * 0.69);
    expect(result.body.encryption.k1).toBeGreaterThanOrEqual(USERS * 3 * 0.29);
    expect(meter.statements.length).toBeGreaterThanOrEqual(4); // positive control: the meter saw the queries
    expect(meter.rowsRead).toBeLessThan(5_000);

    const nowIso = iso(Date.now());
    const perFigure = [
      {
        figure: 'users + connections by status',
        query: STATUS_QUERIES.counters,
        indexed: await rowsRead(STATUS_QUERIES.counters),
        naive:
          (await rowsRead('SELECT count(*) FROM users')) +
          (await rowsRead('SELECT status, count(*) FROM trakt_connections GROUP BY status')),
      },
      {
        figure: 'envelopes per key id (`ops_counters`, migration 0015; the same statement as above)',
        indexed: await rowsRead(ENVELOPE_COUNTS_QUERY),
        naive:
          (await rowsRead(
            "SELECT substr(encrypted_key, 4, instr(substr(encrypted_key, 4), '.') - 1), count(*) FROM api_keys GROUP BY 1",
          )) +
          (await rowsRead(
            "SELECT substr(sealed_tokens, 4, instr(substr(sealed_tokens, 4), '.') - 1), count(*) FROM trakt_connections WHERE sealed_tokens IS NOT NULL GROUP BY 1",
          )),
      },
      {
        figure: 'syncs in progress',
        indexed: await rowsRead(STATUS_QUERIES.syncsInProgress, nowIso),
        naive: await rowsRead("SELECT count(*) FROM sync_state WHERE coalesce(lease_until, '') > ?", nowIso),
      },
      {
        figure: 'oldest due sync',
        indexed: await rowsRead(STATUS_QUERIES.oldestDue),
        naive: await rowsRead("SELECT min(+next_sync_at) FROM trakt_connections WHERE +status = 'active'"),
      },
      {
        figure: 'dead letters, last 24 h',
        indexed: await rowsRead(
          'SELECT count(*) FROM sync_dead_letters WHERE dead_at >= ?',
          iso(Date.now() - 86400_000),
        ),
        naive: await rowsRead(
          'SELECT count(*) FROM sync_dead_letters WHERE +dead_at >= ?',
          iso(Date.now() - 86400_000),
        ),
      },
      {
        figure: 'TMDB backlog',
        indexed: await rowsRead(STATUS_QUERIES.tmdbBacklog),
        naive: await rowsRead("SELECT count(*) FROM sync_state WHERE last_result LIKE '%budget_exhausted%'"),
      },
      {
        figure: 'last cron run',
        indexed: await rowsRead('SELECT * FROM cron_runs ORDER BY id DESC LIMIT 1'),
        naive: await rowsRead('SELECT * FROM cron_runs ORDER BY +id DESC LIMIT 1'),
      },
    ];
    const users = USERS.toLocaleString('en-US');
    const naiveTotal = perFigure.reduce((n, f) => n + f.naive, 0);
    const lines = [
      `Seeded ${users} users and connections, ${(USERS * 2).toLocaleString('en-US')} API keys, ${users} sync_state rows, ` +
        '5,000 dead letters, 1,000 cron runs ' +
        `in ${(seedMs / 1000).toFixed(1)} s.`,
      '',
      '| Figure | D1 rows read (as served) | Rows a plain scan would read |',
      '| --- | --- | --- |',
      ...perFigure.map(
        (f) => `| ${f.figure} | ${f.indexed.toLocaleString('en-US')} | ${f.naive.toLocaleString('en-US')} |`,
      ),
      `| **GET /admin/status, total** (${meter.statements.length} statements, ${elapsedMs} ms wall-clock, ` +
        `informative) | **${meter.rowsRead.toLocaleString('en-US')}** | ${naiveTotal.toLocaleString('en-US')} |`,
    ];
    console.log(lines.join('\n'));
    console.log(
      `${BENCH_MARKER} ${JSON.stringify({
        name: 'admin_status',
        data: { perFigure, total: meter.rowsRead, elapsedMs },
      })}`,
    );
  });
});
