/**
 * @module
 * Time zones as UTC-offset intervals (pure; Intl is the only zone database in Workers). A zone's
 * RULES are its intervals from the dawn of time to a horizon (January 1st three years ahead; later
 * instants keep the offset the zone has there) plus an id naming them: `<zone>#<hash of the
 * intervals>`. The id changes when the intervals do: when the horizon moves past new transitions
 * (once a year in a zone with DST) or when the runtime's zone data changes (a country drops DST).
 * So a weekday-hour grid counted with one set of rules can tell that it is out of date
 * (src/readmodel/stats-zone.ts).
 * Free of Worker bindings (browser code imports the request schemas that use `timeZoneName`).
 */
import { z } from 'zod';

/** A span [from, to) of UTC instants (ISO strings, comparable with `watched_at`) with one UTC offset in minutes. */
export type OffsetInterval = [from: string, to: string, offsetMinutes: number];

export type ZoneRules = { zone: string; id: string; intervals: OffsetInterval[] };

/** Sampling step: shorter than any real gap between two DST transitions. */
const SAMPLE_STEP_MS = 28 * 24 * 60 * 60 * 1000;
/** Transitions are searched from here on; earlier plays take the zone's offset of this date. */
const EARLIEST = Date.UTC(2000, 0, 1);
/** Transitions happen on quarter hours (UTC); bisection stops at that precision. */
const TRANSITION_PRECISION_MS = 15 * 60 * 1000;
/** Rules reach this many years past the current one: plays before the horizon are placed exactly. */
const HORIZON_YEARS = 3;
export const ISO_MIN = '0000-01-01T00:00:00.000Z';
export const ISO_MAX = '9999-12-31T23:59:59.999Z';

const UTC_ZONES = new Set(['UTC', 'ETC/UTC', 'GMT', 'ETC/GMT', 'Z', 'ETC/UCT', 'UCT', 'ETC/ZULU', 'ZULU']);

export function isUtc(zone: string): boolean {
  return UTC_ZONES.has(zone.toUpperCase());
}

const canonicalNames = new Map<string, string>();
const CANONICAL_NAMES_CACHED = 256;

/**
 * The zone's canonical IANA name (`europe/berlin` → `Europe/Berlin`), or null for an unknown zone.
 * A `?tz=` read asks twice (validation, then its rules), so known spellings are kept per isolate
 * instead of building an Intl formatter each time; unknown ones are not kept (any string can be asked).
 */
export function canonicalTimeZone(zone: string): string | null {
  const cached = canonicalNames.get(zone);
  if (cached !== undefined) return cached;
  let canonical: string;
  try {
    canonical = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
  if (canonicalNames.size >= CANONICAL_NAMES_CACHED) canonicalNames.delete(canonicalNames.keys().next().value!);
  canonicalNames.set(zone, canonical);
  return canonical;
}

export function isKnownTimeZone(zone: string): boolean {
  return canonicalTimeZone(zone) !== null;
}

/** An IANA time zone name, in any case Intl accepts; an unknown zone gets the same message everywhere. */
export const timeZoneName = z
  .string()
  .max(64)
  .refine((zone) => isUtc(zone) || isKnownTimeZone(zone), {
    error: (issue) => `Unknown time zone '${String(issue.input)}' (use an IANA name such as Europe/Berlin)`,
  });

function offsetReader(zone: string): (ms: number) => number {
  // Only the zone name part matters ("GMT+05:30"; "GMT" alone at offset 0). format() is about twice as
  // fast as formatToParts(), and rules take about a thousand of these calls.
  const format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
  return (ms) => {
    const match = /GMT([+-])(\d{2}):(\d{2})/.exec(format.format(ms));
    if (!match) return 0;
    return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
  };
}

/**
 * The zone's offset intervals from EARLIEST to `horizon` (the first interval reaches back to the dawn
 * of time, the last one forward). Transitions are found by sampling every 28 days and bisecting to
 * the quarter hour; each Intl call costs microseconds, the whole ~1,100 of them a few milliseconds.
 */
function intervalsUntil(zone: string, horizon: number): OffsetInterval[] {
  const offsetAt = offsetReader(zone);
  const transitions: Array<{ at: number; offset: number }> = [];
  let previousMs = EARLIEST;
  let previousOffset = offsetAt(EARLIEST);
  const firstOffset = previousOffset;
  for (let step = EARLIEST + SAMPLE_STEP_MS; previousMs < horizon; step += SAMPLE_STEP_MS) {
    const ms = Math.min(step, horizon);
    const offset = offsetAt(ms);
    if (offset !== previousOffset) {
      let low = previousMs;
      let high = ms;
      while (high - low > TRANSITION_PRECISION_MS) {
        const middle = low + Math.floor((high - low) / (2 * TRANSITION_PRECISION_MS)) * TRANSITION_PRECISION_MS;
        if (offsetAt(middle) === previousOffset) low = middle;
        else high = middle;
      }
      transitions.push({ at: high, offset });
      previousOffset = offset;
    }
    previousMs = ms;
  }
  const intervals: OffsetInterval[] = [];
  let from = ISO_MIN;
  let offset = firstOffset;
  for (const transition of transitions) {
    const at = new Date(transition.at).toISOString();
    intervals.push([from, at, offset]);
    from = at;
    offset = transition.offset;
  }
  intervals.push([from, ISO_MAX, offset]);
  return intervals;
}

/** FNV-1a (32 bits) of a string: a short, stable fingerprint, not a security measure. */
function fingerprint(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

const rulesCache = new Map<string, ZoneRules>();
const RULES_CACHE_ZONES = 64;

/**
 * The rules of `zone` (any spelling Intl accepts; throws RangeError for an unknown zone) as of `now`.
 * Cached per zone and horizon in the isolate: pure data.
 */
export function zoneRules(zone: string, now: number): ZoneRules {
  const canonical = canonicalTimeZone(zone);
  if (canonical === null) throw new RangeError(`Unknown time zone '${zone}'`);
  const horizonYear = new Date(now).getUTCFullYear() + HORIZON_YEARS;
  const key = `${canonical}@${horizonYear}`;
  const cached = rulesCache.get(key);
  if (cached) return cached;
  const intervals = intervalsUntil(canonical, Date.UTC(horizonYear, 0, 1));
  const rules = { zone: canonical, id: `${canonical}#${fingerprint(JSON.stringify(intervals))}`, intervals };
  if (rulesCache.size >= RULES_CACHE_ZONES) rulesCache.delete(rulesCache.keys().next().value!);
  rulesCache.set(key, rules);
  return rules;
}
