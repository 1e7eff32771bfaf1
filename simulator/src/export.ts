/**
 * @module export
 * An account's data export as trakt.tv's Settings → Data → Export produces it: a ZIP of JSON files,
 * derived from the account's one list of plays like everything else here (views.ts), in the file
 * layout the peers' importers read (FuzzyGrim/Yamtrack #1636, IgnisDa/ryot #1817, ellite/scrob):
 *
 * - `watched-history-1.json`, `-2.json`, …: `GET /sync/history` items, newest first, `perFile` (1,000)
 *   per file; the ids objects carry the extras a real export has (`plex: {guid, slug}`), shows carry
 *   `aired_episodes`;
 * - `watched-movies.json`, `watched-shows.json`: `GET /sync/watched/{movies,shows}` (shows with seasons);
 * - `ratings-movies.json`, `ratings-shows.json`, `ratings-seasons.json`, `ratings-episodes.json`;
 * - `lists-watchlist.json`, `lists-lists.json` and one `lists-list-<id>-<slug>.json` per list;
 * - `user-profile.json`.
 *
 * Ratings and lists are plausible and deterministic (a pure function of the account), not stateful.
 * Zipped with fflate (deflate), the way the export is downloaded.
 */
import { zipSync } from 'fflate';
import type { CatalogEpisode, CatalogMovie, CatalogShow } from './dataset';
import type { Account, Catalog } from './state';
import { historyItemJson, movieJson, showJson, watchedMovieJson, watchedShowJson } from './trakt-format';
import { hash32, iso, unit } from './util';
import { views } from './views';

type Json = Record<string, unknown>;

/** Items per `watched-history-N.json`, as in Trakt's export. */
export const EXPORT_HISTORY_PER_FILE = 1000;

const plexGuid = (kind: string, traktId: number) => hash32('plex', kind, traktId).toString(16).padStart(24, '0');

/** Adds the extra ids a real export carries (Plex's) to an `ids` object, which importers must ignore. */
function withPlexIds(item: Json, kind: string, traktId: number, slug?: string): Json {
  const ids = item.ids as Json;
  return {
    ...item,
    ids: { ...ids, plex: slug ? { guid: plexGuid(kind, traktId), slug } : { guid: plexGuid(kind, traktId) } },
  };
}

const exportMovie = (movie: CatalogMovie) => withPlexIds(movieJson(movie, false), 'movie', movie.traktId, movie.slug);
const exportShow = (show: CatalogShow) => withPlexIds(showJson(show, false, true), 'show', show.traktId, show.slug);
const exportEpisode = (episode: CatalogEpisode): Json => ({
  season: episode.season,
  number: episode.number,
  title: episode.title,
  ids: {
    trakt: episode.traktId,
    tvdb: episode.tvdb,
    imdb: episode.imdb,
    tmdb: episode.tmdb,
    plex: { guid: plexGuid('episode', episode.traktId) },
  },
});

/** The history items of the export, newest first (ties: higher id first), as `/sync/history` orders them. */
export function exportHistory(account: Account, catalog: Catalog): Json[] {
  const v = views(account, catalog);
  const plays = [...v.movieHistory, ...v.episodeHistory].sort((a, b) => b.watchedAt - a.watchedAt || b.id - a.id);
  return plays.map((play) => {
    const item = historyItemJson(catalog, play, false);
    if (play.type === 'movie') {
      const movie = catalog.movies.get(play.traktId)!;
      return { ...item, movie: exportMovie(movie) };
    }
    const episode = catalog.episodes.get(play.traktId)!;
    return { ...item, episode: exportEpisode(episode), show: exportShow(catalog.shows.get(episode.showTraktId)!) };
  });
}

/** Every file of the export, by name, as JSON text. */
export function exportFiles(
  account: Account,
  catalog: Catalog,
  options: { perFile?: number; now: number },
): Record<string, string> {
  const perFile = options.perFile ?? EXPORT_HISTORY_PER_FILE;
  const files: Record<string, string> = {};
  const history = exportHistory(account, catalog);
  for (let page = 0; page * perFile < history.length; page++)
    files[`watched-history-${page + 1}.json`] = JSON.stringify(history.slice(page * perFile, (page + 1) * perFile));
  const v = views(account, catalog);
  files['watched-movies.json'] = JSON.stringify(v.watchedMovies.map((m) => watchedMovieJson(m, false)));
  files['watched-shows.json'] = JSON.stringify(v.watchedShows.map((s) => watchedShowJson(s, false, true)));

  // Ratings: about a third of the watched titles, 1–10, rated a day after the last watch.
  const rated = (kind: string, id: number) => unit(account.seed, account.username, 'rating', kind, id) < 0.35;
  const rating = (kind: string, id: number) => 1 + Math.floor(unit(account.seed, 'score', kind, id) * 10);
  const ratedAt = (ms: number) => iso(ms + 86_400_000);
  files['ratings-movies.json'] = JSON.stringify(
    v.watchedMovies
      .filter((m) => rated('movie', m.movie.traktId))
      .map((m) => ({
        rated_at: ratedAt(m.lastWatchedAt),
        rating: rating('movie', m.movie.traktId),
        type: 'movie',
        movie: exportMovie(m.movie),
      })),
  );
  const ratedShows = v.watchedShows.filter((s) => rated('show', s.show.traktId));
  files['ratings-shows.json'] = JSON.stringify(
    ratedShows.map((s) => ({
      rated_at: ratedAt(s.lastWatchedAt),
      rating: rating('show', s.show.traktId),
      type: 'show',
      show: exportShow(s.show),
    })),
  );
  files['ratings-seasons.json'] = JSON.stringify(
    ratedShows.flatMap((s) =>
      s.seasons.slice(0, 1).map((season) => ({
        rated_at: ratedAt(s.lastWatchedAt),
        rating: rating('season', s.show.traktId * 100 + season.number),
        type: 'season',
        season: { number: season.number, ids: { trakt: s.show.traktId * 100 + season.number } },
        show: exportShow(s.show),
      })),
    ),
  );
  const ratedEpisodes = new Map<number, (typeof v.episodeHistory)[number]>();
  for (const play of v.episodeHistory) {
    if (ratedEpisodes.size >= 200) break;
    if (!ratedEpisodes.has(play.traktId) && rated('episode', play.traktId)) ratedEpisodes.set(play.traktId, play);
  }
  files['ratings-episodes.json'] = JSON.stringify(
    [...ratedEpisodes.values()].map((p) => {
      const episode = catalog.episodes.get(p.traktId)!;
      return {
        rated_at: ratedAt(p.watchedAt),
        rating: rating('episode', p.traktId),
        type: 'episode',
        episode: exportEpisode(episode),
        show: exportShow(catalog.shows.get(episode.showTraktId)!),
      };
    }),
  );

  // Lists: the watchlist (titles of the catalog the account has not watched) and one personal list.
  const watchedMovieIds = new Set(v.watchedMovies.map((m) => m.movie.traktId));
  const unwatched = [...catalog.movies.values()].filter((m) => !watchedMovieIds.has(m.traktId)).slice(0, 5);
  const listedAt = iso(account.createdAt);
  files['lists-watchlist.json'] = JSON.stringify(
    unwatched.map((movie, i) => ({
      rank: i + 1,
      id: hash32(account.username, 'watchlist', movie.traktId),
      listed_at: listedAt,
      notes: null,
      type: 'movie',
      movie: exportMovie(movie),
    })),
  );
  const listId = hash32(account.username, 'list') % 1_000_000;
  const listSlug = 'rewatch-soon';
  const listItems = v.watchedMovies.slice(0, 3).map((m, i) => ({
    rank: i + 1,
    id: hash32(account.username, 'list-item', m.movie.traktId),
    listed_at: listedAt,
    notes: null,
    type: 'movie',
    movie: exportMovie(m.movie),
  }));
  const user = {
    username: account.username,
    private: true,
    name: account.username,
    vip: false,
    ids: { slug: account.slug },
  };
  files['lists-lists.json'] = JSON.stringify([
    {
      name: 'Rewatch soon',
      description: 'Worth a second look',
      privacy: 'private',
      share_link: `https://trakt.tv/users/${account.slug}/lists/${listSlug}`,
      type: 'personal',
      display_numbers: false,
      allow_comments: true,
      sort_by: 'rank',
      sort_how: 'asc',
      created_at: listedAt,
      updated_at: listedAt,
      item_count: listItems.length,
      comment_count: 0,
      likes: 0,
      ids: { trakt: listId, slug: listSlug },
      user,
    },
  ]);
  files[`lists-list-${listId}-${listSlug}.json`] = JSON.stringify(listItems);
  files['user-profile.json'] = JSON.stringify({ ...user, joined_at: listedAt, exported_at: iso(options.now) });
  return files;
}

/** The export as the ZIP trakt.tv hands out. */
export function exportZip(account: Account, catalog: Catalog, options: { perFile?: number; now: number }): Uint8Array {
  const encoder = new TextEncoder();
  const entries: Record<string, Uint8Array> = {};
  for (const [name, text] of Object.entries(exportFiles(account, catalog, options)))
    entries[name] = encoder.encode(text);
  return zipSync(entries, { level: 6, mtime: new Date(options.now) });
}
