/**
 * @module
 * The statements that store a set of new plays (and remove gone ones) together with everything they
 * move, for ONE batch: the stats rollups (write hook `playsWritten`), the plays themselves, the movies / shows / seasons /
 * episodes with their totals moved by the new plays, the titles that lost plays counted again, and the
 * stored item counts of `sync_state`. Shared by the sync's history step (passes.ts) and, through the
 * same function, any other writer of plays (the import of Trakt's export), so a play is stored the
 * same way whoever writes it. The caller runs the statements in one batch under the user's sync lease
 * (the new plays must be exactly the ones not stored yet: it read them under the lease).
 *
 * What a play costs in rows written (D1 counts index entries): its row and two index entries, plus its
 * share of the per-title rows and of the buckets the batch touches (BENCHMARKS.md, "D1 cost per play").
 */
import { playsWritten, type RollupContext, type RollupPlay } from '../readmodel/write-hooks';
import type { HistoryItem } from '../trakt/upstream-schemas';
import { episodeKey, metadataFromHistory, type PlayRow } from './plan';
import { adjustCount, newTitlesCounted, type SyncKind } from './state';
import {
  countMovies,
  countShows,
  countWatchedEpisodes,
  deletePlays,
  insertPlays,
  type NewPlays,
  recountMovies,
  recountShows,
  type Statement,
  type StoredPlay,
  upsertEpisodeTotals,
  upsertMovieTotals,
  upsertShowTotals,
} from './store';

export type HistoryWrites = {
  statements: Statement[];
  /** Trakt ids of the movies (kind movies) or shows (kind shows) that got new plays: for TMDB enrichment. */
  titlesWithNewPlays: number[];
  /** Movies or shows whose totals the statements move. */
  itemsTouched: number;
  /** Episodes whose totals the statements move (kind shows). */
  episodesTouched: number;
};

/** How many new plays each key got, and the newest. */
function newPlaysBy<K>(rows: readonly PlayRow[], key: (row: PlayRow) => K | null): Map<K, NewPlays> {
  const by = new Map<K, NewPlays>();
  for (const row of rows) {
    const k = key(row);
    if (k === null) continue;
    const entry = by.get(k);
    if (!entry) by.set(k, { plays: 1, lastWatchedAt: row.watchedAt });
    else {
      entry.plays += 1;
      if (row.watchedAt > entry.lastWatchedAt) entry.lastWatchedAt = row.watchedAt;
    }
  }
  return by;
}

/**
 * The writes for `inserts` (new plays, described by `items`, the history items they came from) and
 * `removed` (stored plays to delete) of one kind; null when there is nothing to write. `context`: what
 * the plays' titles count in the stats and the user's stats zone, as the caller read them under its lease
 * (write-hooks `readRollupContext`). The stored play counts (`movie_play_count`,
 * `episode_play_count`) are the caller's: it knows the inserts and removals, and writes the change
 * with its own state update.
 */
export function historyWrites(
  userId: number,
  kind: SyncKind,
  items: readonly HistoryItem[],
  inserts: readonly PlayRow[],
  removed: readonly StoredPlay[],
  context: RollupContext,
): HistoryWrites | null {
  const insertedIds = new Set(inserts.map((p) => p.historyId));
  const meta = metadataFromHistory(items.filter((i) => insertedIds.has(i.id)));
  const rollups = playsWritten(userId, { inserted: inserts, removed: removed as readonly RollupPlay[] }, context);
  const writes: Statement[] = [
    ...insertPlays(userId, [...inserts]),
    ...deletePlays(
      userId,
      removed.map((p) => p.historyId),
    ),
  ];
  if (kind === 'movies') {
    // Movies that lost plays (some may have gained others too) are counted again from their plays.
    const lostPlays = [...new Set(removed.map((p) => p.movieTraktId).filter((id): id is number => id !== null))];
    if (meta.movies.size === 0 && lostPlays.length === 0 && writes.length === 0) return null;
    const news = newPlaysBy(inserts, (p) => p.movieTraktId);
    const withPlays = [...meta.movies.values()].map((m) => ({ ...m, ...news.get(m.traktId)! }));
    const gained = [...meta.movies.keys()];
    return {
      statements: [
        ...rollups,
        newTitlesCounted(userId, 'movie_count', gained.length, countMovies(userId, gained)),
        ...writes,
        ...upsertMovieTotals(userId, withPlays),
        ...(lostPlays.length > 0
          ? [
              adjustCount(userId, 'movie_count', -1, countMovies(userId, lostPlays)),
              ...recountMovies(userId, lostPlays),
              adjustCount(userId, 'movie_count', 1, countMovies(userId, lostPlays)),
            ]
          : []),
      ],
      titlesWithNewPlays: gained,
      itemsTouched: new Set([...gained, ...lostPlays]).size,
      episodesTouched: 0,
    };
  }
  const lostKeys = new Map<string, [number, number, number]>();
  const lostShows = new Set<number>();
  for (const p of removed) {
    if (p.showTraktId === null || p.seasonNumber === null || p.episodeNumber === null) continue;
    // Shows and episodes that lost plays (some may have gained others too) are counted again from their plays.
    lostShows.add(p.showTraktId);
    lostKeys.set(episodeKey(p.showTraktId, p.seasonNumber, p.episodeNumber), [
      p.showTraktId,
      p.seasonNumber,
      p.episodeNumber,
    ]);
  }
  const lostOnly = [...lostShows];
  if (meta.shows.size === 0 && lostShows.size === 0 && writes.length === 0) return null;
  const showNews = newPlaysBy(inserts, (p) => p.showTraktId);
  const episodeNews = newPlaysBy(inserts, (p) =>
    p.showTraktId === null || p.seasonNumber === null || p.episodeNumber === null
      ? null
      : episodeKey(p.showTraktId, p.seasonNumber, p.episodeNumber),
  );
  const gainedShows = [...meta.shows.keys()];
  const gainedEpisodes = [...meta.episodes.values()];
  const gainedKeys = gainedEpisodes.map(
    (e) => [e.showTraktId, e.seasonNumber, e.episodeNumber] as [number, number, number],
  );
  const lost = [...lostKeys.values()];
  return {
    statements: [
      ...rollups,
      newTitlesCounted(userId, 'show_count', gainedShows.length, countShows(userId, gainedShows)),
      newTitlesCounted(userId, 'episode_count', gainedKeys.length, countWatchedEpisodes(userId, gainedKeys)),
      ...writes,
      ...upsertShowTotals(
        userId,
        [...meta.shows.values()].map((s) => ({ ...s, ...showNews.get(s.traktId)! })),
      ),
      ...upsertEpisodeTotals(
        userId,
        gainedEpisodes.map((e) => ({
          ...e,
          ...episodeNews.get(episodeKey(e.showTraktId, e.seasonNumber, e.episodeNumber))!,
        })),
      ),
      ...(lostShows.size > 0
        ? [
            adjustCount(userId, 'show_count', -1, countShows(userId, lostOnly)),
            adjustCount(userId, 'episode_count', -1, countWatchedEpisodes(userId, lost)),
            ...recountShows(userId, lostOnly, lost),
            adjustCount(userId, 'show_count', 1, countShows(userId, lostOnly)),
            adjustCount(userId, 'episode_count', 1, countWatchedEpisodes(userId, lost)),
          ]
        : []),
    ],
    titlesWithNewPlays: gainedShows,
    itemsTouched: new Set([...gainedShows, ...lostOnly]).size,
    episodesTouched: new Set([...gainedKeys, ...lost].map(([a, b, c]) => episodeKey(a, b, c))).size,
  };
}
