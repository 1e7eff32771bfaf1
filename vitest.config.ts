/**
 * Vitest runs every test inside workerd through the Cloudflare Vitest plugin, with the
 * bindings from wrangler.toml backed by Miniflare (real local D1, KV and Queues).
 * The real migrations are applied by test/setup.ts. Upstream URLs point at `*.sim.test`
 * hosts, which test/support/simulator.ts routes into the in-process upstream simulator.
 */
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig(async () => {
  const migrations = await readD1Migrations('./migrations');
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: './wrangler.toml' },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
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
            // Short, so the simulator's "hang" fault trips the timeout quickly.
            UPSTREAM_TIMEOUT_MS: '500',
          },
        },
      }),
    ],
    test: {
      setupFiles: ['./test/setup.ts'],
      include: ['test/**/*.test.ts'],
      testTimeout: 30_000,
    },
  };
});
