/**
 * @module
 * The incremental sync of one user's watch history, for the fetch endpoints and the queue
 * consumer alike. Steps:
 * 1. Take the user's sync lease (409 if a sync is running).
 * 2. `GET /sync/last_activities`. If the relevant `watched_at`/`paused_at` have not moved, stop:
 *    a no-op sync costs one upstream call and writes nothing but sync state.
 * 3. Otherwise fetch what changed: history since the high-water mark (minus an overlap), the
 *    watched list (authoritative counts, removals, rewatches) and playback. If stored play counts
 *    disagree with Trakt's (a backdated or removed play), re-fetch the full history and reconcile.
 * 4. Write everything, cursor included, in one D1 batch (a transaction): a failure anywhere
 *    before that leaves the stored state and cursor untouched, and the next run redoes the work.
 * 5. Enrich with TMDB afterwards; enrichment failures never fail or roll back the sync.
 */
import { eq, sql } from 'drizzle-orm';
import type { z } from 'zod';
import { type Database, isoNow, runBatch } from '../db/client';
import { syncState } from '../db/schema';
import { ApiError } from '../http/errors';
import { observeSync } from '../observability/hooks';
import { describeError, log } from '../observability/log';
import { type EnrichmentResult, enrichUser } from '../tmdb/enrich';
import { TRAKT_MAX_PAGE_LIMIT, type TraktClient } from '../trakt/client';
import { readConnectionState, scheduleNextSync, USABLE_STATUSES } from '../trakt/connections';
import { type TraktUserContext, traktUserContext } from '../trakt/context';
import { type AccessToken, NOT_CONNECTED, REAUTHORIZE, withAccessToken } from '../trakt/tokens';
import { acquireSyncLease, releaseSyncLease } from './lease';
import {
  activityChanges,
  type Counts,
  countBy,
  desiredEpisodes,
  desiredMovies,
  desiredShows,
  diffByKey,
  episodeDetailsFromHistory,
  episodePlaysFromHistory,
  historyExplainsWatched,
  historyStartAt,
  iso,
  maxIso,
  type PlayRow,
  planPlays,
  sameEpisode,
  sameMovie,
  sameShow,
} from './plan';
import { nextSyncAt } from './schedule';
import {
  deleteEmptySeasons,
  deleteEpisodes,
  deleteMovies,
  deletePlays,
  deleteShows,
  insertPlays,
  readEpisodePlays,
  readShowsWithPlayback,
  readStoredEpisodes,
  readStoredHistoryIds,
  readStoredMovies,
  readStoredShows,
  readSyncState,
  type Statement,
  type SyncStateRow,
  upsertEpisodes,
  upsertMovies,
  upsertShows,
} from './store';
import {
  historyItem,
  type LastActivities,
  lastActivities,
  playbackItem,
  watchedMovie,
  watchedShow,
} from './trakt-data';

/** Trakt allows 1000 GETs per 5 minutes per user; one sync stays well inside that. */
export const MAX_TRAKT_CALLS_PER_SYNC = 900;
/** Workers' default subrequest limit per invocation, less headroom: Trakt and TMDB calls share it. */
const SUBREQUEST_BUDGET = 950;
/** TMDB calls a fetch endpoint makes before answering (~10 s at the paced rate); background runs do the rest. */
const MAX_TMDB_CALLS_PER_REQUEST = 300;

function previousEnrichment(lastResult: string | null | undefined): EnrichmentResult | undefined {
  try {
    return lastResult ? (JSON.parse(lastResult) as SyncResult).enrichment : undefined;
  } catch {
    return undefined;
  }
}
/** `extended=progress` caps watched-shows pages at 100. */
const WATCHED_SHOWS_PROGRESS_LIMIT = 100;

export type SyncKind = 'movies' | 'shows';

export type KindResult = Counts & { plays_added: number; plays_removed: number; episodes?: Counts; skipped: boolean };
export type SyncResult = {
  movies?: KindResult;
  shows?: KindResult;
  upstream_calls: number;
  enrichment?: EnrichmentResult;
};

type Fetcher = {
  calls: number;
  client: TraktClient;
  ctx: TraktUserContext;
  /** The access token, looked up once per sync (refreshed on a 401). */
  session: { token?: AccessToken };
};

async function fetchOne<T extends z.ZodType>(
  fetcher: Fetcher,
  path: string,
  schema: T,
  query: Record<string, string | number | undefined> = {},
) {
  if (fetcher.calls >= MAX_TRAKT_CALLS_PER_SYNC) {
    throw new ApiError(429, 'This sync needs more Trakt requests than one run may make; it resumes on the next run', {
      code: 'rate_limited',
      retryAfter: 300,
    });
  }
  fetcher.calls += 1;
  const { data, pagination } = await withAccessToken(
    fetcher.ctx,
    (token) => fetcher.client.get<unknown>(path, token, query),
    fetcher.session,
  );
  const parsed = schema.safeParse(data);
  if (!parsed.success)
    throw new ApiError(502, 'Trakt returned an invalid response; try again later', {
      code: 'upstream_invalid_response',
    });
  return { data: parsed.data as z.infer<T>, pagination };
}

/** Every page of a paginated list, always with an explicit limit, until X-Pagination-Page-Count. */
async function fetchAllPages<T extends z.ZodType>(
  fetcher: Fetcher,
  path: string,
  item: T,
  query: Record<string, string | number | undefined>,
  limit: number,
) {
  const items: Array<z.infer<T>> = [];
  for (let page = 1; ; page++) {
    const { data, pagination } = await fetchOne(fetcher, path, item.array(), { ...query, page, limit });
    items.push(...data);
    if (!pagination || page >= pagination.pageCount || data.length === 0) return items;
  }
}

type KindPlan = { statements: Statement[]; state: Partial<typeof syncState.$inferInsert>; result: KindResult };

const noChange = (): KindResult => ({
  added: 0,
  updated: 0,
  removed: 0,
  unchanged: 0,
  plays_added: 0,
  plays_removed: 0,
  skipped: true,
});

/**
 * History plays to insert/delete. Incremental from the high-water mark, switching to a full
 * reconcile when the new plays do not explain Trakt's watched list (a backdated or removed play).
 */
async function planHistory(
  fetcher: Fetcher,
  db: Database,
  userId: number,
  mediaType: 'movie' | 'episode',
  highWater: string | null,
  storedPlayCount: number,
  explains: (inserted: PlayRow[]) => boolean,
) {
  const path = mediaType === 'movie' ? '/sync/history/movies' : '/sync/history/episodes';
  const startAt = historyStartAt(highWater);
  let fetched = await fetchAllPages(fetcher, path, historyItem, { start_at: startAt }, TRAKT_MAX_PAGE_LIMIT);
  let full = startAt === undefined;
  let stored = full
    ? await readStoredHistoryIds(db, userId, mediaType)
    : await readStoredHistoryIds(
        db,
        userId,
        mediaType,
        fetched.map((i) => i.id),
      );
  let plan = planPlays(fetched, stored, full);
  if (!full && !explains(plan.insert)) {
    fetched = await fetchAllPages(fetcher, path, historyItem, {}, TRAKT_MAX_PAGE_LIMIT);
    full = true;
    stored = await readStoredHistoryIds(db, userId, mediaType);
    plan = planPlays(fetched, stored, true);
  }
  const playCount = full ? plan.fetchedIds.size : storedPlayCount + plan.insert.length;
  const highWaterMark = full
    ? maxIso(fetched.map((i) => i.watched_at))
    : maxIso([highWater, ...plan.insert.map((p) => p.watchedAt)]);
  return { fetched, plan, playCount, highWaterMark, full };
}

async function planMovies(
  fetcher: Fetcher,
  db: Database,
  userId: number,
  stored: SyncStateRow | undefined,
  activities: LastActivities,
): Promise<KindPlan> {
  const { watchedAt, pausedAt, first, watchedMoved, anyMoved } = activityChanges(activities.movies, {
    syncedAt: stored?.moviesSyncedAt ?? null,
    watchedAt: stored?.moviesWatchedAt ?? null,
    pausedAt: stored?.moviesPausedAt ?? null,
  });
  if (!anyMoved) return { statements: [], state: {}, result: noChange() };

  const watched = await fetchAllPages(fetcher, '/sync/watched/movies', watchedMovie, {}, TRAKT_MAX_PAGE_LIMIT);
  const playback = (await fetchOne(fetcher, '/sync/playback/movies', playbackItem.array())).data;
  const storedMovies = await readStoredMovies(db, userId);
  const diff = diffByKey(desiredMovies(watched, playback), storedMovies, sameMovie);
  const statements = [
    ...upsertMovies(userId, [...diff.insert, ...diff.update.map((u) => u.desired)]),
    ...deleteMovies(
      userId,
      diff.remove.map((m) => m.traktId),
    ),
  ];
  const state: Partial<typeof syncState.$inferInsert> = {
    moviesWatchedAt: watchedAt,
    moviesPausedAt: pausedAt,
    movieCount: watched.length,
  };
  let playsAdded = 0;
  let playsRemoved = 0;
  if (watchedMoved) {
    const storedTotals = new Map(
      [...storedMovies].map(([id, m]) => [id, { plays: m.plays, lastUpdatedAt: m.lastUpdatedAt }]),
    );
    const watchedTotals = new Map(
      watched.map((m) => [m.movie.ids.trakt, { plays: m.plays, lastUpdatedAt: iso(m.last_updated_at) }]),
    );
    const history = await planHistory(
      fetcher,
      db,
      userId,
      'movie',
      first ? null : (stored?.moviesHistoryHighWater ?? null),
      stored?.moviePlayCount ?? 0,
      (inserted) =>
        historyExplainsWatched(
          storedTotals,
          watchedTotals,
          countBy(inserted, (p) => p.movieTraktId),
        ),
    );
    statements.push(...insertPlays(userId, history.plan.insert), ...deletePlays(userId, history.plan.remove));
    Object.assign(state, { moviesHistoryHighWater: history.highWaterMark, moviePlayCount: history.playCount });
    playsAdded = history.plan.insert.length;
    playsRemoved = history.plan.remove.length;
  }
  return {
    statements,
    state,
    result: { ...diff.counts, plays_added: playsAdded, plays_removed: playsRemoved, skipped: false },
  };
}

async function planShows(
  fetcher: Fetcher,
  db: Database,
  userId: number,
  state: SyncStateRow | undefined,
  activities: LastActivities,
): Promise<KindPlan> {
  const { watchedAt, pausedAt, first, watchedMoved, anyMoved } = activityChanges(activities.episodes, {
    syncedAt: state?.showsSyncedAt ?? null,
    watchedAt: state?.episodesWatchedAt ?? null,
    pausedAt: state?.episodesPausedAt ?? null,
  });
  if (!anyMoved) return { statements: [], state: {}, result: noChange() };

  const watched = await fetchAllPages(
    fetcher,
    '/sync/watched/shows',
    watchedShow,
    { extended: 'progress' },
    WATCHED_SHOWS_PROGRESS_LIMIT,
  );
  const playback = (await fetchOne(fetcher, '/sync/playback/episodes', playbackItem.array())).data;
  const storedShows = await readStoredShows(db, userId);
  const showDiff = diffByKey(desiredShows(watched), storedShows, sameShow);

  const statements: Statement[] = [];
  const nextState: Partial<typeof syncState.$inferInsert> = {
    episodesWatchedAt: watchedAt,
    episodesPausedAt: pausedAt,
    showCount: watched.length,
  };
  let history: Awaited<ReturnType<typeof planHistory>> | undefined;
  if (watchedMoved) {
    const storedTotals = new Map(
      [...storedShows].map(([id, show]) => [id, { plays: show.plays, lastUpdatedAt: show.lastUpdatedAt }]),
    );
    const watchedTotals = new Map(
      watched.map((show) => [show.show.ids.trakt, { plays: show.plays, lastUpdatedAt: iso(show.last_updated_at) }]),
    );
    history = await planHistory(
      fetcher,
      db,
      userId,
      'episode',
      first ? null : (state?.episodesHistoryHighWater ?? null),
      state?.episodePlayCount ?? 0,
      (inserted) =>
        historyExplainsWatched(
          storedTotals,
          watchedTotals,
          countBy(inserted, (p) => p.showTraktId),
        ),
    );
    Object.assign(nextState, { episodesHistoryHighWater: history.highWaterMark, episodePlayCount: history.playCount });
  }

  // Episodes are diffed only for shows that changed, have playback now, or had playback before.
  const touched = new Set<number>([
    ...showDiff.insert.map((s) => s.traktId),
    ...showDiff.update.map((u) => u.desired.traktId),
    ...showDiff.remove.map((s) => s.traktId),
  ]);
  for (const p of playback) if (p.show) touched.add(p.show.ids.trakt);
  for (const id of await readShowsWithPlayback(db, userId)) touched.add(id);
  const watchedTouched = watched.filter((s) => touched.has(s.show.ids.trakt));
  const storedEpisodes = await readStoredEpisodes(
    db,
    userId,
    [...touched].filter((id) => storedShows.has(id)),
  );
  const known = episodeDetailsFromHistory(history?.fetched ?? []);
  for (const [key, row] of storedEpisodes)
    if (!known.has(key)) known.set(key, { title: row.title, traktId: row.traktId });
  // Whole-history totals per episode: stored plays of these shows, minus removed, plus new.
  const removedIds = new Set(history?.plan.remove ?? []);
  const touchedPlays = [
    ...(await readEpisodePlays(db, userId, [...touched])).filter((p) => !removedIds.has(p.historyId)),
    ...(history?.plan.insert ?? []).filter((p) => p.showTraktId !== null && touched.has(p.showTraktId)),
  ];
  const episodeDiff = diffByKey(
    desiredEpisodes(watchedTouched, playback, known, episodePlaysFromHistory(touchedPlays)),
    storedEpisodes,
    sameEpisode,
  );

  const removedShows = showDiff.remove.map((s) => s.traktId);
  // Watched-episode count kept incrementally from the diff (removed shows' episodes are in it too).
  const watchedDelta =
    episodeDiff.insert.filter((e) => e.plays > 0).length +
    episodeDiff.update.reduce((n, u) => n + Number(u.desired.plays > 0) - Number(u.stored.plays > 0), 0) -
    episodeDiff.remove.filter((e) => e.plays > 0).length;
  nextState.episodeCount = (first ? 0 : (state?.episodeCount ?? 0)) + watchedDelta;
  statements.push(
    ...upsertShows(userId, [...showDiff.insert, ...showDiff.update.map((u) => u.desired)]),
    ...deleteShows(userId, removedShows),
    ...upsertEpisodes(userId, [...episodeDiff.insert, ...episodeDiff.update.map((u) => u.desired)]),
    ...deleteEpisodes(episodeDiff.remove.filter((e) => !removedShows.includes(e.showTraktId)).map((e) => e.id)),
    ...deleteEmptySeasons(userId, [...touched]),
  );
  if (history)
    statements.push(...insertPlays(userId, history.plan.insert), ...deletePlays(userId, history.plan.remove));
  return {
    statements,
    state: nextState,
    result: {
      ...showDiff.counts,
      episodes: episodeDiff.counts,
      plays_added: history?.plan.insert.length ?? 0,
      plays_removed: history?.plan.remove.length ?? 0,
      skipped: false,
    },
  };
}

export type SyncOptions = {
  kinds: SyncKind[];
  now?: () => number;
  waitUntil?: (promise: Promise<unknown>) => void;
  enrich?: boolean;
  /**
   * Background runs: continue a TMDB backlog left by an earlier run's budget even when Trakt had
   * nothing new, with the rest of the invocation's subrequest budget. Manual fetches don't, so
   * a no-op fetch stays exactly one upstream call.
   */
  background?: boolean;
};

/** Runs the user's incremental sync; throws ApiError on failure after recording it. */
export async function runSync(env: Env, userId: number, options: SyncOptions): Promise<SyncResult> {
  const now = options.now ?? Date.now;
  const ctx = await traktUserContext(env, userId, options.waitUntil);
  const connection = await readConnectionState(ctx.db, userId);
  if (!connection || connection.status === 'disconnecting') {
    throw new ApiError(401, NOT_CONNECTED, { code: 'not_connected' });
  }
  if (!USABLE_STATUSES.includes(connection.status)) {
    throw new ApiError(401, REAUTHORIZE, { code: 'reauthorization_required' });
  }

  const leaseId = await acquireSyncLease(ctx.db, userId, now());
  const observed = observeSync(userId, options);
  let result: SyncResult;
  let enrichmentBacklog = false;
  try {
    const fetcher: Fetcher = { calls: 0, client: await ctx.client(), ctx, session: {} };
    const state = await readSyncState(ctx.db, userId);
    const lastEnrichment = previousEnrichment(state?.lastResult);
    enrichmentBacklog = options.background === true && lastEnrichment?.skipped === 'budget_exhausted';
    const activities = (await fetchOne(fetcher, '/sync/last_activities', lastActivities)).data;
    const plans: Partial<Record<SyncKind, KindPlan>> = {};
    if (options.kinds.includes('movies')) plans.movies = await planMovies(fetcher, ctx.db, userId, state, activities);
    if (options.kinds.includes('shows')) plans.shows = await planShows(fetcher, ctx.db, userId, state, activities);

    result = {
      upstream_calls: fetcher.calls,
      ...Object.fromEntries(Object.entries(plans).map(([kind, plan]) => [kind, plan.result])),
    };
    // The last enrichment outcome is carried until a new one replaces it, so a backlog is not forgotten.
    if (lastEnrichment) result.enrichment = lastEnrichment;
    const finishedAt = now();
    const stateUpdate = {
      ...plans.movies?.state,
      ...plans.shows?.state,
      ...(options.kinds.includes('movies') ? { moviesSyncedAt: isoNow(finishedAt) } : {}),
      ...(options.kinds.includes('shows') ? { showsSyncedAt: isoNow(finishedAt) } : {}),
      lastSyncAt: isoNow(finishedAt),
      lastResult: JSON.stringify(result),
      lastError: null,
      lastErrorAt: null,
    };
    // The cursor (sync_state) is written in the same transaction as the data it covers.
    await runBatch(env.DB, [
      ...(plans.movies?.statements ?? []),
      ...(plans.shows?.statements ?? []),
      releaseSyncLease(ctx.db, userId, leaseId, stateUpdate),
      scheduleNextSync(ctx.db, userId, nextSyncAt(env, userId, finishedAt)),
    ]);
  } catch (error) {
    await recordFailure(ctx.db, userId, leaseId, error, now());
    observed.failed(error);
    throw error;
  }

  // Enrich after new data, and keep draining a backlog left by an earlier run's budget even when Trakt had nothing new.
  if (
    options.enrich !== false &&
    (result.movies?.skipped === false || result.shows?.skipped === false || enrichmentBacklog)
  ) {
    try {
      const budget = options.background ? SUBREQUEST_BUDGET - result.upstream_calls : MAX_TMDB_CALLS_PER_REQUEST;
      result.enrichment = await enrichUser(env, ctx.db, ctx.ring, userId, { kinds: options.kinds, budget });
      await ctx.db
        .update(syncState)
        .set({ lastResult: JSON.stringify(result) })
        .where(eq(syncState.userId, userId));
    } catch (error) {
      // Enrichment is best effort: items stay without images and are enriched on a later run.
      log.warn('tmdb_enrichment_failed', { user_id: userId, ...describeError(error) });
    }
  }
  observed.succeeded(result);
  return result;
}

async function recordFailure(
  db: Database,
  userId: number,
  leaseId: string,
  error: unknown,
  now: number,
): Promise<void> {
  const message = error instanceof ApiError ? error.message : 'Internal error during sync';
  await db
    .update(syncState)
    .set({ lastError: message, lastErrorAt: isoNow(now), leaseId: null, leaseUntil: null })
    .where(sql`${syncState.userId} = ${userId} AND ${syncState.leaseId} = ${leaseId}`);
}
