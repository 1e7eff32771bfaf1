/**
 * @module
 * The one owner of `sync_state`: the per-user sync lease, the resume cursor of an unfinished
 * sync (one JSON pass record per kind), the stored totals and the last result or error. Every
 * read and write of that table goes through here.
 *
 * The lease: at most one sync chunk per user at a time, whether started by a fetch endpoint or
 * by the queue consumer. A conditional upsert takes it; an expired lease (a crashed run) can be
 * taken over. Each chunk releases it in its own final batch, together with the cursor it wrote.
 */
import { and, eq, type SQL, sql } from 'drizzle-orm';
import type { AnySQLiteColumn } from 'drizzle-orm/sqlite-core';
import { randomToken } from '../crypto/bytes';
import { type Database, isoNow } from '../db/client';
import { syncState } from '../db/schema';
import { ApiError } from '../http/errors';

/** Longer than the longest chunk (a chunk is bounded by SYNC_PAGES_PER_RUN pages). */
export const SYNC_LEASE_MS = 10 * 60 * 1000;

export const SYNC_IN_PROGRESS = 'A sync is already running for this account; try again shortly';

export type SyncKind = 'movies' | 'shows';
export type SyncStateRow = typeof syncState.$inferSelect;
export type SyncStateUpdate = Partial<typeof syncState.$inferInsert>;

export type PassPhase = 'history' | 'totals' | 'watched' | 'playback';

/** The stored totals (`sync_state` counts) a pass compares with Trakt's and reports from. */
export type StoredTotals = {
  movieCount: number;
  showCount: number;
  episodeCount: number;
  moviePlayCount: number;
  episodePlayCount: number;
};

/**
 * The resume cursor of `/sync/history`: the next request is `end_at=endAt&page=page`. `endAt` is
 * the oldest play already stored by this pass (stable while new plays arrive at the top);
 * `boundaryIds` are the plays already seen at exactly `endAt`. `page` only grows past 1 when a
 * whole page shares one timestamp (a bulk "mark as watched"), so the cursor always advances.
 */
export type HistoryCursor = { endAt: string | null; page: number; boundaryIds: number[] };

/** One kind's sync in progress, stored as JSON in `movies_pass` / `shows_pass` until it finishes. */
export type SyncPass = {
  id: string;
  /**
   * `full` reads the whole history and removes stored plays Trakt no longer has; `incremental`
   * reads from `startAt`.
   */
  mode: 'full' | 'incremental';
  reason: 'first_sync' | 'weekly_reconcile' | 'totals_disagree' | 'new_activity';
  phase: PassPhase;
  /** Chunks committed so far; a queued continuation names the chunk it expects, so a re-delivery is a no-op. */
  chunks: number;
  startAt: string | null;
  cursor: HistoryCursor;
  /** Next `/sync/watched` page (full passes). */
  watchedPage: number;
  pagesDone: number;
  pagesKnown: number | null;
  playsStored: number;
  playsAdded: number;
  /**
   * Incremental passes: plays found already stored though newer than the last sync's high-water mark, i.e.
   * imported from Trakt's export meanwhile; like inserted ones, they explain why Trakt's watched_at moved.
   */
  playsImported?: number;
  playsRemoved: number;
  /** Movies or shows, and episodes, whose totals this pass recomputed (for the reported counts). */
  itemsTouched: number;
  episodesTouched: number;
  /** The stored totals when the pass started. */
  startTotals?: StoredTotals;
  /** Newest `watched_at` this pass saw: the next incremental history fetch starts a little before it. */
  highWater: string | null;
  /** The `/sync/last_activities` values this pass started from; stored as "seen" when it finishes. */
  activities: { watchedAt: string | null; pausedAt: string | null };
  playbackDue: boolean;
  startedAt: string;
};

export const passColumn = { movies: 'moviesPass', shows: 'showsPass' } as const;

/** One unfinished pass as sync-status and the fetch endpoints' 202 show it. */
export type KindProgress = {
  mode: SyncPass['mode'];
  reason: SyncPass['reason'];
  phase: SyncPass['phase'];
  chunks: number;
  pages_done: number;
  pages_known: number | null;
  plays_stored: number;
};
export type SyncProgress = Partial<Record<SyncKind, KindProgress>>;

export function progressOf(pass: SyncPass): KindProgress {
  return {
    mode: pass.mode,
    reason: pass.reason,
    phase: pass.phase,
    chunks: pass.chunks,
    pages_done: pass.pagesDone,
    pages_known: pass.pagesKnown,
    plays_stored: pass.playsStored,
  };
}

/**
 * Background work paused for the daily D1 budget (src/sync/pause.ts), while the pause lasts; and what TMDB
 * enrichment still has to bring (for /trakt/sync-status/, from the row it already read: no extra read).
 * Titles whose TMDB data is fetched but waits to be counted into the stats (src/tmdb/runner.ts) have their
 * artwork: they are not pending.
 */
export function backgroundViewOf(state: SyncStateRow | undefined, now: number) {
  const paused = state?.pausedUntil && Date.parse(state.pausedUntil) > now;
  let fresh = { titles: 0, seasons: 0 };
  try {
    const waiting = (state?.enrichCursor ? JSON.parse(state.enrichCursor) : {}) as {
      count?: {
        movies?: Array<{ fresh?: boolean }>;
        shows?: Array<{ fresh?: boolean }>;
        seasons?: Array<{ fresh?: boolean }>;
      };
    };
    const freshIn = (list: Array<{ fresh?: boolean }> | undefined) => (list ?? []).filter((t) => t.fresh).length;
    fresh = {
      titles: freshIn(waiting.count?.movies) + freshIn(waiting.count?.shows),
      seasons: freshIn(waiting.count?.seasons),
    };
  } catch {
    // an unreadable state counts nothing as waiting
  }
  return {
    paused_until: paused ? state!.pausedUntil : null,
    paused_reason: paused ? state!.pausedReason : null,
    enrichment: {
      pending_titles: Math.max(0, (state?.tmdbPendingTitles ?? 0) - fresh.titles),
      pending_seasons: Math.max(0, (state?.tmdbPendingSeasons ?? 0) - fresh.seasons),
      last_run_at: state?.enrichedAt ?? null,
    },
  };
}

/** Progress of the unfinished passes stored for a user (for /trakt/sync-status/). */
export function syncProgressOf(state: SyncStateRow | undefined): SyncProgress {
  const progress: SyncProgress = {};
  for (const kind of ['movies', 'shows'] as const) {
    const pass = readPass(state, kind);
    if (pass) progress[kind] = progressOf(pass);
  }
  return progress;
}

export function readPass(state: SyncStateRow | undefined, kind: SyncKind): SyncPass | null {
  const raw = state?.[passColumn[kind]];
  if (!raw) return null;
  try {
    return JSON.parse(raw) as SyncPass;
  } catch {
    return null; // an unreadable cursor restarts the pass: every write is idempotent
  }
}

export async function readSyncState(db: Database, userId: number): Promise<SyncStateRow | undefined> {
  return db.query.syncState.findFirst({ where: eq(syncState.userId, userId) });
}

/** The user's sync state row (at most one) as a query for the caller's batch (sync-status). */
export function syncStateQuery(db: Database, userId: number) {
  return db.select().from(syncState).where(eq(syncState.userId, userId)).limit(1);
}

/**
 * The stored number of movies or shows (for an unfiltered list's total: no `COUNT(*)` on the read
 * path), as a query for the caller's batch.
 */
export function storedTitleCountQuery(db: Database, userId: number, kind: SyncKind) {
  const column = kind === 'movies' ? syncState.movieCount : syncState.showCount;
  return db.select({ total: column }).from(syncState).where(eq(syncState.userId, userId));
}

/**
 * The sync-status fields a reader's ETag depends on (they change without a data write), read over
 * `syncStateJoin` in the readers' freshness row (src/history/freshness.ts).
 */
export const syncFreshnessColumns = {
  lastSyncAt: syncState.lastSyncAt,
  lastErrorAt: syncState.lastErrorAt,
  leaseUntil: syncState.leaseUntil,
  pausedUntil: syncState.pausedUntil,
  enrichedAt: syncState.enrichedAt,
};

/**
 * Distinct movies, episodes and shows with a play (the totals each chunk keeps exact), as columns of a
 * reader's freshness row over `syncStateJoin`: the stats' `watched` figures, with no read of their own.
 */
export const watchedCountColumns = {
  movieCount: sql<number | null>`${syncState.movieCount}`.as('movie_count'),
  episodeCount: sql<number | null>`${syncState.episodeCount}`.as('episode_count'),
  showCount: sql<number | null>`${syncState.showCount}`.as('show_count'),
};

/** The join that brings a user's sync state onto a per-user row (`userIdColumn`: the row's user id). */
export function syncStateJoin(userIdColumn: AnySQLiteColumn) {
  return [syncState, eq(syncState.userId, userIdColumn)] as const;
}

/** The bit of each kind in `requested_kinds`. */
const KIND_BITS: Record<SyncKind, number> = { movies: 1, shows: 2 };

export function bitsOf(kinds: readonly SyncKind[]): number {
  return kinds.reduce((bits, kind) => bits | KIND_BITS[kind], 0);
}

export function kindsOf(bits: number): SyncKind[] {
  return (['movies', 'shows'] as const).filter((kind) => (bits & KIND_BITS[kind]) !== 0);
}

/**
 * Takes the user's sync lease. `kinds`: the sync kinds this holder runs, so the requests recorded for them
 * while someone else held the lease are fulfilled now (src/sync/requests.ts).
 */
export async function acquireSyncLease(
  db: Database,
  userId: number,
  now = Date.now(),
  kinds: readonly SyncKind[] = [],
): Promise<string> {
  const leaseId = randomToken(16);
  const until = isoNow(now + SYNC_LEASE_MS);
  const fulfilled = bitsOf(kinds);
  const taken = await db
    .insert(syncState)
    .values({ userId, leaseId, leaseUntil: until })
    .onConflictDoUpdate({
      target: syncState.userId,
      set: {
        leaseId,
        leaseUntil: until,
        ...(fulfilled ? { requestedKinds: sql`${syncState.requestedKinds} & ${~fulfilled & 3}` as never } : {}),
      },
      setWhere: sql`${syncState.leaseUntil} IS NULL OR ${syncState.leaseUntil} <= ${isoNow(now)}`,
    })
    .returning({ userId: syncState.userId });
  if (taken.length === 0) throw new ApiError(409, SYNC_IN_PROGRESS, { code: 'sync_in_progress', retryAfter: 30 });
  return leaseId;
}

/** A statement writing the chunk's state (cursor, totals, result), guarded by the lease. */
export function writeChunkState(db: Database, userId: number, leaseId: string, update: SyncStateUpdate) {
  return db
    .update(syncState)
    .set(update)
    .where(and(eq(syncState.userId, userId), eq(syncState.leaseId, leaseId)));
}

/** A statement releasing the lease, to run in the chunk's final batch. */
export function releaseSyncLease(db: Database, userId: number, leaseId: string, update: SyncStateUpdate = {}) {
  return writeChunkState(db, userId, leaseId, { ...update, leaseId: null, leaseUntil: null });
}

/** The update that moves the stored play counts by a chunk's inserted minus removed plays (none: no change). */
export function playCountChange(delta: { movie: number; episode: number }): SyncStateUpdate {
  const update: SyncStateUpdate = {};
  if (delta.movie) update.moviePlayCount = sql`${syncState.moviePlayCount} + ${delta.movie}` as never;
  if (delta.episode) update.episodePlayCount = sql`${syncState.episodePlayCount} + ${delta.episode}` as never;
  return update;
}

/** A statement reading the stored totals, last in a chunk's batch (they include the batch's own writes). */
export function storedTotalsStatement(userId: number): SQL {
  return sql`SELECT movie_count AS movieCount, show_count AS showCount, episode_count AS episodeCount,
      movie_play_count AS moviePlayCount, episode_play_count AS episodePlayCount
    FROM sync_state WHERE user_id = ${userId}`;
}

/** The totals `storedTotalsStatement` read (all 0 without a row). */
export function storedTotalsOf(result: D1Result | undefined): StoredTotals {
  return (result?.results[0] ?? {
    movieCount: 0,
    showCount: 0,
    episodeCount: 0,
    moviePlayCount: 0,
    episodePlayCount: 0,
  }) as StoredTotals;
}

type CountColumn = 'movie_count' | 'show_count' | 'episode_count';

/**
 * Keeps a stored total exact without counting the library: before a chunk's writes, subtract the
 * contribution of the items it touches (`sign` -1); after them, add it back (+1). Both run in the
 * chunk's batch, so the difference is exactly what the chunk changed, in O(touched) rows read.
 */
export function adjustCount(userId: number, column: CountColumn, sign: 1 | -1, touchedCount: SQL): SQL {
  const op = sql.raw(sign === 1 ? '+' : '-');
  const name = sql.raw(column);
  return sql`UPDATE sync_state SET ${name} = ${name} ${op} (${touchedCount}) WHERE user_id = ${userId}`;
}

/**
 * Keeps a stored total exact for titles a chunk gives NEW plays (they all exist after its writes, with
 * plays): before the writes, add the titles touched less those already stored (`existing`, a count over
 * the touched titles). A new movie or show also waits for TMDB (`tmdb_pending_titles`). One read per
 * touched title, and none for a title not stored yet.
 */
export function newTitlesCounted(
  userId: number,
  column: 'movie_count' | 'show_count' | 'episode_count',
  touched: number,
  existing: SQL,
): SQL {
  const name = sql.raw(column);
  if (column === 'episode_count')
    return sql`UPDATE sync_state SET episode_count = episode_count + ${touched} - (${existing}) WHERE user_id = ${userId}`;
  return sql`UPDATE sync_state SET (${name}, tmdb_pending_titles) = (SELECT ${name} + ${touched} - n,
      tmdb_pending_titles + ${touched} - n FROM (SELECT (${existing}) AS n))
    WHERE user_id = ${userId}`;
}

type PendingColumn = 'tmdb_pending_titles' | 'tmdb_pending_seasons';

/** Moves a pending count (titles or seasons whose TMDB data is not counted yet) by the previous statement's changes(). */
export function pendingChanged(userId: number, column: PendingColumn, sign: 1 | -1): SQL {
  const name = sql.raw(column);
  return sql`UPDATE sync_state SET ${name} = ${name} ${sql.raw(sign > 0 ? '+' : '-')} changes() WHERE user_id = ${userId}`;
}

/** Lowers a pending count by `count` (a count of rows about to be deleted). */
export function pendingLess(userId: number, column: PendingColumn, count: SQL): SQL {
  const name = sql.raw(column);
  return sql`UPDATE sync_state SET ${name} = ${name} - (${count}) WHERE user_id = ${userId}`;
}

/**
 * Records a requested sync of `kinds` while another holder runs under the lease (a fetch endpoint or a queue
 * message that cannot start now). False when no live lease is held any more: the caller may start itself.
 */
export async function recordSyncRequest(
  db: Database,
  userId: number,
  kinds: readonly SyncKind[],
  now: number,
): Promise<boolean> {
  const recorded = await db.run(sql`UPDATE sync_state SET requested_kinds = requested_kinds | ${bitsOf(kinds)}
    WHERE user_id = ${userId} AND lease_id IS NOT NULL AND lease_until > ${isoNow(now)}`);
  return (recorded.meta.changes ?? 0) > 0;
}

/**
 * The requests recorded while the lease was held, taken in the batch that releases it (after the release):
 * the query to read them and the statement that clears them. A holder hands them to the queue
 * (src/sync/requests.ts).
 */
export function takeRequestedKinds(userId: number, options: { unlessHeldAt?: number } = {}): [SQL, SQL] {
  // A holder releasing the lease in the same batch takes them as they are; anyone else only while the lease is
  // free (a holder that took it since hands them over at its own release).
  const free =
    options.unlessHeldAt === undefined
      ? sql``
      : sql` AND (lease_id IS NULL OR lease_until <= ${isoNow(options.unlessHeldAt)})`;
  return [
    sql`SELECT requested_kinds AS requestedKinds FROM sync_state WHERE user_id = ${userId}${free}`,
    sql`UPDATE sync_state SET requested_kinds = 0 WHERE user_id = ${userId} AND requested_kinds <> 0${free}`,
  ];
}

/** The kinds `takeRequestedKinds`' query read. */
export function requestedKindsOf(result: D1Result | undefined): SyncKind[] {
  const row = result?.results[0] as { requestedKinds?: number; requested_kinds?: number } | undefined;
  return kindsOf(row?.requestedKinds ?? row?.requested_kinds ?? 0);
}

/** Records a failed chunk and releases the lease; the cursor stays where the last commit left it. */
export async function recordFailure(db: Database, userId: number, leaseId: string, message: string, now: number) {
  await releaseSyncLease(db, userId, leaseId, { lastError: message, lastErrorAt: isoNow(now) }).run();
}

/** Releases a lease taken by a run that found nothing to do (a stale queue message). */
export async function releaseUnused(db: Database, userId: number, leaseId: string) {
  await releaseSyncLease(db, userId, leaseId).run();
}

/** Longer than the longest enrichment run (one invocation's TMDB budget). */
export const ENRICH_LEASE_MS = 2 * 60 * 1000;

/**
 * Takes the user's enrichment lease (one enrichment run per user at a time, so two queued runs never
 * fetch the same titles). An UPDATE, never an insert: a user without sync state (deleted, or never
 * synced) has nothing to enrich. False when another run holds it, or there is no row.
 */
export async function acquireEnrichLease(db: Database, userId: number, now: number): Promise<boolean> {
  const taken = await db
    .update(syncState)
    .set({ enrichLeaseUntil: isoNow(now + ENRICH_LEASE_MS) })
    .where(
      and(
        eq(syncState.userId, userId),
        sql`(${syncState.enrichLeaseUntil} IS NULL OR ${syncState.enrichLeaseUntil} <= ${isoNow(now)})`,
      ),
    )
    .returning({ userId: syncState.userId });
  return taken.length > 0;
}

/** Whether the user has a sync state row (an enrichment lease that could not be taken: busy, or no user). */
export async function hasSyncState(db: Database, userId: number): Promise<boolean> {
  const row = await db.query.syncState.findFirst({ columns: { userId: true }, where: eq(syncState.userId, userId) });
  return row !== undefined;
}

/**
 * Ends an enrichment run in one statement: its figures go into `last_result.enrichment` (json_set,
 * so a sync chunk writing its own result meanwhile loses nothing), the backlog flag and the walk's
 * state (`enrich_cursor`, src/tmdb/walk.ts) are set, `enriched_at` moves, and the lease is released.
 * Without `enrichment`, only the flag and the lease (a failed run; the walk stays where it was).
 */
export function finishEnrichment(
  userId: number,
  backlog: boolean,
  enrichment?: unknown,
  end?: { cursor: string; now: number },
): SQL {
  const result =
    enrichment === undefined
      ? sql`last_result`
      : sql`json_set(coalesce(last_result, '{}'), '$.enrichment', json(${JSON.stringify(enrichment)}))`;
  const walked = end
    ? sql`, enrich_cursor = ${end.cursor}, enriched_at = ${isoNow(end.now)}, paused_until = NULL, paused_reason = NULL`
    : sql``;
  return sql`UPDATE sync_state SET last_result = ${result}, tmdb_backlog = ${backlog ? 1 : 0},
    enrich_lease_until = NULL${walked} WHERE user_id = ${userId}`;
}

/** The enrichment's state (walk position) and the backlog flag, as a run starts from them. */
export async function readEnrichmentStart(db: Database, userId: number) {
  return db.query.syncState.findFirst({
    columns: { tmdbBacklog: true, enrichCursor: true },
    where: eq(syncState.userId, userId),
  });
}

/**
 * A statement recording an enrichment that could not run at all (the user's stored TMDB key is
 * unreadable): its result for /trakt/sync-status/, and the backlog flag. The enrichment lease is not touched.
 */
export function recordEnrichmentSkipped(userId: number, enrichment: unknown): SQL {
  return sql`UPDATE sync_state SET last_result = json_set(coalesce(last_result, '{}'), '$.enrichment',
    json(${JSON.stringify(enrichment)})), tmdb_backlog = 1,
    enrich_cursor = json_set(coalesce(enrich_cursor, '{"walk":null}'), '$.due', json('true'))
    WHERE user_id = ${userId}`;
}

/** A statement recording that the user's library still waits for TMDB (a queue send or a run failed). */
/**
 * A statement recording that the user's library still waits for TMDB (titles stored without a key, a
 * queue send or a run failed): the flag, and a walk over the library due (`enrich_cursor.due`).
 */
export function markTmdbBacklog(userId: number): SQL {
  return sql`UPDATE sync_state SET tmdb_backlog = 1,
    enrich_cursor = json_set(coalesce(enrich_cursor, '{"walk":null}'), '$.due', json('true'))
    WHERE user_id = ${userId}`;
}

/**
 * Records that the user's background work is paused until `until` (the daily D1 budget, src/sync/pause.ts),
 * creating the row of a user who never synced. The next chunk or enrichment run that runs clears it.
 */
export function recordPause(userId: number, until: string, reason: string): SQL {
  return sql`INSERT INTO sync_state (user_id, paused_until, paused_reason) VALUES (${userId}, ${until}, ${reason})
    ON CONFLICT (user_id) DO UPDATE SET paused_until = excluded.paused_until, paused_reason = excluded.paused_reason`;
}

/** A background sync that exhausted its retries: visible in /trakt/sync-status/. */
export async function recordSyncGaveUp(db: Database, userId: number, now = Date.now()) {
  await db
    .update(syncState)
    .set({
      lastError: sql`'Background sync gave up after repeated failures: '
        || coalesce(${syncState.lastError}, 'unknown error')`,
      lastErrorAt: isoNow(now),
    })
    .where(eq(syncState.userId, userId));
}

/**
 * The sync state of a user with no stored history: no cursors and no pass in progress (so the next
 * sync of each kind is a first, full one), zero totals, no last result, no TMDB backlog. The lease
 * columns are left to the lease functions above.
 */
export const EMPTY_SYNC_STATE = {
  moviesSyncedAt: null,
  showsSyncedAt: null,
  moviesWatchedAt: null,
  moviesPausedAt: null,
  episodesWatchedAt: null,
  episodesPausedAt: null,
  moviesHistoryHighWater: null,
  episodesHistoryHighWater: null,
  movieCount: 0,
  showCount: 0,
  episodeCount: 0,
  moviePlayCount: 0,
  episodePlayCount: 0,
  lastSyncAt: null,
  lastResult: null,
  lastError: null,
  lastErrorAt: null,
  moviesPass: null,
  showsPass: null,
  moviesReconciledAt: null,
  showsReconciledAt: null,
  tmdbBacklog: 0,
  enrichLeaseUntil: null,
  enrichCursor: null,
  tmdbPendingTitles: 0,
  tmdbPendingSeasons: 0,
  enrichedAt: null,
  pausedUntil: null,
  pausedReason: null,
} satisfies SyncStateUpdate;

/**
 * The operator's figures over every user's sync state (src/admin/status.ts runs them; exported as SQL
 * so a test can EXPLAIN them). `?1` is now (ISO). Each is answered from a partial index.
 */
export const SYNC_STATE_FIGURES = {
  /** Syncs holding a live lease (`sync_state_lease_idx`). */
  syncsInProgress: 'SELECT count(*) AS count FROM sync_state WHERE lease_until > ?1',
  /** Users whose library still waits for TMDB enrichment (`sync_state_tmdb_backlog_idx`). */
  tmdbBacklogUsers: 'SELECT count(*) AS count FROM sync_state WHERE tmdb_backlog = 1',
} as const;

/** A statement deleting the user's sync state row (account deletion). */
export function deleteSyncState(userId: number): SQL {
  return sql`DELETE FROM sync_state WHERE user_id = ${userId}`;
}
