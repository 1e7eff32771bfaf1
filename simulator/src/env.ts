/**
 * @module env
 * Hono environment types shared by the simulator's routers.
 */
import type { Account, FaultKind, TokenRecord } from './state';

/**
 * What a caller may pass as Hono's `env` (second argument of `app.fetch`). The test helper
 * passes the caller's AbortSignal so a `hang` fault ends when the client gives up.
 */
export interface SimBindings {
  signal?: AbortSignal;
}

export interface SimEnv {
  Bindings: SimBindings;
  Variables: { token: TokenRecord; account: Account; fault: FaultKind };
}
