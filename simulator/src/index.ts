/**
 * @module index
 * Entry point for `wrangler dev -c simulator/wrangler.toml` (`npm run sim`): one module-level
 * simulator, seeded with the demo app and account (see demo.ts). State lives in this isolate.
 */
import { createSimulator } from './app';
import { seedDemo } from './demo';

const sim = createSimulator();
seedDemo(sim);

export default {
  fetch: (request: Request) => sim.fetch(request),
} satisfies ExportedHandler;
