/**
 * @module
 * `feed.atom` and `feed.rss`: the recent plays as Atom 1.0 and RSS 2.0, generated with the `feed`
 * package (pure JavaScript; it runs in workerd without Node APIs). Every date comes from the data,
 * never from the clock, so the same data version always gives the same bytes (and the same ETag).
 */
import { Feed } from 'feed';
import { ATTRIBUTION, playLabel, traktPageUrl } from './attribution';
import type { RecentPlay } from './public-data';

export function buildFeed(plays: RecentPlay[], options: { origin: string; handle: string }): Feed {
  const base = `${options.origin}/u/${options.handle}`;
  const newest = plays[0]?.watched_at;
  const feed = new Feed({
    title: `${options.handle}: recently watched`,
    description: `What ${options.handle} watched recently`,
    id: `${base}/`,
    link: `${base}/widget`,
    language: 'en',
    updated: new Date(newest ?? 0),
    generator: 'trakt-history-api',
    copyright: ATTRIBUTION,
    feedLinks: { atom: `${base}/feed.atom`, rss: `${base}/feed.rss`, json: `${base}/recent.json` },
  });
  for (const play of plays) {
    const label = playLabel(play);
    feed.addItem({
      title: label,
      id: `${base}/plays/${play.history_id}`,
      link: traktPageUrl(play),
      date: new Date(play.watched_at),
      published: new Date(play.watched_at),
      description: `${options.handle} watched ${label} on ${play.watched_at.slice(0, 10)}.`,
      image: play.poster_url ?? undefined,
    });
  }
  return feed;
}
