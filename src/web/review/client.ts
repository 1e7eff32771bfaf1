/**
 * @module
 * The year-in-review page's browser code. Two modes, told apart by the page's own URL:
 * - dashboard (`/app/review/?year=2026`): the signed-in user's review (`GET /trakt/review/<year>/` with the
 *   JWT the dashboard keeps in sessionStorage), year navigation, and a "Share" box that reads
 *   `/users/me/sharing` and can add the `review` part to it;
 * - public (`/u/<handle>/review/<year>`): the shared review's JSON (`<year>.json` beside the page).
 * Everything is inserted as text or through DOM properties (the page runs under Trusted Types).
 */
import { loadSession } from '../dashboard/browser/api';

type PlayRef = {
  watched_at: string;
  type: 'movie' | 'episode';
  title: string | null;
  year: number | null;
  show: string | null;
  season: number | null;
  episode: number | null;
} | null;

type Review = {
  year: number;
  plays: { total: number; movies: number; episodes: number };
  hours: number;
  titles: { movies: number; shows: number; episodes: number };
  top_titles: Array<{
    type: 'movie' | 'show';
    title: string | null;
    year: number | null;
    plays: number;
    poster_url: string | null;
  }>;
  top_genres: Array<{ name: string; plays: number }>;
  longest_streak: { days: number; start: string; end: string } | null;
  busiest_day: { date: string; plays: number } | null;
  first_play: PlayRef;
  last_play: PlayRef;
  by_month: Array<{ month: string; plays: number; hours: number }>;
};

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
}

function h(tag: string, text?: string, className?: string): HTMLElement {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function say(text: string, kind = ''): void {
  const message = byId('message');
  message.className = kind;
  message.textContent = text;
}

const number = (n: number) => n.toLocaleString('en-US');
const count = (n: number, word: string) => `${number(n)} ${word}${n === 1 ? '' : 's'}`;

function playText(play: PlayRef): string {
  if (!play) return '—';
  const when = play.watched_at.slice(0, 10);
  if (play.type === 'movie') return `${play.title ?? 'Untitled'}${play.year ? ` (${play.year})` : ''}, ${when}`;
  const code = `${play.season ?? 0}x${String(play.episode ?? 0).padStart(2, '0')}`;
  return `${play.show ?? 'Untitled'} ${code}${play.title ? ` ${play.title}` : ''}, ${when}`;
}

function render(review: Review): void {
  byId('heading').textContent = `${review.year} in review`;
  document.title = `${review.year} in review`;
  byId('plays').textContent = number(review.plays.total);
  byId('hours').textContent = number(Math.round(review.hours));
  byId('titles').textContent = number(review.titles.movies + review.titles.shows);
  byId('streak').textContent = number(review.longest_streak?.days ?? 0);
  const highlights = [
    `${number(review.plays.movies)} movie plays and ${number(review.plays.episodes)} episode plays`,
    `${number(review.titles.movies)} movies, ${number(review.titles.shows)} shows, ${number(review.titles.episodes)} episodes`,
    review.busiest_day
      ? `Busiest day: ${review.busiest_day.date} (${review.busiest_day.plays} plays)`
      : 'No busiest day yet',
    review.longest_streak
      ? `Longest streak: ${review.longest_streak.days} days, ${review.longest_streak.start} to ${review.longest_streak.end}`
      : 'No streak yet',
    `First play: ${playText(review.first_play)}`,
    `Last play: ${playText(review.last_play)}`,
  ];
  byId('highlights').replaceChildren(...highlights.map((text) => h('li', text)));
  const most = Math.max(1, ...review.by_month.map((m) => m.plays));
  byId('months').replaceChildren(
    ...review.by_month.map((m) => {
      const row = h('li');
      const meter = document.createElement('meter');
      meter.min = 0;
      meter.max = most;
      meter.value = m.plays;
      meter.setAttribute('aria-label', `${m.month}: ${m.plays} plays`);
      row.append(h('span', m.month), meter, h('span', `${count(m.plays, 'play')} · ${number(Math.round(m.hours))} h`));
      return row;
    }),
  );
  byId('top-titles').replaceChildren(
    ...review.top_titles.map((t) => {
      const item = h('li');
      if (t.poster_url) {
        const img = document.createElement('img');
        img.src = t.poster_url;
        img.alt = '';
        img.loading = 'lazy';
        item.append(img);
      } else item.append(h('div', undefined, 'placeholder'));
      item.append(
        h('strong', `${t.title ?? 'Untitled'}${t.year ? ` (${t.year})` : ''}`),
        h('div', count(t.plays, 'play')),
      );
      return item;
    }),
  );
  byId('top-genres').replaceChildren(...review.top_genres.map((g) => h('li', `${g.name}: ${count(g.plays, 'play')}`)));
  byId('review').hidden = false;
  byId('review').dataset.ready = 'true';
}

async function getJson<T>(path: string, token?: string): Promise<{ status: number; body: T | { error?: string } }> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers, credentials: 'omit', cache: 'no-store' });
  let body: T | { error?: string } = {};
  try {
    body = (await response.json()) as T;
  } catch {
    // not JSON
  }
  return { status: response.status, body };
}

const errorText = (body: unknown, status: number) =>
  typeof (body as { error?: unknown }).error === 'string' ? (body as { error: string }).error : `HTTP ${status}`;

async function showShare(token: string, year: number): Promise<void> {
  const share = byId('share');
  share.hidden = false;
  const current = await getJson<{ handle: string; parts: string[]; urls: Record<string, string> }>(
    '/users/me/sharing/',
    token,
  );
  const setting = current.status === 200 ? (current.body as { handle: string; parts: string[] }) : null;
  const link = byId<HTMLAnchorElement>('share-link');
  if (setting?.parts.includes('review')) {
    const url = new URL(`/u/${setting.handle}/review/${year}`, location.origin).href;
    byId('share-state').textContent = 'This review is public at:';
    link.href = url;
    link.textContent = url;
    link.hidden = false;
    byId('share-form').hidden = true;
    return;
  }
  byId('share-state').textContent = 'Your review is private. Share it under a public handle:';
  byId<HTMLInputElement>('share-handle').value = setting?.handle ?? '';
  byId('share-form').hidden = false;
  byId('share-form').onsubmit = async (event) => {
    event.preventDefault();
    const parts = [...new Set([...(setting?.parts ?? []), 'review'])];
    const response = await fetch('/users/me/sharing/', {
      method: 'PUT',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ handle: byId<HTMLInputElement>('share-handle').value.trim(), parts }),
      credentials: 'omit',
    });
    if (!response.ok) {
      say(errorText(await response.json().catch(() => ({})), response.status), 'fail');
      return;
    }
    say('Shared.', 'ok');
    await showShare(token, year);
  };
}

async function main(): Promise<void> {
  const publicPage = /^\/u\/[^/]+\/review\/(\d{4})\/?$/.exec(location.pathname);
  if (publicPage) {
    const reply = await getJson<Review>(`${location.pathname.replace(/\/$/, '')}.json`);
    if (reply.status !== 200) return say(errorText(reply.body, reply.status), 'fail');
    render(reply.body as Review);
    return;
  }
  const session = loadSession();
  if (!session) return say('Sign in on the dashboard first (/app/).', 'fail');
  const year = Number(new URLSearchParams(location.search).get('year')) || new Date().getUTCFullYear();
  byId<HTMLAnchorElement>('previous').href = `?year=${year - 1}`;
  byId<HTMLAnchorElement>('next').href = `?year=${year + 1}`;
  byId('years').hidden = false;
  const reply = await getJson<Review>(`/trakt/review/${year}/`, session.access);
  if (reply.status !== 200) return say(errorText(reply.body, reply.status), 'fail');
  render(reply.body as Review);
  await showShare(session.access, year);
}

void main().catch((error: unknown) => say(error instanceof Error ? error.message : String(error), 'fail'));
