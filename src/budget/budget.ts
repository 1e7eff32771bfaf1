/**
 * @module
 * The daily D1 budget of background work. D1 on Workers Free allows 100,000 rows written and 5,000,000
 * rows read per UTC day, and fails every query once a limit is spent, until 00:00 UTC: logins, reads
 * and the OAuth callback included. So background work (sync chunks, enrichment runs, imports) stops
 * BEFORE `D1_DAILY_ROWS_WRITTEN_BUDGET` / `D1_DAILY_ROWS_READ_BUDGET` (defaults 80,000 and 4,000,000;
 * `0` = unlimited, for Workers Paid), counted by ./usage.ts, and the rest of the day's quota stays for
 * interactive work. Paused work continues after 00:00 UTC from its checkpoint (each caller keeps its own:
 * the sync's pass cursor, the enrichment's walk and backlog flag, an import's committed files).
 *
 * `backgroundBudget(env, now)` is the one guard every background job asks before it starts (one row read):
 * whether it may run, and how much of a given unit of work fits in what is left (`fits`), so a job sizes
 * itself to end before the budget rather than be cut off by D1.
 */
import { type DayUsage, nextUtcMidnight, readDayUsage } from './usage';

export const DEFAULT_DAILY_ROWS_WRITTEN_BUDGET = 80_000;
export const DEFAULT_DAILY_ROWS_READ_BUDGET = 4_000_000;

/** What sync-status and the dashboard say about paused background work. */
export const PAUSED_REASON =
  "Paused: today's database budget for background work is spent (D1_DAILY_ROWS_WRITTEN_BUDGET / " +
  'D1_DAILY_ROWS_READ_BUDGET); it continues after 00:00 UTC from where it stopped';

/** The day's budget; null = unlimited. */
export type DailyBudget = { rowsRead: number | null; rowsWritten: number | null };

/** D1 rows a unit of background work (a page of history, a TMDB call) may cost at most. */
export type RowCost = { rowsRead: number; rowsWritten: number };

function budgetOf(value: string | undefined, fallback: number): number | null {
  const raw = String(value ?? '').trim();
  if (raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) return fallback;
  return n === 0 ? null : n;
}

export function dailyBudget(env: Pick<Env, 'D1_DAILY_ROWS_WRITTEN_BUDGET' | 'D1_DAILY_ROWS_READ_BUDGET'>): DailyBudget {
  return {
    rowsRead: budgetOf(env.D1_DAILY_ROWS_READ_BUDGET, DEFAULT_DAILY_ROWS_READ_BUDGET),
    rowsWritten: budgetOf(env.D1_DAILY_ROWS_WRITTEN_BUDGET, DEFAULT_DAILY_ROWS_WRITTEN_BUDGET),
  };
}

export type BackgroundBudget = {
  /** False: background work stops now (what is left of the day is for interactive work). */
  allowed: boolean;
  /** Rows left today for background work (Infinity when unlimited). */
  remaining: RowCost;
  /** When the day's budget starts afresh: 00:00 UTC (ISO). */
  resetsAt: string;
  usage: DayUsage;
  budget: DailyBudget;
  /** How many units of `cost` (beyond a `fixed` cost) fit in what is left: what a job sizes itself to. */
  fits(cost: RowCost, fixed?: RowCost): number;
};

/** The budget as `usage` leaves it (pure). */
export function budgetAfter(budget: DailyBudget, usage: DayUsage, now: number): BackgroundBudget {
  const remaining = {
    rowsRead: budget.rowsRead === null ? Number.POSITIVE_INFINITY : Math.max(0, budget.rowsRead - usage.rowsRead),
    rowsWritten:
      budget.rowsWritten === null ? Number.POSITIVE_INFINITY : Math.max(0, budget.rowsWritten - usage.rowsWritten),
  };
  const fits = (cost: RowCost, fixed: RowCost = { rowsRead: 0, rowsWritten: 0 }) =>
    Math.max(
      0,
      Math.min(
        cost.rowsRead > 0
          ? Math.floor((remaining.rowsRead - fixed.rowsRead) / cost.rowsRead)
          : Number.POSITIVE_INFINITY,
        cost.rowsWritten > 0
          ? Math.floor((remaining.rowsWritten - fixed.rowsWritten) / cost.rowsWritten)
          : Number.POSITIVE_INFINITY,
      ),
    );
  return {
    allowed: remaining.rowsRead > 0 && remaining.rowsWritten > 0,
    remaining,
    resetsAt: nextUtcMidnight(now),
    usage,
    budget,
    fits,
  };
}

/**
 * The guard of every background job (sync chunks, enrichment runs, imports): one read of today's counter.
 * Ask it before starting; run only if `allowed`, and no more work than `fits(costOfOneUnit)` units.
 * Unlimited budgets (`0`) read nothing.
 */
export async function backgroundBudget(env: Env, now: number): Promise<BackgroundBudget> {
  const budget = dailyBudget(env);
  if (budget.rowsRead === null && budget.rowsWritten === null)
    return budgetAfter(budget, { day: new Date(now).toISOString().slice(0, 10), rowsRead: 0, rowsWritten: 0 }, now);
  return budgetAfter(budget, await readDayUsage(env.DB, now), now);
}
