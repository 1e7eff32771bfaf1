/**
 * @module
 * The attribution every public answer carries. TMDB's terms ask every product that uses its API to
 * say so and not to suggest endorsement (themoviedb.org/api-terms-of-use, "Attribution"); Trakt's
 * API terms ask apps to credit Trakt as the data source. Feeds, the widget, the card and the
 * calendar all use these words.
 */
export const TRAKT_URL = 'https://trakt.tv';
export const TMDB_URL = 'https://www.themoviedb.org';
export const ATTRIBUTION =
  'Watch history from Trakt (trakt.tv). Metadata and images from TMDB (themoviedb.org). ' +
  'This product uses the TMDB API but is not endorsed or certified by TMDB.';
/** The JSON answers' `Link` header points at both sources. */
export const ATTRIBUTION_LINK = `<${TRAKT_URL}>; rel="via"; title="Trakt", <${TMDB_URL}>; rel="via"; title="TMDB"`;

/** A play's page on Trakt: the movie, or the episode. */
export function traktPageUrl(play: {
  type: 'movie' | 'episode';
  ids: { slug: string | null; trakt: number };
  season: number | null;
  episode: number | null;
}): string {
  const slug = play.ids.slug ?? String(play.ids.trakt);
  if (play.type === 'movie') return `${TRAKT_URL}/movies/${encodeURIComponent(slug)}`;
  return `${TRAKT_URL}/shows/${encodeURIComponent(slug)}/seasons/${play.season ?? 0}/episodes/${play.episode ?? 0}`;
}

/** "Title (1999)" or "Show 1x02 Episode". */
export function playLabel(play: {
  type: 'movie' | 'episode';
  title: string | null;
  year: number | null;
  show: string | null;
  season: number | null;
  episode: number | null;
}): string {
  if (play.type === 'movie') return `${play.title ?? 'Untitled'}${play.year ? ` (${play.year})` : ''}`;
  const number = `${play.season ?? 0}x${String(play.episode ?? 0).padStart(2, '0')}`;
  return `${play.show ?? 'Untitled'} ${number}${play.title ? ` ${play.title}` : ''}`;
}
