/**
 * @module
 * The API answers the dashboard reads, as the contract declares them: every type here is derived from the response
 * schema of its route (src/history/output-schemas.ts, src/import/schemas.ts, src/trakt/schemas.ts,
 * src/users/schemas.ts), never written a second time. Imported as types only: browser code never loads server code
 * at run time (scripts/check-layers.mjs), and a change of an answer's shape fails `npm run typecheck`
 * (tsconfig.web.json) instead of the page.
 */
import type {
  FetchContinuesOutput,
  FetchMoviesOutput,
  FetchShowsOutput,
  HistoryOutput,
  SeasonsEpisodesOutput,
  StatsOutput,
  StoredMoviesOutput,
  StoredShowsOutput,
  SyncStatusOutput,
} from '../../../history/output-schemas';
import type { ImportBatchOutput } from '../../../import/schemas';
import type { AuthStatusOutput, DeviceCodeOutput, DeviceTokenOutput } from '../../../trakt/schemas';
import type { MeOutput } from '../../../users/schemas';

/** GET /trakt/auth-status/: connected (maybe with a warning or a rejected client) or not, with the way back. */
export type AuthStatus = AuthStatusOutput;
/** GET /trakt/sync-status/: the last and next sync, the stored counts, and the progress of one under way. */
export type SyncStatus = SyncStatusOutput;
export type KindProgress = NonNullable<SyncStatusOutput['progress'][keyof SyncStatusOutput['progress']]>;

/** GET /trakt/history/: one page of plays, newest first. */
export type HistoryPage = HistoryOutput;
export type HistoryItem = HistoryOutput['items'][number];

/** GET /trakt/stats/. */
export type StatsAnswer = StatsOutput;

/** GET /trakt/get-stored-movies/ and /get-stored-shows/: a page of titles with their plays. */
export type StoredMovies = StoredMoviesOutput;
export type StoredShows = StoredShowsOutput;
export type StoredMovie = StoredMoviesOutput['movies'][number];
export type StoredShow = StoredShowsOutput['shows'][number];

/** GET /trakt/get-watched-seasons-episodes/: a show's seasons and its episodes with their plays. */
export type SeasonsEpisodes = SeasonsEpisodesOutput;

/** POST /trakt/fetch-latest-movies/ and -shows/: done (200) or continuing in the background (202). */
export type FetchOutcome = FetchMoviesOutput | FetchShowsOutput | FetchContinuesOutput;

/** POST /trakt/device/code/ and /device/token/. */
export type DeviceCode = DeviceCodeOutput;
export type DeviceToken = DeviceTokenOutput;

/** POST /trakt/import/history/: one batch of an export's history. */
export type ImportBatch = ImportBatchOutput;

/** GET /users/me/. */
export type Me = MeOutput;
