/**
 * @module
 * The Worker's own count of D1 rows read and written per UTC day (table `d1_usage`, owned here): the
 * counter behind the daily budget (./budget.ts) and `/admin/status`'s `d1_today`.
 *
 * Every invocation's statements are metered from their own `meta` (src/observability/d1-meter.ts, the
 * scope's counters); when the invocation ends, its figures are added to the day's row with ONE upsert
 * (one row written, none read). To keep reads cheap, an invocation that only read (a GET of the API) does
 * not write the counter itself: its figures wait in the isolate and go with the next write, or after
 * FLUSH_AFTER_MS or FLUSH_AFTER_READS, whichever comes first. An isolate evicted meanwhile loses at most
 * that much (reads only); background work always writes its own figures before it ends.
 *
 * KV would not do: it is eventually consistent (two isolates would lose each other's increments) and
 * Workers Free allows 1,000 KV writes a day. A D1 row is exact and costs one row written per flush.
 */
import type { Counters } from '../observability/scope';

/** Reads an isolate keeps before writing them (when no write came along). */
export const FLUSH_AFTER_READS = 20_000;
/** The longest an isolate keeps figures before writing them. */
export const FLUSH_AFTER_MS = 60_000;
/** Days of `d1_usage` kept (the cron deletes older ones). */
export const USAGE_DAYS_KEPT = 31;

const DAY_MS = 24 * 60 * 60 * 1000;

/** The UTC day of an instant, `YYYY-MM-DD` (the counter's key). */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** When the day of `now` ends: 00:00 UTC of the next day (ISO). */
export function nextUtcMidnight(now: number): string {
  return new Date(Math.floor(now / DAY_MS) * DAY_MS + DAY_MS).toISOString();
}

export type DayUsage = { day: string; rowsRead: number; rowsWritten: number };

/** Figures not written yet, per isolate. */
const pending = { day: '', rowsRead: 0, rowsWritten: 0, since: 0 };

/** Adds a day's figures (one upsert: one row written; the counter counts that write too). */
function addStatement(d1: D1Database, day: string, rowsRead: number, rowsWritten: number, now: number) {
  return d1
    .prepare(`INSERT INTO d1_usage (day, rows_read, rows_written, updated_at) VALUES (?1, ?2, ?3 + 1, ?4)
      ON CONFLICT (day) DO UPDATE SET rows_read = d1_usage.rows_read + excluded.rows_read,
        rows_written = d1_usage.rows_written + excluded.rows_written, updated_at = excluded.updated_at`)
    .bind(day, rowsRead, rowsWritten, new Date(now).toISOString());
}

/**
 * Records an invocation's D1 figures. `background` (a queue message, the cron): written now, with what the
 * isolate held. Otherwise they are held in the isolate unless the invocation wrote rows, or the held figures
 * are old or large enough (see the module comment). Returns the write to wait for (`waitUntil`), if any.
 */
export function recordUsage(
  d1: D1Database,
  counters: Pick<Counters, 'd1RowsRead' | 'd1RowsWritten'>,
  now: number,
  options: { background: boolean },
): Promise<void> | undefined {
  const day = utcDay(now);
  if (pending.day !== day) {
    // A new day: figures of the old one still held are written to the old day.
    const old = { ...pending };
    Object.assign(pending, { day, rowsRead: 0, rowsWritten: 0, since: now });
    if (old.day && (old.rowsRead > 0 || old.rowsWritten > 0))
      void addStatement(d1, old.day, old.rowsRead, old.rowsWritten, now)
        .run()
        .catch(() => undefined);
  }
  if (pending.rowsRead === 0 && pending.rowsWritten === 0) pending.since = now;
  pending.rowsRead += counters.d1RowsRead;
  pending.rowsWritten += counters.d1RowsWritten;
  if (pending.rowsRead === 0 && pending.rowsWritten === 0) return undefined;
  const due =
    options.background ||
    counters.d1RowsWritten > 0 ||
    pending.rowsRead >= FLUSH_AFTER_READS ||
    now - pending.since >= FLUSH_AFTER_MS;
  if (!due) return undefined;
  const { rowsRead, rowsWritten } = pending;
  Object.assign(pending, { rowsRead: 0, rowsWritten: 0, since: now });
  return addStatement(d1, day, rowsRead, rowsWritten, now)
    .run()
    .then(
      () => undefined,
      () => {
        // Not lost: added back, for the next write.
        pending.rowsRead += rowsRead;
        pending.rowsWritten += rowsWritten;
      },
    );
}

/** The day's figures (one PK read), zeros before anything was recorded. */
export async function readDayUsage(d1: D1Database, now: number): Promise<DayUsage> {
  const day = utcDay(now);
  const row = await d1
    .prepare('SELECT rows_read AS rowsRead, rows_written AS rowsWritten FROM d1_usage WHERE day = ?')
    .bind(day)
    .first<{ rowsRead: number; rowsWritten: number }>();
  return { day, rowsRead: row?.rowsRead ?? 0, rowsWritten: row?.rowsWritten ?? 0 };
}

/** Deletes the days older than USAGE_DAYS_KEPT (the cron; a handful of rows). */
export async function pruneUsage(d1: D1Database, now: number): Promise<number> {
  const result = await d1
    .prepare('DELETE FROM d1_usage WHERE day < ?')
    .bind(utcDay(now - USAGE_DAYS_KEPT * DAY_MS))
    .run();
  return result.meta.changes ?? 0;
}

/** Forgets what this isolate holds (tests). */
export function resetPendingUsage() {
  Object.assign(pending, { day: '', rowsRead: 0, rowsWritten: 0, since: 0 });
}
