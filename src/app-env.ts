/** The Hono environment shared by every route: the Worker's bindings and typed per-request variables. */
import type { RequestIdVariables } from 'hono/request-id';

export type AppEnv = {
  Bindings: Env;
  Variables: RequestIdVariables & { userId: number };
};
