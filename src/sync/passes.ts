/**
 * @module
 * One chunk of a sync, per kind: the pass's phases (see service.ts for the protocol) run as far as
 * the chunk's page budget allows, with their writes queued and committed in one D1 batch together
 * with the cursor they advance. The orchestration of a whole chunk (lease, keys, commit of the
 * last batch, enrichment, continuation) lives in service.ts.
 */
import type { z } from 'zod';
import { randomToken } from '../crypto/bytes';
import { type BatchItem, isoNow, runBatch } from '../db/client';
import { ApiError } from '../http/errors';
import { readLocalGrid } from '../readmodel/stats-zone';
import { type LocalGrid, readRollupContext } from '../readmodel/write-hooks';
import { TRAKT_MAX_PAGE_LIMIT } from '../trakt/client';
import type { TraktUserContext } from '../trakt/context';
import { type AccessToken, withAccessToken } from '../trakt/tokens';
import {
  historyItem,
  lastActivities,
  playbackItem,
  userStats,
  watchedMovie,
  watchedShow,
} from '../trakt/upstream-schemas';
import { historyWrites } from './history-writes';
import {
  activityChanges,
  advanceCursor,
  historyStartAt,
  iso,
  maxIso,
  newPass,
  type PlayRow,
  playbackRows,
  reconcileDue,
  sweepWindow,
  toPlayRow,
  totalsAgree,
} from './plan';
import { reconcileIntervalMs, userJitterFraction } from './schedule';
import {
  passColumn,
  playCountChange,
  releaseSyncLease,
  type StoredTotals,
  type SyncKind,
  type SyncPass,
  type SyncStateRow,
  type SyncStateUpdate,
  storedTotalsOf,
  storedTotalsStatement,
  writeChunkState,
} from './state';
import {
  applyEpisodePlayback,
  applyMoviePlayback,
  readPausedOnlySeasons,
  readStoredPlays,
  type StoredPlay,
  updateWatchedMovies,
  updateWatchedShows,
} from './store';

export type KindResult = {
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  plays_added: number;
  plays_removed: number;
  episodes?: { added: number; updated: number; removed: number; unchanged: number };
  skipped: boolean;
};
/** One chunk's working state: budgets, the upstream session and what is waiting to be committed. */
export type Chunk = {
  env: Env;
  ctx: TraktUserContext;
  userId: number;
  leaseId: string;
  now: () => number;
  background: boolean;
  traktCalls: number;
  /** Requests those calls sent: retries and a token refresh included (the subrequests they used). */
  traktRequests: number;
  /** Trakt requests this chunk may still send (a page is one request when its call is not retried). */
  requestsLeft: number;
  session: { token?: AccessToken };
  state: SyncStateRow | undefined;
  activities?: z.infer<typeof lastActivities>;
  stats?: z.infer<typeof userStats>;
  pending: BatchItem[];
  /** Stored play-count changes since the last commit. */
  playDelta: { movie: number; episode: number };
  passes: Partial<Record<SyncKind, SyncPass | null>>;
  finished: SyncStateUpdate;
  touched: { movies: Set<number>; shows: Set<number> };
  results: Partial<Record<SyncKind, KindResult>>;
  /** The last batch committed (its items and their results), for the caller's own statements in it. */
  committed?: { items: BatchItem[]; results: D1Result[] };
  /** The user's stats zone for the rollups' local grid, read with the first writes of the chunk. */
  grid?: LocalGrid | null;
};

async function fetchOne<T extends z.ZodType>(
  chunk: Chunk,
  path: string,
  schema: T,
  query: Record<string, string | number | undefined> = {},
) {
  chunk.traktCalls += 1;
  const client = await chunk.ctx.client();
  const sentBefore = client.requests;
  let answer: Awaited<ReturnType<typeof client.get<unknown>>>;
  try {
    answer = await withAccessToken(chunk.ctx, (token) => client.get<unknown>(path, token, query), chunk.session);
  } finally {
    // A retried call (or one that refreshed the token) spent more than one subrequest: so many fewer pages.
    const sent = client.requests - sentBefore;
    chunk.traktRequests += sent;
    chunk.requestsLeft -= Math.max(1, sent);
    // Trakt's per-user window (X-Ratelimit): stop while the user's interactive reserve is left (trakt/rate-limit.ts).
    chunk.requestsLeft = Math.min(chunk.requestsLeft, client.userCallsLeft(chunk.now()));
  }
  const { data, pagination } = answer;
  const parsed = schema.safeParse(data);
  if (!parsed.success)
    throw new ApiError(502, 'Trakt returned an invalid response; try again later', {
      code: 'upstream_invalid_response',
    });
  return { data: parsed.data as z.infer<T>, pagination };
}

/** Writes what is pending with the cursor and totals it belongs to, in one batch; returns the stored totals. */
export async function commit(chunk: Chunk, extra: BatchItem[] = [], release = false): Promise<StoredTotals> {
  const update: SyncStateUpdate = { ...chunk.finished };
  for (const kind of Object.keys(chunk.passes) as SyncKind[]) {
    const pass = chunk.passes[kind];
    update[passColumn[kind]] = pass ? JSON.stringify(pass) : null;
  }
  Object.assign(update, playCountChange(chunk.playDelta));
  const { db } = chunk.ctx;
  const stateStatement = release
    ? releaseSyncLease(db, chunk.userId, chunk.leaseId, update)
    : writeChunkState(db, chunk.userId, chunk.leaseId, update);
  const items = [...chunk.pending, stateStatement, ...extra, storedTotalsStatement(chunk.userId)];
  const results = await runBatch(chunk.env.DB, items);
  chunk.committed = { items, results };
  chunk.pending = [];
  chunk.playDelta = { movie: 0, episode: 0 };
  return storedTotalsOf(results.at(-1));
}

async function activitiesOf(chunk: Chunk) {
  chunk.activities ??= (await fetchOne(chunk, '/sync/last_activities', lastActivities)).data;
  return chunk.activities;
}

/** Starts a pass for a kind, or returns null when nothing moved on Trakt (a no-op). */
async function startPass(chunk: Chunk, kind: SyncKind, reason?: SyncPass['reason']): Promise<SyncPass | null> {
  const state = chunk.state;
  const activities = await activitiesOf(chunk);
  const seen =
    kind === 'movies'
      ? {
          syncedAt: state?.moviesSyncedAt ?? null,
          watchedAt: state?.moviesWatchedAt ?? null,
          pausedAt: state?.moviesPausedAt ?? null,
        }
      : {
          syncedAt: state?.showsSyncedAt ?? null,
          watchedAt: state?.episodesWatchedAt ?? null,
          pausedAt: state?.episodesPausedAt ?? null,
        };
  const changes = activityChanges(kind === 'movies' ? activities.movies : activities.episodes, seen);
  const reconciledAt = (kind === 'movies' ? state?.moviesReconciledAt : state?.showsReconciledAt) ?? null;
  const reconcile =
    !changes.first &&
    chunk.background &&
    reconcileDue(
      reconciledAt ?? seen.syncedAt,
      chunk.now(),
      reconcileIntervalMs(chunk.env),
      userJitterFraction(chunk.userId),
    );
  if (!reason && !changes.anyMoved && !reconcile) return null;
  const mode = changes.first || reconcile || reason === 'totals_disagree' ? 'full' : 'incremental';
  const highWater = (kind === 'movies' ? state?.moviesHistoryHighWater : state?.episodesHistoryHighWater) ?? null;
  const pass = newPass({
    id: randomToken(8),
    mode,
    reason: reason ?? (changes.first ? 'first_sync' : reconcile ? 'weekly_reconcile' : 'new_activity'),
    startAt: mode === 'incremental' ? (historyStartAt(highWater) ?? null) : null,
    activities: { watchedAt: changes.watchedAt, pausedAt: changes.pausedAt },
    playbackDue: mode === 'full' || changes.pausedMoved,
    now: chunk.now(),
  });
  // Only paused viewings moved: no history to read.
  if (mode === 'incremental' && !changes.watchedMoved) pass.phase = 'playback';
  return pass;
}

const mediaTypeOf = (kind: SyncKind) => (kind === 'movies' ? 'movie' : 'episode');

/**
 * Fetches history pages while the chunk has budget, then plans and queues their writes. On a
 * failure, the pages already fetched are still queued (with the cursor before the failed page)
 * and the error is rethrown after the caller commits them.
 */
async function historyStep(chunk: Chunk, kind: SyncKind, pass: SyncPass): Promise<unknown> {
  const path = kind === 'movies' ? '/sync/history/movies' : '/sync/history/episodes';
  const startCursor = pass.cursor;
  const fetched = new Map<number, z.infer<typeof historyItem>>();
  let done = false;
  let failure: unknown;
  try {
    while (!done && chunk.requestsLeft > 0) {
      const { data, pagination } = await fetchOne(chunk, path, historyItem.array(), {
        start_at: pass.startAt ?? undefined,
        end_at: pass.cursor.endAt ?? undefined,
        page: pass.cursor.page,
        limit: TRAKT_MAX_PAGE_LIMIT,
      });
      for (const item of data) if (!fetched.has(item.id)) fetched.set(item.id, item);
      const pageCount = pagination?.pageCount ?? 1;
      const next = advanceCursor(pass.cursor, data, pageCount);
      pass.pagesDone += 1;
      pass.pagesKnown = pass.pagesDone + Math.max(0, pageCount - pass.cursor.page);
      pass.cursor = next.cursor;
      done = next.done;
    }
  } catch (error) {
    failure = error;
  }
  if (fetched.size === 0 && !done) return failure;

  const items = [...fetched.values()];
  const oldestSeen =
    items.length > 0 ? (iso(items.reduce((a, b) => (a.watched_at < b.watched_at ? a : b)).watched_at) ?? null) : null;
  const window = sweepWindow(startCursor, oldestSeen, done);
  const readFrom = pass.mode === 'incremental' ? (done ? pass.startAt : oldestSeen) : done ? null : oldestSeen;
  const stored = await readStoredPlays(chunk.ctx.db, chunk.userId, mediaTypeOf(kind), readFrom, window.to);
  const storedIds = new Set(stored.map((p) => p.historyId));
  const inserts: PlayRow[] = items.filter((i) => !storedIds.has(i.id)).map(toPlayRow);
  const keep = new Set(window.keep);
  const removed =
    pass.mode === 'full'
      ? stored.filter(
          (p) =>
            !fetched.has(p.historyId) &&
            !keep.has(p.historyId) &&
            (window.from === null || (window.fromInclusive ? p.watchedAt >= window.from : p.watchedAt > window.from)),
        )
      : [];
  await queueHistoryWrites(chunk, kind, pass, items, inserts, removed);
  if (pass.mode === 'incremental') {
    // Stored already, yet newer than anything the last sync stored: imported from Trakt's export (src/import/).
    // New to this sync all the same (the totals phase).
    const seen = storedHighWater(chunk, kind);
    const imported = items.filter((i) => storedIds.has(i.id) && seen !== null && (iso(i.watched_at) ?? '') > seen);
    pass.playsImported = (pass.playsImported ?? 0) + imported.length;
  }
  pass.highWater = maxIso([pass.highWater, ...items.map((i) => i.watched_at)]);
  pass.playsStored += inserts.length;
  if (done) pass.phase = pass.mode === 'full' ? 'watched' : 'totals';
  return failure;
}

async function queueHistoryWrites(
  chunk: Chunk,
  kind: SyncKind,
  pass: SyncPass,
  items: Array<z.infer<typeof historyItem>>,
  inserts: PlayRow[],
  removed: StoredPlay[],
) {
  if (inserts.length === 0 && removed.length === 0) return;
  // The user's stats zone (read once per chunk) and what the plays' titles count, read under the lease.
  if (chunk.grid === undefined) chunk.grid = await readLocalGrid(chunk.ctx.db, chunk.userId, chunk.now());
  const context = await readRollupContext(chunk.env.DB, chunk.userId, [...inserts, ...removed], chunk.grid);
  const writes = historyWrites(chunk.userId, kind, items, inserts, removed, context);
  pass.playsAdded += inserts.length;
  pass.playsRemoved += removed.length;
  chunk.playDelta[mediaTypeOf(kind)] += inserts.length - removed.length;
  if (!writes) return;
  const touched = kind === 'movies' ? chunk.touched.movies : chunk.touched.shows;
  for (const id of writes.titlesWithNewPlays) touched.add(id);
  pass.itemsTouched += writes.itemsTouched;
  pass.episodesTouched += writes.episodesTouched;
  chunk.pending.push(...writes.statements);
}

/** Full passes: `/sync/watched` pages for what history does not carry. */
async function watchedStep(chunk: Chunk, kind: SyncKind, pass: SyncPass) {
  while (chunk.requestsLeft > 0 && pass.phase === 'watched') {
    const query = { page: pass.watchedPage, limit: TRAKT_MAX_PAGE_LIMIT };
    let pageCount: number;
    if (kind === 'movies') {
      const { data, pagination } = await fetchOne(chunk, '/sync/watched/movies', watchedMovie.array(), query);
      chunk.pending.push(
        ...updateWatchedMovies(
          chunk.userId,
          data.map((m) => ({ traktId: m.movie.ids.trakt, lastUpdatedAt: iso(m.last_updated_at) })),
        ),
      );
      pageCount = data.length === 0 ? 0 : (pagination?.pageCount ?? 1);
    } else {
      const { data, pagination } = await fetchOne(chunk, '/sync/watched/shows', watchedShow.array(), query);
      chunk.pending.push(
        ...updateWatchedShows(
          chunk.userId,
          data.map((s) => ({
            traktId: s.show.ids.trakt,
            lastUpdatedAt: iso(s.last_updated_at),
            resetAt: iso(s.reset_at),
            airedEpisodes: s.show.aired_episodes ?? null,
          })),
        ),
      );
      pageCount = data.length === 0 ? 0 : (pagination?.pageCount ?? 1);
    }
    pass.pagesDone += 1;
    pass.pagesKnown = Math.max(pass.pagesKnown ?? 0, pass.pagesDone + Math.max(0, pageCount - pass.watchedPage));
    if (pass.watchedPage >= pageCount) pass.phase = 'playback';
    else pass.watchedPage += 1;
  }
}

async function playbackStep(chunk: Chunk, kind: SyncKind, pass: SyncPass) {
  if (!pass.playbackDue) return true;
  if (chunk.requestsLeft <= 0) return false;
  const path = kind === 'movies' ? '/sync/playback/movies' : '/sync/playback/episodes';
  const playback = (await fetchOne(chunk, path, playbackItem.array())).data;
  pass.pagesDone += 1;
  chunk.pending.push(
    ...(kind === 'movies'
      ? applyMoviePlayback(chunk.userId, playbackRows(playback, 'movie'))
      : applyEpisodePlayback(
          chunk.userId,
          playbackRows(playback, 'episode'),
          await readPausedOnlySeasons(chunk.ctx.db, chunk.userId),
        )),
  );
  pass.playbackDue = false;
  return true;
}

/** The newest `watched_at` the last finished pass stored (the incremental lower bound's base). */
const storedHighWater = (chunk: Chunk, kind: SyncKind) =>
  (kind === 'movies' ? chunk.state?.moviesHistoryHighWater : chunk.state?.episodesHistoryHighWater) ?? null;

/** The pass is done: its activities become "seen", the high-water mark moves, and it reports its result. */
function finishPass(chunk: Chunk, kind: SyncKind, pass: SyncPass, totals: StoredTotals) {
  const now = isoNow(chunk.now());
  const previousHighWater = storedHighWater(chunk, kind);
  const highWater = maxIso([pass.mode === 'full' ? null : previousHighWater, pass.highWater]);
  Object.assign(
    chunk.finished,
    kind === 'movies'
      ? {
          moviesSyncedAt: now,
          moviesWatchedAt: pass.activities.watchedAt,
          moviesPausedAt: pass.activities.pausedAt,
          moviesHistoryHighWater: highWater,
          ...(pass.mode === 'full' ? { moviesReconciledAt: now } : {}),
        }
      : {
          showsSyncedAt: now,
          episodesWatchedAt: pass.activities.watchedAt,
          episodesPausedAt: pass.activities.pausedAt,
          episodesHistoryHighWater: highWater,
          ...(pass.mode === 'full' ? { showsReconciledAt: now } : {}),
        },
  );
  chunk.passes[kind] = null;
  chunk.results[kind] = { ...resultCounts(pass, totals, kind), skipped: false };
}

/** Figures for the fetch endpoints' answer, from the totals the pass started and ended with. */
function resultCounts(pass: SyncPass, totals: StoredTotals, kind: SyncKind) {
  const start = pass.startTotals ?? totals;
  const count = (t: StoredTotals) => (kind === 'movies' ? t.movieCount : t.showCount);
  const delta = count(totals) - count(start);
  const added = Math.max(0, delta);
  const removed = Math.max(0, -delta);
  const updated = Math.max(0, Math.min(count(totals) - added, pass.itemsTouched - added));
  const result: Omit<KindResult, 'skipped'> = {
    added,
    updated,
    removed,
    unchanged: Math.max(0, count(totals) - added - updated),
    plays_added: pass.playsAdded,
    plays_removed: pass.playsRemoved,
  };
  if (kind === 'shows') {
    const episodeDelta = totals.episodeCount - start.episodeCount;
    const episodesAdded = Math.max(0, episodeDelta);
    const episodesUpdated = Math.max(
      0,
      Math.min(totals.episodeCount - episodesAdded, pass.episodesTouched - episodesAdded),
    );
    result.episodes = {
      added: episodesAdded,
      updated: episodesUpdated,
      removed: Math.max(0, -episodeDelta),
      unchanged: Math.max(0, totals.episodeCount - episodesAdded - episodesUpdated),
    };
  }
  return result;
}

const noChange = (): KindResult => ({
  added: 0,
  updated: 0,
  removed: 0,
  unchanged: 0,
  plays_added: 0,
  plays_removed: 0,
  skipped: true,
});

/** Runs the kind's pass as far as the chunk's budget allows; returns an error to rethrow after the commit. */
export async function runKind(chunk: Chunk, kind: SyncKind, totals: { current: StoredTotals }): Promise<unknown> {
  let pass = chunk.passes[kind] ?? null;
  if (!pass) {
    pass = await startPass(chunk, kind);
    if (!pass) {
      chunk.results[kind] = noChange();
      return undefined;
    }
    pass.startTotals = totals.current;
    chunk.passes[kind] = pass;
  }
  for (;;) {
    if (pass.phase === 'history') {
      const failure = await historyStep(chunk, kind, pass);
      if (failure) return failure;
      if (pass.phase === 'history') return undefined; // out of pages for this chunk
    }
    if (pass.phase === 'totals') {
      // Commit the new plays first: the check compares Trakt's totals with the stored ones.
      totals.current = await commit(chunk);
      if (chunk.requestsLeft <= 0) return undefined;
      chunk.stats ??= (await fetchOne(chunk, '/users/me/stats', userStats)).data;
      pass.pagesDone += 1;
      // Trakt's watched_at moved but no play is new: something else changed (a removal, a rewatch reset).
      const nothingNew = pass.playsAdded === 0 && !pass.playsImported;
      if (nothingNew || !totalsAgree(kind, chunk.stats, totals.current)) {
        const restarted = (await startPass(chunk, kind, 'totals_disagree'))!;
        restarted.startTotals = pass.startTotals;
        restarted.activities = pass.activities;
        restarted.playsAdded = pass.playsAdded;
        restarted.itemsTouched = pass.itemsTouched;
        restarted.episodesTouched = pass.episodesTouched;
        restarted.pagesDone = pass.pagesDone;
        pass = restarted;
        chunk.passes[kind] = pass;
        continue;
      }
      pass.phase = 'playback';
    }
    if (pass.phase === 'watched') {
      await watchedStep(chunk, kind, pass);
      if (pass.phase === 'watched') return undefined;
    }
    if (pass.phase === 'playback') {
      if (!(await playbackStep(chunk, kind, pass))) return undefined;
      totals.current = await commit(chunk);
      finishPass(chunk, kind, pass, totals.current);
      return undefined;
    }
  }
}
