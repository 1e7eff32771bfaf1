/**
 * End-to-end suite (`vitest run -c vitest.e2e.config.ts`): runs in Node, not workerd. The
 * global setup starts the API and the upstream simulator with `wrangler dev` on free ports;
 * the tests drive them over HTTP, with Debian's Chromium (via playwright-core) and the
 * `oauth-setup` CLI.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['test-e2e/**/*.test.ts'],
    globalSetup: ['./test-e2e/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
