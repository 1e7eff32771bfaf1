/**
 * @module
 * Where the enrichment's walk over a user's library stands (`sync_state.enrich_cursor`, JSON; pure).
 *
 * A backlog is worked through by a WALK: movies, then shows, then seasons, each newest first along the
 * titles' `(user_id, last_watched_at, …)` indexes, taking only the titles that need work (./enrich.ts).
 * Each run continues from the stored position instead of scanning the library again, so a whole walk
 * reads each title about once, however many runs it takes (issue 25: linear, not quadratic). A title
 * whose last watch moves during a walk was touched by a sync, which names it to enrichment directly.
 *
 * A walk that ends with failed calls is due again, but not before WALK_RETRY_MS (./enrich.ts): a title
 * TMDB keeps failing costs one walk every few hours, not one per background sync.
 */

/** A title's place in its walk: `[last_watched_at, trakt id (movies) | row id (shows)]`. */
export type TitlePosition = [string, number];
/** A season's place: its show's `[last_watched_at, row id]`, then the season number. */
export type SeasonPosition = [string, number, number];

/** Positions reached per kind (`done`: that kind is finished); a missing kind starts from the newest. */
export type WalkPosition = {
  movies?: TitlePosition | 'done';
  shows?: TitlePosition | 'done';
  seasons?: SeasonPosition | 'done';
};

export type EnrichState = {
  /** The walk in progress, or null. */
  walk: WalkPosition | null;
  /** A new walk is wanted (the library has titles no run was named for). */
  due: boolean;
  /** Not before this instant (ISO): a walk that failed waits before the next one. */
  after?: string;
  /** Calls of the walk in progress that failed. */
  failed?: number;
};

/**
 * No stored state: nothing to walk (titles a sync stores are named to enrichment; a library migrated with
 * titles not counted yet, or stored without a TMDB key, gets a walk due with its backlog flag).
 */
export const FRESH_STATE: EnrichState = { walk: null, due: false };

export function parseEnrichState(text: string | null | undefined): EnrichState {
  if (!text) return FRESH_STATE;
  try {
    const value = JSON.parse(text) as Partial<EnrichState>;
    return {
      walk: value.walk && typeof value.walk === 'object' ? value.walk : null,
      due: value.due === true,
      ...(typeof value.after === 'string' ? { after: value.after } : {}),
      ...(typeof value.failed === 'number' ? { failed: value.failed } : {}),
    };
  } catch {
    return FRESH_STATE;
  }
}

export function walkDone(walk: WalkPosition): boolean {
  return walk.movies === 'done' && walk.shows === 'done' && walk.seasons === 'done';
}
