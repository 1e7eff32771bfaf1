/**
 * @module
 * How many stored envelopes each key id seals: the `envelopes:<kid>` rows of `ops_counters`, kept exact
 * by triggers on `api_keys` and `trakt_connections` (migration 0015), so reading them is one primary-key
 * range of a few rows, never a scan. Short-lived KV envelopes (OAuth state, device codes, confirmation
 * tokens: at most 10 minutes) and the KV copies of token sets (a cache of the journal) are not counted.
 * GET /admin/status, the readiness probe and the cron read the counts through this module.
 */
import type { KeyRing } from '../crypto/envelope';

export const ENVELOPE_COUNTER_PREFIX = 'envelopes:';

/** The counters' rows, as a primary-key range of `ops_counters` (`;` sorts right after `:`). */
export const ENVELOPE_COUNTS_QUERY =
  "SELECT name, value FROM ops_counters WHERE name >= 'envelopes:' AND name < 'envelopes;'";

/** Key id → envelopes it seals (only key ids that seal at least one). */
export type EnvelopeCounts = Record<string, number>;

/** The counts out of `ops_counters` rows (any rows: the operator view reads every counter at once). */
export function envelopeCountsFrom(rows: ReadonlyArray<{ name: string; value: number }>): EnvelopeCounts {
  const counts: EnvelopeCounts = {};
  for (const row of rows) {
    if (row.name.startsWith(ENVELOPE_COUNTER_PREFIX) && row.value > 0) {
      counts[row.name.slice(ENVELOPE_COUNTER_PREFIX.length)] = row.value;
    }
  }
  return counts;
}

export async function readEnvelopeCounts(d1: D1Database): Promise<EnvelopeCounts> {
  const { results } = await d1.prepare(ENVELOPE_COUNTS_QUERY).all<{ name: string; value: number }>();
  return envelopeCountsFrom(results);
}

/** Key ids that still seal stored envelopes but are not in ENCRYPTION_KEYS (all of them without a ring). */
export function missingKeyIds(counts: EnvelopeCounts, ring: KeyRing | undefined): string[] {
  return Object.keys(counts)
    .filter((kid) => !ring?.keys.has(kid))
    .sort();
}

/** Envelopes sealed with another key than the primary one: what the re-encryption still has to do. */
export function notPrimary(counts: EnvelopeCounts, ring: KeyRing): number {
  let total = 0;
  for (const [kid, count] of Object.entries(counts)) if (kid !== ring.primaryKid) total += count;
  return total;
}

/**
 * What the operator view shows: every key of ENCRYPTION_KEYS in its order (0 when it seals nothing: safe
 * to remove), then every other key id that still seals something (missing: put it back).
 */
export function encryptionView(counts: EnvelopeCounts, ring: KeyRing | undefined): Record<string, number> {
  const view: Record<string, number> = {};
  for (const kid of ring?.keys.keys() ?? []) view[kid] = counts[kid] ?? 0;
  for (const kid of missingKeyIds(counts, ring)) view[kid] = counts[kid]!;
  return view;
}
