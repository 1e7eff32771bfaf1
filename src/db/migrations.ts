/**
 * @module
 * The newest migration this code needs. `GET /health/ready` fails until D1 has it applied
 * (`wrangler d1 migrations apply`). A test checks that it names the newest file in migrations/,
 * so adding a migration without updating it fails `npm test`.
 */
export const LATEST_MIGRATION = '0021_daily_budget_and_enrichment_progress.sql';

/** The table wrangler (and the test setup) records applied migrations in. */
export const MIGRATIONS_TABLE = 'd1_migrations';
