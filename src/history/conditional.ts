/**
 * @module
 * Conditional GET for the read endpoints (behind `requireToken`: the user's existence is
 * checked here, from the same read). `conditional(route, scope)` goes after validation:
 * with an `If-None-Match` header it makes ONE D1 read (`freshnessQuery`) and answers `304` with
 * no body when the tag still matches. Otherwise the handler reads its data and the freshness row
 * in one `db.batch()` (a consistent snapshot) and answers through `tagged()`, which sets `ETag`
 * and `Cache-Control: private, no-cache`.
 */
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../app-env';
import { type ConnectionSummary, connectionSummaryQuery } from '../trakt/connections';
import { assertTokenCurrent } from '../users/middleware';
import {
  CONDITIONAL_CACHE_CONTROL,
  entityTag,
  type Freshness,
  freshnessQuery,
  ifNoneMatchMatches,
  type TagScope,
  tagInputs,
} from './freshness';
import { connectionTagInputs } from './queries';

async function tagFor(
  c: Context<AppEnv>,
  route: string,
  scope: TagScope,
  freshness: Freshness | undefined,
  connection?: ConnectionSummary,
) {
  const now = Date.now();
  const connectionState = scope === 'sync-status' ? connectionTagInputs(connection, now) : [];
  return entityTag(c.var.userId, route, c.req.query(), tagInputs(freshness, scope, now, connectionState));
}

/** Answers `304` after a single D1 read when `If-None-Match` carries the current tag. */
export function conditional(route: string, scope: TagScope = 'data') {
  return createMiddleware<AppEnv>(async (c, next) => {
    const ifNoneMatch = c.req.header('If-None-Match');
    if (ifNoneMatch) {
      // One round trip: the freshness row, plus the connection summary for sync-status.
      const [rows, connections] =
        scope === 'sync-status'
          ? await c.var.db.batch([
              freshnessQuery(c.var.db, c.var.userId),
              connectionSummaryQuery(c.var.db, c.var.userId),
            ])
          : [await freshnessQuery(c.var.db, c.var.userId), []];
      const freshness = rows[0];
      const connection = connections[0];
      assertUserExists(c, freshness);
      const tag = await tagFor(c, route, scope, freshness, connection);
      if (ifNoneMatchMatches(ifNoneMatch, tag)) {
        return c.body(null, 304, { ETag: tag, 'Cache-Control': CONDITIONAL_CACHE_CONTROL });
      }
    }
    await next();
  });
}

/**
 * Routes behind `requireToken` learn whether the token still counts from the freshness row
 * (read FROM users): none means the account was deleted; a `tokens_valid_after` later than the
 * token's `iat` means it was revoked (password change, log out everywhere). Either is a 401.
 */
export function assertUserExists(c: Context<AppEnv>, freshness: Freshness | undefined): asserts freshness is Freshness {
  assertTokenCurrent(c.var.tokenIssuedAt, freshness);
}

/** Checks the user and sets the tag computed from the freshness row the handler read together with its data. */
export async function tagged(
  c: Context<AppEnv>,
  route: string,
  freshness: Freshness | undefined,
  scope: TagScope = 'data',
  connection?: ConnectionSummary,
): Promise<void> {
  assertUserExists(c, freshness);
  c.header('ETag', await tagFor(c, route, scope, freshness, connection));
  c.header('Cache-Control', CONDITIONAL_CACHE_CONTROL);
}
