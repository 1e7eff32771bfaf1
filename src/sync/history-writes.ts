/**
 * @module
 * The statements that store a set of new plays (and remove gone ones) together with everything they
 * move: the plays themselves, the movies / shows / seasons / episodes with their totals recomputed
 * in SQL from `plays`, the stats contributions of the new plays (write hook `playsInserted`), and
 * the stored item counts of `sync_state` (subtracted before, added back after, in the same batch).
 * Shared by the sync's history step (passes.ts) and the import of Trakt's export (src/import/), so
 * an imported play is stored exactly as a synced one. The caller runs the statements in one batch.
 */
import { playsInserted } from '../readmodel/write-hooks';
import type { HistoryItem } from '../trakt/upstream-schemas';
import { episodeKey, metadataFromHistory, type PlayRow } from './plan';
import { adjustCount, type SyncKind } from './state';
import {
  countMovies,
  countShows,
  countWatchedEpisodes,
  deletePlays,
  insertPlays,
  type readStoredPlays,
  recountMovies,
  recountShows,
  type Statement,
  upsertEpisodeTotals,
  upsertMovieTotals,
  upsertShowTotals,
} from './store';

type StoredPlay = Awaited<ReturnType<typeof readStoredPlays>>[number];

export type HistoryWrites = {
  statements: Statement[];
  /** Trakt ids of the movies (kind movies) or shows (kind shows) that got new plays: for TMDB enrichment. */
  titlesWithNewPlays: number[];
  /** Movies or shows whose totals the statements recompute. */
  itemsTouched: number;
  /** Episodes whose totals the statements recompute (kind shows). */
  episodesTouched: number;
};

/**
 * The writes for `inserts` (new plays, described by `items`, the history items they came from) and
 * `removed` (stored plays to delete) of one kind; null when there is nothing to write. The stored
 * play counts (`movie_play_count`, `episode_play_count`) are the caller's: it knows the inserts and
 * removals, and writes the change with its own state update.
 */
export function historyWrites(
  userId: number,
  kind: SyncKind,
  items: readonly HistoryItem[],
  inserts: readonly PlayRow[],
  removed: readonly StoredPlay[],
): HistoryWrites | null {
  const insertedIds = new Set(inserts.map((p) => p.historyId));
  const meta = metadataFromHistory(items.filter((i) => insertedIds.has(i.id)));
  const writes: Statement[] = [
    ...insertPlays(userId, [...inserts]),
    ...deletePlays(
      userId,
      removed.map((p) => p.historyId),
    ),
  ];
  if (kind === 'movies') {
    const lostPlays = [...new Set(removed.map((p) => p.movieTraktId).filter((id): id is number => id !== null))].filter(
      (id) => !meta.movies.has(id),
    );
    const touched = [...meta.movies.keys(), ...lostPlays];
    if (touched.length === 0 && writes.length === 0) return null;
    return {
      statements: [
        adjustCount(userId, 'movie_count', -1, countMovies(userId, touched)),
        ...writes,
        ...upsertMovieTotals(userId, [...meta.movies.values()]),
        ...playsInserted(userId, [...insertedIds]),
        ...recountMovies(userId, lostPlays),
        adjustCount(userId, 'movie_count', 1, countMovies(userId, touched)),
      ],
      titlesWithNewPlays: [...meta.movies.keys()],
      itemsTouched: touched.length,
      episodesTouched: 0,
    };
  }
  const lostKeys = new Map<string, [number, number, number]>();
  const lostShows = new Set<number>();
  for (const p of removed) {
    if (p.showTraktId === null || p.seasonNumber === null || p.episodeNumber === null) continue;
    lostShows.add(p.showTraktId);
    const key = episodeKey(p.showTraktId, p.seasonNumber, p.episodeNumber);
    if (!meta.episodes.has(key)) lostKeys.set(key, [p.showTraktId, p.seasonNumber, p.episodeNumber]);
  }
  const touchedShows = [...new Set([...meta.shows.keys(), ...lostShows])];
  const touchedKeys: Array<[number, number, number]> = [
    ...[...meta.episodes.values()].map(
      (e) => [e.showTraktId, e.seasonNumber, e.episodeNumber] as [number, number, number],
    ),
    ...lostKeys.values(),
  ];
  if (touchedShows.length === 0 && writes.length === 0) return null;
  return {
    statements: [
      adjustCount(userId, 'show_count', -1, countShows(userId, touchedShows)),
      adjustCount(userId, 'episode_count', -1, countWatchedEpisodes(userId, touchedKeys)),
      ...writes,
      ...upsertShowTotals(userId, [...meta.shows.values()]),
      ...upsertEpisodeTotals(userId, [...meta.episodes.values()]),
      ...playsInserted(userId, [...insertedIds]),
      ...recountShows(
        userId,
        [...lostShows].filter((id) => !meta.shows.has(id)),
        [...lostKeys.values()],
      ),
      adjustCount(userId, 'show_count', 1, countShows(userId, touchedShows)),
      adjustCount(userId, 'episode_count', 1, countWatchedEpisodes(userId, touchedKeys)),
    ],
    titlesWithNewPlays: [...meta.shows.keys()],
    itemsTouched: touchedShows.length,
    episodesTouched: touchedKeys.length,
  };
}
