-- The operator's "users with a TMDB backlog" (src/admin/status.ts, `tmdb_backlog_users`) now counts
-- the flag the enrichment keeps, `sync_state.tmdb_backlog = 1`, and its partial index covers exactly
-- those rows. Before, both read `last_result.enrichment.skipped = 'budget_exhausted'`: the last run's
-- figures, which miss a backlog left by a failed run or a missing TMDB key.
DROP INDEX IF EXISTS `sync_state_tmdb_backlog_idx`;--> statement-breakpoint
CREATE INDEX `sync_state_tmdb_backlog_idx` ON `sync_state` (`user_id`) WHERE "sync_state"."tmdb_backlog" = 1;
