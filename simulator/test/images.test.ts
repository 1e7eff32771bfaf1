/** Simulator: TMDB-like image CDN with deterministic SVG placeholders per file and size. */
import { describe, expect, it } from 'vitest';
import { createSimulator } from '../src/app';

const sim = createSimulator();
const get = (path: string) => sim.fetch(new Request(`https://image.tmdb.sim.test${path}`));

describe('image CDN', () => {
  it('serves a poster-shaped SVG for w500 and a still-shaped one for w300', async () => {
    const poster = await get('/t/p/w500/abc123.jpg');
    expect(poster.status).toBe(200);
    expect(poster.headers.get('content-type')).toBe('image/svg+xml');
    const body = await poster.text();
    expect(body).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="500" height="750"/);
    const still = await (await get('/t/p/w300/abc123.jpg')).text();
    expect(still).toMatch(/width="300" height="169"/);
  });

  it('is deterministic per file name and differs between files', async () => {
    const first = await (await get('/t/p/w500/abc123.jpg')).text();
    const again = await (await get('/t/p/w500/abc123.jpg')).text();
    const other = await (await get('/t/p/w500/zzz999.jpg')).text();
    expect(again).toBe(first);
    expect(other).not.toBe(first);
  });

  it('answers 404 for an unknown size or a file name that is not an image name', async () => {
    expect((await get('/t/p/w9999/abc.jpg')).status).toBe(404);
    expect((await get('/t/p/w500/..%2Fsecret.jpg')).status).toBe(404);
    expect((await get('/t/p/w500/abc.exe')).status).toBe(404);
  });
});
