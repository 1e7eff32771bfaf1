/**
 * @module
 * The Worker entry: HTTP requests go to the Hono app.
 */
import { createApp } from './app';

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
