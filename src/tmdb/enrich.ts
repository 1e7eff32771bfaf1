/**
 * @module
 * TMDB enrichment of one user's titles: posters for movies and shows, stills/titles/overviews/
 * ratings for episodes (one /tv/{id}/season/{n} call per season, never one per episode), and /find
 * for items whose Trakt tmdb id is null. The cache is global (public data shared by every user who
 * watched a title), so a second user with the same titles costs no TMDB calls.
 *
 * Run by the one enrichment runner (./runner.ts): from the `trakt-enrich` queue, one user per
 * invocation, or inline by a fetch endpoint for what its own chunk touched, within what is left of
 * its budget. Work is bounded twice: only the titles named (those a sync chunk touched) are looked at,
 * plus a slice of the user's backlog (titles an earlier run had no budget for) when
 * `sync_state.tmdb_backlog` says there is one, so no run scans the whole library for nothing; and
 * every run stops at its call budget (the rest stays in the backlog). Every call goes through the
 * app-wide TMDB limiter (pacing/gate.ts); a refusal for rate ends the run early with `retryAfter`.
 */
import { type AnyColumn, and, desc, eq, isNotNull, isNull, lt, or, type SQL, sql } from 'drizzle-orm';
import { chunk, type Database, isoNow, runBatch } from '../db/client';
import { movies, seasons, shows, tmdbExternalIds, tmdbSeasons, tmdbTitles } from '../db/schema';
import { ApiError } from '../http/errors';
import type { FetchedTitles } from '../readmodel/write-hooks';
import { TmdbClient, type TmdbKey, UNREADABLE_TMDB_KEY } from './client';

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

export type EnrichmentResult = {
  calls: number;
  titles: number;
  seasons: number;
  lookups: number;
  /** `tmdb_key_unreadable`: the user's stored TMDB key needs an encryption key the server no longer has. */
  skipped?: 'no_tmdb_key' | 'tmdb_key_unreadable' | 'budget_exhausted';
};

/**
 * `backlog`: something wanted was left for a later run. `retryAfter`: TMDB calls were refused for
 * rate (seconds until they are accepted again); the run stopped early, it did not fail.
 */
export type EnrichmentOutcome = {
  result: EnrichmentResult;
  backlog: boolean;
  retryAfter?: number;
  /** What this run fetched, as the user's trakt ids (readmodel/write-hooks.ts tmdbDataWritten). */
  fetched: FetchedTitles;
};

/** What to enrich: the trakt ids a chunk touched, and whether to take a slice of the backlog too. */
export type EnrichTargets = { movies: number[]; shows: number[]; backlog: boolean };

type Run = {
  env: Env;
  db: Database;
  userId: number;
  client: TmdbClient;
  now: number;
  stale: string;
  targets: EnrichTargets;
  result: EnrichmentResult;
  budget: number;
  /** True when some wanted item was left for a later run (budget, or a backlog slice that came back full). */
  more: boolean;
  /** Seconds until TMDB (or the app-wide TMDB limiter) accepts calls again, when a call was refused for rate. */
  retryAfter?: number;
  /** The user's titles (trakt ids) and seasons (`<show trakt id>:<season>`) fetched: their plays are counted again. */
  fetched: { movies: Set<number>; shows: Set<number>; seasons: Set<string> };
};

/**
 * Runs tasks CONCURRENCY at a time. A failed task is not thrown: its item stays unenriched, and the
 * backlog flag makes a later run retry it.
 */
async function inGroups(run: Run, tasks: Array<() => Promise<void>>): Promise<void> {
  for (let i = 0; i < tasks.length; i += CONCURRENCY) {
    const results = await Promise.allSettled(tasks.slice(i, i + CONCURRENCY).map((task) => task()));
    for (const r of results) {
      if (r.status === 'fulfilled') continue;
      run.more = true;
      if (r.reason instanceof ApiError && r.reason.code === 'rate_limited' && r.reason.retryAfter !== undefined)
        run.retryAfter = Math.max(run.retryAfter ?? 0, r.reason.retryAfter);
    }
  }
}

function take<T>(run: Run, items: T[]): T[] {
  const taken = items.slice(0, Math.max(0, run.budget));
  run.budget -= taken.length;
  if (taken.length < items.length) {
    run.result.skipped = 'budget_exhausted';
    run.more = true;
  }
  return taken;
}

const inIds = (column: SQL | AnyColumn, ids: number[]) =>
  sql`${column} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;

/**
 * Rows wanted by a step: those of the touched titles, then (if there is a backlog) up to the
 * remaining budget + 1 of any of the user's titles, to learn whether more is left.
 */
async function wanted<T>(
  run: Run,
  ids: number[],
  query: (scoped: boolean, limit: number | undefined) => Promise<T[]>,
  key: (row: T) => string,
) {
  const rows = ids.length > 0 ? await query(true, undefined) : [];
  if (run.targets.backlog && run.budget > rows.length) {
    const limit = run.budget - rows.length + 1;
    const slice = await query(false, limit);
    if (slice.length >= limit) run.more = true;
    const seen = new Set(rows.map(key));
    for (const row of slice) if (!seen.has(key(row))) rows.push(row);
  }
  return rows;
}

/** 1. Items without a TMDB id: look them up once by imdb (movies) or tvdb (shows) id. */
async function lookUpMissingIds(run: Run): Promise<SQL[]> {
  const { db, userId } = run;
  const movieRows = await wanted(
    run,
    run.targets.movies,
    (scoped, limit) => {
      const q = db
        .selectDistinct({ externalId: movies.imdbId, traktId: movies.traktId })
        .from(movies)
        .leftJoin(
          tmdbExternalIds,
          and(
            eq(tmdbExternalIds.source, 'imdb_id'),
            eq(tmdbExternalIds.externalId, movies.imdbId),
            eq(tmdbExternalIds.kind, 'movie'),
          ),
        )
        .where(
          and(
            eq(movies.userId, userId),
            scoped ? inIds(movies.traktId, run.targets.movies) : undefined,
            isNull(movies.tmdbRef),
            isNotNull(movies.imdbId),
            isNull(tmdbExternalIds.externalId),
          ),
        );
      return limit === undefined ? q : q.limit(limit);
    },
    (r) => String(r.traktId),
  );
  const showRows = await wanted(
    run,
    run.targets.shows,
    (scoped, limit) => {
      const q = db
        .selectDistinct({ externalId: sql<string>`CAST(${shows.tvdbId} AS TEXT)`, traktId: shows.traktId })
        .from(shows)
        .leftJoin(
          tmdbExternalIds,
          and(
            eq(tmdbExternalIds.source, 'tvdb_id'),
            eq(tmdbExternalIds.externalId, sql`CAST(${shows.tvdbId} AS TEXT)`),
            eq(tmdbExternalIds.kind, 'tv'),
          ),
        )
        .where(
          and(
            eq(shows.userId, userId),
            scoped ? inIds(shows.traktId, run.targets.shows) : undefined,
            isNull(shows.tmdbRef),
            isNotNull(shows.tvdbId),
            isNull(tmdbExternalIds.externalId),
          ),
        );
      return limit === undefined ? q : q.limit(limit);
    },
    (r) => String(r.traktId),
  );
  const lookups = [
    ...new Map(
      movieRows.map((r) => [
        r.externalId!,
        { source: 'imdb_id' as const, externalId: r.externalId!, kind: 'movie' as const },
      ]),
    ).values(),
    ...new Map(
      showRows.map((r) => [
        r.externalId,
        { source: 'tvdb_id' as const, externalId: r.externalId, kind: 'tv' as const },
      ]),
    ).values(),
  ];
  const found: Array<{ source: string; externalId: string; kind: string; tmdbId: number | null; fetchedAt: string }> =
    [];
  await inGroups(
    run,
    take(run, lookups).map((l) => async () => {
      const answer = await run.client.find(l.externalId, l.source);
      const match = l.kind === 'movie' ? answer?.movie_results?.[0] : answer?.tv_results?.[0];
      found.push({ ...l, tmdbId: match?.id ?? null, fetchedAt: isoNow(run.now) });
    }),
  );
  run.result.lookups = found.length;
  const statements: SQL[] = chunk(found).map(
    (part) => sql`INSERT INTO tmdb_external_ids (source, external_id, kind, tmdb_id, fetched_at)
      SELECT json_extract(j.value, '$.source'), json_extract(j.value, '$.externalId'), json_extract(j.value,
        '$.kind'), json_extract(j.value, '$.tmdbId'), json_extract(j.value, '$.fetchedAt')
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (source, external_id, kind) DO UPDATE SET tmdb_id = excluded.tmdb_id,
        fetched_at = excluded.fetched_at`,
  );
  // Point the user's rows at ids found now or by earlier lookups (anyone's): the touched rows and the backlog
  // rows just looked up, by trakt id so each statement walks the (user_id, trakt_id) index.
  const movieIds = [...new Set([...run.targets.movies, ...movieRows.map((r) => r.traktId)])];
  const showIds = [...new Set([...run.targets.shows, ...showRows.map((r) => r.traktId)])];
  if (movieIds.length > 0)
    statements.push(sql`UPDATE movies SET tmdb_ref = (SELECT x.tmdb_id FROM tmdb_external_ids x
      WHERE x.source = 'imdb_id' AND x.external_id = movies.imdb_id AND x.kind = 'movie')
      WHERE user_id = ${userId} AND ${inIds(movies.traktId, movieIds)} AND tmdb_ref IS NULL AND imdb_id IS NOT NULL`);
  if (showIds.length > 0)
    statements.push(sql`UPDATE shows SET tmdb_ref = (SELECT x.tmdb_id FROM tmdb_external_ids x
      WHERE x.source = 'tvdb_id' AND x.external_id = CAST(shows.tvdb_id AS TEXT) AND x.kind = 'tv')
      WHERE user_id = ${userId} AND ${inIds(shows.traktId, showIds)} AND tmdb_ref IS NULL AND tvdb_id IS NOT NULL`);
  return statements;
}

/** 2. Titles not cached yet (or stale): one call per movie/show. */
async function fetchTitles(run: Run): Promise<SQL[]> {
  const { db, userId } = run;
  const wantedTitles: Array<{ kind: 'movie' | 'tv'; id: number }> = [];
  /** The user's titles (trakt ids) behind each wanted TMDB title, to recount their plays once fetched. */
  const fetchedBy = new Map<string, number[]>();
  for (const [kind, table, ids] of [
    ['movie', movies, run.targets.movies],
    ['tv', shows, run.targets.shows],
  ] as const) {
    const rows = await wanted(
      run,
      ids,
      (scoped, limit) => {
        const q = db
          .select({ id: table.tmdbRef, traktId: table.traktId, lastWatchedAt: table.lastWatchedAt })
          .from(table)
          .leftJoin(tmdbTitles, and(eq(tmdbTitles.kind, kind), eq(tmdbTitles.tmdbId, table.tmdbRef)))
          .where(
            and(
              eq(table.userId, userId),
              scoped ? inIds(table.traktId, ids) : undefined,
              isNotNull(table.tmdbRef),
              or(isNull(tmdbTitles.tmdbId), lt(tmdbTitles.fetchedAt, run.stale)),
            ),
          );
        // The backlog slice walks (user_id, last_watched_at) newest first; touched rows go by trakt id (sorted below).
        return limit === undefined ? q : q.orderBy(desc(table.lastWatchedAt)).limit(limit);
      },
      (r) => `${r.id}:${r.traktId}`,
    );
    for (const row of rows) {
      const key = `${kind}:${row.id}`;
      fetchedBy.set(key, [...(fetchedBy.get(key) ?? []), row.traktId]);
    }
    // Most recently watched first: the titles a user sees first get their posters first.
    rows.sort((a, b) => (a.lastWatchedAt < b.lastWatchedAt ? 1 : a.lastWatchedAt > b.lastWatchedAt ? -1 : 0));
    for (const id of new Set(rows.map((r) => r.id!))) wantedTitles.push({ kind, id });
  }
  const titleRows: Array<Record<string, unknown>> = [];
  await inGroups(
    run,
    take(run, wantedTitles).map((t) => async () => {
      const data = t.kind === 'movie' ? await run.client.movie(t.id) : await run.client.show(t.id);
      for (const traktId of fetchedBy.get(`${t.kind}:${t.id}`) ?? [])
        run.fetched[t.kind === 'movie' ? 'movies' : 'shows'].add(traktId);
      titleRows.push({
        kind: t.kind,
        tmdbId: t.id,
        status: data ? 'found' : 'missing',
        title: (data && 'title' in data ? data.title : data && 'name' in data ? data.name : null) ?? null,
        posterPath: data?.poster_path ?? null,
        backdropPath: data?.backdrop_path ?? null,
        overview: data?.overview ?? null,
        voteAverage: data?.vote_average ?? null,
        genres: data?.genres ? JSON.stringify(data.genres.map((genre) => genre.name)) : null,
        runtime: positiveMinutes(
          data && 'episode_run_time' in data
            ? data.episode_run_time?.[0]
            : data && 'runtime' in data
              ? data.runtime
              : null,
        ),
        // Shows: what the calendar of upcoming episodes reads (src/sharing/calendar.ts).
        showStatus: data && 'name' in data ? (data.status ?? null) : null,
        nextEpisode:
          data && 'name' in data && data.next_episode_to_air
            ? JSON.stringify({
                season: data.next_episode_to_air.season_number,
                episode: data.next_episode_to_air.episode_number,
                name: data.next_episode_to_air.name ?? null,
                overview: data.next_episode_to_air.overview ?? null,
                air_date: data.next_episode_to_air.air_date ?? null,
              })
            : null,
        fetchedAt: isoNow(run.now),
      });
    }),
  );
  run.result.titles = titleRows.length;
  return chunk(titleRows).map(
    (part) => sql`INSERT INTO tmdb_titles (kind, tmdb_id, status, title, poster_path, backdrop_path, overview,
      vote_average, genres, runtime, show_status, next_episode, fetched_at)
      SELECT json_extract(j.value, '$.kind'), json_extract(j.value, '$.tmdbId'), json_extract(j.value, '$.status'),
        json_extract(j.value, '$.title'),
             json_extract(j.value, '$.posterPath'), json_extract(j.value, '$.backdropPath'), json_extract(j.value,
               '$.overview'), json_extract(j.value, '$.voteAverage'),
             json_extract(j.value, '$.genres'), json_extract(j.value, '$.runtime'), json_extract(j.value, '$.showStatus'),
             json_extract(j.value, '$.nextEpisode'), json_extract(j.value, '$.fetchedAt')
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (kind, tmdb_id) DO UPDATE SET status = excluded.status, title = excluded.title,
        poster_path = excluded.poster_path, backdrop_path = excluded.backdrop_path,
        overview = excluded.overview, vote_average = excluded.vote_average, genres = excluded.genres,
          runtime = excluded.runtime, show_status = excluded.show_status, next_episode = excluded.next_episode,
          fetched_at = excluded.fetched_at`,
  );
}

/** 3. Seasons not cached yet: one call per season gives every episode's still, name, overview and rating. */
async function fetchSeasons(run: Run): Promise<SQL[]> {
  const { db, userId } = run;
  const rows = await wanted(
    run,
    run.targets.shows,
    (scoped, limit) => {
      const q = db
        .select({
          showId: shows.tmdbRef,
          traktId: shows.traktId,
          season: seasons.seasonNumber,
          lastWatchedAt: shows.lastWatchedAt,
        })
        .from(seasons)
        .innerJoin(shows, eq(shows.id, seasons.showId))
        .leftJoin(
          tmdbSeasons,
          and(eq(tmdbSeasons.tmdbShowId, shows.tmdbRef), eq(tmdbSeasons.seasonNumber, seasons.seasonNumber)),
        )
        .where(
          and(
            eq(shows.userId, userId),
            scoped ? inIds(shows.traktId, run.targets.shows) : undefined,
            isNotNull(shows.tmdbRef),
            or(isNull(tmdbSeasons.tmdbShowId), lt(tmdbSeasons.fetchedAt, run.stale)),
          ),
        );
      return limit === undefined ? q : q.orderBy(desc(shows.lastWatchedAt), seasons.seasonNumber).limit(limit);
    },
    (r) => `${r.showId}:${r.season}:${r.traktId}`,
  );
  rows.sort((a, b) =>
    a.lastWatchedAt !== b.lastWatchedAt ? (a.lastWatchedAt < b.lastWatchedAt ? 1 : -1) : a.season - b.season,
  );
  const uniqueSeasons = [...new Map(rows.map((r) => [`${r.showId}:${r.season}`, r])).values()];
  const seasonRows: Array<Record<string, unknown>> = [];
  const episodeRows: Array<Record<string, unknown>> = [];
  await inGroups(
    run,
    take(
      run,
      uniqueSeasons.map((r) => ({ showId: r.showId!, season: r.season })),
    ).map((s) => async () => {
      const data = await run.client.season(s.showId, s.season);
      for (const row of rows)
        if (row.showId === s.showId && row.season === s.season) run.fetched.seasons.add(`${row.traktId}:${s.season}`);
      seasonRows.push({
        tmdbShowId: s.showId,
        seasonNumber: s.season,
        status: data ? 'found' : 'missing',
        fetchedAt: isoNow(run.now),
      });
      for (const e of data?.episodes ?? []) {
        episodeRows.push({
          tmdbShowId: s.showId,
          seasonNumber: s.season,
          episodeNumber: e.episode_number,
          name: e.name ?? null,
          overview: e.overview ?? null,
          stillPath: e.still_path ?? null,
          voteAverage: e.vote_average ?? null,
          runtime: positiveMinutes(e.runtime),
          airDate: e.air_date ?? null,
        });
      }
    }),
  );
  run.result.seasons = seasonRows.length;
  return [
    ...chunk(episodeRows).map(
      (part) => sql`INSERT INTO tmdb_episodes (tmdb_show_id, season_number, episode_number, name, overview, still_path,
        vote_average, runtime, air_date)
        SELECT json_extract(j.value, '$.tmdbShowId'), json_extract(j.value, '$.seasonNumber'), json_extract(j.value,
          '$.episodeNumber'), json_extract(j.value, '$.name'),
               json_extract(j.value, '$.overview'), json_extract(j.value, '$.stillPath'), json_extract(j.value,
                 '$.voteAverage'), json_extract(j.value, '$.runtime'), json_extract(j.value, '$.airDate')
        FROM json_each(${JSON.stringify(part)}) AS j WHERE true
        ON CONFLICT (tmdb_show_id, season_number, episode_number) DO UPDATE SET name = excluded.name,
          overview = excluded.overview, still_path = excluded.still_path,
          vote_average = excluded.vote_average, runtime = excluded.runtime, air_date = excluded.air_date`,
    ),
    ...chunk(seasonRows).map(
      (part) => sql`INSERT INTO tmdb_seasons (tmdb_show_id, season_number, status, fetched_at)
        SELECT json_extract(j.value, '$.tmdbShowId'), json_extract(j.value, '$.seasonNumber'), json_extract(j.value,
          '$.status'), json_extract(j.value, '$.fetchedAt')
        FROM json_each(${JSON.stringify(part)}) AS j WHERE true
        ON CONFLICT (tmdb_show_id, season_number) DO UPDATE SET status = excluded.status,
          fetched_at = excluded.fetched_at`,
    ),
  ];
}

/**
 * Enriches the touched titles (and a backlog slice) within `budget` TMDB calls. Returns the
 * figures and whether a backlog remains for later runs. Writes go out in one batch per step.
 */
export async function enrichUser(
  env: Env,
  db: Database,
  userId: number,
  apiKey: TmdbKey,
  options: { targets: EnrichTargets; budget: number; now?: number },
): Promise<EnrichmentOutcome> {
  const result: EnrichmentResult = { calls: 0, titles: 0, seasons: 0, lookups: 0 };
  const hasWork = options.targets.backlog || options.targets.movies.length > 0 || options.targets.shows.length > 0;
  const none: FetchedTitles = { movies: [], shows: [], seasons: [] };
  if (apiKey === UNREADABLE_TMDB_KEY) {
    return { result: { ...result, skipped: 'tmdb_key_unreadable' }, backlog: hasWork, fetched: none };
  }
  if (typeof apiKey !== 'string' || !apiKey) {
    return { result: { ...result, skipped: 'no_tmdb_key' }, backlog: hasWork, fetched: none };
  }
  if (!hasWork) return { result, backlog: false, fetched: none };
  const now = options.now ?? Date.now();
  const run: Run = {
    env,
    db,
    userId,
    // Retries spend the same budget: the client never sends more requests than the run may make.
    client: TmdbClient.fromEnv(env, apiKey, Math.max(0, options.budget)),
    now,
    stale: isoNow(now - TMDB_REFRESH_AGE_MS),
    targets: options.targets,
    result,
    budget: Math.max(0, options.budget),
    more: false,
    fetched: { movies: new Set(), shows: new Set(), seasons: new Set() },
  };
  await runBatch(env.DB, await lookUpMissingIds(run));
  await runBatch(env.DB, await fetchTitles(run));
  if (options.targets.shows.length > 0 || options.targets.backlog) await runBatch(env.DB, await fetchSeasons(run));
  result.calls = run.client.calls;
  return {
    result,
    backlog: run.more,
    retryAfter: run.retryAfter,
    fetched: {
      movies: [...run.fetched.movies],
      shows: [...run.fetched.shows],
      seasons: [...run.fetched.seasons].map((key) => key.split(':').map(Number) as [number, number]),
    },
  };
}
