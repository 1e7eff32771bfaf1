-- Issue #14: the history API (plays list, stats, richer lists, conditional GET, export).

-- TMDB fields the new read endpoints return: genres (JSON array of names), runtime (minutes; a
-- show's typical episode runtime), and each episode's runtime for the stats' minutes.
ALTER TABLE `tmdb_titles` ADD `genres` text;--> statement-breakpoint
ALTER TABLE `tmdb_titles` ADD `runtime` integer;--> statement-breakpoint
ALTER TABLE `tmdb_episodes` ADD `runtime` integer;--> statement-breakpoint

-- Keyset pagination of /trakt/history/ on (watched_at, history_id), newest first, per filter.
-- The type and movie indexes of 0006 get history_id appended (their prefixes still serve the sync).
DROP INDEX IF EXISTS `plays_user_type_watched_idx`;--> statement-breakpoint
DROP INDEX IF EXISTS `plays_user_show_idx`;--> statement-breakpoint
DROP INDEX IF EXISTS `plays_user_movie_idx`;--> statement-breakpoint
CREATE INDEX `plays_user_watched_idx` ON `plays` (`user_id`,`watched_at`,`history_id`);--> statement-breakpoint
CREATE INDEX `plays_user_type_watched_idx` ON `plays` (`user_id`,`media_type`,`watched_at`,`history_id`);--> statement-breakpoint
CREATE INDEX `plays_user_show_idx` ON `plays` (`user_id`,`show_trakt_id`,`watched_at`,`history_id`);--> statement-breakpoint
CREATE INDEX `plays_user_movie_idx` ON `plays` (`user_id`,`movie_trakt_id`,`watched_at`,`history_id`);--> statement-breakpoint

-- Sorting of get-stored-movies / get-stored-shows (sort=title|plays|year), newest-id tiebreak.
CREATE INDEX `movies_user_title_idx` ON `movies` (`user_id`,`title` COLLATE NOCASE,`id`);--> statement-breakpoint
CREATE INDEX `movies_user_plays_idx` ON `movies` (`user_id`,`plays`,`id`);--> statement-breakpoint
CREATE INDEX `movies_user_year_idx` ON `movies` (`user_id`,`year`,`id`);--> statement-breakpoint
CREATE INDEX `shows_user_title_idx` ON `shows` (`user_id`,`title` COLLATE NOCASE,`id`);--> statement-breakpoint
CREATE INDEX `shows_user_plays_idx` ON `shows` (`user_id`,`plays`,`id`);--> statement-breakpoint
CREATE INDEX `shows_user_year_idx` ON `shows` (`user_id`,`year`,`id`);--> statement-breakpoint

-- Per-user data version: every write of a user's history bumps it; ETags are derived from it.
CREATE TABLE `user_data_versions` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`version` integer NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint

-- Stats rollups, rebuilt from `plays` (+ TMDB runtimes and genres) whenever a sync changes plays
-- or enrichment adds metadata. A few hundred rows per user, whatever the size of the history.
CREATE TABLE `play_stats` (
	`user_id` integer NOT NULL,
	`dimension` text NOT NULL,
	`bucket` text NOT NULL,
	`plays` integer NOT NULL,
	`minutes` integer NOT NULL,
	`minutes_unknown_plays` integer NOT NULL,
	`watched` integer,
	`first_play_at` text,
	`last_play_at` text,
	PRIMARY KEY(`user_id`, `dimension`, `bucket`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint

-- Cached titles and seasons predate the genres/runtime columns: mark them stale so enrichment
-- fetches them again (within its per-run budget) and the stats get their minutes.
UPDATE `tmdb_titles` SET `fetched_at` = '1970-01-01T00:00:00.000Z' WHERE `status` = 'found';--> statement-breakpoint
UPDATE `tmdb_seasons` SET `fetched_at` = '1970-01-01T00:00:00.000Z' WHERE `status` = 'found';
