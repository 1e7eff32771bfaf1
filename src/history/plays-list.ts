/**
 * @module
 * Every play, newest first: `GET /trakt/history/` (keyset pages) and `GET /trakt/export/`
 * (keyset chunks streamed as JSON or CSV). Served from D1 only.
 *
 * Keyset pagination on `(watched_at, history_id)` descending: each filter shape walks an index
 * (`plays_user_type_watched_idx` per media type, `plays_user_movie_idx`, `plays_user_show_idx`) from
 * the cursor position, and stops after `limit + 1` rows, so page 500 reads the same rows as page 1.
 * Every play (no `type`) is the merge of the two media types' walks, read in the same batch (issue 25:
 * one index fewer per play). `trakt_id` without `type` may name a movie and a show (Trakt's movie and
 * show ids are separate sequences): both branches are read and merged the same way.
 */
import { and, asc, count, desc, eq, gte, inArray, lte, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import type { Database } from '../db/client';
import { episodes, movies, plays, seasons, shows, tmdbSeasons, tmdbTitles } from '../db/schema';
import { playTotalsQuery } from '../readmodel/stats';
import type { CursorPosition } from './cursor';
import { freshnessQuery } from './freshness';
import { imageUrl, tmdbEpisodeField } from './queries';

export type HistoryFilters = {
  type?: 'movies' | 'episodes';
  startAt?: string;
  endAt?: string;
  traktId?: number;
  /** Only these plays (Trakt history ids; webhook bodies). */
  historyIds?: readonly number[];
};

type Branch = { mediaType?: 'movie' | 'episode'; movieTraktId?: number; showTraktId?: number };

/** The index walks a filter needs: one, or two (movies and episodes) merged. A title id implies its media type. */
export function branchesFor(filters: HistoryFilters): Branch[] {
  const { type, traktId } = filters;
  const movie: Branch = traktId === undefined ? { mediaType: 'movie' } : { movieTraktId: traktId };
  const episode: Branch = traktId === undefined ? { mediaType: 'episode' } : { showTraktId: traktId };
  if (type === 'movies') return [movie];
  if (type === 'episodes') return [episode];
  return [movie, episode];
}

const movieTmdb = alias(tmdbTitles, 'movie_tmdb');
const named = <T>(column: SQLWrapper, name: string) => sql<T>`${column}`.as(name);
const showTmdb = alias(tmdbTitles, 'show_tmdb');

function pageQuery(
  db: Database,
  userId: number,
  branch: Branch,
  filters: HistoryFilters,
  after: CursorPosition | undefined,
  limit: number,
  page: { order?: 'asc' | 'desc'; offset?: number; keys?: SQL } = {},
) {
  const direction = page.order === 'asc' ? asc : desc;
  const conditions: SQL[] = [eq(plays.userId, userId)];
  // With history ids the rows are found by id (below); `+media_type` keeps the planner off the time-ordered index.
  if (branch.mediaType)
    conditions.push(
      filters.historyIds ? sql`+${plays.mediaType} = ${branch.mediaType}` : eq(plays.mediaType, branch.mediaType),
    );
  if (branch.movieTraktId !== undefined) conditions.push(eq(plays.movieTraktId, branch.movieTraktId));
  if (branch.showTraktId !== undefined) conditions.push(eq(plays.showTraktId, branch.showTraktId));
  if (filters.startAt) conditions.push(gte(plays.watchedAt, filters.startAt));
  if (filters.endAt) conditions.push(lte(plays.watchedAt, filters.endAt));
  // By the primary key (user_id, history_id), one seek per id (never a walk of the user's plays in time order).
  if (filters.historyIds)
    conditions.push(
      sql`${plays.historyId} IN (SELECT j.value FROM json_each(${JSON.stringify(filters.historyIds)}) AS j)`,
    );
  // A page by number over both media types: its keys, from the merge of the two walks (offsetKeys below).
  if (page.keys) conditions.push(sql`${plays.historyId} IN (${page.keys})`);
  if (after) conditions.push(sql`(${plays.watchedAt}, ${plays.historyId}) < (${after.watchedAt}, ${after.historyId})`);
  return db
    .select({
      historyId: plays.historyId,
      watchedAt: plays.watchedAt,
      action: plays.action,
      mediaType: plays.mediaType,
      movieTraktId: plays.movieTraktId,
      showTraktId: plays.showTraktId,
      seasonNumber: plays.seasonNumber,
      episodeNumber: plays.episodeNumber,
      episodeTraktId: plays.episodeTraktId,
      // Aliased: D1 batch results are keyed by column name, and movies/shows/episodes share names.
      movieTitle: named<string | null>(movies.title, 'movie_title'),
      moviePlays: named<number | null>(movies.plays, 'movie_plays'),
      movieYear: named<number | null>(movies.year, 'movie_year'),
      movieSlug: named<string | null>(movies.slug, 'movie_slug'),
      movieImdb: named<string | null>(movies.imdbId, 'movie_imdb'),
      movieTmdb: named<number | null>(movies.tmdbId, 'movie_tmdb_id'),
      moviePoster: named<string | null>(movieTmdb.posterPath, 'movie_poster'),
      showTitle: named<string | null>(shows.title, 'show_title'),
      showYear: named<number | null>(shows.year, 'show_year'),
      showSlug: named<string | null>(shows.slug, 'show_slug'),
      showImdb: named<string | null>(shows.imdbId, 'show_imdb'),
      showTmdb: named<number | null>(shows.tmdbId, 'show_tmdb_id'),
      showTvdb: named<number | null>(shows.tvdbId, 'show_tvdb'),
      showPoster: named<string | null>(showTmdb.posterPath, 'show_poster'),
      episodeTitle: named<string | null>(episodes.title, 'episode_title'),
      episodePlays: named<number | null>(episodes.plays, 'episode_plays'),
      episodeTmdbName: named<string | null>(tmdbEpisodeField(plays.episodeNumber, 'name'), 'episode_tmdb_name'),
      // TMDB minutes and vote average: the movie's, or the episode's (the show's typical runtime as a fallback).
      movieRuntime: named<number | null>(movieTmdb.runtime, 'movie_runtime'),
      movieRating: named<number | null>(movieTmdb.voteAverage, 'movie_rating'),
      episodeRuntime: named<number | null>(tmdbEpisodeField(plays.episodeNumber, 'runtime'), 'episode_runtime'),
      episodeRating: named<number | null>(tmdbEpisodeField(plays.episodeNumber, 'vote_average'), 'episode_rating'),
      showRuntime: named<number | null>(showTmdb.runtime, 'show_runtime'),
    })
    .from(plays)
    .leftJoin(
      movies,
      and(eq(plays.mediaType, 'movie'), eq(movies.userId, plays.userId), eq(movies.traktId, plays.movieTraktId)),
    )
    .leftJoin(movieTmdb, and(eq(movieTmdb.kind, 'movie'), eq(movieTmdb.tmdbId, movies.tmdbRef)))
    .leftJoin(
      shows,
      and(eq(plays.mediaType, 'episode'), eq(shows.userId, plays.userId), eq(shows.traktId, plays.showTraktId)),
    )
    .leftJoin(showTmdb, and(eq(showTmdb.kind, 'tv'), eq(showTmdb.tmdbId, shows.tmdbRef)))
    .leftJoin(seasons, and(eq(seasons.showId, shows.id), eq(seasons.seasonNumber, plays.seasonNumber)))
    .leftJoin(episodes, and(eq(episodes.seasonId, seasons.id), eq(episodes.episodeNumber, plays.episodeNumber)))
    .leftJoin(
      tmdbSeasons,
      and(eq(tmdbSeasons.tmdbShowId, shows.tmdbRef), eq(tmdbSeasons.seasonNumber, plays.seasonNumber)),
    )
    .where(and(...conditions))
    .orderBy(direction(plays.watchedAt), direction(plays.historyId))
    .limit(limit)
    .offset(page.offset ?? 0);
}

export type PlayRecord = Awaited<ReturnType<typeof pageQuery>>[number];

const newestFirst = (a: PlayRecord, b: PlayRecord) =>
  a.watchedAt === b.watchedAt ? b.historyId - a.historyId : a.watchedAt < b.watchedAt ? 1 : -1;

/** One page (`limit` items) plus whether more follow; one D1 round trip with the freshness row. */
export async function readHistoryPage(
  db: Database,
  userId: number,
  filters: HistoryFilters,
  after: CursorPosition | undefined,
  limit: number,
) {
  const [first, ...rest] = branchesFor(filters).map((branch) =>
    pageQuery(db, userId, branch, filters, after, limit + 1),
  );
  const [freshness, ...pages] = await db.batch([freshnessQuery(db, userId), first!, ...rest]);
  const rows = pages.flat().sort(newestFirst);
  return { freshness: freshness[0], rows: rows.slice(0, limit), hasMore: rows.length > limit };
}

/**
 * Plays by page number instead of cursor (NowPlaying's watch history): `offset` rows skipped, newest or
 * oldest first, with the total. Without a time range the total comes from the play counts the stats
 * rollups keep (one row per type); with one it counts the range on the same index the page walks.
 * No `trakt_id` filter here. One media type walks its index; both are the merge of the two walks
 * (keys only, on the covering index), whose page of keys is then read by primary key.
 */
export async function readHistoryOffsetPage(
  db: Database,
  userId: number,
  filters: Omit<HistoryFilters, 'traktId'>,
  page: { order: 'asc' | 'desc'; offset: number; limit: number },
) {
  const branches = branchesFor(filters);
  const ranged = filters.startAt !== undefined || filters.endAt !== undefined;
  const range: SQL[] = [];
  if (filters.startAt) range.push(gte(plays.watchedAt, filters.startAt));
  if (filters.endAt) range.push(lte(plays.watchedAt, filters.endAt));
  const mediaTypes = branches.map((branch) => branch.mediaType!);
  const conditions: SQL[] = [eq(plays.userId, userId), inArray(plays.mediaType, mediaTypes), ...range];
  const single = branches.length === 1 ? branches[0]! : undefined;
  const rowsQuery = single
    ? pageQuery(db, userId, single, filters, undefined, page.limit, page)
    : pageQuery(db, userId, {}, filters, undefined, page.limit, {
        order: page.order,
        keys: offsetKeys(userId, mediaTypes, range, page),
      });
  const [freshness, rows, totals] = await db.batch([
    freshnessQuery(db, userId),
    rowsQuery,
    ranged
      ? db
          .select({ plays: count() })
          .from(plays)
          .where(and(...conditions))
      : playTotalsQuery(db, userId, single?.mediaType),
  ]);
  const total = totals.reduce((sum, row) => sum + row.plays, 0);
  return { freshness: freshness[0], rows, total };
}

/** The history ids of a page by number over several media types: each type's walk stops after offset + limit keys. */
function offsetKeys(
  userId: number,
  mediaTypes: ReadonlyArray<'movie' | 'episode'>,
  range: readonly SQL[],
  page: { order: 'asc' | 'desc'; offset: number; limit: number },
): SQL {
  const dir = sql.raw(page.order === 'asc' ? 'ASC' : 'DESC');
  const walks = mediaTypes.map(
    (mediaType) => sql`SELECT * FROM (SELECT watched_at, history_id FROM plays
      WHERE ${and(eq(plays.userId, userId), eq(plays.mediaType, mediaType), ...range)}
      ORDER BY watched_at ${dir}, history_id ${dir} LIMIT ${page.offset + page.limit})`,
  );
  return sql`SELECT history_id FROM (${sql.join(walks, sql` UNION ALL `)})
    ORDER BY watched_at ${dir}, history_id ${dir} LIMIT ${page.limit} OFFSET ${page.offset}`;
}

export function historyItem(row: PlayRecord, imageBase: string) {
  const common = { id: row.historyId, watched_at: row.watchedAt, action: row.action };
  if (row.mediaType === 'movie') {
    return {
      ...common,
      type: 'movie' as const,
      movie: {
        title: row.movieTitle,
        year: row.movieYear,
        image_url: imageUrl(imageBase, 'w500', row.moviePoster),
        ids: { trakt: row.movieTraktId ?? 0, slug: row.movieSlug, imdb: row.movieImdb, tmdb: row.movieTmdb },
        plays: row.moviePlays ?? 0,
      },
    };
  }
  return {
    ...common,
    type: 'episode' as const,
    show: {
      title: row.showTitle,
      year: row.showYear,
      image_url: imageUrl(imageBase, 'w500', row.showPoster),
      ids: {
        trakt: row.showTraktId ?? 0,
        slug: row.showSlug,
        imdb: row.showImdb,
        tmdb: row.showTmdb,
        tvdb: row.showTvdb,
      },
    },
    episode: {
      season: row.seasonNumber ?? 0,
      number: row.episodeNumber ?? 0,
      title: row.episodeTmdbName ?? row.episodeTitle,
      ids: { trakt: row.episodeTraktId },
      plays: row.episodePlays ?? 0,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Export: every play, streamed in keyset chunks (memory stays at one chunk whatever the history size).

/** Plays per D1 query while exporting: 60,000 plays take 24 queries (the Free plan allows 50 per invocation). */
export const EXPORT_CHUNK_ROWS = 2500;

export const EXPORT_COLUMNS = [
  'type',
  'watched_at',
  'action',
  'title',
  'year',
  'season',
  'episode',
  'episode_title',
  'trakt',
  'imdb',
  'tmdb',
  'tvdb',
] as const;

export type ExportRow = Record<(typeof EXPORT_COLUMNS)[number], string | number | null>;

/** One export row per play; ids are the movie's, or the show's for an episode. */
export function exportRow(row: PlayRecord): ExportRow {
  const movie = row.mediaType === 'movie';
  return {
    type: row.mediaType,
    watched_at: row.watchedAt,
    action: row.action,
    title: movie ? row.movieTitle : row.showTitle,
    year: movie ? row.movieYear : row.showYear,
    season: movie ? null : row.seasonNumber,
    episode: movie ? null : row.episodeNumber,
    episode_title: movie ? null : (row.episodeTmdbName ?? row.episodeTitle),
    trakt: movie ? row.movieTraktId : row.showTraktId,
    imdb: movie ? row.movieImdb : row.showImdb,
    tmdb: movie ? row.movieTmdb : row.showTmdb,
    tvdb: movie ? null : row.showTvdb,
  };
}

/**
 * Characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): a title from
 * community-edited Trakt or TMDB data such as `=HYPERLINK(…)` must stay text when the export is opened.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV field. RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled; null is
 * empty. A text that starts like a formula gets a leading `'` and is quoted (OWASP's neutralisation),
 * so spreadsheets show it as text; numbers are never formulas.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'string' && FORMULA_START.test(value)) return `"'${value.replace(/"/g, '""')}"`;
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: ReadonlyArray<string | number | null>): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/**
 * The first chunks together with the freshness row (one round trip), then an iterator over the rest:
 * every play newest first, as the merge of the movie and episode walks. Each walk is read in chunks of
 * `chunkRows` after its own cursor, so each play is read once, and a chunk is emitted as soon as no
 * unread play of either walk can be newer than it.
 */
export async function readExportStart(db: Database, userId: number, chunkRows = EXPORT_CHUNK_ROWS) {
  const branches = branchesFor({});
  const [freshness, ...firsts] = await db.batch([
    freshnessQuery(db, userId),
    ...branches.map((branch) => pageQuery(db, userId, branch, {}, undefined, chunkRows)),
  ] as [ReturnType<typeof freshnessQuery>, ...Array<ReturnType<typeof pageQuery>>]);
  const position = (row: PlayRecord): CursorPosition => ({ watchedAt: row.watchedAt, historyId: row.historyId });
  const streams = branches.map((branch, i) => {
    const rows = (firsts[i] ?? []) as PlayRecord[];
    return { branch, buffer: rows, after: rows.at(-1), exhausted: rows.length < chunkRows };
  });
  async function* chunks(): AsyncGenerator<PlayRecord[]> {
    for (;;) {
      for (const stream of streams) {
        if (stream.buffer.length > 0 || stream.exhausted || !stream.after) continue;
        const next = await pageQuery(db, userId, stream.branch, {}, position(stream.after), chunkRows);
        stream.buffer = next;
        stream.exhausted = next.length < chunkRows;
        stream.after = next.at(-1) ?? stream.after;
      }
      if (streams.every((stream) => stream.buffer.length === 0)) return;
      // Unread plays of a walk are older than the last one it read: everything at least as new as the
      // newest of those is final.
      const floor = streams
        .filter((stream) => !stream.exhausted)
        .map((stream) => stream.after!)
        .sort(newestFirst)[0];
      const out: PlayRecord[] = [];
      for (const stream of streams) {
        const keep: PlayRecord[] = [];
        for (const row of stream.buffer) (!floor || newestFirst(row, floor) <= 0 ? out : keep).push(row);
        stream.buffer = keep;
      }
      yield out.sort(newestFirst);
    }
  }
  return { freshness: freshness[0], chunks: chunks() };
}

/** Streams the chunks as a JSON array or CSV (header + one line per play), encoding as it goes. */
export function exportStream(chunks: AsyncGenerator<PlayRecord[]>, format: 'json' | 'csv'): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let started = false;
  let first = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue(encoder.encode(format === 'csv' ? csvLine(EXPORT_COLUMNS) : '['));
      }
      const next = await chunks.next();
      if (next.done) {
        if (format === 'json') controller.enqueue(encoder.encode(first ? ']\n' : '\n]\n'));
        controller.close();
        return;
      }
      let text = '';
      for (const row of next.value) {
        const values = exportRow(row);
        if (format === 'csv') text += csvLine(EXPORT_COLUMNS.map((column) => values[column]));
        else {
          text += `${first ? '\n' : ',\n'}${JSON.stringify(values)}`;
          first = false;
        }
      }
      controller.enqueue(encoder.encode(text));
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}
