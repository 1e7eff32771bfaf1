/**
 * @module
 * The read side: stored history served from D1 only (no upstream call on the read path).
 * Every query walks an index; unfiltered list totals come from the counts the sync keeps
 * (src/sync/state.ts), so a page never counts the whole collection. Each endpoint is ONE D1 round trip:
 * its queries and the freshness row (the ETag source) go in one `db.batch()`.
 */
import { and, asc, count, desc, eq, isNull, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { BatchResponse } from 'drizzle-orm/batch';
import type { Database } from '../db/client';
import { episodes, movies, seasons, shows, tmdbSeasons, tmdbTitles } from '../db/schema';
import {
  backgroundViewOf,
  type SyncStateRow,
  storedTitleCountQuery,
  syncProgressOf,
  syncStateQuery,
} from '../sync/state';
import { APP_REJECTED } from '../trakt/client';
import { type ConnectionSummary, connectionSummaryQuery, connectionView } from '../trakt/connections';
import { freshnessQuery } from './freshness';

export type PageRequest = { page: number; page_size: number };

export function pageMeta(request: PageRequest, totalItems: number) {
  return {
    page: request.page,
    page_size: request.page_size,
    total_items: totalItems,
    total_pages: Math.ceil(totalItems / request.page_size),
  };
}

export function imageUrl(
  base: string,
  size: 'w500' | 'w300' | 'w1280',
  path: string | null | undefined,
): string | null {
  return path ? `${base.replace(/\/$/, '')}/${size}${path}` : null;
}

export type ListSort = 'last_watched' | 'title' | 'plays' | 'year';
export type ListRequest = PageRequest & {
  sort: ListSort;
  order: 'asc' | 'desc';
  q?: string;
  year?: number;
  /** One title by Trakt's ids: its Trakt id, or the TMDB id Trakt reports (NowPlaying's detail and update pages). */
  traktId?: number;
  tmdbId?: number;
};

const isFiltered = (request: ListRequest) =>
  !!request.q || request.year !== undefined || request.traktId !== undefined || request.tmdbId !== undefined;

function parseGenres(json: string | null): string[] | null {
  if (!json) return null;
  try {
    const parsed = JSON.parse(json) as unknown;
    return Array.isArray(parsed) ? parsed.filter((name): name is string => typeof name === 'string') : null;
  } catch {
    return null;
  }
}

/** TMDB fields shared by movies and shows, null until enriched. */
function enrichment(
  row: {
    overview: string | null;
    backdropPath: string | null;
    genres: string | null;
    runtime: number | null;
    rating: number | null;
  },
  imageBase: string,
) {
  return {
    overview: row.overview,
    backdrop_url: imageUrl(imageBase, 'w1280', row.backdropPath),
    genres: parseGenres(row.genres),
    runtime: row.runtime,
    rating: row.rating,
  };
}

type Listed = typeof movies | typeof shows;

/**
 * ORDER BY for a sort key: each walks its own `(user_id, key, …)` index, whose last column (a movie's trakt id,
 * a show's row id) breaks ties in the same direction; a movie's plays and year have no index (they sort the
 * user's movies: STORAGE.md).
 */
function listOrder(table: Listed, request: ListRequest): SQL[] {
  const direction = request.order === 'asc' ? asc : desc;
  const key = {
    last_watched: table.lastWatchedAt,
    title: sql`${table.title} COLLATE NOCASE`,
    plays: table.plays,
    year: table.year,
  }[request.sort];
  return [direction(key), direction(table === movies ? movies.traktId : shows.id)];
}

function listWhere(table: Listed, userId: number, request: ListRequest): SQL {
  const conditions: SQL[] = [eq(table.userId, userId)];
  if (request.q) conditions.push(sql`instr(lower(${table.title}), lower(${request.q})) > 0`);
  if (request.year !== undefined) conditions.push(eq(table.year, request.year));
  if (request.traktId !== undefined) conditions.push(eq(table.traktId, request.traktId));
  if (request.tmdbId !== undefined) conditions.push(eq(table.tmdbId, request.tmdbId));
  return and(...conditions)!;
}

/**
 * Totals: unfiltered lists take the count the sync keeps (one row of its state); filtered ones
 * count the matches (the user's titles, through the user index).
 */
function totalQuery(db: Database, table: Listed, userId: number, request: ListRequest) {
  if (isFiltered(request)) {
    return db
      .select({ total: count() })
      .from(table)
      .where(listWhere(table, userId, request));
  }
  return storedTitleCountQuery(db, userId, table === movies ? 'movies' : 'shows');
}

const offsetOf = (request: PageRequest) => (request.page - 1) * request.page_size;

/** The TMDB fields a list item shows (poster, and `enrichment()`'s fields), joined from the title cache. */
const TMDB_LIST_COLUMNS = {
  posterPath: tmdbTitles.posterPath,
  backdropPath: tmdbTitles.backdropPath,
  overview: tmdbTitles.overview,
  genres: tmdbTitles.genres,
  runtime: tmdbTitles.runtime,
  rating: tmdbTitles.voteAverage,
};

/** One D1 round trip: freshness, the page and its total in one batch. */
export async function storedMovies(db: Database, userId: number, request: ListRequest, imageBase: string) {
  const [freshness, rows, total] = await db.batch([
    freshnessQuery(db, userId),
    db
      .select({
        plays: movies.plays,
        lastWatchedAt: movies.lastWatchedAt,
        lastUpdatedAt: movies.lastUpdatedAt,
        title: movies.title,
        year: movies.year,
        traktId: movies.traktId,
        slug: movies.slug,
        imdbId: movies.imdbId,
        tmdbId: movies.tmdbId,
        ...TMDB_LIST_COLUMNS,
      })
      .from(movies)
      .leftJoin(tmdbTitles, and(eq(tmdbTitles.kind, 'movie'), eq(tmdbTitles.tmdbId, movies.tmdbRef)))
      .where(listWhere(movies, userId, request))
      .orderBy(...listOrder(movies, request))
      .limit(request.page_size)
      .offset(offsetOf(request)),
    totalQuery(db, movies, userId, request),
  ]);
  return {
    freshness: freshness[0],
    body: {
      ...pageMeta(request, total[0]?.total ?? 0),
      movies: rows.map((r) => ({
        plays: r.plays,
        last_watched_at: r.lastWatchedAt,
        last_updated_at: r.lastUpdatedAt,
        movie: {
          title: r.title,
          year: r.year,
          image_url: imageUrl(imageBase, 'w500', r.posterPath),
          ids: { trakt: r.traktId, slug: r.slug, imdb: r.imdbId, tmdb: r.tmdbId },
          ...enrichment(r, imageBase),
        },
      })),
    },
  };
}

export async function storedShows(db: Database, userId: number, request: ListRequest, imageBase: string) {
  const [freshness, rows, total] = await db.batch([
    freshnessQuery(db, userId),
    db
      .select({
        id: shows.id,
        title: shows.title,
        year: shows.year,
        traktId: shows.traktId,
        tmdbId: shows.tmdbId,
        plays: shows.plays,
        lastWatchedAt: shows.lastWatchedAt,
        resetAt: shows.resetAt,
        ...TMDB_LIST_COLUMNS,
      })
      .from(shows)
      .leftJoin(tmdbTitles, and(eq(tmdbTitles.kind, 'tv'), eq(tmdbTitles.tmdbId, shows.tmdbRef)))
      .where(listWhere(shows, userId, request))
      .orderBy(...listOrder(shows, request))
      .limit(request.page_size)
      .offset(offsetOf(request)),
    totalQuery(db, shows, userId, request),
  ]);
  return {
    freshness: freshness[0],
    body: {
      ...pageMeta(request, total[0]?.total ?? 0),
      shows: rows.map((r) => ({
        last_watched_at: r.lastWatchedAt,
        plays: r.plays,
        reset_at: r.resetAt,
        show: {
          id: r.id,
          title: r.title,
          year: r.year,
          image_url: imageUrl(imageBase, 'w500', r.posterPath),
          ids: { trakt: r.traktId, tmdb: r.tmdbId },
          ...enrichment(r, imageBase),
        },
      })),
    },
  };
}

/** The show of `(user_id, trakt_id)`, for the seasons-episodes queries (each joins it itself: one round trip). */
const theShow = (userId: number, showTraktId: number) => and(eq(shows.userId, userId), eq(shows.traktId, showTraktId));

/** What is known of each stored season's full episode list: TMDB's season data, if it was fetched. */
function seasonCatalogueQuery(db: Database, userId: number, showTraktId: number) {
  return db
    .select({
      seasonNumber: seasons.seasonNumber,
      status: tmdbSeasons.status,
      episodeCount: sql<number>`(SELECT count(*) FROM json_each(${tmdbSeasons.episodes}))`.as('episode_count'),
    })
    .from(shows)
    .innerJoin(seasons, eq(seasons.showId, shows.id))
    .leftJoin(
      tmdbSeasons,
      and(eq(tmdbSeasons.tmdbShowId, shows.tmdbRef), eq(tmdbSeasons.seasonNumber, seasons.seasonNumber)),
    )
    .where(theShow(userId, showTraktId))
    .orderBy(asc(seasons.seasonNumber));
}

/** One episode of a cached TMDB season's JSON (`tmdb_seasons.episodes`), walked with json_each as `te`. */
const TMDB_EPISODE = sql`json_each(${tmdbSeasons.episodes}) AS te`;
const tmdbEpisodeNumber = sql<number>`CAST(te.key AS integer)`;
const teField = <T>(field: 'name' | 'overview' | 'still_path' | 'vote_average') =>
  sql<T>`json_extract(te.value, ${`$.${field}`})`;

/** Episodes TMDB lists for the stored seasons that have no stored episode (never watched nor started). */
function unwatchedEpisodesQuery(db: Database, userId: number, showTraktId: number) {
  return db
    .select({
      seasonId: seasons.id,
      seasonNumber: seasons.seasonNumber,
      episodeNumber: tmdbEpisodeNumber.as('tmdb_episode_number'),
      name: teField<string | null>('name').as('tmdb_name'),
      overview: teField<string | null>('overview').as('tmdb_overview'),
      stillPath: teField<string | null>('still_path').as('tmdb_still_path'),
      rating: teField<number | null>('vote_average').as('tmdb_rating'),
    })
    .from(shows)
    .innerJoin(seasons, eq(seasons.showId, shows.id))
    .innerJoin(
      tmdbSeasons,
      and(
        eq(tmdbSeasons.tmdbShowId, shows.tmdbRef),
        eq(tmdbSeasons.seasonNumber, seasons.seasonNumber),
        eq(tmdbSeasons.status, 'found'),
      ),
    )
    .innerJoin(TMDB_EPISODE, sql`true`)
    .leftJoin(episodes, and(eq(episodes.seasonId, seasons.id), eq(episodes.episodeNumber, tmdbEpisodeNumber)))
    .where(and(theShow(userId, showTraktId), isNull(episodes.seasonId)))
    .orderBy(asc(seasons.seasonNumber), asc(tmdbEpisodeNumber));
}

/** The show's own figures beyond the seasons: Trakt's aired episode count and TMDB's genres. */
function showCatalogueQuery(db: Database, userId: number, showTraktId: number) {
  return db
    .select({ airedEpisodes: shows.airedEpisodes, tmdbRef: shows.tmdbRef, genres: tmdbTitles.genres })
    .from(shows)
    .leftJoin(tmdbTitles, and(eq(tmdbTitles.kind, 'tv'), eq(tmdbTitles.tmdbId, shows.tmdbRef)))
    .where(theShow(userId, showTraktId))
    .limit(1);
}

/**
 * The id an episode is shown with (the API reference's `id`): derived from its key (season row id, episode
 * number), since episodes are stored WITHOUT ROWID on that key. Unique and stable for episode numbers below 2^20.
 */
export const EPISODE_ID = sql<number>`(${episodes.seasonId} * 1048576 + ${episodes.episodeNumber})`;

/** A field of an episode in its cached TMDB season (`tmdb_seasons.episodes`, one JSON object per season). */
export function tmdbEpisodeField<T>(
  episodeNumber: SQLWrapper,
  field: 'name' | 'overview' | 'still_path' | 'vote_average' | 'runtime' | 'air_date',
) {
  return sql<T>`json_extract(${tmdbSeasons.episodes}, '$."' || ${episodeNumber} || '".${sql.raw(field)}')`;
}

/**
 * Seasons and episodes of one of the user's shows, ordered by season then episode; `body` is
 * undefined if the user has no such show. One D1 round trip: every query joins the show by
 * `(user_id, trakt_id)` itself instead of waiting for its id, and reaches episodes through their seasons.
 *
 * `everyEpisode` (NowPlaying's show page, src/nowplaying/) adds `catalogue`: what is known of the full
 * episode list from data already stored, with no upstream call: the episodes TMDB lists for each
 * stored season that the user has no row for, each season's TMDB status and episode count (null
 * status: never fetched), and the show's aired episode count from Trakt and genres from TMDB.
 */
export async function watchedSeasonsEpisodes(
  db: Database,
  userId: number,
  showTraktId: number,
  imageBase: string,
  options: { everyEpisode?: boolean } = {},
) {
  const show = theShow(userId, showTraktId);
  const reads = [
    freshnessQuery(db, userId),
    db.select({ id: shows.id, title: shows.title, traktId: shows.traktId }).from(shows).where(show).limit(1),
    db
      .select({ id: seasons.id, seasonNumber: seasons.seasonNumber })
      .from(seasons)
      .innerJoin(shows, eq(shows.id, seasons.showId))
      .where(show)
      .orderBy(asc(seasons.seasonNumber)),
    db
      .select({
        id: EPISODE_ID,
        seasonId: episodes.seasonId,
        episodeNumber: episodes.episodeNumber,
        title: episodes.title,
        plays: episodes.plays,
        lastWatchedAt: episodes.lastWatchedAt,
        progress: episodes.progress,
        seasonNumber: seasons.seasonNumber,
        tmdbName: tmdbEpisodeField<string | null>(episodes.episodeNumber, 'name'),
        overview: tmdbEpisodeField<string | null>(episodes.episodeNumber, 'overview'),
        stillPath: tmdbEpisodeField<string | null>(episodes.episodeNumber, 'still_path'),
        rating: tmdbEpisodeField<number | null>(episodes.episodeNumber, 'vote_average'),
      })
      .from(shows)
      .innerJoin(seasons, eq(seasons.showId, shows.id))
      .innerJoin(episodes, eq(episodes.seasonId, seasons.id))
      .leftJoin(
        tmdbSeasons,
        and(eq(tmdbSeasons.tmdbShowId, shows.tmdbRef), eq(tmdbSeasons.seasonNumber, seasons.seasonNumber)),
      )
      .where(show)
      .orderBy(asc(seasons.seasonNumber), asc(episodes.episodeNumber)),
  ] as const;
  type Rows = BatchResponse<typeof reads>;
  const shape = ([freshness, showRows, seasonRows, episodeRows]: Rows) => {
    const found = showRows[0];
    if (!found) return { freshness: freshness[0], body: undefined };
    const showFields = { show__id: found.id, show__title: found.title, show__trakt_id: found.traktId };
    return {
      freshness: freshness[0],
      body: {
        seasons: seasonRows.map((s) => ({ id: s.id, season_number: s.seasonNumber, ...showFields })),
        episodes: episodeRows.map((e) => ({
          id: e.id,
          episode_number: e.episodeNumber,
          title: e.tmdbName ?? e.title,
          image_url: imageUrl(imageBase, 'w300', e.stillPath),
          rating: e.rating,
          overview: e.overview,
          season__id: e.seasonId,
          season__season_number: e.seasonNumber,
          ...showFields,
          last_watched_at: e.lastWatchedAt,
          progress: e.progress,
          plays: e.plays,
        })),
      },
    };
  };
  if (!options.everyEpisode) return { ...shape(await db.batch(reads)), catalogue: undefined };

  const [freshness, showRows, seasonRows, episodeRows, unwatched, seasonStatus, figures] = await db.batch([
    ...reads,
    unwatchedEpisodesQuery(db, userId, showTraktId),
    seasonCatalogueQuery(db, userId, showTraktId),
    showCatalogueQuery(db, userId, showTraktId),
  ]);
  const shaped = shape([freshness, showRows, seasonRows, episodeRows]);
  if (!shaped.body) return { ...shaped, catalogue: undefined };
  return {
    ...shaped,
    catalogue: {
      unwatched: unwatched.map((e) => ({
        season__id: e.seasonId,
        season__season_number: e.seasonNumber,
        episode_number: e.episodeNumber,
        title: e.name,
        overview: e.overview,
        image_url: imageUrl(imageBase, 'w300', e.stillPath),
        rating: e.rating,
      })),
      seasons: seasonStatus.map((row) => ({
        seasonNumber: row.seasonNumber,
        tmdb: row.status ?? ('not_fetched' as const),
        episodeCount: row.status === 'found' ? row.episodeCount : null,
      })),
      airedEpisodes: figures[0]?.airedEpisodes ?? null,
      hasTmdbId: figures[0]?.tmdbRef != null,
      genres: parseGenres(figures[0]?.genres ?? null),
    },
  };
}

/**
 * Of the user's `limit` most recently watched shows, those watched to the end: every aired episode
 * that Trakt counts (`aired_episodes`, specials excluded) has a play. A show whose episode count is
 * unknown (null or 0) is never complete. Reads those shows and their episode rows only.
 */
export async function completedShows(db: Database, userId: number, imageBase: string, limit = 100) {
  const recent = db
    .select({
      id: shows.id,
      title: shows.title,
      year: shows.year,
      traktId: shows.traktId,
      tmdbId: shows.tmdbId,
      tmdbRef: shows.tmdbRef,
      airedEpisodes: shows.airedEpisodes,
      lastWatchedAt: shows.lastWatchedAt,
    })
    .from(shows)
    .where(eq(shows.userId, userId))
    .orderBy(desc(shows.lastWatchedAt), desc(shows.id))
    .limit(limit)
    .as('recent');
  const watchedEpisodes = sql<number>`(SELECT count(*) FROM ${seasons}
    JOIN ${episodes} ON ${episodes.seasonId} = ${seasons.id}
    WHERE ${seasons.showId} = ${recent.id} AND ${seasons.seasonNumber} > 0 AND ${episodes.plays} > 0)`;
  const rows = await db
    .select({
      id: recent.id,
      title: recent.title,
      year: recent.year,
      traktId: recent.traktId,
      tmdbId: recent.tmdbId,
      lastWatchedAt: recent.lastWatchedAt,
      posterPath: tmdbTitles.posterPath,
    })
    .from(recent)
    .leftJoin(tmdbTitles, and(eq(tmdbTitles.kind, 'tv'), eq(tmdbTitles.tmdbId, recent.tmdbRef)))
    .where(and(sql`${recent.airedEpisodes} > 0`, sql`${watchedEpisodes} >= ${recent.airedEpisodes}`))
    .orderBy(desc(recent.lastWatchedAt));
  return rows.map((r) => ({
    id: r.id,
    title: r.title,
    year: r.year,
    image_url: imageUrl(imageBase, 'w500', r.posterPath),
    trakt_id: r.traktId,
    tmdb_id: r.tmdbId,
    last_watched_at: r.lastWatchedAt,
  }));
}

/**
 * The user's stored episodes whose title (TMDB's, else Trakt's) or show title contains `q` (any case),
 * by title, at most `limit`. Scans the user's shows and their episodes (no title index for episodes).
 */
export async function searchEpisodes(db: Database, userId: number, q: string, imageBase: string, limit = 20) {
  const title = sql<string | null>`coalesce(${tmdbEpisodeField(episodes.episodeNumber, 'name')}, ${episodes.title})`;
  const rows = await db
    .select({
      id: EPISODE_ID,
      traktId: episodes.traktId,
      episodeNumber: episodes.episodeNumber,
      seasonNumber: seasons.seasonNumber,
      title: title.as('episode_title'),
      stillPath: tmdbEpisodeField<string | null>(episodes.episodeNumber, 'still_path'),
      showId: shows.id,
      showTraktId: shows.traktId,
      showTitle: shows.title,
      showYear: shows.year,
      showTmdbId: shows.tmdbId,
    })
    .from(shows)
    .innerJoin(seasons, eq(seasons.showId, shows.id))
    .innerJoin(episodes, eq(episodes.seasonId, seasons.id))
    .leftJoin(
      tmdbSeasons,
      and(eq(tmdbSeasons.tmdbShowId, shows.tmdbRef), eq(tmdbSeasons.seasonNumber, seasons.seasonNumber)),
    )
    .where(
      and(
        eq(shows.userId, userId),
        sql`(instr(lower(${title}), lower(${q})) > 0 OR instr(lower(${shows.title}), lower(${q})) > 0)`,
      ),
    )
    .orderBy(sql`${title} COLLATE NOCASE`, asc(shows.title), asc(seasons.seasonNumber), asc(episodes.episodeNumber))
    .limit(limit);
  return rows.map((r) => ({
    id: r.id,
    traktId: r.traktId,
    title: r.title,
    imageUrl: imageUrl(imageBase, 'w300', r.stillPath),
    seasonNumber: r.seasonNumber,
    episodeNumber: r.episodeNumber,
    show: { id: r.showId, traktId: r.showTraktId, title: r.showTitle, year: r.showYear, tmdbId: r.showTmdbId },
  }));
}

/** One D1 round trip: freshness, sync state and connection in one batch. */
export async function syncStatus(db: Database, userId: number, now = Date.now()) {
  const [freshness, states, connections] = await db.batch([
    freshnessQuery(db, userId),
    syncStateQuery(db, userId),
    connectionSummaryQuery(db, userId),
  ]);
  const connection = connections[0];
  return { freshness: freshness[0], connection, body: syncStatusBody(states[0], connection, now) };
}

/** What the sync-status ETag covers of the connection: the state it shows and the next run. */
export function connectionTagInputs(connection: ConnectionSummary, now: number): string[] {
  return [connectionView(connection, now).state, connection?.nextSyncAt ?? ''];
}

function syncStatusBody(state: SyncStateRow | undefined, connection: ConnectionSummary, now: number) {
  const status = connectionView(connection, now).state;
  return {
    connected: status === 'active',
    status,
    // The Trakt app behind the connection no longer works: what happened and the way out.
    ...(status === 'app_rejected' ? { message: APP_REJECTED } : {}),
    last_sync_at: state?.lastSyncAt ?? null,
    last_result: state?.lastResult ? (JSON.parse(state.lastResult) as unknown) : null,
    last_error: state?.lastError ?? null,
    next_sync_at: connection?.nextSyncAt ?? null,
    in_progress: !!state?.leaseUntil && Date.parse(state.leaseUntil) > now,
    progress: syncProgressOf(state),
    counts: {
      movies: state?.movieCount ?? 0,
      shows: state?.showCount ?? 0,
      episodes: state?.episodeCount ?? 0,
      plays: (state?.moviePlayCount ?? 0) + (state?.episodePlayCount ?? 0),
    },
    ...backgroundViewOf(state, now),
  };
}
