/**
 * @module
 * Revoking access JWTs before they expire (password change, "log out everywhere"): the user's row
 * holds `tokens_valid_after`, and a token issued (`iat`) before it is refused. requireUser and the
 * read endpoints' freshness query already read that row, so the check costs no extra D1 round trip.
 * Pure rules only; the column belongs to src/users/service.ts.
 *
 * `iat` has a resolution of one second, so a revocation counts from the start of its second: a token
 * issued in that same second stays valid. The other choice (the end of the second) would refuse the
 * new login a client makes right after changing its password.
 */
import { isoNow } from '../db/client';

export const TOKEN_REVOKED = 'Token has been revoked';

/** The `tokens_valid_after` value a revocation at `now` stores: the start of that second. */
export function tokensValidAfter(now: number): string {
  return isoNow(Math.floor(now / 1000) * 1000);
}

/** Whether an access token issued at `iat` (seconds since the epoch) was revoked by `validAfter`. */
export function issuedBeforeRevocation(iat: number, validAfter: string | null | undefined): boolean {
  return validAfter != null && iat * 1000 < Date.parse(validAfter);
}
