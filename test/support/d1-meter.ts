/**
 * Measures what the Worker does to D1 during a block: rows read and written, from D1's own result
 * `meta` (rows_read / rows_written), and which tables were written. It wraps the binding's
 * prepare/batch in place, since the Worker under test shares the test's `env`.
 *
 * `raw()`/`first()` (used by drizzle for selects and RETURNING) expose no meta: a SELECT is
 * measured by running it once more through `all()` (reads are side-effect free); a write through
 * them is counted as one row written per row returned.
 */
import { env } from 'cloudflare:workers';

export type D1Meter = {
  /** D1's own `meta.duration` (ms spent executing SQL), summed. */
  durationMs: number;
  /** Wall time the Worker spent awaiting D1 (every call, round trip included): what is not its own CPU. */
  waitMs: number;
  rowsRead: number;
  rowsWritten: number;
  writesByTable: Map<string, number>;
  statements: string[];
  /** One entry per D1 call (a statement run on its own, or a whole batch): what it read and wrote. */
  calls: Array<{ statements: number; rowsRead: number; rowsWritten: number }>;
  /** Rows read per statement, in order (to find the expensive ones). */
  readsByStatement: Array<{ sql: string; rowsRead: number }>;
};

const WRITE = /^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+["`]?(\w+)/i;
const SELECT = /^\s*(SELECT|WITH)\b/i;

type Meta = { rows_read?: number; rows_written?: number; duration?: number };

export async function meterD1<T>(block: () => Promise<T>): Promise<{ result: T; meter: D1Meter }> {
  const meter: D1Meter = {
    durationMs: 0,
    waitMs: 0,
    rowsRead: 0,
    rowsWritten: 0,
    writesByTable: new Map(),
    statements: [],
    calls: [],
    readsByStatement: [],
  };
  let inBatch = false;
  const db = env.DB;
  const originalPrepare = db.prepare;
  const originalBatch = db.batch;
  const record = (sql: string, meta: Meta | undefined) => {
    if (!inBatch)
      meter.calls.push({ statements: 1, rowsRead: meta?.rows_read ?? 0, rowsWritten: meta?.rows_written ?? 0 });
    meter.statements.push(sql);
    meter.readsByStatement.push({ sql, rowsRead: meta?.rows_read ?? 0 });
    meter.rowsRead += meta?.rows_read ?? 0;
    meter.durationMs += meta?.duration ?? 0;
    const written = meta?.rows_written ?? 0;
    meter.rowsWritten += written;
    const table = WRITE.exec(sql)?.[1];
    if (table && written > 0) meter.writesByTable.set(table, (meter.writesByTable.get(table) ?? 0) + written);
  };
  const sqlOf = new WeakMap<object, string>();

  const timed = async <T>(call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await call();
    } finally {
      meter.waitMs += performance.now() - started;
    }
  };
  const instrument = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    sqlOf.set(statement, query);
    const target = statement as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const run = target.run!.bind(statement);
    const all = target.all!.bind(statement);
    const raw = target.raw!.bind(statement);
    const first = target.first!.bind(statement);
    target.run = async (...args) => {
      const result = (await timed(() => run(...args))) as D1Result;
      record(query, result.meta);
      return result;
    };
    target.all = async (...args) => {
      const result = (await timed(() => all(...args))) as D1Result;
      record(query, result.meta);
      return result;
    };
    for (const [name, original] of [
      ['raw', raw],
      ['first', first],
    ] as const) {
      target[name] = async (...args) => {
        if (SELECT.test(query)) {
          record(query, ((await timed(() => all())) as D1Result).meta);
          return timed(() => original(...args));
        }
        const result = await timed(() => original(...args));
        const rows = Array.isArray(result) ? result.length : result ? 1 : 0;
        record(query, { rows_written: rows });
        return result;
      };
    }
    const bind = statement.bind.bind(statement);
    statement.bind = (...values: unknown[]) => instrument(bind(...values), query);
    return statement;
  };

  db.prepare = ((query: string) => instrument(originalPrepare.call(db, query), query)) as D1Database['prepare'];
  db.batch = (async (statements: D1PreparedStatement[]) => {
    const results = await timed(() => originalBatch.call(db, statements));
    const call = { statements: statements.length, rowsRead: 0, rowsWritten: 0 };
    inBatch = true;
    results.forEach((result, i) => {
      record(sqlOf.get(statements[i]!) ?? '(batch)', result.meta);
      call.rowsRead += result.meta?.rows_read ?? 0;
      call.rowsWritten += result.meta?.rows_written ?? 0;
    });
    inBatch = false;
    meter.calls.push(call);
    return results;
  }) as D1Database['batch'];
  try {
    return { result: await block(), meter };
  } finally {
    db.prepare = originalPrepare;
    db.batch = originalBatch;
  }
}
