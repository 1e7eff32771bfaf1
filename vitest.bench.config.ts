/**
 * Benchmarks (not part of `npm test`): the workerd-side measurements in bench/*.bench.test.ts,
 * with the same Cloudflare plugin setup as the tests (vitest.shared.ts). They count upstream calls
 * and D1 rows; they assert sanity, never timing. Run through `npm run bench` (bench/run.ts), which
 * also records the figures.
 */
import { defineConfig } from 'vitest/config';
import { workersTestPlugin } from './vitest.shared.ts';

export default defineConfig(async () => ({
  plugins: [await workersTestPlugin({ UPSTREAM_TIMEOUT_MS: '30000' })],
  test: {
    // Builds the pages' browser code (src/web/dist/) before any test imports the app.
    globalSetup: ['./scripts/build-web.mjs'],
    setupFiles: ['./test/setup.ts'],
    include: ['bench/**/*.bench.test.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
}));
