-- Issue 25 (D1 cost per play): the shared TMDB cache, one row per TMDB answer.
-- 1. Every cache table becomes WITHOUT ROWID on its natural key: an insert writes one row instead of a
--    row plus a primary-key index entry (D1 counts both in rows_written).
-- 2. A season's episodes (name, overview, still, rating, runtime, air date) are kept in the season's row as one
--    JSON object keyed by episode number, as TMDB's /tv/{id}/season/{n} answers them: one row written
--    per season instead of one per episode (and one row read per season by the readers). `runtimes` keeps
--    the episodes' runtimes alone (`{"<episode>": minutes}`): what the season's plays count in the stats
--    (compared with `seasons.stats_runtimes` of each user, migration 0020).
-- Every column 0017 added is kept: `tmdb_titles.show_status` / `next_episode`, and each episode's `air_date`
-- (in the season's JSON), which the calendar of upcoming episodes reads.
-- Safe on a database with data: every row is copied before the old tables are dropped.
CREATE TABLE `tmdb_titles_new` (
	`kind` text NOT NULL,
	`tmdb_id` integer NOT NULL,
	`status` text NOT NULL,
	`title` text,
	`poster_path` text,
	`backdrop_path` text,
	`overview` text,
	`vote_average` real,
	`fetched_at` text NOT NULL,
	`genres` text,
	`runtime` integer,
	`show_status` text,
	`next_episode` text,
	PRIMARY KEY(`kind`, `tmdb_id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `tmdb_titles_new` (`kind`, `tmdb_id`, `status`, `title`, `poster_path`, `backdrop_path`, `overview`,
	`vote_average`, `fetched_at`, `genres`, `runtime`, `show_status`, `next_episode`)
	SELECT `kind`, `tmdb_id`, `status`, `title`, `poster_path`, `backdrop_path`, `overview`, `vote_average`,
		`fetched_at`, `genres`, `runtime`, `show_status`, `next_episode` FROM `tmdb_titles`;
--> statement-breakpoint
DROP TABLE `tmdb_titles`;
--> statement-breakpoint
ALTER TABLE `tmdb_titles_new` RENAME TO `tmdb_titles`;
--> statement-breakpoint
CREATE TABLE `tmdb_seasons_new` (
	`tmdb_show_id` integer NOT NULL,
	`season_number` integer NOT NULL,
	`status` text NOT NULL,
	`fetched_at` text NOT NULL,
	`episodes` text,
	`runtimes` text,
	PRIMARY KEY(`tmdb_show_id`, `season_number`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `tmdb_seasons_new` (`tmdb_show_id`, `season_number`, `status`, `fetched_at`, `episodes`, `runtimes`)
	SELECT s.`tmdb_show_id`, s.`season_number`, s.`status`, s.`fetched_at`,
		(SELECT json_group_object(e.`episode_number`, json_object('name', e.`name`, 'overview', e.`overview`,
			'still_path', e.`still_path`, 'vote_average', e.`vote_average`, 'runtime', e.`runtime`, 'air_date', e.`air_date`))
			FROM (SELECT * FROM `tmdb_episodes` ORDER BY `episode_number`) e
			WHERE e.`tmdb_show_id` = s.`tmdb_show_id` AND e.`season_number` = s.`season_number`),
		coalesce((SELECT json_group_object(e.`episode_number`, coalesce(e.`runtime`, 0))
			FROM (SELECT * FROM `tmdb_episodes` ORDER BY `episode_number`) e
			WHERE e.`tmdb_show_id` = s.`tmdb_show_id` AND e.`season_number` = s.`season_number`), '{}')
	FROM `tmdb_seasons` s;
--> statement-breakpoint
DROP TABLE `tmdb_seasons`;
--> statement-breakpoint
ALTER TABLE `tmdb_seasons_new` RENAME TO `tmdb_seasons`;
--> statement-breakpoint
DROP TABLE `tmdb_episodes`;
--> statement-breakpoint
CREATE TABLE `tmdb_external_ids_new` (
	`source` text NOT NULL,
	`external_id` text NOT NULL,
	`kind` text NOT NULL,
	`tmdb_id` integer,
	`fetched_at` text NOT NULL,
	PRIMARY KEY(`source`, `external_id`, `kind`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `tmdb_external_ids_new` (`source`, `external_id`, `kind`, `tmdb_id`, `fetched_at`)
	SELECT `source`, `external_id`, `kind`, `tmdb_id`, `fetched_at` FROM `tmdb_external_ids`;
--> statement-breakpoint
DROP TABLE `tmdb_external_ids`;
--> statement-breakpoint
ALTER TABLE `tmdb_external_ids_new` RENAME TO `tmdb_external_ids`;
