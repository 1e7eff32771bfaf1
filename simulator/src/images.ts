/**
 * @module images
 * TMDB's image CDN (`https://image.tmdb.org/t/p/{size}/{file}`) for offline use: every file name gets a
 * deterministic SVG placeholder (a colour and a pattern derived from the name), sized like TMDB's renditions,
 * so the dashboard shows real images in the demo and the browser tests without any network.
 * Served as `image/svg+xml` whatever the file's extension: browsers go by the content type.
 */
import { Hono } from 'hono';
import { hash32 } from './util';

/** Width × height per TMDB size name: posters are 2:3, stills and backdrops 16:9. */
const SIZES: Record<string, readonly [number, number]> = {
  w92: [92, 138],
  w154: [154, 231],
  w185: [185, 278],
  w300: [300, 169],
  w342: [342, 513],
  w500: [500, 750],
  w780: [780, 439],
  w1280: [1280, 720],
  original: [1280, 720],
};

const FILE = /^[A-Za-z0-9_-]{1,64}\.(?:jpg|jpeg|png|svg)$/;

/** The placeholder for one file at one size: same input, same bytes. */
export function placeholderSvg(file: string, width: number, height: number): string {
  const hue = hash32('hue', file) % 360;
  const accent = (hue + 40 + (hash32('accent', file) % 80)) % 360;
  const stripes = 3 + (hash32('stripes', file) % 5);
  const band = Math.ceil(height / stripes);
  const rects = Array.from({ length: stripes }, (_, i) =>
    i % 2 === 1 ? `<rect x="0" y="${i * band}" width="${width}" height="${band}" fill="hsl(${accent} 55% 45%)"/>` : '',
  ).join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="hsl(${hue} 45% 30%)"/>${rects}` +
    `<circle cx="${width / 2}" cy="${height / 2}" r="${Math.min(width, height) / 5}" fill="hsl(${hue} 70% 80%)"/>` +
    '</svg>'
  );
}

export function imageRoutes() {
  return new Hono().get('/:size/:file', (c) => {
    const size = SIZES[c.req.param('size')];
    const file = c.req.param('file');
    if (!size || !FILE.test(file)) return c.text('Not Found', 404);
    return c.body(placeholderSvg(file, size[0], size[1]), 200, {
      'Content-Type': 'image/svg+xml',
      'Cache-Control': 'public, max-age=31536000, immutable',
    });
  });
}
