/**
 * @module
 * The plays of a `play.created` body, read by Trakt history id through the `(user_id, history_id)` unique
 * index (one seek per id), with their titles: the movie's, or the show's and the episode's (TMDB's episode
 * name when enriched). Ids are the movie's, or the show's for an episode, as in the public answers.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import type { WebhookPlay } from './schemas';

type Row = {
  history_id: number;
  watched_at: string;
  media_type: 'movie' | 'episode';
  season_number: number | null;
  episode_number: number | null;
  trakt: number | null;
  title: string | null;
  year: number | null;
  slug: string | null;
  imdb: string | null;
  tmdb: number | null;
  tvdb: number | null;
  episode_title: string | null;
};

/** The newest `limit` of these plays, newest first. */
export async function readWebhookPlays(
  db: Database,
  userId: number,
  historyIds: readonly number[],
  limit: number,
): Promise<WebhookPlay[]> {
  const rows = await db.all<Row>(sql`SELECT p.history_id, p.watched_at, p.media_type, p.season_number,
      p.episode_number, coalesce(m.trakt_id, s.trakt_id) AS trakt, coalesce(m.title, s.title) AS title,
      coalesce(m.year, s.year) AS year, coalesce(m.slug, s.slug) AS slug, coalesce(m.imdb_id, s.imdb_id) AS imdb,
      coalesce(m.tmdb_id, s.tmdb_id) AS tmdb, s.tvdb_id AS tvdb, coalesce(json_extract(ts.episodes, '$."' || p.episode_number || '".name'), e.title) AS episode_title
    FROM json_each(${JSON.stringify(historyIds)}) AS j
    CROSS JOIN plays p ON p.user_id = ${userId} AND p.history_id = j.value
    LEFT JOIN movies m ON p.media_type = 'movie' AND m.user_id = p.user_id AND m.trakt_id = p.movie_trakt_id
    LEFT JOIN shows s ON p.media_type = 'episode' AND s.user_id = p.user_id AND s.trakt_id = p.show_trakt_id
    LEFT JOIN seasons se ON se.show_id = s.id AND se.season_number = p.season_number
    LEFT JOIN episodes e ON e.season_id = se.id AND e.episode_number = p.episode_number
    LEFT JOIN tmdb_seasons ts ON ts.tmdb_show_id = s.tmdb_ref AND ts.season_number = p.season_number
    ORDER BY p.watched_at DESC, p.history_id DESC LIMIT ${limit}`);
  return rows.map((row) => {
    const movie = row.media_type === 'movie';
    return {
      history_id: row.history_id,
      watched_at: row.watched_at,
      type: row.media_type,
      title: movie ? row.title : row.episode_title,
      year: row.year,
      show: movie ? null : row.title,
      season: movie ? null : row.season_number,
      episode: movie ? null : row.episode_number,
      ids: {
        trakt: row.trakt ?? 0,
        slug: row.slug,
        imdb: row.imdb,
        tmdb: row.tmdb,
        ...(movie ? {} : { tvdb: row.tvdb }),
      },
    };
  });
}
