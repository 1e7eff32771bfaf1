/**
 * @module
 * Counts what an invocation does to D1 (queries, rows read, rows written) for the sync's log line
 * and metric, by wrapping the `DB` binding the invocation's code receives. Figures come from D1's
 * own result `meta` (`rows_read`, `rows_written`) where the call returns it (`run`, `all`, `batch`);
 * `raw` and `first` (what drizzle uses for selects and `RETURNING`) return no meta, so their
 * returned rows are counted instead (as read for a SELECT, as written otherwise).
 * The wrapper only observes: every call goes to the real binding unchanged.
 */
import type { Counters } from './scope';

type Meta = { rows_read?: number; rows_written?: number } | undefined;

const SELECT = /^\s*(?:SELECT|WITH|PRAGMA|EXPLAIN)\b/i;

export function meteredD1(d1: D1Database, counters: Counters): D1Database {
  const original = new WeakMap<object, D1PreparedStatement>();
  const record = (meta: Meta) => {
    counters.d1Queries += 1;
    counters.d1RowsRead += meta?.rows_read ?? 0;
    counters.d1RowsWritten += meta?.rows_written ?? 0;
  };
  const recordReturned = (query: string, rows: number) => {
    counters.d1Queries += 1;
    if (SELECT.test(query)) counters.d1RowsRead += rows;
    else counters.d1RowsWritten += rows;
  };

  const wrapStatement = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    const wrapped = new Proxy(statement, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        switch (property) {
          case 'bind':
            return (...values: unknown[]) => wrapStatement(target.bind(...values), query);
          case 'run':
          case 'all':
            return async (...args: unknown[]) => {
              const result = (await value.apply(target, args)) as D1Result;
              record(result.meta);
              return result;
            };
          case 'raw':
          case 'first':
            return async (...args: unknown[]) => {
              const result = await value.apply(target, args);
              recordReturned(query, Array.isArray(result) ? result.length : result ? 1 : 0);
              return result;
            };
          default:
            return value.bind(target);
        }
      },
    });
    original.set(wrapped, statement);
    return wrapped;
  };

  return new Proxy(d1, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'prepare') return (query: string) => wrapStatement(target.prepare(query), query);
      if (property === 'batch') {
        return async (statements: D1PreparedStatement[]) => {
          const results = await target.batch(statements.map((s) => original.get(s) ?? s));
          for (const result of results) record(result.meta);
          return results;
        };
      }
      return value.bind(target);
    },
  });
}
