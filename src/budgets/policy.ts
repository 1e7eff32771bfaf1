/**
 * @module
 * Per-user budgets of the endpoints that call Trakt or write KV, as pure rules. Each budget is a
 * GCRA (generic cell rate algorithm, the "leaky bucket as a meter"): a user may send `burst`
 * requests at once, then one per `everyMs`. Its whole state is one number per user and budget,
 * the theoretical arrival time (TAT), so one conditional upsert decides and records a request
 * atomically (./store.ts), from any isolate or location, with an exact Retry-After.
 *
 * Why per user: these endpoints reach shared things. Each Trakt call takes a slot of the app-wide
 * limiter that every user of the same Trakt app shares (src/pacing), a Trakt 429 pauses that app,
 * and Workers Free allows 1,000 KV writes a day for the whole deployment. Without a budget one
 * signed-in user looping on `/trakt/watching/` could hold the schedule seconds ahead for everyone.
 */

export type BudgetRule = {
  /** Requests a user may make back to back. */
  burst: number;
  /** Then one request per this many milliseconds. */
  everyMs: number;
};

const MINUTE = 60_000;

/**
 * The budgets. `device_token` is not here: its spacing is the device code's own `interval`, which
 * Trakt sets per code (see deviceTokenRule).
 */
export const BUDGETS = {
  /** GET /trakt/authenticate/: writes an OAuth state to KV. A state lives 10 minutes. */
  authorize: { burst: 5, everyMs: 10 * MINUTE },
  /** POST /trakt/device/code/: a Trakt call and a KV write; a device code lives 10 minutes. */
  device_code: { burst: 3, everyMs: 10 * MINUTE },
  /** POST /trakt/oauth-callback/: a code exchange at Trakt (a state is needed anyway). */
  oauth_callback: { burst: 5, everyMs: MINUTE },
  /** GET /trakt/watching/: one Trakt GET; a "now playing" widget polling every 10 s fits. */
  watching: { burst: 6, everyMs: 10_000 },
  /** GET /trakt/refresh-token/: spends the single-use refresh token at Trakt. */
  refresh_token: { burst: 3, everyMs: 5 * MINUTE },
  /** DELETE /trakt/auth/: a revoke at Trakt and KV deletes. */
  disconnect: { burst: 5, everyMs: MINUTE },
  /** GET|POST /trakt/fetch-latest-movies|shows/: a sync chunk (one Trakt call when nothing is new). */
  sync_now: { burst: 10, everyMs: 30_000 },
} as const satisfies Record<string, BudgetRule>;

export type BudgetName = keyof typeof BUDGETS | 'device_token';

/** Polls of the device flow: one per `interval` seconds of the pending device code, no burst (RFC 8628 §3.5). */
export function deviceTokenRule(intervalSeconds: number): BudgetRule {
  return { burst: 1, everyMs: Math.max(1, intervalSeconds) * 1000 };
}

/**
 * `USER_BUDGET_SCALE` multiplies every burst (default 1): a single-user deployment may loosen its own
 * budgets, and the test suite raises them so that unrelated tests are not throttled. Never below 1.
 * The device flow's spacing is Trakt's rule and is not scaled.
 */
export function scaled(rule: BudgetRule, scale: number): BudgetRule {
  return { burst: Math.max(1, Math.round(rule.burst * scale)), everyMs: rule.everyMs };
}

export function budgetScale(env: Pick<Env, 'USER_BUDGET_SCALE'>): number {
  const value = Number(env.USER_BUDGET_SCALE);
  return Number.isFinite(value) && value >= 1 ? value : 1;
}

/** How far ahead of now the TAT may run before a request is refused: (burst − 1) emission intervals. */
export function toleranceMs(rule: BudgetRule): number {
  return (rule.burst - 1) * rule.everyMs;
}

export type BudgetDecision = { allowed: boolean; tatMs: number; retryAfterSeconds: number };

/**
 * One request against a budget whose TAT is `tatMs` (undefined: never used). Allowed while the TAT is
 * at most the tolerance ahead of now; an allowed request moves the TAT one interval further, a refused
 * one leaves it. ./store.ts runs the same rule in SQL.
 */
export function decide(tatMs: number | undefined, now: number, rule: BudgetRule): BudgetDecision {
  const tat = tatMs ?? now;
  if (tat - toleranceMs(rule) <= now) {
    return { allowed: true, tatMs: Math.max(tat, now) + rule.everyMs, retryAfterSeconds: 0 };
  }
  return { allowed: false, tatMs: tat, retryAfterSeconds: retryAfterSeconds(tat, now, rule) };
}

/** Whole seconds until a refused request would be let through (at least 1). */
export function retryAfterSeconds(tatMs: number, now: number, rule: BudgetRule): number {
  return Math.max(1, Math.ceil((tatMs - toleranceMs(rule) - now) / 1000));
}
