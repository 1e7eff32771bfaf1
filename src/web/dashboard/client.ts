/**
 * @module
 * The dashboard's browser entry: sign-in, the Trakt connection and sync status, the stats charts, the grid of
 * recent plays with infinite scroll, and a show's seasons and episodes. Everything comes from this API's public
 * endpoints (./browser/api.ts) and is drawn with ./browser/dom.ts, so every value is inserted as text.
 */
import { Api, ApiFailure } from './browser/api';
import { calendarHeatmap, monthChart, weekdayHourGrid } from './browser/chart-svg';
import { episodeCode, relativeTime } from './browser/charts';
import { byId, fill, h } from './browser/dom';
import { setupExportImport } from './browser/export-import';
import type {
  DeviceCode,
  DeviceToken,
  FetchOutcome,
  HistoryItem,
  SeasonsEpisodes,
  StatsAnswer,
  StoredMovie,
  StoredShow,
  SyncStatus,
} from './browser/types';

const PAGE_SIZE = 24;
const POLL_MS = 2_000;

const api = new Api((reason) => {
  showSignedOut();
  say(reason, 'fail');
});

function say(text: string, kind: 'ok' | 'fail' | 'info' = 'info'): void {
  const message = byId('message');
  message.className = kind;
  message.textContent = text;
}

function describeError(error: unknown): string {
  if (error instanceof ApiFailure) {
    return error.retryAfter ? `${error.message} (try again in ${error.retryAfter} s)` : error.message;
  }
  return 'The API could not be reached; check your connection and try again.';
}

function formatDate(iso: string | null | undefined): string {
  if (!iso) return 'never';
  return `${new Date(iso).toLocaleString()} (${relativeTime(iso, Date.now())})`;
}

// ---------- sign-in ----------

function showSignedOut(): void {
  byId('signin').hidden = false;
  byId('dashboard').hidden = true;
  byId('session').hidden = true;
  byId<HTMLInputElement>('username').focus();
}

async function showSignedIn(): Promise<void> {
  byId('signin').hidden = true;
  byId('dashboard').hidden = false;
  byId('session').hidden = false;
  byId('whoami').textContent = api.username ?? 'you';
  await Promise.all([refreshConnection(), refreshStats(), resetGrid()]);
}

function credentials(): { username: string; password: string } | null {
  const form = byId<HTMLFormElement>('signin-form');
  if (!form.reportValidity()) return null;
  return {
    username: byId<HTMLInputElement>('username').value.trim(),
    password: byId<HTMLInputElement>('password').value,
  };
}

byId<HTMLFormElement>('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = credentials();
  if (!input) return;
  try {
    await api.signIn(input.username, input.password);
    byId<HTMLInputElement>('password').value = '';
    say('');
    await showSignedIn();
  } catch (error) {
    say(describeError(error), 'fail');
  }
});

byId('register').addEventListener('click', async () => {
  const input = credentials();
  if (!input) return;
  try {
    await api.register(input.username, input.password);
    byId<HTMLInputElement>('password').value = '';
    say('Account created; you are signed in.', 'ok');
    await showSignedIn();
  } catch (error) {
    say(describeError(error), 'fail');
  }
});

byId('signout').addEventListener('click', () => {
  api.signOut();
  say('Signed out.', 'ok');
  showSignedOut();
});

// ---------- connection and sync ----------

const REASONS: Record<string, string> = {
  reauthorization_required: 'Trakt no longer accepts this connection: connect again.',
  client_credentials_rejected: 'Trakt rejected the app credentials (client id or secret): check them.',
  app_rejected:
    'The Trakt app behind this connection no longer works (Trakt deleted it or rejects its client id). ' +
    'Create a new Trakt app, store its client id and secret, and connect again; or import your Trakt data ' +
    'export, which needs no app. Your stored history and tokens are kept.',
  not_connected: 'Not connected to Trakt yet.',
};

let polling: ReturnType<typeof setTimeout> | undefined;

async function refreshConnection(): Promise<void> {
  const [auth, sync] = await Promise.all([api.authStatus(), api.syncStatus()]);
  const state = byId('connection-state');
  let connected = auth.authenticated;
  const warning = auth.authenticated ? auth.warning : undefined;
  if (auth.authenticated && auth.warning) {
    state.textContent = `Connected, but Trakt will need authorizing again by ${formatDate(auth.expires_at)}.`;
    state.dataset.state = 'warning';
  } else if (auth.authenticated) {
    state.textContent = 'Connected to Trakt.';
    state.dataset.state = 'connected';
  } else {
    connected = false;
    state.textContent = REASONS[auth.reason ?? 'not_connected'] ?? `Not connected (${auth.reason}).`;
    state.dataset.state = 'disconnected';
  }
  byId('connect-actions').hidden = connected && !warning;
  byId<HTMLButtonElement>('sync-now').disabled = !connected || isRunning(sync);
  showSync(sync);
}

/** A sync holds its lease, or a chunked sync has more chunks queued. */
function isRunning(sync: SyncStatus): boolean {
  return sync.in_progress || Object.keys(sync.progress ?? {}).length > 0;
}

function showSync(sync: SyncStatus): void {
  byId('last-sync').textContent = formatDate(sync.last_sync_at);
  byId('next-sync').textContent = sync.next_sync_at ? formatDate(sync.next_sync_at) : 'not scheduled';
  byId('sync-error').textContent = sync.last_error ?? 'none';
  byId('sync-counts').textContent =
    `${sync.counts.movies} movies, ${sync.counts.shows} shows, ${sync.counts.episodes} episodes, ` +
    `${sync.counts.plays} plays stored`;
  const artwork = sync.enrichment;
  const pendingArtwork = (artwork?.pending_titles ?? 0) + (artwork?.pending_seasons ?? 0);
  byId('sync-artwork').textContent = !artwork
    ? '–'
    : pendingArtwork > 0
      ? `${artwork.pending_titles} titles and ${artwork.pending_seasons} seasons still to come` +
        (artwork.last_run_at ? ` (last run ${formatDate(artwork.last_run_at)})` : '')
      : 'complete';
  const paused = byId('sync-paused');
  paused.hidden = !sync.paused_until;
  paused.textContent = sync.paused_until
    ? `${sync.paused_reason ?? 'Background work is paused'} (until ${formatDate(sync.paused_until)}).`
    : '';
  const progress = byId<HTMLProgressElement>('sync-progress');
  const label = byId('sync-phase');
  const running = isRunning(sync);
  progress.hidden = !running;
  label.hidden = !running;
  // Artwork arriving in the background: look again now and then.
  if (!running && pendingArtwork > 0 && !sync.paused_until) {
    clearTimeout(polling);
    polling = setTimeout(() => void pollSync(), 4 * POLL_MS);
  }
  if (running) {
    const kinds = Object.values(sync.progress ?? {});
    const done = kinds.reduce((sum, kind) => sum + (kind.pages_done ?? 0), 0);
    const known = kinds.reduce((sum, kind) => sum + (kind.pages_known ?? 0), 0);
    const phase = kinds
      .map((kind) => kind.phase)
      .filter(Boolean)
      .join(', ');
    if (known > 0) {
      progress.max = known;
      progress.value = Math.min(done, known);
    } else {
      progress.removeAttribute('value');
    }
    label.textContent = `Syncing${phase ? ` (${phase})` : ''}: ${done}${known ? ` of ${known}` : ''} pages`;
    clearTimeout(polling);
    polling = setTimeout(() => void pollSync(), POLL_MS);
  }
}

async function pollSync(): Promise<void> {
  try {
    const sync = await api.syncStatus();
    showSync(sync);
    if (!isRunning(sync)) {
      byId<HTMLButtonElement>('sync-now').disabled = false;
      await Promise.all([refreshStats(), resetGrid()]);
    }
  } catch (error) {
    say(describeError(error), 'fail');
  }
}

byId('sync-now').addEventListener('click', async () => {
  const button = byId<HTMLButtonElement>('sync-now');
  button.disabled = true;
  say('Syncing with Trakt…');
  try {
    let background = false;
    for (const kind of ['movies', 'shows'] as const) {
      const reply = await api.sendWithStatus<FetchOutcome>('POST', `/trakt/fetch-latest-${kind}/`);
      if (reply.status === 202) background = true;
    }
    say(background ? 'Sync started; it continues in the background.' : 'Sync complete.', 'ok');
  } catch (error) {
    say(describeError(error), 'fail');
  }
  await refreshConnection();
  if (!byId('sync-progress').hidden) return; // still running: pollSync refreshes when it ends
  button.disabled = false;
  await Promise.all([refreshStats(), resetGrid()]);
});

// Device flow: for a browser that cannot be redirected back here (e.g. another device).
let deviceTimer: ReturnType<typeof setTimeout> | undefined;

byId('device-start').addEventListener('click', async () => {
  clearTimeout(deviceTimer);
  try {
    const code = await api.send<DeviceCode>('POST', '/trakt/device/code/');
    const link = h(
      'a',
      { href: code.verification_url, target: '_blank', rel: 'noopener noreferrer' },
      code.verification_url,
    );
    fill(byId('device-box'), 'Enter ', h('strong', { id: 'device-code' }, code.user_code), ' at ', link);
    byId('device-box').hidden = false;
    pollDevice(code.interval);
  } catch (error) {
    say(describeError(error), 'fail');
  }
});

function pollDevice(intervalSeconds: number): void {
  deviceTimer = setTimeout(async () => {
    try {
      const reply = await api.sendWithStatus<DeviceToken>('POST', '/trakt/device/token/');
      if (reply.status === 202) return pollDevice(intervalSeconds);
      byId('device-box').hidden = true;
      say('Connected to Trakt.', 'ok');
      await refreshConnection();
    } catch (error) {
      if (error instanceof ApiFailure && error.status === 429) return pollDevice(intervalSeconds + 5);
      byId('device-box').hidden = true;
      say(describeError(error), 'fail');
    }
  }, intervalSeconds * 1000);
}

// ---------- stats ----------

async function refreshStats(): Promise<void> {
  let stats: StatsAnswer;
  try {
    stats = await api.stats();
  } catch (error) {
    say(describeError(error), 'fail');
    return;
  }
  const hours = Math.round((stats.movies.minutes + stats.episodes.minutes) / 60);
  byId('total-plays').textContent = String(stats.movies.plays + stats.episodes.plays);
  byId('total-titles').textContent = String(stats.movies.watched + stats.shows.watched);
  byId('total-hours').textContent = String(hours);
  const now = new Date();
  fill(byId('month-chart-box'), monthChart(stats.by_month, now));
  fill(byId('heatmap-box'), calendarHeatmap(stats.by_day ?? [], now));
  fill(byId('weekday-box'), weekdayHourGrid(stats.by_weekday_hour));
  const genres = stats.top_genres.map((g) =>
    h('li', {}, h('span', {}, g.name), ' ', h('span', { class: 'muted' }, `${g.plays} plays`)),
  );
  fill(byId('genres'), ...(genres.length ? genres : [h('li', { class: 'muted' }, 'No genres yet')]));
}

// ---------- recent plays ----------

type Card = {
  key: string;
  title: string;
  subtitle: string;
  imageUrl: string | null;
  watchedAt: string;
  plays: number | undefined;
  kind: 'movie' | 'episode' | 'show';
  showTraktId: number | null;
};

let cursor: string | null = null;
let searchPage = 1;
let exhausted = false;
let loading = false;
let generation = 0;

function filters(): { type: string; q: string } {
  return { type: byId<HTMLSelectElement>('type').value, q: byId<HTMLInputElement>('q').value.trim() };
}

function fromHistory(item: HistoryItem): Card {
  if (item.type === 'movie') {
    return {
      key: `play-${item.id}`,
      title: item.movie.title ?? '',
      subtitle: item.movie.year ? String(item.movie.year) : '',
      imageUrl: item.movie.image_url,
      watchedAt: item.watched_at,
      plays: item.movie.plays,
      kind: 'movie',
      showTraktId: null,
    };
  }
  const code = episodeCode(item.episode.season, item.episode.number);
  return {
    key: `play-${item.id}`,
    title: item.show.title ?? '',
    subtitle: item.episode.title ? `${code} · ${item.episode.title}` : code,
    imageUrl: item.show.image_url,
    watchedAt: item.watched_at,
    plays: item.episode.plays,
    kind: 'episode',
    showTraktId: item.show.ids.trakt ?? null,
  };
}

function fromStored(entry: StoredMovie | StoredShow): Card {
  const title = 'movie' in entry ? entry.movie : entry.show;
  const isMovie = 'movie' in entry;
  return {
    key: `${isMovie ? 'movie' : 'show'}-${title.ids.trakt}`,
    title: title.title,
    subtitle: title.year ? String(title.year) : '',
    imageUrl: title.image_url,
    watchedAt: entry.last_watched_at,
    plays: entry.plays,
    kind: isMovie ? 'movie' : 'show',
    showTraktId: isMovie ? null : (title.ids.trakt ?? null),
  };
}

function placeholder(title: string): HTMLElement {
  return h('div', { class: 'poster placeholder', 'aria-hidden': 'true' }, h('span', {}, title));
}

function poster(card: Card): HTMLElement {
  if (!card.imageUrl) return placeholder(card.title);
  const image = h('img', {
    class: 'poster',
    src: card.imageUrl,
    alt: `Poster of ${card.title}`,
    width: 200,
    height: 300,
    loading: 'lazy',
    decoding: 'async',
  });
  image.addEventListener('error', () => image.replaceWith(placeholder(card.title)), { once: true });
  return image;
}

function cardElement(card: Card): HTMLElement {
  const plays = card.plays === undefined ? null : `${card.plays} ${card.plays === 1 ? 'play' : 'plays'}`;
  const when = h('time', { datetime: card.watchedAt }, relativeTime(card.watchedAt, Date.now()));
  const body = [
    poster(card),
    h('span', { class: 'title' }, card.title),
    card.subtitle ? h('span', { class: 'subtitle' }, card.subtitle) : null,
    h('span', { class: 'when' }, when, plays ? ` · ${plays}` : ''),
  ];
  const showId = card.showTraktId;
  if (showId === null)
    return h('li', { class: 'card', 'data-kind': card.kind }, h('div', { class: 'card-body' }, ...body));
  const button = h(
    'button',
    { type: 'button', class: 'card-body', 'aria-label': `${card.title}: seasons and episodes` },
    ...body,
  );
  button.addEventListener('click', () => void openShow(showId, card.title, button));
  return h('li', { class: 'card', 'data-kind': card.kind }, button);
}

async function nextCards(): Promise<{ cards: Card[]; done: boolean }> {
  const { type, q } = filters();
  if (!q) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (type !== 'all') query.set('type', type);
    if (cursor) query.set('cursor', cursor);
    const page = await api.history(query);
    cursor = page.next_cursor;
    return { cards: page.items.map(fromHistory), done: page.next_cursor === null };
  }
  // A title search goes through the stored lists, which filter by title (`q`).
  const query = new URLSearchParams({ q, page: String(searchPage), page_size: String(PAGE_SIZE) });
  const [movies, shows] = await Promise.all([
    type === 'episodes' ? null : api.storedMovies(query),
    type === 'movies' ? null : api.storedShows(query),
  ]);
  searchPage++;
  const cards = [...(movies?.movies ?? []), ...(shows?.shows ?? [])]
    .map(fromStored)
    .sort((a, b) => b.watchedAt.localeCompare(a.watchedAt));
  const more = (movies && movies.page < movies.total_pages) || (shows && shows.page < shows.total_pages);
  return { cards, done: !more };
}

async function loadMore(): Promise<void> {
  if (loading || exhausted || !api.signedIn) return;
  loading = true;
  const mine = generation;
  const grid = byId('grid');
  grid.setAttribute('aria-busy', 'true');
  try {
    const { cards, done } = await nextCards();
    if (mine !== generation) return;
    grid.append(...cards.map(cardElement));
    exhausted = done;
    byId('more').hidden = done;
    byId('grid-empty').hidden = grid.childElementCount > 0;
  } catch (error) {
    say(describeError(error), 'fail');
  } finally {
    if (mine === generation) {
      loading = false;
      grid.removeAttribute('aria-busy');
    }
  }
}

async function resetGrid(): Promise<void> {
  generation++;
  cursor = null;
  searchPage = 1;
  exhausted = false;
  loading = false;
  byId('grid').replaceChildren();
  await loadMore();
}

byId('more').addEventListener('click', () => void loadMore());
byId('type').addEventListener('change', () => void resetGrid());
let searchTimer: ReturnType<typeof setTimeout> | undefined;
byId('q').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => void resetGrid(), 300);
});
byId<HTMLFormElement>('filters').addEventListener('submit', (event) => {
  event.preventDefault();
  void resetGrid();
});

new IntersectionObserver(
  (entries) => {
    if (entries.some((entry) => entry.isIntersecting)) void loadMore();
  },
  { rootMargin: '600px' },
).observe(byId('sentinel'));

// ---------- show detail ----------

async function openShow(traktId: number, title: string, opener: HTMLElement): Promise<void> {
  const dialog = byId<HTMLDialogElement>('show-dialog');
  byId('show-title').textContent = title;
  const content = byId('show-body');
  fill(content, h('p', { class: 'muted' }, 'Loading…'));
  dialog.addEventListener('close', () => opener.focus(), { once: true });
  dialog.showModal();
  let detail: SeasonsEpisodes;
  try {
    detail = await api.seasonsEpisodes(traktId);
  } catch (error) {
    fill(content, h('p', { class: 'fail' }, describeError(error)));
    return;
  }
  const sections = detail.seasons.map((season) => {
    const episodes = detail.episodes.filter((e) => e.season__season_number === season.season_number);
    const watched = episodes.filter((e) => (e.plays ?? (e.last_watched_at ? 1 : 0)) > 0).length;
    return h(
      'section',
      { class: 'season' },
      h(
        'h3',
        {},
        `Season ${season.season_number}`,
        h('span', { class: 'muted' }, ` · ${watched} of ${episodes.length} watched`),
      ),
      h(
        'ol',
        { class: 'episodes' },
        ...episodes.map((e) => {
          const plays = e.plays ?? (e.last_watched_at ? 1 : 0);
          const still = e.image_url
            ? h('img', { src: e.image_url, alt: '', width: 160, height: 90, loading: 'lazy', decoding: 'async' })
            : h('div', { class: 'still placeholder', 'aria-hidden': 'true' });
          return h(
            'li',
            { class: plays > 0 ? 'episode watched' : 'episode', 'data-watched': String(plays > 0) },
            still,
            h(
              'div',
              {},
              h(
                'span',
                { class: 'title' },
                `${plays > 0 ? '✓ ' : ''}${episodeCode(season.season_number, e.episode_number)}`,
              ),
              ' ',
              e.title ?? '',
              h(
                'span',
                { class: 'muted' },
                ` · ${plays} ${plays === 1 ? 'play' : 'plays'}` +
                  (e.last_watched_at ? ` · ${relativeTime(e.last_watched_at, Date.now())}` : ''),
              ),
              h('progress', { max: 100, value: Math.round(e.progress ?? 0), 'aria-label': 'Progress' }),
            ),
          );
        }),
      ),
    );
  });
  fill(content, ...(sections.length ? sections : [h('p', { class: 'muted' }, 'No seasons stored yet.')]));
}

byId('show-close').addEventListener('click', () => byId<HTMLDialogElement>('show-dialog').close());

// ---------- import of a Trakt export (./browser/export-import.ts) ----------

setupExportImport(api, () => Promise.all([refreshConnection(), refreshStats(), resetGrid()]));

// ---------- start ----------

if (api.signedIn) {
  showSignedIn().catch((error: unknown) => say(describeError(error), 'fail'));
} else {
  showSignedOut();
}
