/**
 * @module util
 * Small deterministic helpers shared by the simulator: string hashing, a seeded PRNG,
 * Trakt-style timestamps and random opaque tokens.
 */

/** FNV-1a 32-bit hash of the parts joined with '|'. Stable across runs and platforms. */
export function hash32(...parts: Array<string | number>): number {
  const text = parts.join('|');
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A float in [0, 1) derived from the parts (deterministic). */
export function unit(...parts: Array<string | number>): number {
  return mulberry32(hash32(...parts))();
}

/** mulberry32: tiny seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Trakt timestamps have whole seconds: `2014-09-01T09:10:11.000Z`. */
export function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString();
}

/** Truncates a millisecond timestamp to whole seconds. */
export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** Parses an ISO date; returns null when invalid. */
export function parseTime(value: string | undefined | null): number | null {
  if (value === undefined || value === null || value === '') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** Random lowercase hex string of `bytes` bytes (tokens, codes). */
export function randomHex(bytes = 32): string {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Random upper-case user code for the device flow, e.g. `5A7F91C2`. */
export function randomUserCode(): string {
  return randomHex(4).toUpperCase();
}

/** Keeps only the first characters of a secret, for logs. */
export function redact(secret: string | null | undefined): string | null {
  if (secret === null || secret === undefined || secret === '') return null;
  return secret.length <= 4 ? '…' : `${secret.slice(0, 4)}…`;
}

/** URL slug in Trakt's style: `the-dark-knight-2008`. */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
