/**
 * @module
 * TMDB enrichment of one user's titles: posters for movies and shows, stills/titles/overviews/
 * ratings for episodes (one /tv/{id}/season/{n} call per season, never one per episode, cached as one
 * row), and /find for items whose Trakt tmdb id is null. The cache is global (public data shared by
 * every user who watched a title), so a second user with the same titles costs no TMDB calls.
 *
 * Run by the one enrichment runner (./runner.ts). Work is bounded twice, and each run reads rows in
 * proportion to the titles it handles (issue 25: no run rescans the library):
 * - the titles NAMED (those a sync chunk touched) are looked up by key;
 * - the user's backlog is a WALK over the library, newest first, whose position is kept in
 *   `sync_state.enrich_cursor` (./walk.ts): each run continues where the last one stopped, through the
 *   titles' `(user_id, last_watched_at, …)` indexes, and a whole walk reads each title once;
 * - every run stops at its call budget.
 * A title needs work when it has no TMDB id yet (/find), when its TMDB data is missing or older than
 * the refresh age (a call), or when the TMDB data it counts in the stats differs from the cache (no
 * call: another user's run cached it, or it was refreshed). Titles whose data is settled are returned
 * as `settled` with what they count from now on; the runner counts them into the stats (./recount.ts).
 * Every call goes through the app-wide TMDB limiter (pacing/gate.ts); a refusal for rate ends the run
 * early with `retryAfter`.
 */
import { type AnyColumn, and, desc, eq, type SQL, sql } from 'drizzle-orm';
import { chunk, type Database, isoNow, runBatch } from '../db/client';
import { movies, seasons, shows, tmdbExternalIds, tmdbSeasons, tmdbTitles } from '../db/schema';
import { ApiError } from '../http/errors';
import {
  TmdbClient,
  type TmdbKey,
  type TmdbMovie,
  type TmdbSeason,
  type TmdbShow,
  UNREADABLE_TMDB_KEY,
} from './client';
import type { Settled } from './recount';
import { type EnrichState, type SeasonPosition, type TitlePosition, walkDone } from './walk';

/** TMDB reports unknown runtimes as 0 or null; both mean "unknown" here (the stats' minutes_unknown_plays). */
function positiveMinutes(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : null;
}

/** Cached metadata older than this is fetched again. */
export const TMDB_REFRESH_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/**
 * At most this many requests in flight. The rate itself is the app-wide TMDB limiter's (every request
 * waits for its send time in pacing/gate.ts), so runs need no pacing of their own.
 */
const CONCURRENCY = 8;
/** Titles one run settles at most (the recount's statements take 2,000 keys each). */
const MAX_ITEMS_PER_RUN = 2_000;
/**
 * Rows one walk query returns: about two rounds of concurrent calls, so a run reads about what it handles
 * (a run refused for rate re-reads at most a page); it asks again while it has budget.
 */
const pageFor = (run: { budget: number; items: number }) =>
  Math.max(4, Math.min(MAX_ITEMS_PER_RUN - run.items, run.budget + 2, 2 * CONCURRENCY));

export type EnrichmentResult = {
  calls: number;
  titles: number;
  seasons: number;
  lookups: number;
  /** `tmdb_key_unreadable`: the user's stored TMDB key needs an encryption key the server no longer has. */
  skipped?: 'no_tmdb_key' | 'tmdb_key_unreadable' | 'budget_exhausted';
};

/** What to enrich: the trakt ids a chunk touched, and whether to take a slice of the backlog too. */
export type EnrichTargets = { movies: number[]; shows: number[]; backlog: boolean };

/**
 * `backlog`: something wanted was left for a later run. `retryAfter`: TMDB calls were refused for
 * rate (seconds until they are accepted again); the run stopped early, it did not fail.
 */
export type EnrichmentOutcome = {
  result: EnrichmentResult;
  backlog: boolean;
  retryAfter?: number;
  /** Named titles left for a later run (budget, or a failed call). */
  leftover: { movies: number[]; shows: number[] };
  /** The walk's state after this run (stored by the runner). */
  state: EnrichState;
  /** Titles whose TMDB data is settled, with what they count from now on (./recount.ts). */
  settled: Settled;
};

type Cached = { fetchedAt: string | null; status: string | null; runtime: number | null; genres: string | null };

type TitleItem = {
  kind: 'movie' | 'tv';
  traktId: number;
  /** shows.id (tv) */
  rowId?: number;
  tmdbRef: number | null;
  externalId: string | null;
  lastWatchedAt: string;
  counted: { runtime: number | null; genres: string | null };
  cached: Cached | null;
  /** The /find answer stored for the external id: undefined = never looked up, null = not on TMDB. */
  lookedUp: number | null | undefined;
};

type SeasonItem = {
  seasonId: number;
  showTraktId: number;
  showRowId: number;
  showRef: number | null;
  showLastWatchedAt: string;
  seasonNumber: number;
  counted: string | null;
  cached: { fetchedAt: string; runtimes: string | null } | null;
};

/** Items a step could not afford (`left`, in order) and items whose calls failed. */
type Unfinished<T> = { left: T[]; failed: T[] };

type Run = {
  db: Database;
  userId: number;
  client: TmdbClient;
  now: number;
  stale: string;
  result: EnrichmentResult;
  budget: number;
  items: number;
  more: boolean;
  failed: number;
  retryAfter?: number;
  settled: Settled;
  writes: SQL[];
};

/** How a task ended: done, refused for rate (the item waits for the next run), or failed (the next walk). */
type TaskEnd = 'ok' | 'rate' | 'failed';

/**
 * Runs tasks CONCURRENCY at a time. A failed task is not thrown: its item stays unenriched, for a
 * later run (refused for rate) or a later walk (any other failure).
 */
async function inGroups(run: Run, tasks: Array<() => Promise<void>>): Promise<TaskEnd[]> {
  const outcomes: TaskEnd[] = [];
  for (let i = 0; i < tasks.length; i += CONCURRENCY) {
    const results = await Promise.allSettled(tasks.slice(i, i + CONCURRENCY).map((task) => task()));
    for (const r of results) {
      if (r.status === 'fulfilled') {
        outcomes.push('ok');
        continue;
      }
      run.more = true;
      if (r.reason instanceof ApiError && r.reason.code === 'rate_limited' && r.reason.retryAfter !== undefined) {
        run.retryAfter = Math.max(run.retryAfter ?? 0, r.reason.retryAfter);
        outcomes.push('rate');
      } else {
        run.failed += 1;
        outcomes.push('failed');
      }
    }
  }
  return outcomes;
}

const inIds = (column: SQL | AnyColumn, ids: number[]) =>
  sql`${column} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;

// ---------------------------------------------------------------------------------------------
// Reading what needs work: by key (named titles) or along the walk.

/** The genres a cached title counts: its own when TMDB has it, none when TMDB answered 404. */
const foundGenres = sql`CASE WHEN ${tmdbTitles.status} = 'found' THEN ${tmdbTitles.genres} END`;

/** SQL: the title needs work (a lookup, a fetch, or a recount of what it counts). */
function titleNeedsWork(table: typeof movies | typeof shows, kind: 'movie' | 'tv', stale: string): SQL {
  return sql`(${table.statsGenres} IS NULL
    OR (${table.tmdbRef} IS NOT NULL AND (${tmdbTitles.tmdbId} IS NULL OR ${tmdbTitles.fetchedAt} < ${stale}))
    OR (${table.tmdbRef} IS NULL AND ${tmdbExternalIds.tmdbId} IS NOT NULL)
    OR (${tmdbTitles.tmdbId} IS NOT NULL AND (${table.statsGenres} IS NOT coalesce(${foundGenres}, '[]')
      ${kind === 'movie' ? sql`OR ${movies.statsRuntime} IS NOT coalesce(${tmdbTitles.runtime}, 0)` : sql``})))`;
}

function titleQuery(run: Run, kind: 'movie' | 'tv', where: SQL, limit?: number) {
  const table = kind === 'movie' ? movies : shows;
  const external = kind === 'movie' ? sql`${movies.imdbId}` : sql<string | null>`CAST(${shows.tvdbId} AS TEXT)`;
  const q = run.db
    .select({
      traktId: table.traktId,
      rowId: kind === 'tv' ? shows.id : sql<number | null>`NULL`,
      tmdbRef: table.tmdbRef,
      externalId: sql<string | null>`${external}`,
      lastWatchedAt: table.lastWatchedAt,
      countedRuntime: kind === 'movie' ? movies.statsRuntime : sql<number | null>`NULL`,
      countedGenres: table.statsGenres,
      fetchedAt: tmdbTitles.fetchedAt,
      status: tmdbTitles.status,
      runtime: tmdbTitles.runtime,
      genres: tmdbTitles.genres,
      lookedUpAt: tmdbExternalIds.fetchedAt,
      lookedUp: tmdbExternalIds.tmdbId,
    })
    .from(table)
    .leftJoin(tmdbTitles, and(eq(tmdbTitles.kind, kind), eq(tmdbTitles.tmdbId, table.tmdbRef)))
    .leftJoin(
      tmdbExternalIds,
      and(
        sql`${table.tmdbRef} IS NULL`,
        eq(tmdbExternalIds.source, kind === 'movie' ? 'imdb_id' : 'tvdb_id'),
        eq(tmdbExternalIds.externalId, external),
        eq(tmdbExternalIds.kind, kind),
      ),
    )
    .where(and(eq(table.userId, run.userId), where, titleNeedsWork(table, kind, run.stale)));
  // The walk: in index order, newest first. Named titles: by key, unordered (an ORDER BY would make SQLite walk
  // every title of the user in that order to find the few named).
  return limit === undefined
    ? q
    : q.orderBy(desc(table.lastWatchedAt), desc(kind === 'movie' ? movies.traktId : shows.id)).limit(limit);
}

function titleItem(kind: 'movie' | 'tv', r: Awaited<ReturnType<typeof titleQuery>>[number]): TitleItem {
  return {
    kind,
    traktId: r.traktId,
    rowId: r.rowId ?? undefined,
    tmdbRef: r.tmdbRef,
    externalId: r.externalId,
    lastWatchedAt: r.lastWatchedAt,
    counted: { runtime: r.countedRuntime, genres: r.countedGenres },
    cached:
      r.fetchedAt === null ? null : { fetchedAt: r.fetchedAt, status: r.status, runtime: r.runtime, genres: r.genres },
    lookedUp: r.lookedUpAt === null ? undefined : r.lookedUp,
  };
}

/** SQL: the season needs work (a fetch, or a recount of what it counts). */
function seasonNeedsWork(stale: string): SQL {
  return sql`(${seasons.statsRuntimes} IS NULL
    OR (${shows.tmdbRef} IS NOT NULL AND (${tmdbSeasons.tmdbShowId} IS NULL OR ${tmdbSeasons.fetchedAt} < ${stale}))
    OR (${tmdbSeasons.tmdbShowId} IS NOT NULL AND ${seasons.statsRuntimes} IS NOT coalesce(${tmdbSeasons.runtimes}, '{}')))`;
}

function seasonQuery(run: Run, where: SQL, limit?: number) {
  const q = run.db
    .select({
      seasonId: seasons.id,
      seasonNumber: seasons.seasonNumber,
      counted: seasons.statsRuntimes,
      showTraktId: shows.traktId,
      showRowId: shows.id,
      showRef: shows.tmdbRef,
      showLastWatchedAt: shows.lastWatchedAt,
      fetchedAt: tmdbSeasons.fetchedAt,
      runtimes: tmdbSeasons.runtimes,
    })
    .from(shows)
    .innerJoin(seasons, eq(seasons.showId, shows.id))
    .leftJoin(
      tmdbSeasons,
      and(eq(tmdbSeasons.tmdbShowId, shows.tmdbRef), eq(tmdbSeasons.seasonNumber, seasons.seasonNumber)),
    )
    .where(and(eq(shows.userId, run.userId), where, seasonNeedsWork(run.stale)));
  return limit === undefined
    ? q
    : q.orderBy(desc(shows.lastWatchedAt), desc(shows.id), desc(seasons.seasonNumber)).limit(limit);
}

function seasonItem(r: Awaited<ReturnType<typeof seasonQuery>>[number]): SeasonItem {
  return {
    seasonId: r.seasonId,
    seasonNumber: r.seasonNumber,
    counted: r.counted,
    showTraktId: r.showTraktId,
    showRowId: r.showRowId,
    showRef: r.showRef,
    showLastWatchedAt: r.showLastWatchedAt,
    cached: r.fetchedAt === null ? null : { fetchedAt: r.fetchedAt, runtimes: r.runtimes },
  };
}

// ---------------------------------------------------------------------------------------------
// Planning calls, calling, settling.

/** Calls an item still needs: a lookup, then a fetch. */
function callsOf(run: Run, item: TitleItem): number {
  if (item.tmdbRef === null) {
    if (item.lookedUp !== undefined) return item.lookedUp === null ? 0 : fetchNeeded(run, item, item.lookedUp);
    return item.externalId ? 2 : 0;
  }
  return fetchNeeded(run, item, item.tmdbRef);
}

function fetchNeeded(run: Run, item: TitleItem, ref: number): number {
  if (item.tmdbRef !== ref) return 1; // an id found by a lookup: its cache row was not joined
  return item.cached === null || (item.cached.fetchedAt ?? '') < run.stale ? 1 : 0;
}

function seasonCalls(run: Run, item: SeasonItem): number {
  if (item.showRef === null) return 0;
  return item.cached === null || item.cached.fetchedAt < run.stale ? 1 : 0;
}

/** What a title counts once its TMDB data is known (or known to be missing). */
function settleTitle(run: Run, item: TitleItem, cache: Cached | null) {
  const genres = cache?.status === 'found' ? (cache.genres ?? '[]') : '[]';
  const runtime = cache?.runtime ?? 0;
  if (item.kind === 'movie') {
    if (item.counted.genres === genres && item.counted.runtime === runtime) return;
    run.settled.movies.push({ traktId: item.traktId, runtime, genres, fresh: item.counted.genres === null });
  } else {
    if (item.counted.genres === genres) return;
    run.settled.shows.push({ traktId: item.traktId, genres, fresh: item.counted.genres === null });
  }
}

function settleSeason(run: Run, item: SeasonItem, runtimes: string) {
  if (item.counted === runtimes) return;
  run.settled.seasons.push({
    seasonId: item.seasonId,
    showTraktId: item.showTraktId,
    seasonNumber: item.seasonNumber,
    runtimes,
    fresh: item.counted === null,
  });
}

function titleRow(kind: 'movie' | 'tv', id: number, data: TmdbMovie | TmdbShow | undefined, now: number) {
  const movie = kind === 'movie' ? (data as TmdbMovie | undefined) : undefined;
  const show = kind === 'tv' ? (data as TmdbShow | undefined) : undefined;
  return {
    kind,
    tmdbId: id,
    status: data ? 'found' : 'missing',
    title: movie?.title ?? show?.name ?? null,
    posterPath: data?.poster_path ?? null,
    backdropPath: data?.backdrop_path ?? null,
    overview: data?.overview ?? null,
    voteAverage: data?.vote_average ?? null,
    genres: data?.genres ? JSON.stringify(data.genres.map((genre) => genre.name)) : null,
    runtime: positiveMinutes(show ? show.episode_run_time?.[0] : movie?.runtime),
    // Shows: what the calendar of upcoming episodes reads (src/sharing/calendar.ts).
    showStatus: show?.status ?? null,
    nextEpisode: show?.next_episode_to_air
      ? JSON.stringify({
          season: show.next_episode_to_air.season_number,
          episode: show.next_episode_to_air.episode_number,
          name: show.next_episode_to_air.name ?? null,
          overview: show.next_episode_to_air.overview ?? null,
          air_date: show.next_episode_to_air.air_date ?? null,
        })
      : null,
    fetchedAt: isoNow(now),
  };
}

/** A season's episodes as cached (`tmdb_seasons.episodes`) and their runtimes alone (`runtimes`), both by episode number. */
export function seasonDocuments(data: TmdbSeason | undefined): { episodes: string; runtimes: string } {
  const list = [...(data?.episodes ?? [])].sort((a, b) => a.episode_number - b.episode_number);
  return {
    episodes: JSON.stringify(
      Object.fromEntries(
        list.map((e) => [
          String(e.episode_number),
          {
            name: e.name ?? null,
            overview: e.overview ?? null,
            still_path: e.still_path ?? null,
            vote_average: e.vote_average ?? null,
            runtime: positiveMinutes(e.runtime),
            air_date: e.air_date ?? null,
          },
        ]),
      ),
    ),
    runtimes: JSON.stringify(
      Object.fromEntries(list.map((e) => [String(e.episode_number), positiveMinutes(e.runtime) ?? 0])),
    ),
  };
}

/**
 * Splits `items` into those the run can afford (spending their calls from its budget and its item count) and
 * those left for a later run. In order: once one item cannot be afforded, the rest wait too, so the walk's
 * position stays exact. Leaving any marks the run as stopped by its budget, with more to do.
 */
function withinBudget<Item>(run: Run, items: Item[], callsOf: (item: Item) => number) {
  const affordable: Item[] = [];
  const left: Item[] = [];
  for (const item of items) {
    const calls = callsOf(item);
    if (left.length > 0 || calls > run.budget || run.items >= MAX_ITEMS_PER_RUN) {
      left.push(item);
      continue;
    }
    run.budget -= calls;
    run.items += 1;
    affordable.push(item);
  }
  if (left.length > 0) {
    run.result.skipped = 'budget_exhausted';
    run.more = true;
  }
  return { affordable, left };
}

/**
 * Handles title items (lookups, then fetches), within the budget: returns the items it could not
 * afford or finish (for the caller's leftovers). Writes are queued on the run.
 */
async function handleTitles(run: Run, items: TitleItem[]): Promise<Unfinished<TitleItem>> {
  const { affordable, left } = withinBudget(run, items, (item) => callsOf(run, item));
  // 1. Lookups: items without a TMDB id, by imdb (movies) or tvdb (shows) id.
  const lookups = affordable.filter((i) => i.tmdbRef === null && i.lookedUp === undefined && i.externalId);
  const externalRows: Array<Record<string, unknown>> = [];
  const lookupOk = await inGroups(
    run,
    lookups.map((item) => async () => {
      const source = item.kind === 'movie' ? 'imdb_id' : 'tvdb_id';
      const answer = await run.client.find(item.externalId!, source);
      const match = item.kind === 'movie' ? answer?.movie_results?.[0] : answer?.tv_results?.[0];
      item.lookedUp = match?.id ?? null;
      externalRows.push({
        source,
        externalId: item.externalId,
        kind: item.kind,
        tmdbId: item.lookedUp,
        fetchedAt: isoNow(run.now),
      });
    }),
  );
  run.result.lookups += externalRows.length;
  const failed = new Map<TitleItem, TaskEnd>();
  lookups.forEach((item, i) => {
    if (lookupOk[i] !== 'ok') failed.set(item, lookupOk[i]!);
  });
  for (const part of chunk(externalRows))
    run.writes.push(sql`INSERT INTO tmdb_external_ids (source, external_id, kind, tmdb_id, fetched_at)
      SELECT json_extract(j.value, '$.source'), json_extract(j.value, '$.externalId'), json_extract(j.value, '$.kind'),
        json_extract(j.value, '$.tmdbId'), json_extract(j.value, '$.fetchedAt')
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (source, external_id, kind) DO UPDATE SET tmdb_id = excluded.tmdb_id, fetched_at = excluded.fetched_at`);
  // Ids found (now or by anyone's earlier lookup) become the titles' TMDB ids.
  const linked = affordable.filter((i) => i.tmdbRef === null && typeof i.lookedUp === 'number');
  for (const kind of ['movie', 'tv'] as const) {
    const rows = linked.filter((i) => i.kind === kind).map((i) => [i.traktId, i.lookedUp]);
    const table = sql.raw(kind === 'movie' ? 'movies' : 'shows');
    // An upsert over the rows: the keys outside, one seek each (see src/sync/store.ts).
    for (const part of chunk(rows))
      run.writes.push(sql`INSERT INTO ${table} (user_id, trakt_id, title, plays, last_watched_at, tmdb_ref)
        SELECT t.user_id, t.trakt_id, t.title, t.plays, t.last_watched_at, json_extract(j.value, '$[1]')
        FROM json_each(${JSON.stringify(part)}) AS j CROSS JOIN ${table} t ON t.user_id = ${run.userId}
          AND t.trakt_id = json_extract(j.value, '$[0]')
        WHERE true ON CONFLICT (user_id, trakt_id) DO UPDATE SET tmdb_ref = excluded.tmdb_ref`);
  }
  for (const item of linked) {
    item.tmdbRef = item.lookedUp as number;
    item.cached = null; // the joined cache row was for no id: fetch (or find in the cache) below
  }
  // 2. Titles: one call per movie/show not cached (or stale).
  const toFetch = affordable.filter(
    (i) => !failed.has(i) && i.tmdbRef !== null && (i.cached === null || (i.cached.fetchedAt ?? '') < run.stale),
  );
  // A title linked by a lookup may be cached already (another user's run): reuse it.
  const linkedRefs = toFetch.filter((i) => linked.includes(i));
  if (linkedRefs.length > 0) {
    for (const kind of ['movie', 'tv'] as const) {
      const refs = linkedRefs.filter((i) => i.kind === kind).map((i) => i.tmdbRef!);
      if (refs.length === 0) continue;
      const rows = await run.db
        .select()
        .from(tmdbTitles)
        .where(and(eq(tmdbTitles.kind, kind), inIds(tmdbTitles.tmdbId, refs)));
      for (const row of rows)
        for (const item of linkedRefs)
          if (item.kind === kind && item.tmdbRef === row.tmdbId && row.fetchedAt >= run.stale) item.cached = row;
    }
  }
  const fetchNow = toFetch.filter((i) => i.cached === null || (i.cached.fetchedAt ?? '') < run.stale);
  const unique = [...new Map(fetchNow.map((i) => [`${i.kind}:${i.tmdbRef}`, i])).values()];
  const titleRows: Array<ReturnType<typeof titleRow>> = [];
  const fetchedOk = await inGroups(
    run,
    unique.map((item) => async () => {
      const data = item.kind === 'movie' ? await run.client.movie(item.tmdbRef!) : await run.client.show(item.tmdbRef!);
      titleRows.push(titleRow(item.kind, item.tmdbRef!, data, run.now));
    }),
  );
  run.result.titles += titleRows.length;
  const fetchFailed = new Map<string, TaskEnd>();
  unique.forEach((item, i) => {
    if (fetchedOk[i] !== 'ok') fetchFailed.set(`${item.kind}:${item.tmdbRef}`, fetchedOk[i]!);
  });
  for (const part of chunk(titleRows))
    run.writes.push(sql`INSERT INTO tmdb_titles (kind, tmdb_id, status, title, poster_path, backdrop_path, overview,
      vote_average, genres, runtime, show_status, next_episode, fetched_at)
      SELECT json_extract(j.value, '$.kind'), json_extract(j.value, '$.tmdbId'), json_extract(j.value, '$.status'),
        json_extract(j.value, '$.title'), json_extract(j.value, '$.posterPath'), json_extract(j.value, '$.backdropPath'),
        json_extract(j.value, '$.overview'), json_extract(j.value, '$.voteAverage'), json_extract(j.value, '$.genres'),
        json_extract(j.value, '$.runtime'), json_extract(j.value, '$.showStatus'), json_extract(j.value, '$.nextEpisode'),
        json_extract(j.value, '$.fetchedAt')
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (kind, tmdb_id) DO UPDATE SET status = excluded.status, title = excluded.title,
        poster_path = excluded.poster_path, backdrop_path = excluded.backdrop_path, overview = excluded.overview,
        vote_average = excluded.vote_average, genres = excluded.genres, runtime = excluded.runtime,
        show_status = excluded.show_status, next_episode = excluded.next_episode, fetched_at = excluded.fetched_at`);
  const fresh = new Map(titleRows.map((r) => [`${r.kind}:${r.tmdbId}`, r]));
  // 3. Settle: what each handled title counts from now on.
  const failedItems: TitleItem[] = [];
  for (const item of affordable) {
    const end =
      failed.get(item) ?? (item.tmdbRef === null ? undefined : fetchFailed.get(`${item.kind}:${item.tmdbRef}`));
    if (end) {
      (end === 'rate' ? left : failedItems).push(item);
      continue;
    }
    if (item.tmdbRef === null) {
      settleTitle(run, item, null); // no TMDB id and none to find: settled as unknown
      continue;
    }
    const key = `${item.kind}:${item.tmdbRef}`;
    const row = fresh.get(key);
    settleTitle(run, item, row ? { ...row } : item.cached);
  }
  return { left, failed: failedItems };
}

/** Handles season items (one call per season not cached), within the budget; returns the unfinished ones. */
async function handleSeasons(run: Run, items: SeasonItem[]): Promise<Unfinished<SeasonItem>> {
  const { affordable, left } = withinBudget(run, items, (item) => seasonCalls(run, item));
  const toFetch = affordable.filter((i) => seasonCalls(run, i) > 0);
  const unique = [...new Map(toFetch.map((i) => [`${i.showRef}:${i.seasonNumber}`, i])).values()];
  const rows: Array<Record<string, unknown> & { key: string; runtimes: string }> = [];
  const ok = await inGroups(
    run,
    unique.map((item) => async () => {
      const data = await run.client.season(item.showRef!, item.seasonNumber);
      rows.push({
        key: `${item.showRef}:${item.seasonNumber}`,
        tmdbShowId: item.showRef,
        seasonNumber: item.seasonNumber,
        status: data ? 'found' : 'missing',
        fetchedAt: isoNow(run.now),
        ...seasonDocuments(data),
      });
    }),
  );
  run.result.seasons += rows.length;
  const failedKeys = new Map<string, TaskEnd>();
  unique.forEach((item, i) => {
    if (ok[i] !== 'ok') failedKeys.set(`${item.showRef}:${item.seasonNumber}`, ok[i]!);
  });
  for (const part of chunk(rows))
    run.writes.push(sql`INSERT INTO tmdb_seasons (tmdb_show_id, season_number, status, fetched_at, episodes, runtimes)
      SELECT json_extract(j.value, '$.tmdbShowId'), json_extract(j.value, '$.seasonNumber'),
        json_extract(j.value, '$.status'), json_extract(j.value, '$.fetchedAt'), json_extract(j.value, '$.episodes'),
        json_extract(j.value, '$.runtimes')
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (tmdb_show_id, season_number) DO UPDATE SET status = excluded.status,
        fetched_at = excluded.fetched_at, episodes = excluded.episodes, runtimes = excluded.runtimes`);
  const fresh = new Map(rows.map((r) => [r.key, r.runtimes]));
  const failedItems: SeasonItem[] = [];
  for (const item of affordable) {
    if (item.showRef === null) {
      settleSeason(run, item, '{}'); // a show TMDB does not know: its episodes' minutes stay unknown
      continue;
    }
    const key = `${item.showRef}:${item.seasonNumber}`;
    const end = failedKeys.get(key);
    if (end) {
      (end === 'rate' ? left : failedItems).push(item);
      continue;
    }
    settleSeason(run, item, fresh.get(key) ?? item.cached?.runtimes ?? '{}');
  }
  return { left, failed: failedItems };
}

// ---------------------------------------------------------------------------------------------
// Named titles and the walk.

/**
 * The named titles, a slice at a time (about as many as the run can still afford), so a run reads the titles
 * it handles, not every title a long message names; the slices it did not reach are left for the next run.
 */
async function handleNamed(run: Run, targets: EnrichTargets) {
  const left = { movies: new Set<number>(), shows: new Set<number>() };
  for (let i = 0; i < targets.movies.length; ) {
    if (run.budget <= 0 || run.items >= MAX_ITEMS_PER_RUN) {
      for (const id of targets.movies.slice(i)) left.movies.add(id);
      break;
    }
    const ids = targets.movies.slice(i, i + pageFor(run));
    i += ids.length;
    const rows = await titleQuery(run, 'movie', inIds(movies.traktId, ids));
    const unfinished = await handleTitles(
      run,
      rows.map((r) => titleItem('movie', r)),
    );
    for (const item of [...unfinished.left, ...unfinished.failed]) left.movies.add(item.traktId);
  }
  for (let i = 0; i < targets.shows.length; ) {
    if (run.budget <= 0 || run.items >= MAX_ITEMS_PER_RUN) {
      for (const id of targets.shows.slice(i)) left.shows.add(id);
      break;
    }
    const ids = targets.shows.slice(i, i + Math.max(1, Math.ceil(pageFor(run) / 4)));
    i += ids.length;
    const rows = await titleQuery(run, 'tv', inIds(shows.traktId, ids));
    const unfinished = await handleTitles(
      run,
      rows.map((r) => titleItem('tv', r)),
    );
    for (const item of [...unfinished.left, ...unfinished.failed]) left.shows.add(item.traktId);
    // The shows' seasons (after the shows: a lookup may just have given a show its TMDB id).
    const seasonRows = await seasonQuery(run, inIds(shows.traktId, ids));
    const seasonsLeft = await handleSeasons(run, seasonRows.map(seasonItem));
    for (const item of [...seasonsLeft.left, ...seasonsLeft.failed]) left.shows.add(item.showTraktId);
  }
  return { movies: [...left.movies], shows: [...left.shows] };
}

/**
 * One step of the walk over a page of items: the position moves past every item handled (one whose call
 * failed is counted, and waits for the next walk) and stops at the first one the run could not afford.
 */
function advance<T>(items: T[], unfinished: Unfinished<T>, state: EnrichState) {
  const waiting = new Set(unfinished.left);
  const stop = items.findIndex((item) => waiting.has(item));
  state.failed = (state.failed ?? 0) + unfinished.failed.length;
  return { last: (stop === -1 ? items : items.slice(0, stop)).at(-1), stopped: stop !== -1 };
}

/** Continues the walk over the library within the run's budget; returns the walk's new state. */
async function walk(run: Run, state: EnrichState): Promise<EnrichState> {
  const position = { ...(state.walk ?? {}) };
  const next: EnrichState = { ...state, walk: position };
  for (const kind of ['movie', 'tv'] as const) {
    const key = kind === 'movie' ? 'movies' : 'shows';
    while (position[key] !== 'done' && run.budget > 0 && run.items < MAX_ITEMS_PER_RUN) {
      const after = position[key] as TitlePosition | undefined;
      const table = kind === 'movie' ? movies : shows;
      const tie = kind === 'movie' ? movies.traktId : shows.id;
      const where = after ? sql`(${table.lastWatchedAt}, ${tie}) < (${after[0]}, ${after[1]})` : sql`true`;
      const page = pageFor(run);
      const items = (await titleQuery(run, kind, where, page)).map((r) => titleItem(kind, r));
      const { last, stopped } = advance(items, await handleTitles(run, items), next);
      if (last) position[key] = [last.lastWatchedAt, kind === 'movie' ? last.traktId : last.rowId!];
      if (stopped) return next;
      if (items.length < page) position[key] = 'done';
    }
    if (position[key] !== 'done') return next;
  }
  while (position.seasons !== 'done' && run.budget > 0 && run.items < MAX_ITEMS_PER_RUN) {
    const after = position.seasons as SeasonPosition | undefined;
    // After the position: first the rest of the show it stopped in, then the shows after it (a row value over
    // two tables would only narrow the show index by its first column, and re-read the show's earlier seasons).
    const page = pageFor(run);
    let items: SeasonItem[] = [];
    if (after) {
      items = (
        await seasonQuery(run, sql`${shows.id} = ${after[1]} AND ${seasons.seasonNumber} < ${after[2]}`, page)
      ).map(seasonItem);
    }
    if (items.length < page) {
      const where = after ? sql`(${shows.lastWatchedAt}, ${shows.id}) < (${after[0]}, ${after[1]})` : sql`true`;
      items.push(...(await seasonQuery(run, where, page - items.length)).map(seasonItem));
    }
    const { last, stopped } = advance(items, await handleSeasons(run, items), next);
    if (last) position.seasons = [last.showLastWatchedAt, last.showRowId, last.seasonNumber];
    if (stopped) return next;
    if (items.length < page) position.seasons = 'done';
  }
  return next;
}

/**
 * Enriches the named titles, then (with `targets.backlog`) continues the walk, within `budget` TMDB
 * calls. Writes the cache rows (one batch) and returns what the titles count now, what is left, and
 * the walk's new state.
 */
export async function enrichUser(
  env: Env,
  db: Database,
  userId: number,
  apiKey: TmdbKey,
  options: { targets: EnrichTargets; budget: number; now?: number; state: EnrichState },
): Promise<EnrichmentOutcome> {
  const result: EnrichmentResult = { calls: 0, titles: 0, seasons: 0, lookups: 0 };
  const { targets } = options;
  const settled: Settled = { movies: [], shows: [], seasons: [] };
  const hasWork = targets.backlog || targets.movies.length > 0 || targets.shows.length > 0;
  const none = { movies: [], shows: [] };
  if (apiKey === UNREADABLE_TMDB_KEY || typeof apiKey !== 'string' || !apiKey)
    return {
      // `tmdb_key_unreadable`: the stored key needs an encryption key the server no longer has.
      result: { ...result, skipped: apiKey === UNREADABLE_TMDB_KEY ? 'tmdb_key_unreadable' : 'no_tmdb_key' },
      backlog: hasWork,
      leftover: { movies: targets.movies, shows: targets.shows },
      state: { ...options.state, due: options.state.due || targets.backlog || hasWork },
      settled,
    };
  if (!hasWork) return { result, backlog: false, leftover: none, state: options.state, settled };
  const now = options.now ?? Date.now();
  const run: Run = {
    db,
    userId,
    // Retries spend the same budget: the client never sends more requests than the run may make.
    client: TmdbClient.fromEnv(env, apiKey, Math.max(0, options.budget)),
    now,
    stale: isoNow(now - TMDB_REFRESH_AGE_MS),
    result,
    budget: Math.max(0, options.budget),
    items: 0,
    more: false,
    failed: 0,
    settled,
    writes: [],
  };
  const leftover = await handleNamed(run, targets);
  let state = options.state;
  if (targets.backlog) {
    const start =
      !state.walk && (state.due || state.walk === undefined) && (!state.after || state.after <= isoNow(now));
    if (state.walk || start) state = await walk(run, start ? { ...state, walk: {}, failed: 0 } : state);
    if (state.walk && walkDone(state.walk)) {
      // A whole walk: what failed waits a while, then the next walk tries again.
      const failed = state.failed ?? 0;
      state = {
        walk: null,
        due: failed > 0,
        ...(failed > 0 ? { after: isoNow(now + WALK_RETRY_MS) } : {}),
      };
    }
  }
  await runBatch(env.DB, run.writes);
  result.calls = run.client.calls;
  const backlog = leftover.movies.length > 0 || leftover.shows.length > 0 || state.walk !== null || state.due === true;
  return { result, backlog, retryAfter: run.retryAfter, leftover, state, settled };
}

/** A walk that ended with failures starts again after this (it reads the library once more). */
export const WALK_RETRY_MS = 6 * 60 * 60 * 1000;
