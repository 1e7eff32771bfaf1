/**
 * The key rotation's re-encryption at scale (`npm run bench`, not `npm test`; alone:
 * `npx vitest run -c vitest.bench.config.ts bench/key-rotation.bench.test.ts`): seeds 2,000 users with
 * two stored API keys each and a connection whose token set is sealed in D1 and copied to KV (real
 * envelopes, sealed with k2), makes k1 the primary key, then runs steps (src/rotation/reseal.ts) as the
 * queue consumer runs them until nothing is left, at the Workers Free default budget (45) and at a
 * Workers Paid one (900). Per step: D1 calls (a batch counts as one) and rows read and written (the D1
 * meter), KV reads and deletes; per pass: rows read against the table sizes. Asserts the Free limits
 * (≤ 50 D1 calls and subrequests per step) and that a pass reads each row about once, never timing.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { aadFor, parseKeyRing, reseal, seal } from '../src/crypto/envelope';
import { requestReseal, resealStep, stepLimits } from '../src/rotation/reseal';
import { meterD1 } from '../test/support/d1-meter';
import { BENCH_MARKER } from './format';

const USERS = 2_000;
const [K2, K1] = env.ENCRYPTION_KEYS.split(',') as [string, string];

async function seed() {
  const old = await parseKeyRing(K2);
  const now = new Date().toISOString();
  const range = `WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < ${USERS})`;
  await env.DB.prepare(
    `INSERT INTO users (username, password_hash, created_at) ${range} SELECT 'bench_rot_' || x, 'x', '${now}' FROM seq`,
  ).run();
  const { results } = await env.DB.prepare("SELECT id FROM users WHERE username LIKE 'bench_rot_%' ORDER BY id").all<{
    id: number;
  }>();
  const statements: D1PreparedStatement[] = [];
  for (const { id } of results) {
    const token = JSON.stringify({
      access_token: crypto.randomUUID().replace(/-/g, '').repeat(2),
      refresh_token: crypto.randomUUID().replace(/-/g, '').repeat(2),
      expires_in: 604800,
      created_at: Math.floor(Date.now() / 1000),
      scope: 'public',
      token_type: 'bearer',
    });
    const sealed = await seal(old, token, aadFor(id, 'trakt_tokens'));
    statements.push(
      env.DB.prepare(
        `INSERT INTO trakt_connections (user_id, status, token_version, token_set_id, sealed_tokens, expires_at,
           token_lifetime_seconds, connected_at, updated_at, next_sync_at)
         VALUES (?, 'active', 1, ?, ?, ?, 604800, ?, ?, ?)`,
      ).bind(id, `set${id}`, sealed, now, now, now, now),
      env.DB.prepare(
        `INSERT INTO api_keys (user_id, service_name, service_user_id, encrypted_key, created_at, updated_at)
         VALUES (?, 'trakt', 'client', ?, ?, ?), (?, 'tmdb', NULL, ?, ?, ?)`,
      ).bind(
        id,
        await seal(old, 'secret', aadFor(id, 'api_key:trakt')),
        now,
        now,
        id,
        await seal(old, 'tmdb-key', aadFor(id, 'api_key:tmdb')),
        now,
        now,
      ),
    );
  }
  for (let i = 0; i < statements.length; i += 200) await env.DB.batch(statements.slice(i, i + 200));
  // Half of the sets have a live KV copy (the other half expired: read, but nothing to delete).
  await copyHalfToKv();
}

/** Copies the current journals of half of the users to KV, as readers would have. */
async function copyHalfToKv() {
  const { results } = await env.DB.prepare(
    "SELECT user_id, token_set_id, sealed_tokens FROM trakt_connections WHERE token_set_id LIKE 'set%'",
  ).all<{ user_id: number; token_set_id: string; sealed_tokens: string }>();
  for (const row of results)
    if (row.user_id % 2 === 0) await env.KV.put(`trakt_tokens:${row.user_id}:${row.token_set_id}`, row.sealed_tokens);
}

async function runToEnd(label: string, keys: string, budget: string) {
  const overrides = { ENCRYPTION_KEYS: keys, SYNC_SUBREQUEST_BUDGET: budget };
  const rotated = { ...env, ...overrides } as Env;
  const kvGet = vi.spyOn(env.KV, 'get');
  const kvDelete = vi.spyOn(env.KV, 'delete');
  const steps: Array<{
    d1Calls: number;
    rowsRead: number;
    rowsWritten: number;
    kvGets: number;
    kvDeletes: number;
    ms: number;
  }> = [];
  for (let i = 0; i < 1000; i++) {
    kvGet.mockClear();
    kvDelete.mockClear();
    const started = Date.now();
    const { result, meter } = await meterD1(() => resealStep(rotated, Date.now()));
    steps.push({
      d1Calls: meter.calls.length,
      rowsRead: meter.rowsRead,
      rowsWritten: meter.rowsWritten,
      kvGets: kvGet.mock.calls.length,
      kvDeletes: kvDelete.mock.calls.length,
      ms: Date.now() - started,
    });
    if (result.api_keys.complete && result.trakt_connections.complete && !(await requestReseal(rotated, Date.now())))
      break;
  }
  kvGet.mockRestore();
  kvDelete.mockRestore();
  const max = (key: keyof (typeof steps)[number]) => Math.max(...steps.map((s) => s[key]));
  const sum = (key: keyof (typeof steps)[number]) => steps.reduce((n, s) => n + s[key], 0);
  const row = {
    label,
    budget: Number(budget),
    limits: stepLimits(rotated),
    steps: steps.length,
    max_d1_calls: max('d1Calls'),
    max_subrequests: Math.max(...steps.map((s) => s.d1Calls + s.kvGets + s.kvDeletes)),
    max_rows_read: max('rowsRead'),
    max_rows_written: max('rowsWritten'),
    rows_read: sum('rowsRead'),
    rows_written: sum('rowsWritten'),
    kv_gets: sum('kvGets'),
    kv_deletes: sum('kvDeletes'),
    max_wall_ms: max('ms'),
  };
  return row;
}

/**
 * The crypto of a step alone, timed in workerd: open and seal again, no I/O in between. Local workerd's
 * clock does advance while JavaScript runs (production's does not), so this wall-clock time is an upper
 * bound of the CPU the step's crypto costs (other processes sharing the machine inflate it).
 */
async function microsPerReseal(plaintext: string, n = 2_000): Promise<number> {
  const ring = await parseKeyRing(K2);
  const rotated = await parseKeyRing(`${K1},${K2}`);
  const envelopes = [];
  for (let i = 0; i < n; i++) envelopes.push(await seal(ring, plaintext, aadFor(i, 'purpose')));
  for (let i = 0; i < 100; i++) await reseal(rotated, envelopes[i]!, aadFor(i, 'purpose')); // warm up
  const started = performance.now();
  for (let i = 0; i < n; i++) await reseal(rotated, envelopes[i]!, aadFor(i, 'purpose'));
  return ((performance.now() - started) * 1000) / n;
}

describe('key rotation: the re-encryption', () => {
  it(`re-seals ${USERS.toLocaleString('en-US')} users' envelopes within one invocation's limits per step`, async () => {
    await seed();
    // k2 → k1 at the Workers Free default budget.
    const free = await runToEnd('Workers Free (SYNC_SUBREQUEST_BUDGET 45)', `${K1},${K2}`, '45');
    // And back, k1 → k2, at a Workers Paid budget.
    await copyHalfToKv();
    const paid = await runToEnd('Workers Paid (SYNC_SUBREQUEST_BUDGET 900)', `${K2},${K1}`, '900');
    expect(free.max_d1_calls).toBeLessThanOrEqual(5);
    expect(free.max_subrequests).toBeLessThanOrEqual(45);
    expect(paid.max_d1_calls).toBeLessThanOrEqual(5);
    expect(free.kv_deletes).toBe(USERS / 2);
    // A pass reads each row once in its primary-key range (from the stored position, not from the start at
    // every step), plus a constant per re-sealed envelope (its conditional write and the counters' triggers).
    const envelopes = USERS * 3;
    for (const row of [free, paid]) expect(row.rows_read / envelopes).toBeLessThan(10);
    const lines = [
      `${USERS.toLocaleString('en-US')} users: ${(USERS * 2).toLocaleString('en-US')} API keys, ` +
        `${USERS.toLocaleString('en-US')} token sets in D1, ${(USERS / 2).toLocaleString('en-US')} KV copies.`,
      '',
      '| Budget | Per step (token sets / API keys) | Steps | D1 calls per step (max) | Subrequests per step (max) | D1 rows read / written per step (max) | D1 rows read / written, whole pass (per envelope) | KV reads / deletes, whole pass | Wall ms per step (max, informative) |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...[free, paid].map(
        (r) =>
          `| ${r.label} | ${r.limits.tokenSets} / ${r.limits.apiKeys} | ${r.steps} | ${r.max_d1_calls} | ${r.max_subrequests} | ` +
          `${r.max_rows_read} / ${r.max_rows_written} | ${r.rows_read.toLocaleString('en-US')} / ` +
          `${r.rows_written.toLocaleString('en-US')} (${(r.rows_read / (USERS * 3)).toFixed(1)} / ${(r.rows_written / (USERS * 3)).toFixed(1)}) | ` +
          `${r.kv_gets.toLocaleString('en-US')} / ${r.kv_deletes.toLocaleString('en-US')} | ${r.max_wall_ms} |`,
      ),
    ];
    const tokenSet = JSON.stringify({
      access_token: 'a'.repeat(64),
      refresh_token: 'r'.repeat(64),
      expires_in: 604800,
      created_at: 1_790_000_000,
      scope: 'public',
      token_type: 'bearer',
    });
    const cpu = { apiKey: await microsPerReseal('f'.repeat(32)), tokenSet: await microsPerReseal(tokenSet) };
    const stepMs = (free.limits.apiKeys * cpu.apiKey + free.limits.tokenSets * cpu.tokenSet) / 1000;
    lines.push(
      '',
      `Crypto per re-sealed envelope (open + seal, wall-clock in local workerd, an upper bound of CPU): API key ` +
        `${cpu.apiKey.toFixed(0)} µs, token set ${cpu.tokenSet.toFixed(0)} µs; a default step ` +
        `(${free.limits.apiKeys} + ${free.limits.tokenSets}): ${stepMs.toFixed(1)} ms.`,
    );
    console.log(lines.join('\n'));
    console.log(`${BENCH_MARKER} ${JSON.stringify({ name: 'key_rotation', data: { free, paid, cpu, stepMs } })}`);
  });
});
