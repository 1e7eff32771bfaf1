/**
 * What each index of `plays` serves (issue 25: no index without a query that needs it). Each query below has
 * the shape of a real one (named beside it) and must be answered by the index named, with no sort and no scan
 * of the user's plays. STORAGE.md ("What each index of plays serves") quotes these plans (SQLite's
 * `EXPLAIN QUERY PLAN` on the migrated schema).
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';

type Case = { serves: string; query: string; uses: RegExp };

const CASES: Case[] = [
  {
    serves:
      'GET /trakt/history/?type=movies (keyset page), and each half of the unfiltered history (src/history/plays-list.ts)',
    query: `SELECT history_id FROM plays WHERE user_id = 1 AND media_type = 'movie'
      AND (watched_at, history_id) < ('2024-01-01T00:00:00.000Z', 9) ORDER BY watched_at DESC, history_id DESC LIMIT 6`,
    uses: /SEARCH plays USING (COVERING )?INDEX plays_user_type_watched_idx \(user_id=\? AND media_type=\? AND/,
  },
  {
    serves: "the sync's stored plays in a chunk's time window (src/sync/store.ts readStoredPlays)",
    query: `SELECT history_id, movie_trakt_id FROM plays WHERE user_id = 1 AND media_type = 'movie'
      AND watched_at >= '2024-01-01T00:00:00.000Z' AND watched_at <= '2024-02-01T00:00:00.000Z'`,
    uses: /SEARCH plays USING (COVERING )?INDEX plays_user_type_watched_idx \(user_id=\? AND media_type=\? AND watched_at>\? AND watched_at<\?\)/,
  },
  {
    serves: "the first and last play (stats' first_play_at / last_play_at, src/readmodel/stats.ts playSpanColumns)",
    query: `SELECT min(watched_at) FROM plays WHERE user_id = 1 AND media_type = 'episode'`,
    uses: /SEARCH plays USING COVERING INDEX plays_user_type_watched_idx \(user_id=\? AND media_type=\?\)/,
  },
  {
    serves: 'GET /trakt/history/?trakt_id=…&type=movies, and a movie recount after a removal (recountMovies)',
    query: `SELECT history_id FROM plays WHERE user_id = 1 AND movie_trakt_id = 42
      ORDER BY watched_at DESC, history_id DESC LIMIT 6`,
    uses: /SEARCH plays USING (COVERING )?INDEX plays_user_movie_idx \(user_id=\? AND movie_trakt_id=\?\)/,
  },
  {
    serves: "GET /trakt/history/?trakt_id=…&type=episodes (a show's plays)",
    query: `SELECT history_id FROM plays WHERE user_id = 1 AND show_trakt_id = 42
      ORDER BY watched_at DESC, history_id DESC LIMIT 6`,
    uses: /SEARCH plays USING (COVERING )?INDEX plays_user_show_idx \(user_id=\? AND show_trakt_id=\?\)/,
  },
  {
    // INDEXED BY as in the code: without table statistics the planner takes the primary key (every play of the user).
    serves: "an episode's totals after a removal (src/sync/store.ts recountShows)",
    query: `SELECT count(*), max(watched_at) FROM plays INDEXED BY plays_user_show_idx WHERE user_id = 1 AND show_trakt_id = 42
      AND season_number = 1 AND episode_number = 3`,
    uses: /SEARCH plays USING INDEX plays_user_show_idx \(user_id=\? AND show_trakt_id=\?\)/,
  },
  {
    serves: 'which history ids are stored already (import, webhook bodies): the primary key',
    query: `SELECT history_id FROM plays WHERE user_id = 1 AND history_id IN (SELECT value FROM json_each('[1,2,3]'))`,
    uses: /SEARCH plays USING PRIMARY KEY \(user_id=\? AND history_id=\?\)/,
  },
];

async function planOf(query: string): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${query}`).all<{ detail: string }>();
  return results.map((row) => row.detail);
}

describe('the indexes of plays', () => {
  it('are exactly the three STORAGE.md justifies, besides the primary key', async () => {
    const { results } = await env.DB.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'plays' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
    ).all<{ name: string }>();
    expect(results.map((row) => row.name)).toEqual([
      'plays_user_movie_idx',
      'plays_user_show_idx',
      'plays_user_type_watched_idx',
    ]);
  });

  for (const { serves, query, uses } of CASES) {
    it(`serve ${serves}`, async () => {
      const plan = await planOf(query);
      expect(plan.join('\n'), plan.join(' | ')).toMatch(uses);
      // Never the whole table, never a sort of the user's plays.
      expect(plan.join('\n')).not.toMatch(/SCAN plays\b|USE TEMP B-TREE FOR ORDER BY/);
    });
  }
});
