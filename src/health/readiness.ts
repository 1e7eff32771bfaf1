/**
 * @module
 * The readiness checks behind `GET /health/ready`: D1 answers a query on a migrated table, KV
 * answers a read, the configuration parses (JWT_SECRET, ENCRYPTION_KEYS, the upstream URLs,
 * LOG_LEVEL and ADMIN_TOKEN when set), D1 has every migration this code needs, and ENCRYPTION_KEYS
 * still has every key id that seals a stored secret. Each failure is reported by check name with a
 * fixed sentence; what actually went wrong is logged, never returned.
 *
 * The probe needs no auth, so its answer is reused for READINESS_CACHE_MS per isolate (`cachedReadiness`):
 * a flood of probes costs D1 and KV one round of checks per isolate every few seconds, not one per call.
 */
import { sql } from 'drizzle-orm';
import { MIN_ADMIN_TOKEN_LENGTH } from '../admin/auth';
import { MIN_JWT_SECRET_LENGTH } from '../config';
import { parseKeyRing } from '../crypto/envelope';
import { database } from '../db/client';
import { LATEST_MIGRATION, MIGRATIONS_TABLE } from '../db/migrations';
import { describeError, isLogLevel, log } from '../observability/log';
import { missingKeyIds, readEnvelopeCounts } from '../rotation/envelope-counts';

export type CheckName = 'database' | 'kv' | 'configuration' | 'migrations' | 'encryption';
export type Readiness = {
  ready: boolean;
  checks: Record<CheckName, 'ok' | 'failed'>;
  /** One fixed sentence per failed check. */
  problems: Partial<Record<CheckName, string>>;
};

/** A KV key nobody writes: reading it proves the namespace answers. */
const KV_PROBE_KEY = 'readiness:probe';
const URL_VARS = [
  'TRAKT_API_URL',
  'TRAKT_AUTH_URL',
  'TMDB_API_URL',
  'TMDB_IMAGE_BASE_URL',
  'TRAKT_REDIRECT_URI',
] as const;

class CheckFailed extends Error {}

/** The names of misconfigured settings (never their values). */
export async function configurationProblems(env: Env): Promise<string[]> {
  const problems: string[] = [];
  if (!env.JWT_SECRET || env.JWT_SECRET.length < MIN_JWT_SECRET_LENGTH) problems.push('JWT_SECRET');
  try {
    await parseKeyRing(env.ENCRYPTION_KEYS);
  } catch {
    problems.push('ENCRYPTION_KEYS');
  }
  for (const name of URL_VARS) {
    if (!URL.canParse(env[name] ?? '')) problems.push(name);
  }
  if (env.LOG_LEVEL?.trim() && !isLogLevel(env.LOG_LEVEL)) problems.push('LOG_LEVEL');
  const admin = env.ADMIN_TOKEN?.trim();
  if (admin && admin.length < MIN_ADMIN_TOKEN_LENGTH) problems.push('ADMIN_TOKEN');
  return problems;
}

const CHECKS: Record<CheckName, { failure: string; run: (env: Env) => Promise<void> }> = {
  database: {
    failure: 'D1 did not answer a query',
    run: async (env) => {
      await database(env.DB).run(sql`SELECT id FROM users LIMIT 1`);
    },
  },
  kv: {
    failure: 'KV did not answer a read',
    run: async (env) => {
      await env.KV.get(KV_PROBE_KEY);
    },
  },
  configuration: {
    failure: 'configuration is missing or malformed',
    run: async (env) => {
      const problems = await configurationProblems(env);
      if (problems.length > 0) throw new CheckFailed(`misconfigured: ${problems.join(', ')}`);
    },
  },
  migrations: {
    failure: "D1 migrations are not applied up to the code's latest",
    run: async (env) => {
      const rows = await database(env.DB).all(
        sql`SELECT name FROM ${sql.identifier(MIGRATIONS_TABLE)} WHERE name = ${LATEST_MIGRATION}`,
      );
      if (rows.length === 0) throw new CheckFailed(`${LATEST_MIGRATION} is not applied`);
    },
  },
  encryption: {
    failure: 'stored secrets need an encryption key that ENCRYPTION_KEYS does not have',
    run: async (env) => {
      const counts = await readEnvelopeCounts(env.DB);
      if (Object.keys(counts).length === 0) return;
      const ring = await parseKeyRing(env.ENCRYPTION_KEYS).catch(() => undefined);
      const missing = missingKeyIds(counts, ring);
      if (missing.length > 0) throw new CheckFailed(`key ids missing from ENCRYPTION_KEYS: ${missing.join(', ')}`);
    },
  },
};

export async function checkReadiness(env: Env): Promise<Readiness> {
  const names = Object.keys(CHECKS) as CheckName[];
  const outcomes = await Promise.allSettled(names.map((name) => CHECKS[name].run(env)));
  const readiness: Readiness = { ready: true, checks: {} as Readiness['checks'], problems: {} };
  outcomes.forEach((outcome, i) => {
    const name = names[i]!;
    if (outcome.status === 'fulfilled') {
      readiness.checks[name] = 'ok';
      return;
    }
    readiness.ready = false;
    readiness.checks[name] = 'failed';
    readiness.problems[name] = CHECKS[name].failure;
    log.error('readiness_check_failed', { check: name, ...describeError(outcome.reason) });
  });
  return readiness;
}

/** How long one isolate reuses a readiness answer (ready or not). */
export const READINESS_CACHE_MS = 5_000;

/** The last answer of this isolate, for the configuration it was computed with. */
let cached: { config: string; until: number; readiness: Promise<Readiness> } | undefined;

/**
 * `checkReadiness`, reused for READINESS_CACHE_MS: concurrent and later probes within that time share
 * one round of checks (a failure too, so a flood during an outage does not pile onto D1). Another
 * configuration (another env, as in tests) never gets this one's answer.
 */
export function cachedReadiness(env: Env, now: number): Promise<Readiness> {
  const config = JSON.stringify([
    env.JWT_SECRET,
    env.ENCRYPTION_KEYS,
    env.LOG_LEVEL,
    env.ADMIN_TOKEN,
    ...URL_VARS.map((name) => env[name]),
  ]);
  if (cached && cached.config === config && now < cached.until) return cached.readiness;
  const readiness = checkReadiness(env);
  cached = { config, until: now + READINESS_CACHE_MS, readiness };
  return readiness;
}

/** Forgets the cached answer (tests that change D1 under the probe). */
export function forgetReadiness(): void {
  cached = undefined;
}
