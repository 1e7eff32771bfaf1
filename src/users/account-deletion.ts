/**
 * @module
 * Deleting an account and everything it owns. Each table's rows are deleted by the module that
 * owns the table; this only composes them. It is the ONE module that imports every owner (auth,
 * readmodel, sync, trakt, users), so the import-layer check places it above them (scripts/check-layers.mjs):
 * 1. Trakt: the existing disconnect path revokes the token at Trakt (best effort) and drops the
 *    connection and its current token sets.
 * 2. KV: every remaining key of the user (token sets a lost cleanup missed, a pending device
 *    code, pending OAuth states), and R2: the user's stored export uploads. Done before D1 so that
 *    a failure leaves the account in place and the deletion can simply be retried.
 * 3. D1: every row of the user in ONE batch (a transaction), the `users` row last. Shared TMDB
 *    cache rows are not the user's and stay. Foreign keys cascade from `users` as a backstop.
 * Every JWT of the user fails afterwards: refresh tokens lose their sessions, and `requireUser`
 * refuses access tokens of a user that no longer exists.
 */
import { forgetUsername } from '../auth/login-throttle';
import { closeAllSessions } from '../auth/sessions';
import { deleteUserBudgets } from '../budgets/store';
import { type Database, runBatch } from '../db/client';
import { deleteUserImports } from '../import/imports';
import { deleteUserImportArchives } from '../import/service';
import { deleteUserOutbox } from '../readmodel/play-outbox';
import { deletePlayStats } from '../readmodel/stats';
import { deleteStatsTimeZone } from '../readmodel/stats-zone';
import { deleteUserReviews } from '../review/service';
import { deleteUserNowWatching } from '../sharing/now';
import { deleteUserSharing } from '../sharing/settings';
import { deleteSyncState } from '../sync/state';
import { deleteUserHistory } from '../sync/store';
import { deleteConnectionRow } from '../trakt/connections';
import { traktUserContext } from '../trakt/context';
import { forgetDeviceFlow } from '../trakt/device';
import { deleteUserOAuthStates, deleteUserOAuthStateUses, deleteUserPendingOAuthStates } from '../trakt/oauth-state';
import { deleteUserTokenSets, disconnect } from '../trakt/tokens';
import { deleteUserDeliveries } from '../webhooks/deliveries';
import { deleteUserWebhooks } from '../webhooks/endpoints';
import { deleteUserApiKeys } from './api-keys';
import { deleteUserRow } from './service';

export async function deleteAccount(
  env: Env,
  db: Database,
  user: { id: number; username: string },
  waitUntil?: (promise: Promise<unknown>) => void,
): Promise<{ revokedAtTrakt: boolean }> {
  const { revoked } = await disconnect(await traktUserContext(env, user.id, waitUntil));
  await Promise.all([
    deleteUserTokenSets(env.KV, user.id),
    forgetDeviceFlow(env.KV, user.id),
    deleteUserOAuthStates(env.KV, user.id),
    deleteUserImportArchives(env, user.id),
  ]);
  await runBatch(env.DB, [
    deletePlayStats(user.id), // the rollups go with the plays (no trigger on plays counts them out)
    ...deleteUserHistory(user.id),
    deleteStatsTimeZone(user.id),
    deleteUserSharing(user.id),
    deleteUserNowWatching(user.id),
    deleteUserReviews(user.id),
    deleteUserDeliveries(user.id),
    deleteUserOutbox(user.id),
    deleteUserWebhooks(user.id),
    deleteSyncState(user.id),
    deleteUserImports(user.id),
    deleteConnectionRow(db, user.id),
    deleteUserApiKeys(db, user.id),
    deleteUserOAuthStateUses(db, user.id),
    deleteUserPendingOAuthStates(db, user.id),
    deleteUserBudgets(db, user.id),
    closeAllSessions(db, user.id),
    ...forgetUsername(db, user.username),
    deleteUserRow(db, user.id),
  ]);
  return { revokedAtTrakt: revoked };
}
