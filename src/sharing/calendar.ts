/**
 * @module
 * `calendar.ics`: the next episodes of every show the user is watching and has not finished, over the
 * next CALENDAR_DAYS days, as iCalendar (RFC 5545) generated with `ical-generator` (pure JavaScript,
 * runs in workerd). Air dates come from the TMDB cache the enrichment already fills: the seasons it
 * fetched (each episode's `air_date` in `tmdb_seasons.episodes`) and each show's `next_episode_to_air` (`tmdb_titles.next_episode`).
 * No Trakt call and no TMDB call is made here.
 *
 * "Watching": a play of the show within CALENDAR_WATCHING_DAYS. "Not finished": TMDB does not report
 * the show as Ended or Canceled. Events are all-day (TMDB gives dates, not times), and each has a
 * stable UID (`tmdb-tv-<show>-s<season>e<episode>@<host>`), so calendar apps update an event whose
 * date moved instead of adding a second one.
 */
import { sql } from 'drizzle-orm';
import ical, { ICalCalendarMethod } from 'ical-generator';
import { CALENDAR_DAYS, CALENDAR_WATCHING_DAYS } from '../config';
import { type Database, runBatch } from '../db/client';
import { ATTRIBUTION, TRAKT_URL } from './attribution';

export type UpcomingEpisode = {
  tmdbShowId: number;
  showTraktId: number;
  showTitle: string;
  showSlug: string | null;
  season: number;
  episode: number;
  name: string | null;
  overview: string | null;
  airDate: string;
};

type EpisodeRow = {
  tmdb_show_id: number;
  show_trakt_id: number;
  show_title: string;
  show_slug: string | null;
  season: number;
  episode: number;
  name: string | null;
  overview: string | null;
  air_date: string | null;
};
type NextRow = Omit<EpisodeRow, 'season' | 'episode' | 'name' | 'overview' | 'air_date'> & {
  next_episode: string | null;
};

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The episodes airing in [today, today + CALENDAR_DAYS]: one D1 round trip of two indexed reads. */
export async function readUpcomingEpisodes(db: Database, userId: number, now: number): Promise<UpcomingEpisode[]> {
  const from = day(now);
  const to = day(now + CALENDAR_DAYS * 86_400_000);
  const watchedSince = new Date(now - CALENDAR_WATCHING_DAYS * 86_400_000).toISOString();
  const watched = sql`s.user_id = ${userId} AND s.last_watched_at >= ${watchedSince}
      AND coalesce(t.show_status, '') NOT IN ('Ended', 'Canceled')`;
  const [seasonEpisodes, nextEpisodes] = (
    await runBatch(db.$client, [
      sql`SELECT s.tmdb_ref AS tmdb_show_id, s.trakt_id AS show_trakt_id, s.title AS show_title,
        s.slug AS show_slug, ts.season_number AS season, CAST(e.key AS integer) AS episode,
        json_extract(e.value, '$.name') AS name, json_extract(e.value, '$.overview') AS overview,
        json_extract(e.value, '$.air_date') AS air_date
      FROM shows s JOIN tmdb_titles t ON t.kind = 'tv' AND t.tmdb_id = s.tmdb_ref AND t.status = 'found'
      JOIN tmdb_seasons ts ON ts.tmdb_show_id = s.tmdb_ref AND ts.status = 'found'
      JOIN json_each(ts.episodes) AS e
      WHERE ${watched} AND json_extract(e.value, '$.air_date') >= ${from} AND json_extract(e.value, '$.air_date') <= ${to}`,
      sql`SELECT s.tmdb_ref AS tmdb_show_id, s.trakt_id AS show_trakt_id, s.title AS show_title,
        s.slug AS show_slug, t.next_episode
      FROM shows s JOIN tmdb_titles t ON t.kind = 'tv' AND t.tmdb_id = s.tmdb_ref AND t.status = 'found'
      WHERE ${watched} AND t.next_episode IS NOT NULL`,
    ])
  ).map((result) => result.results ?? []);
  return mergeUpcoming(seasonEpisodes as EpisodeRow[], nextEpisodes as NextRow[], from, to);
}

/** Season rows and next_episode_to_air, merged per episode (pure). */
export function mergeUpcoming(seasonRows: EpisodeRow[], nextRows: NextRow[], from: string, to: string) {
  const events = new Map<string, UpcomingEpisode>();
  const add = (row: EpisodeRow) => {
    if (!row.air_date || row.air_date < from || row.air_date > to) return;
    const key = `${row.tmdb_show_id}:${row.season}:${row.episode}`;
    if (events.has(key)) return;
    events.set(key, {
      tmdbShowId: row.tmdb_show_id,
      showTraktId: row.show_trakt_id,
      showTitle: row.show_title,
      showSlug: row.show_slug,
      season: row.season,
      episode: row.episode,
      name: row.name,
      overview: row.overview,
      airDate: row.air_date,
    });
  };
  for (const row of seasonRows) add(row);
  for (const row of nextRows) {
    try {
      const next = JSON.parse(row.next_episode ?? 'null') as {
        season?: number;
        episode?: number;
        name?: string | null;
        overview?: string | null;
        air_date?: string | null;
      } | null;
      if (!next || typeof next.season !== 'number' || typeof next.episode !== 'number') continue;
      add({
        ...row,
        season: next.season,
        episode: next.episode,
        name: next.name ?? null,
        overview: next.overview ?? null,
        air_date: next.air_date ?? null,
      });
    } catch {
      // A malformed cache row adds nothing; the next enrichment of the show rewrites it.
    }
  }
  return [...events.values()].sort((a, b) =>
    a.airDate !== b.airDate
      ? a.airDate < b.airDate
        ? -1
        : 1
      : a.showTitle.localeCompare(b.showTitle) || a.season - b.season || a.episode - b.episode,
  );
}

/** The iCalendar text (deterministic for the same episodes and day). */
export function calendarIcs(episodes: UpcomingEpisode[], options: { handle: string; host: string; now: number }) {
  const calendar = ical({
    name: `${options.handle}: upcoming episodes`,
    description: `Upcoming episodes of the shows ${options.handle} is watching. ${ATTRIBUTION}`,
    prodId: { company: 'trakt-history-api', product: 'upcoming-episodes', language: 'EN' },
    method: ICalCalendarMethod.PUBLISH,
    ttl: 6 * 60 * 60,
  });
  const stamp = new Date(`${day(options.now)}T00:00:00.000Z`);
  for (const e of episodes) {
    const number = `${e.season}x${String(e.episode).padStart(2, '0')}`;
    const start = new Date(`${e.airDate}T00:00:00.000Z`);
    const slug = e.showSlug ?? String(e.showTraktId);
    calendar.createEvent({
      id: `tmdb-tv-${e.tmdbShowId}-s${e.season}e${e.episode}@${options.host}`,
      start,
      end: new Date(start.getTime() + 86_400_000),
      allDay: true,
      stamp,
      summary: `${e.showTitle} ${number}${e.name ? `: ${e.name}` : ''}`,
      description: `${e.overview ? `${e.overview}\n\n` : ''}${ATTRIBUTION}`,
      url: `${TRAKT_URL}/shows/${encodeURIComponent(slug)}/seasons/${e.season}/episodes/${e.episode}`,
    });
  }
  return calendar.toString();
}
