/**
 * @module
 * Opens the observation scope of each Worker invocation (see scope.ts): the Worker entry wraps
 * its fetch, queue and scheduled handlers in `observeInvocation`, which gives the handler an env
 * whose `DB` is metered (d1-meter.ts) and runs it inside the scope.
 */
import { meteredD1 } from './d1-meter';
import { newScope, runInScope, type Scope } from './scope';

export function observeInvocation<T>(
  env: Env,
  fields: Record<string, unknown>,
  run: (env: Env, scope: Scope) => Promise<T>,
): Promise<T> {
  const scope = newScope(env, fields);
  const observedEnv: Env = { ...env, DB: meteredD1(env.DB, scope.counters) };
  return runInScope(scope, () => run(observedEnv, scope));
}
