/**
 * The workerd suite (`npx vitest run`, first half of `npm test`): test/ and simulator/test/.
 * Runs inside workerd through the Cloudflare Vitest plugin (set up in vitest.shared.ts); the real
 * migrations are applied by test/setup.ts. One config per suite rather than Vitest `projects`:
 * the workerd suites and the Node e2e suite need different pools and global setups.
 */
import { defineConfig } from 'vitest/config';
import { workersTestPlugin } from './vitest.shared.ts';

export default defineConfig(async () => ({
  // Short upstream timeout, so the simulator's "hang" fault trips it quickly.
  plugins: [await workersTestPlugin({ UPSTREAM_TIMEOUT_MS: '500' })],
  test: {
    // Builds the pages' browser code (src/web/dist/) before any test imports the app.
    globalSetup: ['./scripts/build-web.mjs'],
    setupFiles: ['./test/setup.ts'],
    include: ['test/**/*.test.ts', 'simulator/test/**/*.test.ts'],
    testTimeout: 30_000,
  },
}));
