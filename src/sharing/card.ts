/**
 * @module
 * `card.svg`: a text-only card for READMEs (no script, no external resource, no font to fetch):
 * totals, this year, and the last play. Every value is escaped as XML text.
 */
import { ATTRIBUTION } from './attribution';
import type { PublicStatsOutput } from './schemas';

const escapeXml = (text: string) =>
  text.replace(/[<>&"']/g, (ch) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' }[ch]};`);

const number = (n: number) => n.toLocaleString('en-US');

export function cardSvg(handle: string, stats: PublicStatsOutput): string {
  const lines = [
    `${number(stats.totals.plays)} plays · ${number(Math.round(stats.totals.hours))} hours`,
    `${number(stats.totals.movies)} movies · ${number(stats.totals.shows)} shows · ${number(stats.totals.episodes)} episodes`,
    `${stats.this_year.year}: ${number(stats.this_year.plays)} plays · ${number(Math.round(stats.this_year.hours))} hours`,
    stats.last_play_at ? `Last play ${stats.last_play_at.slice(0, 10)}` : 'No plays yet',
  ];
  const text = lines
    .map((line, i) => `<text x="20" y="${64 + i * 22}" class="line">${escapeXml(line)}</text>`)
    .join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="480" height="170" viewBox="0 0 480 170" role="img" aria-labelledby="title">
  <title id="title">${escapeXml(`${handle}: watch history`)}</title>
  <style>.h{font:600 18px system-ui,sans-serif;fill:#e8e8e8}.line{font:14px system-ui,sans-serif;fill:#c8c8c8}.a{font:10px system-ui,sans-serif;fill:#8a8a8a}</style>
  <rect width="480" height="170" rx="10" fill="#16181d"/>
  <text x="20" y="36" class="h">${escapeXml(handle)}</text>
  ${text}
  <text x="20" y="160" class="a">${escapeXml('Data: Trakt · Metadata: TMDB (not endorsed by TMDB)')}</text>
  <desc>${escapeXml(ATTRIBUTION)}</desc>
</svg>
`;
}
