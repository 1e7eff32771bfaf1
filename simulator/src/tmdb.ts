/**
 * @module tmdb
 * TMDB v3 (`api.themoviedb.org/3`): configuration, movie, tv, season and `/find` lookups over
 * the same catalog the Trakt side uses. Auth by `?api_key=` or `Authorization: Bearer`, a
 * per-key requests-per-second limit, and TMDB's `{status_code, status_message, success}` errors.
 */
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { type CatalogEpisode, type CatalogMovie, type CatalogSeason, type CatalogShow, tmdbGenre } from './dataset';
import type { SimEnv } from './env';
import { takeFromWindow } from './rate-limit';
import type { SimContext } from './state';

type Json = Record<string, unknown>;

export const TMDB_INVALID_KEY = {
  status_code: 7,
  status_message: 'Invalid API key: You must be granted a valid key.',
  success: false,
};
export const TMDB_NOT_FOUND = {
  status_code: 34,
  status_message: 'The resource you requested could not be found.',
  success: false,
};

export function tmdbRateLimited(limit: number): Json {
  return {
    status_code: 25,
    status_message: `Your request count (${limit + 1}) is over the allowed limit of (${limit}).`,
    success: false,
  };
}

const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export const TMDB_CONFIGURATION = {
  images: {
    base_url: 'http://image.tmdb.org/t/p/',
    secure_base_url: 'https://image.tmdb.org/t/p/',
    backdrop_sizes: ['w300', 'w780', 'w1280', 'original'],
    logo_sizes: ['w45', 'w92', 'w154', 'w185', 'w300', 'w500', 'original'],
    poster_sizes: ['w92', 'w154', 'w185', 'w342', 'w500', 'w780', 'original'],
    profile_sizes: ['w45', 'w185', 'h632', 'original'],
    still_sizes: ['w92', 'w185', 'w300', 'original'],
  },
  change_keys: [
    'adult',
    'air_date',
    'also_known_as',
    'biography',
    'episode',
    'genres',
    'images',
    'overview',
    'poster',
    'runtime',
    'season',
    'title',
  ],
};

function movieJson(movie: CatalogMovie, id: number): Json {
  return {
    adult: false,
    backdrop_path: movie.backdropPath,
    belongs_to_collection: null,
    budget: 0,
    genres: movie.genres.map(tmdbGenre),
    homepage: '',
    id,
    imdb_id: movie.imdb,
    original_language: 'en',
    original_title: movie.title,
    overview: movie.overview,
    popularity: movie.votes / 100,
    poster_path: movie.posterPath,
    production_companies: [],
    production_countries: [],
    release_date: movie.released,
    revenue: 0,
    runtime: movie.runtime,
    spoken_languages: [{ english_name: 'English', iso_639_1: 'en', name: 'English' }],
    status: 'Released',
    tagline: '',
    title: movie.title,
    video: false,
    vote_average: movie.rating,
    vote_count: movie.votes,
  };
}

function seasonSummary(season: CatalogSeason, show: CatalogShow): Json {
  return {
    air_date: day(season.airDate),
    episode_count: season.episodes.length,
    id: season.tmdbRecordId,
    name: `Season ${season.number}`,
    overview: `Season ${season.number} of ${show.title}.`,
    poster_path: season.posterPath,
    season_number: season.number,
    vote_average: show.rating,
  };
}

type Upcoming = { season: number; number: number; airDate: string; name: string };

/**
 * The episodes TMDB knows to be coming for a show (air dates from the simulator's "today" on): those set with
 * `/_sim/tmdb/schedule`, else, for a returning series, a next season of 3 weekly episodes starting 1–20 days out.
 */
export function upcomingEpisodes(ctx: SimContext, show: CatalogShow, id: number): Upcoming[] {
  const set = ctx.state.tmdbSchedules.get(id);
  if (set) return set;
  if (show.status === 'ended') return [];
  const today = Math.floor(ctx.now() / 86_400_000) * 86_400_000;
  const season = show.seasons.length + 1;
  return [1, 2, 3].map((number) => ({
    season,
    number,
    airDate: day(today + (1 + (id % 20) + 7 * (number - 1)) * 86_400_000),
    name: `Episode ${number}: Coming soon`,
  }));
}

function tvJson(show: CatalogShow, id: number, upcoming: Upcoming[] = [], today = ''): Json {
  const next = upcoming.filter((e) => e.airDate >= today).sort((a, b) => (a.airDate < b.airDate ? -1 : 1))[0];
  const lastSeason = show.seasons.at(-1);
  const lastEpisode = lastSeason?.episodes.at(-1);
  return {
    adult: false,
    backdrop_path: show.backdropPath,
    created_by: [],
    episode_run_time: [show.runtime],
    first_air_date: day(show.firstAired),
    genres: show.genres.map(tmdbGenre),
    homepage: '',
    id,
    in_production: show.status !== 'ended',
    languages: ['en'],
    last_air_date: lastEpisode ? day(lastEpisode.firstAired) : null,
    name: show.title,
    networks: [{ id: 1, name: show.network, logo_path: null, origin_country: 'US' }],
    number_of_episodes: show.airedEpisodes,
    number_of_seasons: show.seasons.length,
    origin_country: ['US'],
    original_language: 'en',
    original_name: show.title,
    overview: show.overview,
    popularity: show.votes / 100,
    poster_path: show.posterPath,
    seasons: show.seasons.map((s) => seasonSummary(s, show)),
    status: show.status === 'ended' && upcoming.length === 0 ? 'Ended' : 'Returning Series',
    next_episode_to_air: next
      ? {
          id: id * 1000 + next.season * 100 + next.number,
          name: next.name,
          overview: `Season ${next.season}, episode ${next.number} of ${show.title}.`,
          air_date: next.airDate,
          episode_number: next.number,
          season_number: next.season,
          show_id: id,
          runtime: show.runtime,
        }
      : null,
    tagline: '',
    type: 'Scripted',
    vote_average: show.rating,
    vote_count: show.votes,
  };
}

function episodeJson(episode: CatalogEpisode, showId: number): Json {
  return {
    air_date: day(episode.firstAired),
    episode_number: episode.number,
    episode_type: 'standard',
    id: episode.tmdbRecordId,
    name: episode.title,
    overview: episode.overview,
    production_code: '',
    runtime: episode.runtime,
    season_number: episode.season,
    show_id: showId,
    still_path: episode.stillPath,
    vote_average: episode.rating,
    vote_count: 10,
  };
}

export function tmdbRoutes(ctx: SimContext): Hono<SimEnv> {
  const app = new Hono<SimEnv>();
  const { state } = ctx;

  const authenticate: MiddlewareHandler<SimEnv> = async (c, next) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const key = bearer ?? c.req.query('api_key');
    const valid = key !== undefined && (state.tmdbKeys.has(key) || key === state.config.tmdb_default_key);
    if (!valid) return c.json(TMDB_INVALID_KEY, 401);
    const limit = state.config.tmdb_rps;
    const decision = takeFromWindow(state.tmdbWindows.get(key), ctx.now(), limit, 1000);
    state.tmdbWindows.set(key, decision.state);
    if (!decision.allowed) {
      c.header('Retry-After', String(decision.retryAfterSeconds));
      return c.json(tmdbRateLimited(limit), 429);
    }
    await next();
  };
  app.use('*', authenticate);

  const notFound = (c: Context<SimEnv>) => c.json(TMDB_NOT_FOUND, 404);
  const numeric = (raw: string): number | null => (/^\d+$/.test(raw) ? Number(raw) : null);

  app.get('/configuration', (c) => c.json(TMDB_CONFIGURATION));

  app.get('/movie/:id', (c) => {
    const id = numeric(c.req.param('id'));
    const movie = id === null ? undefined : state.catalog.tmdbMovies.get(id);
    return movie && id !== null ? c.json(movieJson(movie, id)) : notFound(c);
  });

  const findShow = (raw: string): { show: CatalogShow; id: number } | null => {
    const id = numeric(raw);
    const show = id === null ? undefined : state.catalog.tmdbShows.get(id);
    return show && id !== null ? { show, id } : null;
  };

  app.get('/tv/:id', (c) => {
    const found = findShow(c.req.param('id'));
    if (!found) return notFound(c);
    const today = day(ctx.now());
    return c.json(tvJson(found.show, found.id, upcomingEpisodes(ctx, found.show, found.id), today));
  });

  app.get('/tv/:id/season/:n', (c) => {
    const found = findShow(c.req.param('id'));
    const season = found?.show.seasons.find((s) => String(s.number) === c.req.param('n'));
    const coming = found
      ? upcomingEpisodes(ctx, found.show, found.id).filter((e) => String(e.season) === c.req.param('n'))
      : [];
    if (found && !season && coming.length > 0) {
      // A season TMDB announces but that has not aired yet: only its scheduled episodes.
      return c.json({
        _id: `sim-upcoming-${found.id}-${c.req.param('n')}`,
        air_date: coming[0]!.airDate,
        episodes: coming.map((e) => ({
          air_date: e.airDate,
          episode_number: e.number,
          name: e.name,
          overview: `Season ${e.season}, episode ${e.number} of ${found.show.title}.`,
          runtime: found.show.runtime,
          season_number: e.season,
          show_id: found.id,
          still_path: null,
          vote_average: 0,
        })),
        name: `Season ${c.req.param('n')}`,
        season_number: Number(c.req.param('n')),
      });
    }
    if (!found || !season) return notFound(c);
    const airDates = new Map(coming.map((e) => [e.number, e.airDate]));
    return c.json({
      _id: `sim${season.tmdbRecordId ?? 0}`,
      air_date: day(season.airDate),
      episodes: season.episodes.map((e) => ({
        ...episodeJson(e, found.id),
        ...(airDates.has(e.number) ? { air_date: airDates.get(e.number) } : {}),
      })),
      name: `Season ${season.number}`,
      overview: `Season ${season.number} of ${found.show.title}.`,
      id: season.tmdbRecordId,
      poster_path: season.posterPath,
      season_number: season.number,
      vote_average: found.show.rating,
    });
  });

  app.get('/tv/:id/season/:n/episode/:e', (c) => {
    const found = findShow(c.req.param('id'));
    const season = found?.show.seasons.find((s) => String(s.number) === c.req.param('n'));
    const episode = season?.episodes.find((e) => String(e.number) === c.req.param('e'));
    return found && episode ? c.json(episodeJson(episode, found.id)) : notFound(c);
  });

  app.get('/find/:external_id', (c) => {
    const source = c.req.query('external_source');
    const externalId = c.req.param('external_id');
    const body = {
      movie_results: [] as Json[],
      person_results: [] as Json[],
      tv_results: [] as Json[],
      tv_episode_results: [] as Json[],
      tv_season_results: [] as Json[],
    };
    let hit: ReturnType<typeof state.catalog.imdb.get>;
    if (source === 'imdb_id') hit = state.catalog.imdb.get(externalId);
    else if (source === 'tvdb_id')
      hit = numeric(externalId) === null ? undefined : state.catalog.tvdb.get(Number(externalId));
    else
      return c.json(
        {
          status_code: 5,
          status_message: 'Invalid parameters: Your request parameters are incorrect.',
          success: false,
        },
        400,
      );
    if (hit?.kind === 'movie' && hit.item.tmdbRecordId !== null) {
      const m = hit.item;
      const id = hit.item.tmdbRecordId;
      body.movie_results.push({
        adult: false,
        backdrop_path: m.backdropPath,
        id,
        title: m.title,
        original_title: m.title,
        overview: m.overview,
        poster_path: m.posterPath,
        media_type: 'movie',
        original_language: 'en',
        genre_ids: m.genres.map((g) => tmdbGenre(g).id),
        popularity: m.votes / 100,
        release_date: m.released,
        video: false,
        vote_average: m.rating,
        vote_count: m.votes,
      });
    } else if (hit?.kind === 'show' && hit.item.tmdbRecordId !== null) {
      const s = hit.item;
      body.tv_results.push({
        adult: false,
        backdrop_path: s.backdropPath,
        id: s.tmdbRecordId,
        name: s.title,
        original_name: s.title,
        overview: s.overview,
        poster_path: s.posterPath,
        media_type: 'tv',
        original_language: 'en',
        genre_ids: s.genres.map((g) => tmdbGenre(g).id),
        popularity: s.votes / 100,
        first_air_date: day(s.firstAired),
        vote_average: s.rating,
        vote_count: s.votes,
        origin_country: ['US'],
      });
    } else if (hit?.kind === 'episode') {
      const show = state.catalog.shows.get(hit.item.showTraktId);
      if (show?.tmdbRecordId != null)
        body.tv_episode_results.push({ ...episodeJson(hit.item, show.tmdbRecordId), media_type: 'tv_episode' });
    }
    return c.json(body);
  });

  return app;
}
