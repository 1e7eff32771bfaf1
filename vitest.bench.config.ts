/**
 * Benchmarks (not part of `npm test`): the workerd-side measurements in bench/*.bench.test.ts,
 * with the same Cloudflare plugin setup as vitest.config.ts (real local D1/KV/Queues, upstream
 * URLs routed into the in-process simulator). They count upstream calls and D1 rows; they assert
 * sanity, never timing. Run through `npm run bench` (bench/run.ts), which also records the figures.
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
            JWT_SECRET: 'bench-jwt-secret-that-is-at-least-32-characters-long',
            ENCRYPTION_KEYS: 'k1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=',
            TRAKT_CLIENT_ID: '',
            TRAKT_CLIENT_SECRET: '',
            TMDB_API_KEY: '',
            TRAKT_API_URL: 'https://api.trakt.sim.test',
            TRAKT_AUTH_URL: 'https://auth.trakt.sim.test',
            TMDB_API_URL: 'https://api.tmdb.sim.test/3',
            UPSTREAM_TIMEOUT_MS: '30000',
          },
        },
      }),
    ],
    test: {
      setupFiles: ['./test/setup.ts'],
      include: ['bench/**/*.bench.test.ts'],
      fileParallelism: false,
      testTimeout: 600_000,
      hookTimeout: 120_000,
    },
  };
});
