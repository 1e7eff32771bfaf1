-- Chunked, resumable sync (see STORAGE.md "sync_state" and README "How a sync runs").
-- One JSON pass record per kind: the resume cursor of an unfinished sync.
ALTER TABLE `sync_state` ADD `movies_pass` text;--> statement-breakpoint
ALTER TABLE `sync_state` ADD `shows_pass` text;--> statement-breakpoint
-- When the last full reconcile of each kind committed (weekly by default).
ALTER TABLE `sync_state` ADD `movies_reconciled_at` text;--> statement-breakpoint
ALTER TABLE `sync_state` ADD `shows_reconciled_at` text;--> statement-breakpoint
-- 1 while the user's library has titles or seasons not yet enriched from TMDB (replaces full scans).
ALTER TABLE `sync_state` ADD `tmdb_backlog` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Paused episodes are found per show, not through a global index over every user's episodes.
DROP INDEX `episodes_paused_idx`;--> statement-breakpoint
CREATE INDEX `episodes_show_paused_idx` ON `episodes` (`show_id`) WHERE "episodes"."paused_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX `movies_user_paused_idx` ON `movies` (`user_id`) WHERE "movies"."paused_at" IS NOT NULL;--> statement-breakpoint
-- Per-item totals are computed in SQL from plays: these indexes make that O(plays of the item).
DROP INDEX `plays_user_show_idx`;--> statement-breakpoint
CREATE INDEX `plays_user_episode_idx` ON `plays` (`user_id`,`show_trakt_id`,`season_number`,`episode_number`,`watched_at`);--> statement-breakpoint
CREATE INDEX `plays_user_movie_idx` ON `plays` (`user_id`,`movie_trakt_id`,`watched_at`);
