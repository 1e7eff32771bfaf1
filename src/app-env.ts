/** The Hono environment shared by every route: the Worker's bindings and typed per-request variables. */
import type { RequestIdVariables } from 'hono/request-id';
import type { Database } from './db/client';

export type AppEnv = {
  Bindings: Env;
  Variables: RequestIdVariables & {
    userId: number;
    /** The access token's `iat` (seconds): routes behind requireToken check it against the user's row. */
    tokenIssuedAt: number;
    db: Database;
  };
};
