/**
 * @module
 * What the public answers read from D1 (through the history read model's own queries): the recent
 * plays and the stats summary. Pure shaping is separate from the reads, so it is easy to test.
 */

import { SHARE_RECENT_LIMIT } from '../config';
import type { Database } from '../db/client';
import type { PlayRecord } from '../history/plays-list';
import { readHistoryPage } from '../history/plays-list';
import { imageUrl } from '../history/queries';
import { readStats } from '../history/stats-read';
import type { PublicPlay, PublicStatsOutput } from './schemas';

/** A stored play in the public shape (also the webhook body's, plus its history id). */
export function publicPlay(row: PlayRecord, imageBase: string): PublicPlay {
  if (row.mediaType === 'movie') {
    return {
      watched_at: row.watchedAt,
      type: 'movie',
      title: row.movieTitle,
      year: row.movieYear,
      show: null,
      season: null,
      episode: null,
      ids: { trakt: row.movieTraktId ?? 0, slug: row.movieSlug, imdb: row.movieImdb, tmdb: row.movieTmdb },
      poster_url: imageUrl(imageBase, 'w500', row.moviePoster),
    };
  }
  return {
    watched_at: row.watchedAt,
    type: 'episode',
    title: row.episodeTmdbName ?? row.episodeTitle,
    year: row.showYear,
    show: row.showTitle,
    season: row.seasonNumber,
    episode: row.episodeNumber,
    ids: {
      trakt: row.showTraktId ?? 0,
      slug: row.showSlug,
      imdb: row.showImdb,
      tmdb: row.showTmdb,
      tvdb: row.showTvdb,
    },
    poster_url: imageUrl(imageBase, 'w500', row.showPoster),
  };
}

export type RecentPlay = PublicPlay & { history_id: number };

/** The newest plays (at most SHARE_RECENT_LIMIT), newest first: one D1 round trip. */
export async function readRecentPlays(db: Database, userId: number, imageBase: string): Promise<RecentPlay[]> {
  const page = await readHistoryPage(db, userId, {}, undefined, SHARE_RECENT_LIMIT);
  return page.rows.map((row) => ({ ...publicPlay(row, imageBase), history_id: row.historyId }));
}

const hours = (minutes: number) => Math.round((minutes / 60) * 10) / 10;

/** The public stats: totals, this year and this month (UTC), from the rollups. */
export async function readPublicStats(db: Database, userId: number, now: number): Promise<PublicStatsOutput> {
  const { body } = await readStats(db, userId, 'UTC', now);
  const today = new Date(now).toISOString();
  const year = Number(today.slice(0, 4));
  const month = today.slice(0, 7);
  const yearRow = body.by_year.find((y) => y.year === year);
  const monthRow = body.by_month.find((m) => m.month === month);
  return {
    totals: {
      plays: body.movies.plays + body.episodes.plays,
      hours: hours(body.movies.minutes + body.episodes.minutes),
      movies: body.movies.watched,
      shows: body.shows.watched,
      episodes: body.episodes.watched,
    },
    this_year: { year, plays: yearRow?.plays ?? 0, hours: hours(yearRow?.minutes ?? 0) },
    this_month: { month, plays: monthRow?.plays ?? 0, hours: hours(monthRow?.minutes ?? 0) },
    first_play_at: body.first_play_at,
    last_play_at: body.last_play_at,
    top_genres: body.top_genres.slice(0, 5),
  };
}
