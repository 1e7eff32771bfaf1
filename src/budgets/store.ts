/**
 * @module
 * The owner of `user_budgets`: every read and write of a budget row goes through here. One
 * statement per request decides and records it (the GCRA of ./policy.ts written in SQL), so
 * concurrent requests from any isolate or location cannot both take the last slot.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { userBudgets } from '../db/schema';
import { type BudgetDecision, type BudgetName, type BudgetRule, retryAfterSeconds, toleranceMs } from './policy';

/**
 * Spends one request of the user's budget, or refuses it. Inside the upsert's DO UPDATE every
 * column reference reads the row as it was, so `allowed` and the new `tat_ms` are decided on the
 * same old value.
 */
export async function spendBudget(
  db: Database,
  userId: number,
  budget: BudgetName,
  rule: BudgetRule,
  now: number,
): Promise<BudgetDecision> {
  const tolerance = toleranceMs(rule);
  const [row] = await db.all<{ tat_ms: number; allowed: number }>(
    sql`INSERT INTO user_budgets (user_id, budget, tat_ms, allowed) VALUES (${userId}, ${budget}, ${now + rule.everyMs}, 1)
        ON CONFLICT (user_id, budget) DO UPDATE SET
          allowed = (tat_ms - ${tolerance} <= ${now}),
          tat_ms = CASE WHEN tat_ms - ${tolerance} <= ${now} THEN max(tat_ms, ${now}) + ${rule.everyMs} ELSE tat_ms END
        RETURNING tat_ms, allowed`,
  );
  if (!row) throw new Error('user_budgets upsert returned no row');
  const allowed = row.allowed === 1;
  return { allowed, tatMs: row.tat_ms, retryAfterSeconds: allowed ? 0 : retryAfterSeconds(row.tat_ms, now, rule) };
}

/** Starts a budget afresh (a new device code starts its own polling schedule). */
export async function resetBudget(db: Database, userId: number, budget: BudgetName): Promise<void> {
  await db.delete(userBudgets).where(and(eq(userBudgets.userId, userId), eq(userBudgets.budget, budget)));
}

/** A statement deleting the user's budget rows (account deletion), for the caller's batch. */
export function deleteUserBudgets(db: Database, userId: number) {
  return db.delete(userBudgets).where(eq(userBudgets.userId, userId));
}
