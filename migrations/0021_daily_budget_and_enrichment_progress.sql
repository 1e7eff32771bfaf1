-- Issue 25: the daily D1 budget, the enrichment's walk and progress, paused background work, and sync
-- requests recorded while the other kind's sync holds the lease.
--
-- `d1_usage`: the rows this Worker read and wrote per UTC day, from each statement's own `meta`
-- (src/budget/usage.ts adds each invocation's figures with one upsert). Background work stops before
-- D1_DAILY_ROWS_WRITTEN_BUDGET / D1_DAILY_ROWS_READ_BUDGET and continues after 00:00 UTC.
CREATE TABLE `d1_usage` (
	`day` text PRIMARY KEY NOT NULL,
	`rows_read` integer DEFAULT 0 NOT NULL,
	`rows_written` integer DEFAULT 0 NOT NULL,
	`updated_at` text NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
-- Where the enrichment's walk over the user's library stands (JSON, src/tmdb/walk.ts), so that each run
-- reads only the titles it handles instead of rescanning the library.
ALTER TABLE `sync_state` ADD `enrich_cursor` text;
--> statement-breakpoint
-- Titles (movies + shows) and seasons whose TMDB data is not counted yet: the artwork still to come.
ALTER TABLE `sync_state` ADD `tmdb_pending_titles` integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE `sync_state` ADD `tmdb_pending_seasons` integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
-- When the last enrichment run ended.
ALTER TABLE `sync_state` ADD `enriched_at` text;
--> statement-breakpoint
-- Background work of this user stopped until then (the daily database budget), and why.
ALTER TABLE `sync_state` ADD `paused_until` text;
--> statement-breakpoint
ALTER TABLE `sync_state` ADD `paused_reason` text;
--> statement-breakpoint
-- Sync kinds requested while the lease was held (bits: 1 movies, 2 shows), handed to the queue when it frees.
ALTER TABLE `sync_state` ADD `requested_kinds` integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
UPDATE `sync_state` SET
	`tmdb_pending_titles` = (SELECT count(*) FROM `movies` m WHERE m.`user_id` = `sync_state`.`user_id` AND m.`stats_genres` IS NULL)
		+ (SELECT count(*) FROM `shows` s WHERE s.`user_id` = `sync_state`.`user_id` AND s.`stats_genres` IS NULL),
	`tmdb_pending_seasons` = (SELECT count(*) FROM `shows` s JOIN `seasons` se ON se.`show_id` = s.`id`
		WHERE s.`user_id` = `sync_state`.`user_id` AND se.`stats_runtimes` IS NULL);
--> statement-breakpoint
-- Titles not counted yet are settled by the enrichment's walk: a user with any has a backlog and a walk due.
UPDATE `sync_state` SET `tmdb_backlog` = 1, `enrich_cursor` = '{"walk":null,"due":true}'
	WHERE `tmdb_pending_titles` + `tmdb_pending_seasons` > 0;
