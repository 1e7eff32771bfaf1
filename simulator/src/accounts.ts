/**
 * @module accounts
 * Creating seeded accounts and changing their plays, resets, playback and "watching" state.
 * Every change moves `/sync/last_activities` the way Trakt does: `watched_at` moves to the time
 * of the change (not the play's time) when plays are added, backdated or removed, `paused_at`
 * when playback progress changes.
 */
import {
  type CatalogEpisode,
  type CatalogMovie,
  type CatalogShow,
  generateHistory,
  generateMovie,
  generateShow,
  movieTraktId,
  type PlayAction,
  showTraktId,
} from './dataset';
import {
  type Account,
  type Activities,
  type Play,
  type PlaybackEntry,
  registerMovie,
  registerShow,
  SimError,
  type SimulatorState,
} from './state';
import { floorSecond, hash32, slugify, unit } from './util';

export interface AccountOptions {
  username: string;
  seed: string;
  movies: number;
  shows: number;
  seasonsPerShow: number;
  episodesPerSeason: number;
  playsPerItem: number;
  rewatchFraction: number;
  nullTmdbFraction: number;
  missingOnTmdbFraction: number;
  historyStart: number;
  historyEnd: number;
}

/** Keys of `/sync/last_activities`, as in Trakt's response (besides `all`). */
export const ACTIVITY_KEYS: Record<string, readonly string[]> = {
  movies: [
    'watched_at',
    'collected_at',
    'rated_at',
    'watchlisted_at',
    'favorited_at',
    'commented_at',
    'paused_at',
    'hidden_at',
  ],
  episodes: ['watched_at', 'collected_at', 'rated_at', 'watchlisted_at', 'commented_at', 'paused_at'],
  shows: ['rated_at', 'watchlisted_at', 'favorited_at', 'commented_at', 'hidden_at', 'dropped_at'],
  seasons: ['rated_at', 'watchlisted_at', 'commented_at', 'hidden_at'],
  comments: ['liked_at', 'blocked_at'],
  lists: ['liked_at', 'updated_at', 'commented_at'],
  watchlist: ['updated_at'],
  favorites: ['updated_at'],
  account: ['settings_at', 'followed_at', 'following_at', 'pending_at', 'requested_at'],
  saved_filters: ['updated_at'],
  notes: ['updated_at'],
};

/** Seeded history ids: a per-username range, ids ascending with watch time. */
export function historyIdBase(username: string): number {
  return ((hash32('history', username) % 100_000) + 1) * 1_000_000_000;
}

export function createAccount(state: SimulatorState, options: AccountOptions): Account {
  if (state.accounts.has(options.username)) throw new SimError(409, `account ${options.username} already exists`);
  const { seed } = options;
  const fractions = { nullTmdb: options.nullTmdbFraction, missingOnTmdb: options.missingOnTmdbFraction };
  const movies: CatalogMovie[] = [];
  for (let i = 0; i < options.movies; i++) {
    movies.push(
      state.catalog.movies.get(movieTraktId(seed, i)) ??
        registerMovie(state.catalog, generateMovie(seed, i, fractions)),
    );
  }
  const shows: CatalogShow[] = [];
  for (let i = 0; i < options.shows; i++) {
    shows.push(
      state.catalog.shows.get(showTraktId(seed, i)) ??
        registerShow(
          state.catalog,
          generateShow(seed, i, options.seasonsPerShow, options.episodesPerSeason, fractions),
        ),
    );
  }
  const history = generateHistory(
    {
      seed,
      playsPerItem: options.playsPerItem,
      rewatchFraction: options.rewatchFraction,
      historyStart: options.historyStart,
      historyEnd: options.historyEnd,
    },
    movies,
    shows,
  );

  const base = historyIdBase(options.username);
  const plays = new Map<number, Play>();
  const itemUpdatedAt = new Map<string, number>();
  const activities = seededActivities(seed, options.historyStart, options.historyEnd);
  history.plays.forEach((p, i) => {
    const play: Play = { id: base + i + 1, type: p.type, traktId: p.traktId, watchedAt: p.watchedAt, action: p.action };
    plays.set(play.id, play);
    // Seeded plays were scrobbled live: the change happened a few seconds after the play.
    const changedAt = p.watchedAt + 1000 * (1 + (hash32(seed, 'changed', i) % 180));
    const key = itemKey(state, play);
    itemUpdatedAt.set(key, Math.max(itemUpdatedAt.get(key) ?? 0, changedAt));
    const group = play.type === 'movie' ? 'movies' : 'episodes';
    bump(activities, group, 'watched_at', changedAt);
  });
  const resets = new Map<number, number>();
  for (const r of history.resets) {
    resets.set(r.showTraktId, r.resetAt);
    const key = `show:${r.showTraktId}`;
    itemUpdatedAt.set(key, Math.max(itemUpdatedAt.get(key) ?? 0, r.resetAt));
  }
  const playback = new Map<number, PlaybackEntry>();
  history.playback.forEach((p, k) => {
    const entry: PlaybackEntry = { id: base + 900_000_000 + k + 1, ...p };
    playback.set(entry.id, entry);
    bump(activities, p.type === 'movie' ? 'movies' : 'episodes', 'paused_at', p.pausedAt);
  });

  const account: Account = {
    username: options.username,
    slug: slugify(options.username) || options.username,
    seed,
    createdAt: options.historyStart,
    movieIds: movies.map((m) => m.traktId),
    showIds: shows.map((s) => s.traktId),
    plays,
    resets,
    playback,
    watching: null,
    activities,
    itemUpdatedAt,
    version: 0,
  };
  state.accounts.set(account.username, account);
  return account;
}

function seededActivities(seed: string, start: number, end: number): Activities {
  const activities: Activities = {};
  for (const [group, keys] of Object.entries(ACTIVITY_KEYS)) {
    const values: Record<string, number> = {};
    for (const key of keys) values[key] = floorSecond(start + (end - start) * 0.5 * unit(seed, 'activity', group, key));
    activities[group] = values;
  }
  return activities;
}

function bump(activities: Activities, group: string, key: string, at: number): void {
  const values = (activities[group] ??= {});
  values[key] = Math.max(values[key] ?? 0, floorSecond(at));
}

/** Records a change at `now`: moves the activity key and invalidates cached views. */
function touch(account: Account, group: 'movies' | 'episodes', key: 'watched_at' | 'paused_at', now: number): void {
  (account.activities[group] ??= {})[key] = floorSecond(now);
  account.version++;
}

function itemKey(state: SimulatorState, play: { type: 'movie' | 'episode'; traktId: number }): string {
  if (play.type === 'movie') return `movie:${play.traktId}`;
  const episode = state.catalog.episodes.get(play.traktId);
  return `show:${episode?.showTraktId ?? 0}`;
}

export function getAccount(state: SimulatorState, username: string): Account {
  const account = state.accounts.get(username);
  if (!account) throw new SimError(404, `unknown account ${username}`);
  return account;
}

/** Who `/oauth/authorize` and device approval act as: the admin-set session, else the newest account. */
export function sessionAccount(state: SimulatorState): Account | null {
  if (state.sessionUsername !== null) return state.accounts.get(state.sessionUsername) ?? null;
  let last: Account | null = null;
  for (const account of state.accounts.values()) last = account;
  return last;
}

export function requireItem(
  state: SimulatorState,
  type: 'movie' | 'episode',
  traktId: number,
): CatalogMovie | CatalogEpisode {
  const item = type === 'movie' ? state.catalog.movies.get(traktId) : state.catalog.episodes.get(traktId);
  if (!item) throw new SimError(404, `unknown ${type} trakt id ${traktId}`);
  return item;
}

export interface NewPlay {
  type: 'movie' | 'episode';
  traktId: number;
  watchedAt?: number;
  action?: PlayAction;
}

/** Adds a play now or backdated; `watched_at` activity moves to `now` either way. */
export function addPlay(state: SimulatorState, account: Account, input: NewPlay, now: number): Play {
  requireItem(state, input.type, input.traktId);
  const play: Play = {
    id: state.nextPlayId++,
    type: input.type,
    traktId: input.traktId,
    watchedAt: floorSecond(input.watchedAt ?? now),
    action: input.action ?? 'watch',
  };
  account.plays.set(play.id, play);
  account.itemUpdatedAt.set(itemKey(state, play), floorSecond(now));
  touch(account, play.type === 'movie' ? 'movies' : 'episodes', 'watched_at', now);
  return play;
}

export function removePlay(state: SimulatorState, account: Account, id: number, now: number): Play {
  const play = account.plays.get(id);
  if (!play) throw new SimError(404, `unknown history id ${id}`);
  account.plays.delete(id);
  account.itemUpdatedAt.set(itemKey(state, play), floorSecond(now));
  touch(account, play.type === 'movie' ? 'movies' : 'episodes', 'watched_at', now);
  return play;
}

/**
 * Starts a rewatch of a show: sets `reset_at`, after which only later plays count in the
 * show's seasons progress. Moves `episodes.watched_at` so incremental syncs notice it.
 */
export function resetShow(
  state: SimulatorState,
  account: Account,
  showTraktId: number,
  resetAt: number | undefined,
  now: number,
): number {
  if (!state.catalog.shows.has(showTraktId)) throw new SimError(404, `unknown show trakt id ${showTraktId}`);
  const at = floorSecond(resetAt ?? now);
  account.resets.set(showTraktId, at);
  account.itemUpdatedAt.set(`show:${showTraktId}`, floorSecond(now));
  touch(account, 'episodes', 'watched_at', now);
  return at;
}

export interface NewPlayback {
  type: 'movie' | 'episode';
  traktId: number;
  progress: number;
  pausedAt?: number;
}

/** Sets playback progress (one entry per item, replaced on update); moves `paused_at`. */
export function setPlayback(state: SimulatorState, account: Account, input: NewPlayback, now: number): PlaybackEntry {
  requireItem(state, input.type, input.traktId);
  for (const [id, entry] of account.playback) {
    if (entry.type === input.type && entry.traktId === input.traktId) account.playback.delete(id);
  }
  const entry: PlaybackEntry = {
    id: state.nextPlayId++,
    type: input.type,
    traktId: input.traktId,
    progress: input.progress,
    pausedAt: floorSecond(input.pausedAt ?? now),
  };
  account.playback.set(entry.id, entry);
  touch(account, input.type === 'movie' ? 'movies' : 'episodes', 'paused_at', now);
  return entry;
}

export function removePlayback(account: Account, id: number, now: number): void {
  const entry = account.playback.get(id);
  if (!entry) throw new SimError(404, `unknown playback id ${id}`);
  account.playback.delete(id);
  touch(account, entry.type === 'movie' ? 'movies' : 'episodes', 'paused_at', now);
}

export interface NewWatching {
  type: 'movie' | 'episode';
  traktId: number;
  action?: 'scrobble' | 'checkin';
  startedAt?: number;
}

/** Starts "watching now" (what `/users/me/watching` reports) until the runtime has passed. */
export function startWatching(state: SimulatorState, account: Account, input: NewWatching, now: number): void {
  const item = requireItem(state, input.type, input.traktId);
  const startedAt = floorSecond(input.startedAt ?? now);
  account.watching = {
    type: input.type,
    traktId: input.traktId,
    action: input.action ?? 'scrobble',
    startedAt,
    expiresAt: startedAt + item.runtime * 60_000,
  };
}

/** Stops watching; with `scrobble` the item is added to history as a `scrobble` play. */
export function stopWatching(state: SimulatorState, account: Account, scrobble: boolean, now: number): Play | null {
  const watching = account.watching;
  account.watching = null;
  if (!watching || !scrobble) return null;
  return addPlay(state, account, { type: watching.type, traktId: watching.traktId, action: watching.action }, now);
}
