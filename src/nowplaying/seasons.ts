/**
 * @module
 * NowPlaying's show page from what the API stores (pure): every episode of each watched season, watched
 * or not, and how much of the show that list covers. NowPlaying's web app counts an episode as watched
 * when `last_watched_at` is set and computes completion as watched / listed, per show and per season, so
 * unwatched episodes must be listed or a half-watched show shows 100%.
 *
 * Sources, all stored before the read (no upstream call here):
 * - the user's stored episodes (watched, or started) with their TMDB title, overview and still;
 * - the episodes TMDB lists for each stored season (fetched by enrichment, one call per season);
 * - Trakt's `aired_episodes` for the show (from the sync).
 * A season whose TMDB data was never fetched (enrichment pending, or no TMDB id) lists only its stored
 * episodes, and the answer says so (`episodes_known: false`, `episode_list.seasons_not_fetched`).
 */
import type { watchedSeasonsEpisodes } from '../history/queries';
import type { NpSeasonsEpisodesOutput } from './schemas';

type Read = Awaited<ReturnType<typeof watchedSeasonsEpisodes>>;
type Body = NonNullable<Read['body']>;
type Catalogue = NonNullable<Read['catalogue']>;

/** Episode numbers stay below this within a season, so `-(season * span + episode)` ids never collide. */
const EPISODE_ID_SPAN = 100_000;

/** The id of an episode the user has no row for: negative, unique within the answer, stable across reads. */
export function unwatchedEpisodeId(seasonNumber: number, episodeNumber: number): number {
  return -(seasonNumber * EPISODE_ID_SPAN + episodeNumber + 1);
}

function listNote(notFetched: number[], unknown: number[], unlisted: number | null): string | null {
  const parts: string[] = [];
  if (notFetched.length > 0)
    parts.push(
      `TMDB's episode list of season(s) ${notFetched.join(', ')} has not been fetched yet: only stored episodes are listed`,
    );
  if (unknown.length > 0) parts.push(`TMDB does not know season(s) ${unknown.join(', ')}`);
  if (unlisted === null) parts.push("Trakt's count of aired episodes is not known yet");
  else if (unlisted > 0) parts.push(`${unlisted} aired episode(s) are in seasons not watched yet`);
  return parts.length > 0 ? `${parts.join('; ')}.` : null;
}

export function everyEpisodeAnswer(body: Body, catalogue: Catalogue): NpSeasonsEpisodesOutput {
  const show = body.seasons[0] ?? body.episodes[0];
  const showFields = show
    ? { show__id: show.show__id, show__title: show.show__title, show__trakt_id: show.show__trakt_id }
    : undefined;
  const statusOf = new Map(catalogue.seasons.map((s) => [s.seasonNumber, s]));

  const episodes: NpSeasonsEpisodesOutput['episodes'] = body.episodes.map((e) => ({
    ...e,
    watched_at: e.last_watched_at,
  }));
  if (showFields) {
    for (const e of catalogue.unwatched) {
      episodes.push({
        id: unwatchedEpisodeId(e.season__season_number, e.episode_number),
        episode_number: e.episode_number,
        title: e.title,
        image_url: e.image_url,
        rating: e.rating,
        overview: e.overview,
        season__id: e.season__id,
        season__season_number: e.season__season_number,
        ...showFields,
        last_watched_at: null,
        watched_at: null,
        progress: 0,
        plays: 0,
      });
    }
  }
  episodes.sort((a, b) => a.season__season_number - b.season__season_number || a.episode_number - b.episode_number);

  const seasons = body.seasons.map((s) => {
    const status = statusOf.get(s.season_number);
    return {
      ...s,
      episode_count: status?.episodeCount ?? null,
      episodes_known: status?.tmdb === 'found',
    };
  });
  const notFetched = seasons
    .filter((s) => statusOf.get(s.season_number)?.tmdb === 'not_fetched' || !statusOf.has(s.season_number))
    .map((s) => s.season_number);
  const unknown = seasons.filter((s) => statusOf.get(s.season_number)?.tmdb === 'missing').map((s) => s.season_number);
  // Trakt's aired count leaves specials out, so it is compared with the regular episodes listed.
  const listedRegular = episodes.filter((e) => e.season__season_number > 0).length;
  const aired = catalogue.airedEpisodes && catalogue.airedEpisodes > 0 ? catalogue.airedEpisodes : null;
  const unlisted = aired === null ? null : Math.max(0, aired - listedRegular);
  return {
    seasons,
    episodes,
    show_metadata: { genres: catalogue.genres ?? [], aired_episodes: aired },
    episode_list: {
      complete: notFetched.length === 0 && unknown.length === 0 && unlisted === 0,
      seasons_not_fetched: notFetched,
      seasons_unknown_to_tmdb: unknown,
      unlisted_aired_episodes: unlisted,
      note: listNote(notFetched, unknown, unlisted),
    },
  };
}
