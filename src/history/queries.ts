/**
 * @module
 * The read side: stored history served from D1 only (no upstream call on the read path).
 * Every query walks an index; list totals come from the counts the sync keeps in `sync_state`,
 * so a page never counts the whole collection.
 */
import { and, asc, desc, eq } from 'drizzle-orm';
import type { Database } from '../db/client';
import { episodes, movies, seasons, shows, tmdbEpisodes, tmdbTitles } from '../db/schema';
import { syncProgressOf } from '../sync/service';
import { readStoredCounts, readSyncState } from '../sync/state';
import { readConnectionSummary } from '../trakt/connections';

export type PageRequest = { page: number; page_size: number };

export function pageMeta(request: PageRequest, totalItems: number) {
  return {
    page: request.page,
    page_size: request.page_size,
    total_items: totalItems,
    total_pages: Math.ceil(totalItems / request.page_size),
  };
}

export function imageUrl(base: string, size: 'w500' | 'w300', path: string | null | undefined): string | null {
  return path ? `${base.replace(/\/$/, '')}/${size}${path}` : null;
}

const counts = readStoredCounts;

export async function storedMovies(db: Database, userId: number, request: PageRequest, imageBase: string) {
  const rows = await db
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
      posterPath: tmdbTitles.posterPath,
    })
    .from(movies)
    .leftJoin(tmdbTitles, and(eq(tmdbTitles.kind, 'movie'), eq(tmdbTitles.tmdbId, movies.tmdbRef)))
    .where(eq(movies.userId, userId))
    .orderBy(desc(movies.lastWatchedAt), desc(movies.id))
    .limit(request.page_size)
    .offset((request.page - 1) * request.page_size);
  const total = (await counts(db, userId))?.movieCount ?? 0;
  return {
    ...pageMeta(request, total),
    movies: rows.map((r) => ({
      plays: r.plays,
      last_watched_at: r.lastWatchedAt,
      last_updated_at: r.lastUpdatedAt,
      movie: {
        title: r.title,
        year: r.year,
        image_url: imageUrl(imageBase, 'w500', r.posterPath),
        ids: { trakt: r.traktId, slug: r.slug, imdb: r.imdbId, tmdb: r.tmdbId },
      },
    })),
  };
}

export async function storedShows(db: Database, userId: number, request: PageRequest, imageBase: string) {
  const rows = await db
    .select({
      id: shows.id,
      title: shows.title,
      year: shows.year,
      traktId: shows.traktId,
      tmdbId: shows.tmdbId,
      lastWatchedAt: shows.lastWatchedAt,
      posterPath: tmdbTitles.posterPath,
    })
    .from(shows)
    .leftJoin(tmdbTitles, and(eq(tmdbTitles.kind, 'tv'), eq(tmdbTitles.tmdbId, shows.tmdbRef)))
    .where(eq(shows.userId, userId))
    .orderBy(desc(shows.lastWatchedAt), desc(shows.id))
    .limit(request.page_size)
    .offset((request.page - 1) * request.page_size);
  const total = (await counts(db, userId))?.showCount ?? 0;
  return {
    ...pageMeta(request, total),
    shows: rows.map((r) => ({
      last_watched_at: r.lastWatchedAt,
      show: {
        id: r.id,
        title: r.title,
        year: r.year,
        image_url: imageUrl(imageBase, 'w500', r.posterPath),
        ids: { trakt: r.traktId, tmdb: r.tmdbId },
      },
    })),
  };
}

/** Seasons and episodes of one of the user's shows, ordered by season then episode; undefined if the user has no such show. */
export async function watchedSeasonsEpisodes(db: Database, userId: number, showTraktId: number, imageBase: string) {
  const show = await db.query.shows.findFirst({
    columns: { id: true, title: true, traktId: true, tmdbRef: true },
    where: and(eq(shows.userId, userId), eq(shows.traktId, showTraktId)),
  });
  if (!show) return undefined;
  const seasonRows = await db
    .select({ id: seasons.id, seasonNumber: seasons.seasonNumber })
    .from(seasons)
    .where(eq(seasons.showId, show.id))
    .orderBy(asc(seasons.seasonNumber));
  const seasonNumberById = new Map(seasonRows.map((s) => [s.id, s.seasonNumber]));
  const episodeRows = await db
    .select({
      id: episodes.id,
      seasonId: episodes.seasonId,
      episodeNumber: episodes.episodeNumber,
      title: episodes.title,
      plays: episodes.plays,
      lastWatchedAt: episodes.lastWatchedAt,
      progress: episodes.progress,
      seasonNumber: seasons.seasonNumber,
      tmdbName: tmdbEpisodes.name,
      overview: tmdbEpisodes.overview,
      stillPath: tmdbEpisodes.stillPath,
      rating: tmdbEpisodes.voteAverage,
    })
    .from(episodes)
    .innerJoin(seasons, eq(seasons.id, episodes.seasonId))
    .leftJoin(
      tmdbEpisodes,
      and(
        eq(tmdbEpisodes.tmdbShowId, show.tmdbRef ?? -1),
        eq(tmdbEpisodes.seasonNumber, seasons.seasonNumber),
        eq(tmdbEpisodes.episodeNumber, episodes.episodeNumber),
      ),
    )
    .where(eq(episodes.showId, show.id))
    .orderBy(asc(seasons.seasonNumber), asc(episodes.episodeNumber));
  const showFields = { show__id: show.id, show__title: show.title, show__trakt_id: show.traktId };
  return {
    seasons: seasonRows.map((s) => ({ id: s.id, season_number: s.seasonNumber, ...showFields })),
    episodes: episodeRows.map((e) => ({
      id: e.id,
      episode_number: e.episodeNumber,
      title: e.tmdbName ?? e.title,
      image_url: imageUrl(imageBase, 'w300', e.stillPath),
      rating: e.rating,
      overview: e.overview,
      season__id: e.seasonId,
      season__season_number: seasonNumberById.get(e.seasonId) ?? e.seasonNumber,
      ...showFields,
      last_watched_at: e.lastWatchedAt,
      progress: e.progress,
      plays: e.plays,
    })),
  };
}

export async function syncStatus(db: Database, userId: number, now = Date.now()) {
  const [state, connection] = await Promise.all([readSyncState(db, userId), readConnectionSummary(db, userId)]);
  // A connection whose refresh token Trakt refused still works until its access token expires.
  const status =
    !connection || connection.status === 'disconnecting'
      ? ('not_connected' as const)
      : connection.status === 'refresh_rejected'
        ? Date.parse(connection.expiresAt) > now
          ? ('active' as const)
          : ('reauthorization_required' as const)
        : connection.status;
  return {
    connected: status === 'active',
    status,
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
  };
}
