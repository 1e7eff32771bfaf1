/**
 * @module
 * `userBudget(name)`: the per-user budget of one endpoint (./policy.ts), as middleware placed after
 * `requireUser`. A request over budget answers 429 with Retry-After before anything reaches Trakt or
 * KV. `spendUserBudget` is the same check for a rule only known inside the handler (the device poll).
 */
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../app-env';
import type { Database } from '../db/client';
import { errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { BUDGETS, type BudgetName, type BudgetRule, budgetScale, scaled } from './policy';
import { spendBudget } from './store';

/** The 429 every budgeted route documents. */
export const overBudgetResponse = errorResponse(
  'Too many requests of this kind from your account; retry after the Retry-After header (seconds)',
);

export function overBudget(retryAfter: number): ApiError {
  return new ApiError(429, `Too many requests of this kind; retry after ${retryAfter} seconds`, {
    code: 'rate_limited',
    retryAfter,
  });
}

/** Spends one request of `budget` for the user, or throws the 429. */
export async function spendUserBudget(
  db: Database,
  userId: number,
  budget: BudgetName,
  rule: BudgetRule,
  now = Date.now(),
): Promise<void> {
  const decision = await spendBudget(db, userId, budget, rule, now);
  if (!decision.allowed) throw overBudget(decision.retryAfterSeconds);
}

export function userBudget(budget: keyof typeof BUDGETS) {
  return createMiddleware<AppEnv>(async (c, next) => {
    await spendUserBudget(c.var.db, c.var.userId, budget, scaled(BUDGETS[budget], budgetScale(c.env)));
    await next();
  });
}
