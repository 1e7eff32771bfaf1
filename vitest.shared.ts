/**
 * The Cloudflare Vitest plugin set up once for every workerd-side suite (tests and benchmarks):
 * the bindings from wrangler.toml backed by Miniflare (real local D1, KV and Queues), the real
 * migrations handed to test/setup.ts, test secrets, and upstream URLs on `*.sim.test` hosts,
 * which simulator/support/harness.ts routes into the in-process upstream simulator.
 */
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';

export async function workersTestPlugin(overrides: Record<string, string> = {}) {
  return cloudflareTest({
    wrangler: { configPath: './wrangler.toml' },
    miniflare: {
      bindings: {
        TEST_MIGRATIONS: await readD1Migrations('./migrations'),
        JWT_SECRET: 'test-jwt-secret-that-is-at-least-32-characters-long',
        // Two keys so rotation is exercised: k2 encrypts, k1 still decrypts.
        ENCRYPTION_KEYS:
          'k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=',
        TRAKT_CLIENT_ID: '',
        TRAKT_CLIENT_SECRET: '',
        TMDB_API_KEY: '',
        TRAKT_API_URL: 'https://api.trakt.sim.test',
        TRAKT_AUTH_URL: 'https://auth.trakt.sim.test',
        TMDB_API_URL: 'https://api.tmdb.sim.test/3',
        // The app-wide limiters stay on, but at rates that never slow the suite; the pacing tests set the real ones.
        TRAKT_APP_MAX_RPS: '1000',
        TMDB_MAX_RPS: '1000',
        // No daily D1 budget by default (a suite of large syncs would spend one); the budget tests set their own.
        D1_DAILY_ROWS_WRITTEN_BUDGET: '0',
        D1_DAILY_ROWS_READ_BUDGET: '0',
        // Per-user endpoint budgets stay on, 1,000 times looser, so unrelated tests are not throttled; the budget
        // tests pass USER_BUDGET_SCALE=1 through the env they hand to the Worker (test/user-budgets.test.ts).
        USER_BUDGET_SCALE: '1000',
        // The limiter takes the caller's clock, so tests can pace on a virtual one (src/pacing/limiter.ts).
        PACING_CALLER_CLOCK: 'true',
        // Quiet test output; tests about logging raise it through the env they pass to the Worker.
        LOG_LEVEL: 'error',
        ADMIN_TOKEN: '',
        // The webhook receiver of the tests is not a public https host (src/webhooks/url-policy.ts).
        WEBHOOKS_ALLOW_INSECURE: 'true',
        ...overrides,
      },
    },
  });
}
