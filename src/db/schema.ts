/**
 * @module
 * The D1 schema (drizzle). Column names are camelCase here and snake_case in SQL
 * (`casing: 'snake_case'`). Timestamps are ISO-8601 UTC strings with milliseconds and `Z`
 * (`Date#toISOString`), which sort correctly as text. STORAGE.md documents every table.
 */
import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

export const users = sqliteTable(
  'users',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    username: text().notNull(),
    passwordHash: text().notNull(),
    createdAt: text().notNull(),
    /**
     * Access JWTs issued (`iat`) before this instant are refused (migration 0015): set by a password change and
     * by "log out everywhere", to the start of that second. Null: every unexpired access token counts.
     */
    tokensValidAfter: text(),
  },
  // Usernames are unique regardless of case, so "Alice" cannot register beside "alice".
  (t) => [uniqueIndex('users_username_lower_unique').on(sql`lower(${t.username})`)],
);

export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    serviceName: text().notNull(),
    /** Not secret (e.g. the Trakt client id of a `trakt` key); stored as given. */
    serviceUserId: text(),
    /** The secret, sealed with the crypto envelope; AAD `user:<id>|api_key:<service_name>`. */
    encryptedKey: text().notNull(),
    createdAt: text().notNull(),
    updatedAt: text().notNull(),
  },
  (t) => [uniqueIndex('api_keys_user_service_unique').on(t.userId, t.serviceName)],
);

/**
 * One row per refresh token (its `sid` claim): deleting the row revokes that token. Access tokens stay
 * stateless; only a refresh looks its session up. Expired rows are pruned by the cron.
 */
export const sessions = sqliteTable(
  'sessions',
  {
    /** Random 128-bit id carried in the refresh JWT's `sid` claim (not a credential without JWT_SECRET). */
    id: text().primaryKey(),
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: text().notNull(),
    /** The refresh token's `exp`. */
    expiresAt: text().notNull(),
  },
  (t) => [index('sessions_user_idx').on(t.userId), index('sessions_expires_at_idx').on(t.expiresAt)],
);

/**
 * Login and registration throttling counters, one row per subject: `account:<lower(username)>`,
 * `ip:<address>` or `register:<address>`. Keyed by username, not user id, so an unknown username
 * is throttled exactly like a known one. Written only by src/auth/login-throttle.ts.
 */
export const loginThrottle = sqliteTable(
  'login_throttle',
  {
    subject: text().primaryKey(),
    /** Failures in the current streak (registrations in the current window for `register:`). */
    count: integer().notNull(),
    /** Lockouts imposed in the current streak: the wait doubles with each. */
    lockouts: integer().notNull(),
    startedAt: text().notNull(),
    lastAt: text().notNull(),
    lockedUntil: text(),
    /** Compare-and-set guard: every write is conditional on the revision it read. */
    revision: integer().notNull(),
  },
  (t) => [index('login_throttle_last_at_idx').on(t.lastAt)],
);

/** Which usernames each client address failed to log in as (for the distinct-usernames limit). */
export const loginFailureUsernames = sqliteTable(
  'login_failure_usernames',
  {
    address: text().notNull(),
    /** lower(username) as typed; it may name no account. */
    username: text().notNull(),
    failedAt: text().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.address, t.username] }),
    index('login_failure_usernames_username_idx').on(t.username),
    index('login_failure_usernames_failed_at_idx').on(t.failedAt),
  ],
);

/**
 * One row per connected Trakt account: the source of truth (and journal) for its token set. The
 * sealed set is kept here and copied to KV under a key that changes on every refresh
 * (`trakt_tokens:<user>:<token_set_id>`) for the hot read path. Only src/trakt/connections.ts
 * reads or writes this table.
 */
export const traktConnections = sqliteTable(
  'trakt_connections',
  {
    userId: integer()
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    status: text({ enum: ['active', 'refresh_rejected', 'reauthorization_required', 'disconnecting'] }).notNull(),
    statusReason: text(),
    /** Bumped on every new token set; the compare-and-set guard for refreshes. */
    tokenVersion: integer().notNull(),
    /** Random id naming the current KV token set. */
    tokenSetId: text().notNull(),
    /** The access token's expiry: Trakt's `created_at + expires_in`. */
    expiresAt: text().notNull(),
    tokenLifetimeSeconds: integer().notNull(),
    /** Refresh lease: who is refreshing and until when (single-flight across isolates). */
    refreshLeaseId: text(),
    refreshLeaseUntil: text(),
    /** The token set id a refresh in flight will publish under (removed by a disconnect with the rest). */
    pendingTokenSetId: text(),
    /** The current token set, sealed (AAD `user:<id>|trakt_tokens`): the journal KV misses fall back to. */
    sealedTokens: text(),
    /** When Trakt last rejected the client id/secret (null once a refresh succeeds). */
    credentialsRejectedAt: text(),
    /** Transient refresh failures in a row: the backoff before the next attempt grows with it. */
    refreshFailures: integer().notNull().default(0),
    connectedAt: text().notNull(),
    refreshedAt: text(),
    updatedAt: text().notNull(),
    /** When the background sync is next due (the cron's index). */
    nextSyncAt: text().notNull(),
    /** The Trakt client id the current token set was issued to (by an authorization or a refresh). */
    clientId: text(),
    /** When Trakt stopped accepting that app (its client id answers 403); null while it works. */
    appRejectedAt: text(),
    /** Trakt's per-user rate limit holds the user's API calls back until then. */
    rateLimitedUntil: text(),
  },
  (t) => [
    index('trakt_connections_due_idx').on(t.status, t.nextSyncAt),
    index('trakt_connections_expiry_idx').on(t.status, t.expiresAt),
  ],
);

/**
 * Per-user budgets of the endpoints that call Trakt or write KV (src/budgets/): the GCRA theoretical
 * arrival time of each user's budget, and whether its last request was let through.
 */
export const userBudgets = sqliteTable(
  'user_budgets',
  {
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    budget: text().notNull(),
    tatMs: integer().notNull(),
    allowed: integer().notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.budget] })],
);

/** Consumed OAuth states: makes each state single-use atomically (KV has no compare-and-set). */
export const oauthStateUses = sqliteTable(
  'oauth_state_uses',
  {
    stateHash: text().primaryKey(),
    userId: integer().notNull(),
    usedAt: text().notNull(),
  },
  (t) => [index('oauth_state_uses_used_at_idx').on(t.usedAt)],
);

/**
 * OAuth states issued through the NowPlaying compatibility layer (src/nowplaying/), by user: its web app
 * posts the code with its numeric user id instead of the state, so the layer looks up the caller's newest
 * pending state here. Only src/trakt/oauth-state.ts reads or writes it; the cron prunes expired rows.
 */
export const oauthPendingStates = sqliteTable(
  'oauth_pending_states',
  {
    /** SHA-256 of the state (the KV key's suffix); the state itself is never stored. */
    stateHash: text().primaryKey(),
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: text().notNull(),
  },
  (t) => [
    index('oauth_pending_states_user_idx').on(t.userId, t.createdAt),
    index('oauth_pending_states_created_at_idx').on(t.createdAt),
  ],
);

// ---------------------------------------------------------------------------------------------
// Watch history (per user). Unique constraints, not luck, prevent duplicates.

/**
 * WITHOUT ROWID on (user_id, trakt_id) (migration 0020; drizzle cannot express it, the migration does): one row
 * per watched movie per user, its secondary indexes ending in trakt_id for stable list order. sort=plays|year
 * have no index of their own (they sort the user's movies): two rows written fewer per movie.
 */
export const movies = sqliteTable(
  'movies',
  {
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    traktId: integer().notNull(),
    title: text().notNull(),
    year: integer(),
    slug: text(),
    imdbId: text(),
    /** Trakt's `ids.tmdb` as Trakt reports it (may be null). */
    tmdbId: integer(),
    /** The TMDB id used for enrichment: Trakt's, or one found through /find by imdb id. */
    tmdbRef: integer(),
    plays: integer().notNull(),
    lastWatchedAt: text().notNull(),
    lastUpdatedAt: text(),
    /** Playback progress (0–100) of a started-but-unfinished viewing, from /sync/playback. */
    progress: real(),
    pausedAt: text(),
    /**
     * What the movie's plays count in the stats rollups (src/readmodel/stats.ts): minutes (0 = TMDB knows
     * none) and genre names (JSON); NULL = TMDB data not counted yet (minutes unknown, no genre).
     */
    statsRuntime: integer(),
    statsGenres: text(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.traktId] }),
    index('movies_user_recent_idx').on(t.userId, t.lastWatchedAt, t.traktId),
    index('movies_user_title_idx').on(t.userId, sql`${t.title} COLLATE NOCASE`, t.traktId),
    index('movies_user_paused_idx').on(t.userId).where(sql`${t.pausedAt} IS NOT NULL`),
  ],
);

export const shows = sqliteTable(
  'shows',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    traktId: integer().notNull(),
    title: text().notNull(),
    year: integer(),
    slug: text(),
    imdbId: text(),
    tvdbId: integer(),
    tmdbId: integer(),
    tmdbRef: integer(),
    airedEpisodes: integer(),
    plays: integer().notNull(),
    lastWatchedAt: text().notNull(),
    lastUpdatedAt: text(),
    /** Start of the current rewatch (Trakt `reset_at`), or null. */
    resetAt: text(),
    /** Genre names (JSON) the show's plays count in the stats rollups; NULL = not counted yet. */
    statsGenres: text(),
  },
  (t) => [
    uniqueIndex('shows_user_trakt_unique').on(t.userId, t.traktId),
    index('shows_user_recent_idx').on(t.userId, t.lastWatchedAt, t.id),
    index('shows_user_title_idx').on(t.userId, sql`${t.title} COLLATE NOCASE`, t.id),
    index('shows_user_plays_idx').on(t.userId, t.plays, t.id),
    index('shows_user_year_idx').on(t.userId, t.year, t.id),
  ],
);

export const seasons = sqliteTable(
  'seasons',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    showId: integer()
      .notNull()
      .references(() => shows.id, { onDelete: 'cascade' }),
    seasonNumber: integer().notNull(),
    /**
     * The episode runtimes the season's plays count in the stats rollups, as JSON `{"<episode>": minutes}`
     * (0 or absent = TMDB knows none); NULL = TMDB data not counted yet.
     */
    statsRuntimes: text(),
  },
  (t) => [uniqueIndex('seasons_show_number_unique').on(t.showId, t.seasonNumber)],
);

/**
 * WITHOUT ROWID on (season_id, episode_number) (migration 0020). The id an episode is shown with is
 * derived from that key (`episodeId()`, src/history/queries.ts).
 */
export const episodes = sqliteTable(
  'episodes',
  {
    /** No foreign key (a check is a row read per insert): deleted explicitly with their season's show. */
    seasonId: integer().notNull(),
    episodeNumber: integer().notNull(),
    traktId: integer(),
    /** Trakt's episode title; TMDB's name is preferred when enriched. */
    title: text(),
    plays: integer().notNull(),
    lastWatchedAt: text(),
    /** 100 once watched; playback progress for a started-but-unfinished episode. */
    progress: real().notNull(),
    pausedAt: text(),
  },
  (t) => [
    primaryKey({ columns: [t.seasonId, t.episodeNumber] }),
    // Small (only paused viewings): the sync finds a user's paused episodes season by season.
    index('episodes_season_paused_idx').on(t.seasonId).where(sql`${t.pausedAt} IS NOT NULL`),
  ],
);

/**
 * Every play (Trakt history item): WITHOUT ROWID on its natural key (user_id, history_id), migration 0020.
 * Three indexes, each shown with the query it serves in STORAGE.md (EXPLAIN QUERY PLAN).
 */
export const plays = sqliteTable(
  'plays',
  {
    /** No foreign key (a check is a row read per insert): deleted explicitly with the user's history. */
    userId: integer().notNull(),
    historyId: integer().notNull(),
    mediaType: text({ enum: ['movie', 'episode'] }).notNull(),
    watchedAt: text().notNull(),
    action: text().notNull(),
    movieTraktId: integer(),
    showTraktId: integer(),
    seasonNumber: integer(),
    episodeNumber: integer(),
    episodeTraktId: integer(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.historyId] }),
    // Every time-ordered read (keyset pages on (watched_at, history_id), the sync's windows, the first and
    // last play, the export): per type, and all plays as the merge of the two types.
    index('plays_user_type_watched_idx').on(t.userId, t.mediaType, t.watchedAt, t.historyId),
    // One title's plays (history of a movie or a show, its totals after a removal, its stats delta): partial,
    // so each play is in exactly one of the two.
    index('plays_user_movie_idx')
      .on(t.userId, t.movieTraktId, t.watchedAt, t.historyId)
      .where(sql`${t.movieTraktId} IS NOT NULL`),
    index('plays_user_show_idx')
      .on(t.userId, t.showTraktId, t.watchedAt, t.historyId)
      .where(sql`${t.showTraktId} IS NOT NULL`),
  ],
);

/** Per-user sync cursor, lease, last result and stored counts (so list totals never COUNT(*)). */
export const syncState = sqliteTable(
  'sync_state',
  {
    userId: integer()
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** When movies / shows were last synced (null: the next sync of that kind is a first, full one). */
    moviesSyncedAt: text(),
    showsSyncedAt: text(),
    moviesWatchedAt: text(),
    moviesPausedAt: text(),
    episodesWatchedAt: text(),
    episodesPausedAt: text(),
    /** Newest `watched_at` stored per type: the history high-water marks. */
    moviesHistoryHighWater: text(),
    episodesHistoryHighWater: text(),
    movieCount: integer().notNull().default(0),
    showCount: integer().notNull().default(0),
    episodeCount: integer().notNull().default(0),
    moviePlayCount: integer().notNull().default(0),
    episodePlayCount: integer().notNull().default(0),
    leaseId: text(),
    leaseUntil: text(),
    lastSyncAt: text(),
    lastResult: text(),
    lastError: text(),
    lastErrorAt: text(),
    /** The unfinished pass of each kind (JSON `SyncPass`, src/sync/state.ts): its phase and resume cursor. */
    moviesPass: text(),
    showsPass: text(),
    /** When the last full reconcile of each kind committed. */
    moviesReconciledAt: text(),
    showsReconciledAt: text(),
    /** 1 while titles or seasons of the user's library still wait for TMDB enrichment. */
    tmdbBacklog: integer().notNull().default(0),
    /** Held while an enrichment run (queue `trakt-enrich`) works on the user: one run per user at a time. */
    enrichLeaseUntil: text(),
    /** Where the enrichment's walk over the library stands (JSON `WalkCursor`, src/tmdb/walk.ts). */
    enrichCursor: text(),
    /** Titles (movies + shows) and seasons whose TMDB data is not counted yet (the artwork still to come). */
    tmdbPendingTitles: integer().notNull().default(0),
    tmdbPendingSeasons: integer().notNull().default(0),
    /** When the last enrichment run ended. */
    enrichedAt: text(),
    /** Background work stopped until then (the daily database budget), and why. */
    pausedUntil: text(),
    pausedReason: text(),
    /** Sync kinds requested while the lease was held (bits: 1 movies, 2 shows), handed to the queue when it frees. */
    requestedKinds: integer().notNull().default(0),
  },
  (t) => [
    // Operator view (admin/status.ts): syncs holding a lease, and users with a TMDB backlog, without a scan.
    index('sync_state_lease_idx').on(t.leaseUntil).where(sql`${t.leaseUntil} IS NOT NULL`),
    index('sync_state_tmdb_backlog_idx').on(t.userId).where(sql`${t.tmdbBacklog} = 1`),
  ],
);

// ---------------------------------------------------------------------------------------------
// TMDB metadata: public data, cached once for everyone (not per user).

export const tmdbTitles = sqliteTable(
  'tmdb_titles',
  {
    kind: text({ enum: ['movie', 'tv'] }).notNull(),
    tmdbId: integer().notNull(),
    /** `found`, or `missing` when TMDB answered 404 (not asked again until the refresh age). */
    status: text({ enum: ['found', 'missing'] }).notNull(),
    title: text(),
    posterPath: text(),
    backdropPath: text(),
    overview: text(),
    voteAverage: real(),
    fetchedAt: text().notNull(),
    /** Genre names as a JSON array (`["Drama","Comedy"]`). */
    genres: text(),
    /** Minutes: a movie's runtime, or a show's typical episode runtime. */
    runtime: integer(),
    /** Shows: TMDB's `status` (`Returning Series`, `Ended`, `Canceled`, …); migration 0017. */
    showStatus: text(),
    /** Shows: TMDB's `next_episode_to_air` as JSON `{season, episode, name, air_date}`, or null; migration 0017. */
    nextEpisode: text(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.tmdbId] })],
);

/**
 * One TMDB season (WITHOUT ROWID, migration 0019) with its episodes as one JSON object keyed by episode
 * number: `{"1": {"name", "overview", "still_path", "vote_average", "runtime", "air_date"}, …}` (`TmdbEpisode`).
 */
export const tmdbSeasons = sqliteTable(
  'tmdb_seasons',
  {
    tmdbShowId: integer().notNull(),
    seasonNumber: integer().notNull(),
    status: text({ enum: ['found', 'missing'] }).notNull(),
    fetchedAt: text().notNull(),
    episodes: text(),
    /** The episodes' runtimes alone, `{"<episode>": minutes}` (0: TMDB knows none): what the season's plays count. */
    runtimes: text(),
  },
  (t) => [primaryKey({ columns: [t.tmdbShowId, t.seasonNumber] })],
);

/** One episode in `tmdb_seasons.episodes`. */
export type TmdbEpisode = {
  name: string | null;
  overview: string | null;
  still_path: string | null;
  vote_average: number | null;
  /** Minutes (the stats' minutes for episode plays). */
  runtime: number | null;
  /** `YYYY-MM-DD` as TMDB gives it (the calendar of upcoming episodes; migration 0017). */
  air_date: string | null;
};

/** Results of TMDB /find for items whose Trakt tmdb id is null (tmdb_id null = not found). */
export const tmdbExternalIds = sqliteTable(
  'tmdb_external_ids',
  {
    source: text({ enum: ['imdb_id', 'tvdb_id'] }).notNull(),
    externalId: text().notNull(),
    kind: text({ enum: ['movie', 'tv'] }).notNull(),
    tmdbId: integer(),
    fetchedAt: text().notNull(),
  },
  (t) => [primaryKey({ columns: [t.source, t.externalId, t.kind] })],
);

// ---------------------------------------------------------------------------------------------
// Read-side support (src/history).

/** Per-user data version: bumped in the same batch as every write of the user's history; the ETag source. */
export const userDataVersions = sqliteTable('user_data_versions', {
  userId: integer()
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  version: integer().notNull(),
  updatedAt: text().notNull(),
});

/**
 * Stats rollups per user (WITHOUT ROWID, migration 0020), kept exact by the writers of plays in the same
 * batch (src/readmodel/stats.ts): `dimension` `total` (bucket `movie` | `episode`), `month` (`2024-01`;
 * years are summed from months), `weekday_hour` (`<0-6, Monday = 0>-<0-23>`, UTC), `local_weekday_hour`
 * (the same in the user's stats time zone; migration 0011), `day` (`2024-01-31`), `genre` (the genre name,
 * plays only). Rows may fall to 0 plays.
 */
export const playStats = sqliteTable(
  'play_stats',
  {
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    dimension: text({ enum: ['total', 'month', 'weekday_hour', 'local_weekday_hour', 'genre', 'day'] }).notNull(),
    bucket: text().notNull(),
    plays: integer().notNull(),
    minutes: integer().notNull(),
    minutesUnknownPlays: integer().notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.dimension, t.bucket] })],
);

/**
 * A user's stats time zone (src/readmodel/stats-zone.ts owns it): the IANA zone whose weekday-hour grid
 * the writers of plays keep in `play_stats` (`local_weekday_hour`), and the offset rules
 * (`time_zone_offsets.rules`) that grid was counted with. No row: UTC only.
 */
export const statsTimeZones = sqliteTable('stats_time_zones', {
  userId: integer()
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  timeZone: text().notNull(),
  rules: text().notNull(),
  updatedAt: text().notNull(),
});

/**
 * UTC-offset intervals of a zone, as the Workers runtime's zone database gives them (shared by all
 * users; src/readmodel/stats-zone.ts). `rules` names one immutable set: `<zone>#<hash of the intervals>`;
 * the intervals cover every instant, [start_at, end_at) each. A new set (a new year's horizon, new
 * zone data in the runtime) gets new rows, so a user's grid always matches the rules it names.
 */
export const timeZoneOffsets = sqliteTable(
  'time_zone_offsets',
  {
    rules: text().notNull(),
    startAt: text().notNull(),
    endAt: text().notNull(),
    offsetMinutes: integer().notNull(),
  },
  (t) => [primaryKey({ columns: [t.rules, t.startAt] })],
);

// ---------------------------------------------------------------------------------------------
// Operability (observability/records.ts owns these; admin/status.ts reads them).

/** One row per cron run: what it did. The newest 1,000 are kept. */
export const cronRuns = sqliteTable('cron_runs', {
  id: integer().primaryKey({ autoIncrement: true }),
  startedAt: text().notNull(),
  finishedAt: text().notNull(),
  durationMs: integer().notNull(),
  /** `ok` or `failed`. */
  outcome: text().notNull(),
  refreshed: integer().notNull().default(0),
  refreshFailures: integer().notNull().default(0),
  claimed: integer().notNull().default(0),
  enqueued: integer().notNull().default(0),
  statesDeleted: integer().notNull().default(0),
  /** The failure's class and scrubbed message when `outcome` is `failed`. */
  error: text(),
});

/** Background syncs that exhausted their retries (the dead-letter queue's consumer writes one per message). */
export const syncDeadLetters = sqliteTable(
  'sync_dead_letters',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    attempts: integer().notNull(),
    deadAt: text().notNull(),
  },
  (t) => [
    index('sync_dead_letters_dead_at_idx').on(t.deadAt),
    // Deleting a user deletes their dead letters through this index.
    index('sync_dead_letters_user_idx').on(t.userId),
  ],
);

/**
 * Rows this Worker read and wrote per UTC day (WITHOUT ROWID, migration 0021), from each statement's
 * `meta`: the daily D1 budget's counter (src/budget/usage.ts).
 */
export const d1Usage = sqliteTable('d1_usage', {
  day: text().primaryKey(),
  rowsRead: integer().notNull().default(0),
  rowsWritten: integer().notNull().default(0),
  updatedAt: text().notNull(),
});

/**
 * Counters kept by triggers (migration 0008): `users` and `connections:<status>` for every status
 * value, so the operator view never counts a large table.
 */
export const opsCounters = sqliteTable('ops_counters', {
  name: text().primaryKey(),
  value: integer().notNull(),
});

/**
 * Where the background re-encryption (src/rotation/reseal.ts, migration 0015) stands in its pass over each
 * table of envelopes: one row per table (`target`). A pass runs under one list of key ids; another list
 * (a new primary, a key put back) starts a new pass.
 */
export const resealProgress = sqliteTable('reseal_progress', {
  /** `api_keys` or `trakt_connections`. */
  target: text().primaryKey(),
  /** ENCRYPTION_KEYS' key ids (primary first, comma-separated) the pass runs under. */
  keyIds: text().notNull(),
  /** The last row handled in this pass (`api_keys.id`, `trakt_connections.user_id`); 0 at the start. */
  afterId: integer().notNull().default(0),
  /** Envelopes this pass found but could not re-seal (their key is missing, or they do not open). */
  skipped: integer().notNull().default(0),
  /** What the last completed pass under these key ids could not re-seal; null until one completed. */
  unresealable: integer(),
  updatedAt: text().notNull(),
});

/**
 * The latest import of Trakt's data export per user (migration 0013; owned by src/import/imports.ts).
 * `status`: `queued`, `running`, `done` or `failed`. `files`: JSON array, one element per history file
 * of the ZIP (`ImportFile` in src/import/imports.ts). `objectKey`: the archive in the IMPORTS R2
 * bucket while a background import runs.
 */
export const traktImports = sqliteTable(
  'trakt_imports',
  {
    id: text().primaryKey(),
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    status: text().notNull(),
    files: text().notNull(),
    playsSeen: integer().notNull().default(0),
    playsAdded: integer().notNull().default(0),
    playsSkipped: integer().notNull().default(0),
    error: text(),
    objectKey: text(),
    createdAt: text().notNull(),
    updatedAt: text().notNull(),
    finishedAt: text(),
  },
  (t) => [uniqueIndex('trakt_imports_user_unique').on(t.userId)],
);

// ---------------------------------------------------------------------------------------------
// Sharing, webhooks and the year in review (migration 0017).

/**
 * A user's public sharing (src/sharing/settings.ts owns it): the handle under `/u/:handle/` (stored
 * lower-case, unique) and the parts shared (JSON array). No row: nothing is public.
 */
export const sharingProfiles = sqliteTable(
  'sharing_profiles',
  {
    userId: integer()
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    handle: text().notNull(),
    parts: text().notNull(),
    createdAt: text().notNull(),
    updatedAt: text().notNull(),
  },
  (t) => [uniqueIndex('sharing_profiles_handle_unique').on(t.handle)],
);

/**
 * The last answer of Trakt's `/users/me/watching` per user (src/sharing/now.ts): the public `now.json`
 * asks Trakt at most once a minute, whatever the traffic, single-flight through `lease_until`.
 */
export const sharedNowWatching = sqliteTable('shared_now_watching', {
  userId: integer()
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  /** JSON of the public `watching` object, or null (nothing playing). */
  watching: text(),
  fetchedAt: text(),
  leaseUntil: text(),
});

/** Webhook endpoints (src/webhooks/endpoints.ts owns them). */
export const webhooks = sqliteTable(
  'webhooks',
  {
    /** `wh_<random>`. */
    id: text().primaryKey(),
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    url: text().notNull(),
    /** JSON array of event types. */
    events: text().notNull(),
    /** The signing secret (`whsec_…`), sealed with the envelope; AAD `user:<id>|webhook_secret:<webhook id>`. */
    sealedSecret: text().notNull(),
    createdAt: text().notNull(),
    updatedAt: text().notNull(),
    /** Set when deliveries failed for too long (or by the owner); no delivery is made while set. */
    disabledAt: text(),
    disabledReason: text(),
    /** The first failed attempt since the last success. */
    failingSince: text(),
    consecutiveFailures: integer().notNull().default(0),
    lastSuccessAt: text(),
    lastFailureAt: text(),
  },
  (t) => [index('webhooks_user_idx').on(t.userId)],
);

/**
 * One row per delivery (src/webhooks/deliveries.ts owns them): the delivery log the owner reads and the
 * dead-letter record (`status = 'failed'`) once its retries are spent. `id` is the `webhook-id` header.
 */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    /** `msg_<random>`: the Standard Webhooks message id, the same for every attempt. */
    id: text().primaryKey(),
    webhookId: text()
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    eventType: text().notNull(),
    /** The exact JSON body sent (every attempt sends the same bytes). */
    payload: text().notNull(),
    /** `pending` (not tried yet), `retrying`, `delivered`, `failed` (retries spent: the dead letter). */
    status: text({ enum: ['pending', 'retrying', 'delivered', 'failed'] }).notNull(),
    attempts: integer().notNull().default(0),
    createdAt: text().notNull(),
    nextAttemptAt: text(),
    /** Held by the consumer making an attempt (a duplicate queue message then does nothing). */
    leaseUntil: text(),
    lastAttemptAt: text(),
    lastStatusCode: integer(),
    lastError: text(),
    completedAt: text(),
  },
  (t) => [
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.createdAt),
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`${t.status} IN ('pending', 'retrying')`),
    index('webhook_deliveries_user_idx').on(t.userId),
  ],
);

/**
 * The webhook outbox (src/readmodel/play-outbox.ts owns it; src/webhooks/outbox.ts dispatches it): plays a writer inserted, staged in the writer's own
 * transaction by the write hook when the user has an endpoint for `play.created`; turned into one
 * delivery per endpoint right after the writer's batch commits (or by the cron, should that be lost).
 */
export const webhookNewPlays = sqliteTable(
  'webhook_new_plays',
  {
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    historyId: integer().notNull(),
    stagedAt: text().notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.historyId] }), index('webhook_new_plays_staged_idx').on(t.stagedAt)],
);

/** A computed year in review (src/review/service.ts), valid while the user's data version is `version`. */
export const yearReviews = sqliteTable(
  'year_reviews',
  {
    userId: integer()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    year: integer().notNull(),
    version: integer().notNull(),
    body: text().notNull(),
    computedAt: text().notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.year] })],
);
