/**
 * @module
 * The year-in-review page's browser code. Two modes, told apart by the page's own URL:
 * - dashboard (`/app/review/?year=2026`): the signed-in user's review (`GET /trakt/review/<year>/` in the
 *   dashboard's session, ../shared/browser/session.ts), year navigation, and a "Share" box that reads
 *   `/users/me/sharing` and can add the `review` part to it;
 * - public (`/u/<handle>/review/<year>`): the shared review's JSON (`<year>.json` beside the page).
 * Everything is inserted as text or through DOM properties (the page runs under Trusted Types).
 */
import type { ReviewOutput } from '../../review/schemas';
import { type Answer, ApiFailure, apiFetch, Session } from '../shared/browser/session';

/** GET /trakt/review/<year>/ and the public `<year>.json`: the contract's answer. */
type Review = ReviewOutput;
type PlayRef = Review['first_play'];
/**
 * What the page reads of GET /users/me/sharing/. Not derived from src/sharing/schemas.ts: that module imports
 * src/config.ts, which needs Worker types, so browser code cannot import even its types (tsconfig.web.json).
 */
type SharingSetting = { handle: string; parts: string[] };

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

/** The page's one session (the dashboard's, src/web/shared/browser/session.ts): its JWT pair, renewed on a 401. */
const session = new Session();

/** A public JSON read (no JWT), as an answer like the session's. */
async function publicJson<T>(path: string): Promise<Answer<T>> {
  const response = await apiFetch(path);
  const data = (await response.json().catch(() => null)) as T | null;
  const failure = response.ok ? null : ApiFailure.of(response.status, data, response.headers);
  return { ok: response.ok, status: response.status, data, failure };
}

const errorText = (answer: Answer<unknown>) => answer.failure?.message ?? `HTTP ${answer.status}`;

async function showShare(year: number): Promise<void> {
  const share = byId('share');
  share.hidden = false;
  const current = await session.call<SharingSetting>('GET', '/users/me/sharing/');
  const setting = current.status === 200 ? current.data : null;
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
    const saved = await session.call('PUT', '/users/me/sharing/', {
      handle: byId<HTMLInputElement>('share-handle').value.trim(),
      parts,
    });
    if (!saved.ok) {
      say(errorText(saved), 'fail');
      return;
    }
    say('Shared.', 'ok');
    await showShare(year);
  };
}

async function main(): Promise<void> {
  const publicPage = /^\/u\/[^/]+\/review\/(\d{4})\/?$/.exec(location.pathname);
  if (publicPage) {
    const reply = await publicJson<Review>(`${location.pathname.replace(/\/$/, '')}.json`);
    if (reply.status !== 200 || !reply.data) return say(errorText(reply), 'fail');
    render(reply.data);
    return;
  }
  if (!session.signedIn) return say('Sign in on the dashboard first (/app/).', 'fail');
  const year = Number(new URLSearchParams(location.search).get('year')) || new Date().getUTCFullYear();
  byId<HTMLAnchorElement>('previous').href = `?year=${year - 1}`;
  byId<HTMLAnchorElement>('next').href = `?year=${year + 1}`;
  byId('years').hidden = false;
  const reply = await session.call<Review>('GET', `/trakt/review/${year}/`);
  if (reply.status !== 200 || !reply.data) return say(errorText(reply), 'fail');
  render(reply.data);
  await showShare(year);
}

void main().catch((error: unknown) => say(error instanceof Error ? error.message : String(error), 'fail'));
