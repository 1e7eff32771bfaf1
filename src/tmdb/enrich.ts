/**
 * @module
 * TMDB enrichment after a sync: posters for movies and shows, stills/titles/overviews/ratings for
 * episodes (one /tv/{id}/season/{n} call per season, never one per episode), genres and runtimes
 * (movies, shows and episodes, for the stats' minutes), and /find for items
 * whose Trakt tmdb id is null. The cache is global (public data shared by every user who watched a
 * title), so a second user with the same titles costs no TMDB calls. Work per run is bounded (the
 * rest is picked up by the next run) and paced under TMDB's ~40 requests/second.
 */
import { and, eq, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import { optionalSecret } from '../config';
import type { KeyRing } from '../crypto/envelope';
import { type Database, isoNow, runBatch } from '../db/client';
import { movies, seasons, shows, tmdbExternalIds, tmdbSeasons, tmdbTitles } from '../db/schema';
import { chunk } from '../sync/store';
import { readApiKeys } from '../users/api-keys';
import { TmdbClient } from './client';

/** Default TMDB requests per run when the caller gives no budget (Workers cap subrequests per invocation). */
export const DEFAULT_TMDB_BUDGET = 300;
/** Cached metadata older than this is fetched again. */
export const TMDB_REFRESH_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** At most this many requests in flight, and each group takes at least PACE_MS: ≤ 32 requests/second, 80% of TMDB's ~40. */
const CONCURRENCY = 8;
const PACE_MS = 250;

export type EnrichmentResult = {
  calls: number;
  titles: number;
  seasons: number;
  lookups: number;
  skipped?: 'no_tmdb_key' | 'budget_exhausted';
};

/** TMDB reports unknown runtimes as 0 or null; both mean "unknown" here. */
function positiveMinutes(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : null;
}

export async function tmdbKeyFor(env: Env, db: Database, ring: KeyRing, userId: number): Promise<string | undefined> {
  const keys = await readApiKeys(db, ring, userId, ['tmdb']).catch(
    () => ({}) as Awaited<ReturnType<typeof readApiKeys>>,
  );
  return keys.tmdb?.secret ?? optionalSecret(env.TMDB_API_KEY);
}

/** Runs tasks CONCURRENCY at a time, each group taking at least PACE_MS. Failures of single tasks are returned, not thrown. */
async function paced<T>(
  tasks: Array<() => Promise<T>>,
  sleep: (ms: number) => Promise<void>,
): Promise<Array<PromiseSettledResult<T>>> {
  const results: Array<PromiseSettledResult<T>> = [];
  for (let i = 0; i < tasks.length; i += CONCURRENCY) {
    const started = Date.now();
    results.push(...(await Promise.allSettled(tasks.slice(i, i + CONCURRENCY).map((task) => task()))));
    const elapsed = Date.now() - started;
    if (i + CONCURRENCY < tasks.length && elapsed < PACE_MS) await sleep(PACE_MS - elapsed);
  }
  return results;
}

export async function enrichUser(
  env: Env,
  db: Database,
  ring: KeyRing,
  userId: number,
  options: { kinds: Array<'movies' | 'shows'>; now?: number; budget?: number; sleep?: (ms: number) => Promise<void> },
): Promise<EnrichmentResult> {
  const result: EnrichmentResult = { calls: 0, titles: 0, seasons: 0, lookups: 0 };
  const apiKey = await tmdbKeyFor(env, db, ring, userId);
  if (!apiKey) return { ...result, skipped: 'no_tmdb_key' };
  const client = TmdbClient.fromEnv(env, apiKey);
  const now = options.now ?? Date.now();
  const stale = isoNow(now - TMDB_REFRESH_AGE_MS);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let budget = Math.max(0, options.budget ?? DEFAULT_TMDB_BUDGET);
  const take = <T>(items: T[]) => {
    const taken = items.slice(0, Math.max(0, budget));
    budget -= taken.length;
    if (taken.length < items.length) result.skipped = 'budget_exhausted';
    return taken;
  };
  const statements: Array<ReturnType<typeof sql>> = [];
  const flush = async () => {
    await runBatch(env.DB, statements.splice(0));
  };

  // 1. Items without a TMDB id: look them up once by imdb (movies) or tvdb (shows) id.
  const lookups: Array<{ source: 'imdb_id' | 'tvdb_id'; externalId: string; kind: 'movie' | 'tv' }> = [];
  if (options.kinds.includes('movies')) {
    const rows = await db
      .selectDistinct({ externalId: movies.imdbId })
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
          isNull(movies.tmdbRef),
          isNotNull(movies.imdbId),
          isNull(tmdbExternalIds.externalId),
        ),
      );
    lookups.push(
      ...rows.map((r) => ({ source: 'imdb_id' as const, externalId: r.externalId!, kind: 'movie' as const })),
    );
  }
  if (options.kinds.includes('shows')) {
    const rows = await db
      .selectDistinct({ externalId: sql<string>`CAST(${shows.tvdbId} AS TEXT)` })
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
          isNull(shows.tmdbRef),
          isNotNull(shows.tvdbId),
          isNull(tmdbExternalIds.externalId),
        ),
      );
    lookups.push(...rows.map((r) => ({ source: 'tvdb_id' as const, externalId: r.externalId, kind: 'tv' as const })));
  }
  const found: Array<{ source: string; externalId: string; kind: string; tmdbId: number | null; fetchedAt: string }> =
    [];
  const lookupTasks = take(lookups).map((l) => async () => {
    const answer = await client.find(l.externalId, l.source);
    const match = l.kind === 'movie' ? answer?.movie_results?.[0] : answer?.tv_results?.[0];
    found.push({ ...l, tmdbId: match?.id ?? null, fetchedAt: isoNow(now) });
  });
  await paced(lookupTasks, sleep);
  result.lookups = found.length;
  for (const part of chunk(found)) {
    statements.push(sql`INSERT INTO tmdb_external_ids (source, external_id, kind, tmdb_id, fetched_at)
      SELECT json_extract(j.value, '$.source'), json_extract(j.value, '$.externalId'), json_extract(j.value, '$.kind'), json_extract(j.value, '$.tmdbId'), json_extract(j.value, '$.fetchedAt')
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (source, external_id, kind) DO UPDATE SET tmdb_id = excluded.tmdb_id, fetched_at = excluded.fetched_at`);
  }
  // Point the user's rows at ids found now or by earlier lookups (anyone's).
  if (options.kinds.includes('movies')) {
    statements.push(sql`UPDATE movies SET tmdb_ref = (SELECT x.tmdb_id FROM tmdb_external_ids x WHERE x.source = 'imdb_id' AND x.external_id = movies.imdb_id AND x.kind = 'movie')
      WHERE user_id = ${userId} AND tmdb_ref IS NULL AND imdb_id IS NOT NULL`);
  }
  if (options.kinds.includes('shows')) {
    statements.push(sql`UPDATE shows SET tmdb_ref = (SELECT x.tmdb_id FROM tmdb_external_ids x WHERE x.source = 'tvdb_id' AND x.external_id = CAST(shows.tvdb_id AS TEXT) AND x.kind = 'tv')
      WHERE user_id = ${userId} AND tmdb_ref IS NULL AND tvdb_id IS NOT NULL`);
  }
  await flush();

  // 2. Titles not cached yet (or stale): one call per movie/show.
  const wantedTitles: Array<{ kind: 'movie' | 'tv'; id: number }> = [];
  for (const [kind, table] of [
    ['movie', movies],
    ['tv', shows],
  ] as const) {
    if (!options.kinds.includes(kind === 'movie' ? 'movies' : 'shows')) continue;
    const rows = await db
      .selectDistinct({ id: table.tmdbRef })
      .from(table)
      .leftJoin(tmdbTitles, and(eq(tmdbTitles.kind, kind), eq(tmdbTitles.tmdbId, table.tmdbRef)))
      .where(
        and(
          eq(table.userId, userId),
          isNotNull(table.tmdbRef),
          or(isNull(tmdbTitles.tmdbId), lt(tmdbTitles.fetchedAt, stale)),
        ),
      );
    wantedTitles.push(...rows.map((r) => ({ kind, id: r.id! })));
  }
  const titleRows: Array<Record<string, unknown>> = [];
  await paced(
    take(wantedTitles).map((t) => async () => {
      const data = t.kind === 'movie' ? await client.movie(t.id) : await client.show(t.id);
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
        fetchedAt: isoNow(now),
      });
    }),
    sleep,
  );
  result.titles = titleRows.length;
  for (const part of chunk(titleRows)) {
    statements.push(sql`INSERT INTO tmdb_titles (kind, tmdb_id, status, title, poster_path, backdrop_path, overview, vote_average, genres, runtime, fetched_at)
      SELECT json_extract(j.value, '$.kind'), json_extract(j.value, '$.tmdbId'), json_extract(j.value, '$.status'), json_extract(j.value, '$.title'),
             json_extract(j.value, '$.posterPath'), json_extract(j.value, '$.backdropPath'), json_extract(j.value, '$.overview'), json_extract(j.value, '$.voteAverage'),
             json_extract(j.value, '$.genres'), json_extract(j.value, '$.runtime'), json_extract(j.value, '$.fetchedAt')
      FROM json_each(${JSON.stringify(part)}) AS j WHERE true
      ON CONFLICT (kind, tmdb_id) DO UPDATE SET status = excluded.status, title = excluded.title, poster_path = excluded.poster_path, backdrop_path = excluded.backdrop_path,
        overview = excluded.overview, vote_average = excluded.vote_average, genres = excluded.genres, runtime = excluded.runtime, fetched_at = excluded.fetched_at`);
  }
  await flush();

  // 3. Seasons not cached yet: one call per season gives every episode's still, name, overview and rating.
  if (options.kinds.includes('shows')) {
    const rows = await db
      .selectDistinct({ showId: shows.tmdbRef, season: seasons.seasonNumber })
      .from(seasons)
      .innerJoin(shows, eq(shows.id, seasons.showId))
      .leftJoin(
        tmdbSeasons,
        and(eq(tmdbSeasons.tmdbShowId, shows.tmdbRef), eq(tmdbSeasons.seasonNumber, seasons.seasonNumber)),
      )
      .where(
        and(
          eq(shows.userId, userId),
          isNotNull(shows.tmdbRef),
          or(isNull(tmdbSeasons.tmdbShowId), lt(tmdbSeasons.fetchedAt, stale)),
        ),
      );
    const seasonRows: Array<Record<string, unknown>> = [];
    const episodeRows: Array<Record<string, unknown>> = [];
    await paced(
      take(rows.map((r) => ({ showId: r.showId!, season: r.season }))).map((s) => async () => {
        const data = await client.season(s.showId, s.season);
        seasonRows.push({
          tmdbShowId: s.showId,
          seasonNumber: s.season,
          status: data ? 'found' : 'missing',
          fetchedAt: isoNow(now),
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
          });
        }
      }),
      sleep,
    );
    result.seasons = seasonRows.length;
    for (const part of chunk(episodeRows)) {
      statements.push(sql`INSERT INTO tmdb_episodes (tmdb_show_id, season_number, episode_number, name, overview, still_path, vote_average, runtime)
        SELECT json_extract(j.value, '$.tmdbShowId'), json_extract(j.value, '$.seasonNumber'), json_extract(j.value, '$.episodeNumber'), json_extract(j.value, '$.name'),
               json_extract(j.value, '$.overview'), json_extract(j.value, '$.stillPath'), json_extract(j.value, '$.voteAverage'), json_extract(j.value, '$.runtime')
        FROM json_each(${JSON.stringify(part)}) AS j WHERE true
        ON CONFLICT (tmdb_show_id, season_number, episode_number) DO UPDATE SET name = excluded.name, overview = excluded.overview, still_path = excluded.still_path,
          vote_average = excluded.vote_average, runtime = excluded.runtime`);
    }
    for (const part of chunk(seasonRows)) {
      statements.push(sql`INSERT INTO tmdb_seasons (tmdb_show_id, season_number, status, fetched_at)
        SELECT json_extract(j.value, '$.tmdbShowId'), json_extract(j.value, '$.seasonNumber'), json_extract(j.value, '$.status'), json_extract(j.value, '$.fetchedAt')
        FROM json_each(${JSON.stringify(part)}) AS j WHERE true
        ON CONFLICT (tmdb_show_id, season_number) DO UPDATE SET status = excluded.status, fetched_at = excluded.fetched_at`);
    }
    await flush();
  }
  result.calls = client.calls;
  return result;
}
