/**
 * @module
 * The one shape of a play outside the owner's own API: what the public sharing answers, the webhook
 * `play.created` deliveries and the year in review show of a play. Each of them adds its own fields (a
 * poster, the history id) to these, so the three can never drift apart.
 */
import { z } from 'zod';

/** The movie's ids, or the show's for an episode. */
export const playIds = z.object({
  trakt: z.number().int(),
  slug: z.string().nullable(),
  imdb: z.string().nullable(),
  tmdb: z.number().int().nullable(),
  tvdb: z.number().int().nullable().optional(),
});

/** When and what was played, without ids. */
export const playTitleFields = {
  watched_at: z.string(),
  type: z.enum(['movie', 'episode']),
  title: z.string().nullable().describe("The movie's title, or the episode's"),
  year: z.number().int().nullable(),
  show: z.string().nullable().describe("The show's title (episodes), else null"),
  season: z.number().int().nullable(),
  episode: z.number().int().nullable(),
};
