/**
 * Simulator: an account's data export (`GET /_sim/accounts/:username/export.zip`) in trakt.tv's file layout,
 * agreeing with what the API host serves for the same account (history, watched lists).
 */
import { unzipSync } from 'fflate';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AppCredentials, installSimulator, type Simulator } from '../support/harness';

let sim: Simulator;
let app: AppCredentials;
let token: string;

beforeEach(async () => {
  sim = installSimulator({ now: () => Date.parse('2026-09-01T12:00:00.000Z') });
  app = await sim.createApp();
  await sim.createAccount({
    username: 'exporter',
    seed: 'export',
    movies: 700,
    shows: 6,
    seasons_per_show: 3,
    episodes_per_season: 10,
    plays_per_item: 2,
  });
  token = (await sim.issueTokens({ username: 'exporter', client_id: app.client_id })).access_token;
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function traktPages<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  for (let page = 1; ; page++) {
    const res = await sim.trakt(`${path}${path.includes('?') ? '&' : '?'}page=${page}&limit=250`, {
      accessToken: token,
      clientId: app.client_id,
    });
    items.push(...(await res.json<T[]>()));
    if (page >= Number(res.headers.get('X-Pagination-Page-Count'))) return items;
  }
}

const json = (files: Record<string, Uint8Array>, name: string) =>
  JSON.parse(new TextDecoder().decode(files[name])) as Array<Record<string, any>>;

/** Drops the ids only an export carries (Plex's), to compare with the API's objects. */
function withoutPlex(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutPlex);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => key !== 'plex' && key !== 'aired_episodes')
        .map(([key, v]) => [key, withoutPlex(v)]),
    );
  }
  return value;
}

describe('GET /_sim/accounts/:username/export.zip', () => {
  it("is a ZIP in trakt.tv's layout: history in files of 1,000, watched lists, ratings, lists, profile", async () => {
    const files = unzipSync(await sim.exportZip('exporter'));
    const summary = await sim.summary('exporter');
    const historyNames = Object.keys(files).filter((n) => n.startsWith('watched-history-'));
    expect(historyNames.sort()).toEqual(
      Array.from({ length: Math.ceil(summary.total_plays / 1000) }, (_, i) => `watched-history-${i + 1}.json`).sort(),
    );
    expect(historyNames.length).toBeGreaterThan(1);
    expect(json(files, 'watched-history-1.json')).toHaveLength(1000);
    expect(Object.keys(files)).toEqual(
      expect.arrayContaining([
        'watched-movies.json',
        'watched-shows.json',
        'ratings-movies.json',
        'ratings-shows.json',
        'ratings-seasons.json',
        'ratings-episodes.json',
        'lists-watchlist.json',
        'lists-lists.json',
        'user-profile.json',
      ]),
    );
    const [list] = json(files, 'lists-lists.json');
    expect(list).toMatchObject({ name: expect.any(String), ids: { trakt: expect.any(Number), slug: 'rewatch-soon' } });
    expect(json(files, `lists-list-${list!.ids.trakt}-rewatch-soon.json`)).toHaveLength(list!.item_count);
    for (const rating of json(files, 'ratings-movies.json')) {
      expect(rating).toMatchObject({ rating: expect.any(Number), rated_at: expect.any(String), type: 'movie' });
      expect(rating.rating).toBeGreaterThanOrEqual(1);
      expect(rating.rating).toBeLessThanOrEqual(10);
    }
    expect(json(files, 'ratings-movies.json').length).toBeGreaterThan(0);
  });

  it("holds exactly the API's history (newest first) with the export's extra ids, and its watched lists", async () => {
    const files = unzipSync(await sim.exportZip('exporter', { perFile: 300 }));
    const names = Object.keys(files)
      .filter((n) => n.startsWith('watched-history-'))
      .sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
    const exported = names.flatMap((name) => json(files, name));
    expect(names.slice(0, -1).every((name) => json(files, name).length === 300)).toBe(true);
    const history = await traktPages<Record<string, unknown>>('/sync/history');
    expect(exported).toHaveLength(history.length);
    expect(withoutPlex(exported)).toEqual(withoutPlex(history));
    const movie = exported.find((i) => i.type === 'movie')!;
    expect(movie.movie.ids.plex).toEqual({ guid: expect.stringMatching(/^[0-9a-f]{24}$/), slug: expect.any(String) });
    const episode = exported.find((i) => i.type === 'episode')!;
    expect(episode.episode.ids.plex).toEqual({ guid: expect.any(String) });
    expect(episode.show.aired_episodes).toEqual(expect.any(Number));

    expect(json(files, 'watched-movies.json')).toEqual(await traktPages('/sync/watched/movies'));
    const shows = await traktPages<Record<string, unknown>>('/sync/watched/shows?extended=progress');
    expect(json(files, 'watched-shows.json')).toEqual(shows);
  });

  it('404 for an unknown account, 400 for a bad per_file', async () => {
    await expect(sim.exportZip('nobody')).rejects.toThrow(/404/);
    await expect(sim.exportZip('exporter', { perFile: 0 })).rejects.toThrow(/400/);
  });
});
