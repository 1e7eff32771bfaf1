/**
 * @module
 * The year in review, and the owner of `year_reviews` (the computed review per user and year).
 *
 * Computed from the rollups where it can (`play_stats`: the month rows give plays, minutes and the
 * month-by-month figures; the day rows give the longest streak and the busiest day), and from the
 * year's plays where no rollup holds the answer (distinct titles, top titles, top genres of that year:
 * one grouped read of the year's range of the `(user_id, watched_at)` index), plus two index seeks
 * for the first and last play. The result is stored with the user's data version: it is computed at
 * most once per data version, and every later read is two primary-key lookups.
 */
import { type SQL, sql } from 'drizzle-orm';
import { type Database, isoNow, runBatch } from '../db/client';
import { readHistoryPage } from '../history/plays-list';
import { imageUrl } from '../history/queries';
import { busiestDay, hours, longestStreak, twelveMonths } from './compute';
import type { ReviewOutput } from './schemas';

export const TOP_TITLES = 10;
export const TOP_GENRES = 10;

/** Raw statements in one D1 round trip (a batch), their rows. */
async function rows(db: Database, statements: SQL[]): Promise<unknown[][]> {
  return (await runBatch(db.$client, statements)).map((result) => result.results ?? []);
}

/** Account deletion's statement for this table. */
export function deleteUserReviews(userId: number): SQL {
  return sql`DELETE FROM year_reviews WHERE user_id = ${userId}`;
}

type TitleRow = {
  media_type: 'movie' | 'episode';
  trakt_id: number;
  plays: number;
  episodes: number;
  title: string | null;
  year: number | null;
  slug: string | null;
  poster_path: string | null;
};

/** Computes the review of one year from D1 (two round trips). */
async function computeReview(db: Database, userId: number, year: number, imageBase: string): Promise<ReviewOutput> {
  const from = `${year}-01-01T00:00:00.000Z`;
  const until = `${year + 1}-01-01T00:00:00.000Z`;
  // Both media types named: each is one range of the plays' (user_id, media_type, watched_at) index.
  const inYear = sql`p.user_id = ${userId} AND p.media_type IN ('movie', 'episode')
    AND p.watched_at >= ${from} AND p.watched_at < ${until}`;
  const [months, days, titles, genres, span] = await rows(db, [
    sql`SELECT bucket AS month, plays, minutes, minutes_unknown_plays AS unknown FROM play_stats
        WHERE user_id = ${userId} AND dimension = 'month' AND bucket >= ${`${year}-01`} AND bucket <= ${`${year}-12`}`,
    sql`SELECT bucket AS date, plays FROM play_stats WHERE user_id = ${userId} AND dimension = 'day'
        AND bucket >= ${`${year}-01-01`} AND bucket <= ${`${year}-12-31`}`,
    sql`SELECT g.media_type, g.trakt_id, g.plays, g.episodes, coalesce(m.title, s.title) AS title,
          coalesce(m.year, s.year) AS year, coalesce(m.slug, s.slug) AS slug, t.poster_path
        FROM (SELECT p.media_type, coalesce(p.movie_trakt_id, p.show_trakt_id) AS trakt_id, count(*) AS plays,
            count(DISTINCT p.season_number * 100000 + p.episode_number) AS episodes
          FROM plays p WHERE ${inYear} GROUP BY p.media_type, trakt_id) AS g
        LEFT JOIN movies m ON g.media_type = 'movie' AND m.user_id = ${userId} AND m.trakt_id = g.trakt_id
        LEFT JOIN shows s ON g.media_type = 'episode' AND s.user_id = ${userId} AND s.trakt_id = g.trakt_id
        LEFT JOIN tmdb_titles t ON t.kind = CASE g.media_type WHEN 'movie' THEN 'movie' ELSE 'tv' END
          AND t.tmdb_id = coalesce(m.tmdb_ref, s.tmdb_ref)`,
    // What each title counts in the stats (its TMDB genres once enrichment counted it), times its plays that year.
    sql`SELECT j.value AS name, sum(g.plays) AS plays
        FROM (SELECT p.media_type, coalesce(p.movie_trakt_id, p.show_trakt_id) AS trakt_id, count(*) AS plays
          FROM plays p WHERE ${inYear} GROUP BY p.media_type, trakt_id) AS g
        LEFT JOIN movies m ON g.media_type = 'movie' AND m.user_id = ${userId} AND m.trakt_id = g.trakt_id
        LEFT JOIN shows s ON g.media_type = 'episode' AND s.user_id = ${userId} AND s.trakt_id = g.trakt_id
        CROSS JOIN json_each(coalesce(m.stats_genres, s.stats_genres, '[]')) AS j
        GROUP BY j.value ORDER BY plays DESC, name LIMIT ${TOP_GENRES}`,
    sql`SELECT (SELECT p.history_id FROM plays p WHERE ${inYear} ORDER BY p.watched_at, p.history_id LIMIT 1) AS first_id,
        (SELECT p.history_id FROM plays p WHERE ${inYear} ORDER BY p.watched_at DESC, p.history_id DESC LIMIT 1) AS last_id`,
  ]);
  const edge = (span as Array<{ first_id: number | null; last_id: number | null }>)[0];
  const ends = [edge?.first_id, edge?.last_id].filter((id): id is number => typeof id === 'number');
  const endPlays = ends.length > 0 ? (await readHistoryPage(db, userId, { historyIds: ends }, undefined, 2)).rows : [];
  const playRef = (id: number | null | undefined) => {
    const row = endPlays.find((r) => r.historyId === id);
    if (!row) return null;
    const movie = row.mediaType === 'movie';
    return {
      watched_at: row.watchedAt,
      type: row.mediaType,
      title: movie ? row.movieTitle : (row.episodeTmdbName ?? row.episodeTitle),
      year: movie ? row.movieYear : row.showYear,
      show: movie ? null : row.showTitle,
      season: movie ? null : row.seasonNumber,
      episode: movie ? null : row.episodeNumber,
      poster_url: imageUrl(imageBase, 'w500', movie ? row.moviePoster : row.showPoster),
    };
  };
  const titleRows = titles as TitleRow[];
  const moviePlays = titleRows.filter((t) => t.media_type === 'movie').reduce((n, t) => n + t.plays, 0);
  const episodePlays = titleRows.filter((t) => t.media_type === 'episode').reduce((n, t) => n + t.plays, 0);
  const monthRows = months as Array<{ month: string; plays: number; minutes: number; unknown: number }>;
  return {
    year,
    plays: { total: moviePlays + episodePlays, movies: moviePlays, episodes: episodePlays },
    hours: hours(monthRows.reduce((n, m) => n + m.minutes, 0)),
    minutes_unknown_plays: monthRows.reduce((n, m) => n + m.unknown, 0),
    titles: {
      movies: titleRows.filter((t) => t.media_type === 'movie').length,
      shows: titleRows.filter((t) => t.media_type === 'episode').length,
      episodes: titleRows.filter((t) => t.media_type === 'episode').reduce((n, t) => n + t.episodes, 0),
    },
    top_titles: [...titleRows]
      .sort((a, b) => b.plays - a.plays || (a.title ?? '').localeCompare(b.title ?? '') || a.trakt_id - b.trakt_id)
      .slice(0, TOP_TITLES)
      .map((t) => ({
        type: t.media_type === 'movie' ? ('movie' as const) : ('show' as const),
        title: t.title,
        year: t.year,
        ids: { trakt: t.trakt_id, slug: t.slug },
        plays: t.plays,
        poster_url: imageUrl(imageBase, 'w500', t.poster_path),
      })),
    top_genres: (genres as Array<{ name: string; plays: number }>).map((g) => ({ name: g.name, plays: g.plays })),
    longest_streak: longestStreak(days as Array<{ date: string; plays: number }>),
    busiest_day: busiestDay(days as Array<{ date: string; plays: number }>),
    first_play: playRef(edge?.first_id),
    last_play: playRef(edge?.last_id),
    by_month: twelveMonths(year, monthRows),
  };
}

/**
 * The review of `year`: the stored one when it was computed at the current data version (one round
 * trip of two primary-key reads), else computed and stored. Returns the version it belongs to (ETags).
 */
export async function readReview(
  db: Database,
  userId: number,
  year: number,
  imageBase: string,
  now: number,
): Promise<{ version: number; body: ReviewOutput; computed: boolean }> {
  const [versions, stored] = await rows(db, [
    sql`SELECT version FROM user_data_versions WHERE user_id = ${userId}`,
    sql`SELECT version, body FROM year_reviews WHERE user_id = ${userId} AND year = ${year}`,
  ]);
  const version = (versions as Array<{ version: number }>)[0]?.version ?? 0;
  const cached = (stored as Array<{ version: number; body: string }>)[0];
  if (cached && cached.version === version) {
    try {
      return { version, body: JSON.parse(cached.body) as ReviewOutput, computed: false };
    } catch {
      // A damaged row is computed again below.
    }
  }
  const body = await computeReview(db, userId, year, imageBase);
  // Stored under the version read BEFORE computing: if data moved meanwhile, the next read recomputes.
  await db.run(sql`INSERT INTO year_reviews (user_id, year, version, body, computed_at)
    VALUES (${userId}, ${year}, ${version}, ${JSON.stringify(body)}, ${isoNow(now)})
    ON CONFLICT (user_id, year) DO UPDATE SET version = excluded.version, body = excluded.body,
      computed_at = excluded.computed_at`);
  return { version, body, computed: true };
}
