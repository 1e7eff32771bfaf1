/** drizzle-kit writes SQL migrations from src/db/schema.ts into migrations/ (applied by wrangler and the tests). */
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.ts',
  out: './migrations',
  casing: 'snake_case',
  migrations: { prefix: 'index' },
});
