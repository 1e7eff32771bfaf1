/**
 * @module
 * Opaque keyset cursors for `GET /trakt/history/`: `<payload>.<mac>` in base64url, where the
 * payload is the last item's `(watched_at, history id)` and the MAC is HMAC-SHA256 over the
 * user id, the filters the cursor was issued for, and the payload. The key is derived from
 * JWT_SECRET (HMAC with a fixed label), so no new secret is needed and it differs from the JWT key.
 * Verification is WebCrypto's `verify` (constant time). A cursor of another user, for other
 * filters, or altered in any byte is rejected with 400.
 */
import { fromBase64Url, toBase64Url, utf8 } from '../crypto/bytes';
import { ApiError } from '../http/errors';

const KEY_LABEL = 'trakt-history-api/history-cursor/v1';

export type CursorPosition = { watchedAt: string; historyId: number };

export const INVALID_CURSOR = 'Invalid cursor: use the next_cursor of a previous page with the same filters';

/** The derived key of the isolate's JWT_SECRET (non-extractable): two imports and a MAC saved per request. */
let derivedKey: { secret: string; key: Promise<CryptoKey> } | undefined;

function cursorKey(jwtSecret: string): Promise<CryptoKey> {
  if (derivedKey?.secret !== jwtSecret) {
    const key = deriveCursorKey(jwtSecret);
    key.catch(() => {
      if (derivedKey?.key === key) derivedKey = undefined;
    });
    derivedKey = { secret: jwtSecret, key };
  }
  return derivedKey.key;
}

async function deriveCursorKey(jwtSecret: string): Promise<CryptoKey> {
  const master = await crypto.subtle.importKey('raw', utf8(jwtSecret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const derived = await crypto.subtle.sign('HMAC', master, utf8(KEY_LABEL));
  return crypto.subtle.importKey('raw', derived, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

function macInput(userId: number, scope: string, payload: string) {
  return utf8(JSON.stringify([userId, scope, payload]));
}

export async function encodeCursor(
  jwtSecret: string,
  userId: number,
  scope: string,
  position: CursorPosition,
): Promise<string> {
  const payload = toBase64Url(utf8(JSON.stringify([position.watchedAt, position.historyId])));
  const mac = await crypto.subtle.sign('HMAC', await cursorKey(jwtSecret), macInput(userId, scope, payload));
  return `${payload}.${toBase64Url(new Uint8Array(mac))}`;
}

/** The position, or a 400 ApiError for anything not issued to this user for these filters. */
export async function decodeCursor(
  jwtSecret: string,
  userId: number,
  scope: string,
  cursor: string,
): Promise<CursorPosition> {
  const invalid = new ApiError(400, INVALID_CURSOR);
  const [payload, mac, extra] = cursor.split('.');
  if (!payload || !mac || extra !== undefined) throw invalid;
  let macBytes: Uint8Array<ArrayBuffer>;
  try {
    macBytes = fromBase64Url(mac);
  } catch {
    throw invalid;
  }
  const valid = await crypto.subtle.verify(
    'HMAC',
    await cursorKey(jwtSecret),
    macBytes,
    macInput(userId, scope, payload),
  );
  if (!valid) throw invalid;
  try {
    const [watchedAt, historyId] = JSON.parse(new TextDecoder().decode(fromBase64Url(payload))) as unknown[];
    if (typeof watchedAt === 'string' && Number.isSafeInteger(historyId)) {
      return { watchedAt, historyId: historyId as number };
    }
  } catch {
    // fall through
  }
  throw invalid;
}
