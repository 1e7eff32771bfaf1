/**
 * @module
 * `widget`: an HTML page made for an `<iframe>` on any site, with no script at all. Its only style is
 * one inline block allowed by hash; images may come from the TMDB image host only; any origin may
 * frame it (`frame-ancestors *`). Every value is inserted as text by hono/jsx (escaped).
 */
import { ATTRIBUTION, playLabel, TMDB_URL, TRAKT_URL, traktPageUrl } from './attribution';
import type { RecentPlay } from './public-data';

/** Plays the widget shows. */
export const WIDGET_PLAYS = 10;

export const WIDGET_STYLE = `
:root{color-scheme:light dark;font:14px/1.35 system-ui,sans-serif}
body{margin:0;padding:8px;background:Canvas;color:CanvasText}
h1{font-size:15px;margin:0 0 8px}
ol{list-style:none;margin:0;padding:0;display:grid;gap:6px}
li{display:flex;gap:8px;align-items:center}
img,.ph{width:34px;height:51px;border-radius:3px;object-fit:cover;background:#8884;flex:none}
a{color:inherit;text-decoration:none}a:hover{text-decoration:underline}
time{display:block;font-size:12px;opacity:.7}
footer{margin-top:8px;font-size:10px;opacity:.7}
`;

export async function widgetCsp(imageOrigin: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(WIDGET_STYLE));
  let binary = '';
  for (const byte of new Uint8Array(digest)) binary += String.fromCharCode(byte);
  return [
    "default-src 'none'",
    `style-src 'sha256-${btoa(binary)}'`,
    `img-src ${imageOrigin}`,
    'frame-ancestors *',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export async function widgetHtml(handle: string, plays: RecentPlay[]): Promise<string> {
  const shown = plays.slice(0, WIDGET_PLAYS);
  const page = (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{`${handle}: recently watched`}</title>
        <style dangerouslySetInnerHTML={{ __html: WIDGET_STYLE }} />
      </head>
      <body>
        <h1>{`${handle} recently watched`}</h1>
        {shown.length === 0 ? <p>Nothing watched yet.</p> : null}
        <ol>
          {shown.map((play) => (
            <li>
              {play.poster_url ? (
                <img src={play.poster_url} alt="" loading="lazy" referrerpolicy="no-referrer" />
              ) : (
                <span class="ph" />
              )}
              <span>
                <a href={traktPageUrl(play)} target="_blank" rel="noopener noreferrer">
                  {playLabel(play)}
                </a>
                <time datetime={play.watched_at}>{play.watched_at.slice(0, 10)}</time>
              </span>
            </li>
          ))}
        </ol>
        <footer title={ATTRIBUTION}>
          Data from{' '}
          <a href={TRAKT_URL} target="_blank" rel="noopener noreferrer">
            Trakt
          </a>
          . Metadata and images from{' '}
          <a href={TMDB_URL} target="_blank" rel="noopener noreferrer">
            TMDB
          </a>{' '}
          (not endorsed or certified by TMDB).
        </footer>
      </body>
    </html>
  );
  return `<!doctype html>\n${await page.toString()}\n`;
}
