/**
 * @module
 * A replay of NowPlaying's web app (`UI/now-playing-ui`) as its requests are documented in
 * /work/shared/NOWPLAYING.md (§1 the rules of every request, §2–§4 each page's requests and the fields it
 * reads), written from that document, not from its code. `installWebApp` runs inside a Chromium page on
 * another origin than the API (so every call is a real cross-origin request with its CORS preflight) and
 * defines `window.nowPlaying`. Each page function makes the page's requests and returns exactly the fields
 * the page reads (a projection), plus what it derives from them (completion, the last-scrobbled label).
 *
 * §1, as implemented here:
 * - every call sends `Authorization: Bearer <access>` and `Content-Type: application/json`, any method;
 * - before each call the access token's `exp` is read with `atob` of the JWT's middle part; unreadable or
 *   past: refresh first;
 * - any 401: refresh, then retry once; a failed refresh wipes the tokens (the user is signed out);
 * - the refresh answer's `access` is stored; a refresh token is never replaced (no rotation).
 */

/** What the replay counts while it runs (read by the test). */
export type WebAppTrace = {
  refreshes: number;
  signedOut: boolean;
  requests: Array<{ method: string; path: string; status: number }>;
};

/**
 * Installs the replay in the page. Serialized by Playwright into the page: it may use nothing from the
 * module around it.
 */
export function installWebApp(apiBase: string): void {
  const trace = {
    refreshes: 0,
    signedOut: false,
    requests: [] as Array<{ method: string; path: string; status: number }>,
  };
  const store = {
    get access() {
      return localStorage.getItem('access_token');
    },
    get refresh() {
      return localStorage.getItem('refresh_token');
    },
    save(access: string | null, refresh?: string | null) {
      if (access) localStorage.setItem('access_token', access);
      if (refresh) localStorage.setItem('refresh_token', refresh);
    },
    wipe() {
      localStorage.removeItem('access_token');
      localStorage.removeItem('refresh_token');
    },
  };
  type Json = Record<string, any>;

  const url = (path: string) => `${apiBase}${path}`;
  const readJson = async (res: Response): Promise<Json> => res.json().catch(() => ({}));

  /** `exp` from `atob` of the payload, as the app's isAuthenticated reads it; null when unreadable. */
  function expOf(token: string | null): number | null {
    if (!token) return null;
    try {
      const payload = JSON.parse(atob(token.split('.')[1] ?? '')) as { exp?: unknown };
      return typeof payload.exp === 'number' ? payload.exp : null;
    } catch {
      return null;
    }
  }
  function isAuthenticated(): boolean {
    const exp = expOf(store.access);
    return exp !== null && exp * 1000 > Date.now();
  }

  async function refreshAuthToken(): Promise<boolean> {
    trace.refreshes += 1;
    const res = await fetch(url('/users/token/refresh/'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh: String(store.refresh) }),
    });
    trace.requests.push({ method: 'POST', path: '/users/token/refresh/', status: res.status });
    if (res.ok) {
      const body = await readJson(res);
      if (typeof body.access === 'string') {
        store.save(body.access); // the refresh token is kept as it is
        return true;
      }
    }
    store.wipe();
    trace.signedOut = true;
    return false;
  }

  async function authenticatedFetch(path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
    if (!isAuthenticated() && !(await refreshAuthToken())) throw new Error('signed out');
    const send = async () => {
      const res = await fetch(url(path), {
        method: init.method ?? 'GET',
        headers: { Authorization: `Bearer ${store.access}`, 'Content-Type': 'application/json' },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      trace.requests.push({ method: init.method ?? 'GET', path, status: res.status });
      return res;
    };
    let res = await send();
    if (res.status === 401 && (await refreshAuthToken())) res = await send();
    return res;
  }

  /** `useApi`'s error: `detail`, then `error`. */
  const apiError = (body: Json) => body.detail ?? body.error;

  const app = {
    trace,
    store,
    expOf,
    isAuthenticated,
    authenticatedFetch,

    // pages/auth/AuthPage.tsx: register or sign in (plain fetch, no JWT); 2xx stores access and refresh.
    async authSubmit(mode: 'register' | 'login', fields: Json) {
      const res = await fetch(url(mode === 'register' ? '/users/register/' : '/users/login/'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(fields),
      });
      trace.requests.push({ method: 'POST', path: `/users/${mode}/`, status: res.status });
      const body = await readJson(res);
      if (res.ok) {
        store.save(body.access, body.refresh);
        return { ok: true, access: body.access as string, refresh: body.refresh as string };
      }
      const error =
        body.detail ??
        body.username?.[0] ??
        body.email?.[0] ??
        body.password?.[0] ??
        body.password2?.[0] ??
        body.non_field_errors?.[0];
      return { ok: false, status: res.status, error: error as string | undefined };
    },

    // pages/profile/hooks/useProfile.ts
    async profile() {
      const body = await readJson(await authenticatedFetch('/users/profile/'));
      return { username: body.username as string, id: body.id as number };
    },

    // pages/profile/hooks/useApiKeys.ts
    async fetchApiKeys() {
      const res = await authenticatedFetch('/users/api-keys/');
      const body = await readJson(res);
      if (!res.ok) return { ok: false, detail: body.detail as string };
      return {
        ok: true,
        keys: (body.results as Json[]).map((k) => ({
          id: k.id,
          service_name: k.service_name,
          service_user_id: k.service_user_id,
          created_at: k.created_at,
          last_used: k.last_used,
        })),
      };
    },
    async saveApiKey(clientId: string, secret: string) {
      const res = await authenticatedFetch('/users/api-keys/', {
        method: 'POST',
        body: { service_name: 'trakt', service_user_id: clientId.trim(), api_key: secret.trim() },
      });
      return res.ok ? { ok: true } : { ok: false, detail: (await readJson(res)).detail as string };
    },
    async updateApiKey(id: number, secret: string) {
      const res = await authenticatedFetch(`/users/api-keys/${id}/`, { method: 'PATCH', body: { api_key: secret } });
      return res.ok ? { ok: true } : { ok: false, detail: (await readJson(res)).detail as string };
    },
    async deleteApiKey(id: number) {
      const res = await authenticatedFetch(`/users/api-keys/${id}/`, { method: 'DELETE' });
      return res.ok ? { ok: true, status: res.status } : { ok: false, detail: (await readJson(res)).detail as string };
    },

    // pages/profile/hooks/useTraktAuth.ts + components/ServiceCard.tsx + components/TraktOAuthDialog.tsx
    async authStatus() {
      const res = await authenticatedFetch('/trakt/auth-status/');
      if (!res.ok) return null;
      const body = await readJson(res);
      return {
        authenticated: body.authenticated as boolean,
        token_expired: body.token_expired as boolean | undefined,
        connectButton: body.authenticated === false,
        tokenExpiredChip: body.token_expired === true,
      };
    },
    async startOAuth() {
      const res = await authenticatedFetch('/trakt/authenticate/');
      const body = await readJson(res);
      return res.ok ? { ok: true, auth_url: body.auth_url as string } : { ok: false, error: body.error as string };
    },
    async completeOAuth(code: string, state: number) {
      const res = await authenticatedFetch('/trakt/oauth-callback/', { method: 'POST', body: { code, state } });
      const body = await readJson(res);
      return res.ok
        ? { ok: true, message: (body.message as string) ?? 'Successfully connected to Trakt!' }
        : { ok: false, status: res.status, error: body.error as string };
    },

    // components/ProfileSidebar.tsx (body unread on success)
    async fetchLatest(kind: 'movies' | 'shows') {
      const res = await authenticatedFetch(`/trakt/fetch-latest-${kind}/`);
      return res.ok ? { ok: true } : { ok: false, status: res.status, error: (await readJson(res)).error as string };
    },

    // pages/moviesDashboard.tsx: three calls in parallel, failures become empty lists.
    async dashboard() {
      const get = async (path: string) => {
        try {
          const res = await authenticatedFetch(path);
          return res.ok ? await readJson(res) : null;
        } catch {
          return null;
        }
      };
      const [movies, shows, completed] = await Promise.all([
        get('/trakt/get-stored-movies/?page=1&page_size=10'),
        get('/trakt/get-stored-shows/?page=1&page_size=10'),
        get('/trakt/completed-media/'),
      ]);
      return {
        movies: {
          total_items: movies?.total_items ?? 0,
          items: ((movies?.movies ?? []) as Json[]).map((m) => ({
            plays: m.plays,
            last_watched_at: m.last_watched_at,
            title: m.movie.title,
            image_url: m.movie.image_url,
            ids: m.movie.ids,
          })),
        },
        shows: {
          total_items: shows?.total_items ?? 0,
          items: ((shows?.shows ?? []) as Json[]).map((s) => ({
            last_watched_at: s.last_watched_at,
            id: s.show.id,
            title: s.show.title,
            year: s.show.year,
            image_url: s.show.image_url,
            trakt: s.show.ids.trakt,
            tmdb: s.show.ids.tmdb,
          })),
        },
        completed_shows: (completed?.completed_shows ?? []) as Json[],
      };
    },

    // components/LastScrobbled.tsx: the max last_watched_at (null counts as the epoch) of each show.
    async lastScrobbled(traktIds: number[]) {
      const labels: Record<number, string | null> = {};
      for (const traktId of traktIds) {
        const res = await authenticatedFetch(`/trakt/get-watched-seasons-episodes/?trakt_id=${traktId}`);
        if (!res.ok) {
          labels[traktId] = null;
          continue;
        }
        const episodes = ((await readJson(res)).episodes ?? []) as Json[];
        let latest: Json | undefined;
        for (const e of episodes) {
          const at = e.last_watched_at ? Date.parse(e.last_watched_at) : 0;
          const best = latest?.last_watched_at ? Date.parse(latest.last_watched_at) : 0;
          if (!latest || at > best) latest = e;
        }
        labels[traktId] = latest ? `S${latest.season__season_number}E${latest.episode_number}` : null;
      }
      return labels;
    },

    // pages/showDetails.tsx + components/SeasonProgress.tsx
    async showPage(traktId: number) {
      const res = await authenticatedFetch(`/trakt/get-watched-seasons-episodes/?trakt_id=${traktId}`);
      if (!res.ok) return { ok: false, status: res.status };
      const body = await readJson(res);
      const seasons = (body.seasons as Json[]).map((s) => ({ id: s.id, season_number: s.season_number }));
      const episodes = (body.episodes as Json[]).map((e) => ({
        id: e.id,
        season__season_number: e.season__season_number,
        episode_number: e.episode_number,
        title: e.title,
        image_url: e.image_url,
        overview: e.overview,
        rating: e.rating,
        last_watched_at: e.last_watched_at,
      }));
      const percent = (list: Array<{ last_watched_at: string | null }>) => {
        const watched = list.filter((e) => e.last_watched_at).length;
        return { watched, total: list.length, percent: list.length ? Math.round((100 * watched) / list.length) : 0 };
      };
      const bySeason = seasons
        .map((s) => ({
          season_number: s.season_number,
          ...percent(episodes.filter((e) => e.season__season_number === s.season_number)),
        }))
        .sort((a, b) => a.season_number - b.season_number);
      // A season above the highest complete one + 1 is greyed and locked.
      const highestComplete = Math.max(-1, ...bySeason.filter((s) => s.percent === 100).map((s) => s.season_number));
      const meta = body.show_metadata ?? {};
      return {
        ok: true,
        seasons,
        episodes,
        show_metadata: { genres: meta.genres, air_day: meta.air_day, air_time: meta.air_time, status: meta.status },
        completion: percent(episodes),
        seasonsProgress: bySeason.map((s) => ({ ...s, locked: s.season_number > highestComplete + 1 })),
        keysUnique: new Set(episodes.map((e) => e.id)).size === episodes.length,
      };
    },
    async updateShow(traktId: number) {
      const res = await authenticatedFetch(`/trakt/update-show/?trakt_id=${traktId}`);
      if (!res.ok) return { ok: false, error: (await readJson(res)).error as string };
      await res.json(); // parsed, unread
      return { ok: true };
    },

    // pages/movieDetails.tsx
    async moviePage(tmdbId: number, traktId: number) {
      const detail = await authenticatedFetch(`/trakt/detail/?type=movie&tmdb_id=${tmdbId}`);
      const result = detail.ok ? (await readJson(detail)).result : null;
      const statsRes = await authenticatedFetch(`/trakt/movie-stats/?trakt_id=${traktId}`);
      const stats = statsRes.ok ? await readJson(statsRes) : null;
      return {
        result: result && {
          plays: result.plays,
          last_watched_at: result.last_watched_at,
          last_updated_at: result.last_updated_at,
          movie: result.movie,
        },
        stats: stats && {
          watchers: stats.watchers,
          plays: stats.plays,
          collectors: stats.collectors,
          comments: stats.comments,
          lists: stats.lists,
          votes: stats.votes,
        },
      };
    },
    async updateMovie(traktId: number) {
      const res = await authenticatedFetch(`/trakt/update-movie/?trakt_id=${traktId}`);
      return res.ok ? { ok: true } : { ok: false, error: (await readJson(res)).error as string };
    },

    // components/MediaSearch.tsx (≥ 2 characters) and its click.
    async search(q: string) {
      if (q.length < 2) return [];
      const res = await authenticatedFetch(`/trakt/search/?q=${encodeURIComponent(q)}`);
      const body = await readJson(res);
      return ((body.results ?? []) as Json[]).map((r) => ({
        type: r.type,
        id: r.id,
        title: r.title,
        cover_image: r.cover_image,
        year: r.year,
        tmdb_id: r.tmdb_id,
        ...(r.type === 'episode'
          ? {
              show_title: r.show_title,
              show_id: r.show_id,
              season_number: r.season_number,
              episode_number: r.episode_number,
              show_trakt_id: r.show_trakt_id,
            }
          : {}),
      }));
    },
    async openSearchResult(type: 'movie' | 'show', tmdbId: number) {
      const res = await authenticatedFetch(`/trakt/detail/?type=${type}&tmdb_id=${tmdbId}`);
      const body = await readJson(res);
      return res.ok ? { ok: true, result: type === 'show' ? body.result.show : body.result } : { ok: false };
    },

    // pages/watchHistory.tsx
    async watchHistory(params: { type: string; page: number; sort: string; days?: number }) {
      const days = params.days ? `&days=${params.days}` : '';
      const res = await authenticatedFetch(
        `/trakt/watch-history/?type=${params.type}&page=${params.page}&page_size=20&sort=${params.sort}${days}`,
      );
      const body = await readJson(res);
      return {
        total_items: body.total_items,
        total_pages: body.total_pages,
        history: (body.history as Json[]).map((h) => ({
          type: h.type,
          id: h.id,
          watched_at: h.watched_at,
          title: h.title,
          image_url: h.image_url,
          year: h.year,
          runtime: h.runtime,
          rating: h.rating,
          trakt_id: h.trakt_id,
          tmdb_id: h.tmdb_id,
          episode_info: h.episode_info
            ? {
                season_number: h.episode_info.season_number,
                episode_number: h.episode_info.episode_number,
                episode_title: h.episode_info.episode_title,
              }
            : undefined,
        })),
      };
    },
    async heatmapAndGenres() {
      const [heat, genres] = await Promise.all([
        authenticatedFetch('/trakt/activity-heatmap/').then(readJson),
        authenticatedFetch('/trakt/top-genres/').then(readJson),
      ]);
      return {
        activity: (heat.activity as Json[]).map((a) => ({ date: a.date, count: a.count })),
        genres: (genres.genres as Json[]).map((g) => ({ name: g.name, percentage: g.percentage })),
      };
    },

    // pages/completedMedia.tsx + components/CompletedSection.tsx
    async completedMedia() {
      const body = await readJson(await authenticatedFetch('/trakt/completed-media/'));
      return (body.completed_shows as Json[]).map((s) => ({
        id: s.id,
        title: s.title,
        year: s.year,
        image_url: s.image_url,
        trakt_id: s.trakt_id,
        tmdb_id: s.tmdb_id,
        last_watched_at: s.last_watched_at,
      }));
    },

    /** `useApi`'s reading of an error answer. */
    apiError,
  };
  (window as unknown as { nowPlaying: typeof app }).nowPlaying = app;
}
