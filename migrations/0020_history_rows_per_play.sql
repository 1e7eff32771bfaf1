-- Issue 25 (D1 cost per play): the watch history stored in fewer rows written per play.
--
-- 1. `plays` is WITHOUT ROWID on its natural key (user_id, history_id), with three indexes instead of six:
--    (user_id, media_type, watched_at, history_id) for every time-ordered read (all plays are read as the
--    merge of the two media types), and two partial indexes, per movie and per show, each holding only
--    the plays of its kind. A movie play writes 3 rows (was 8), an episode play 3 (was 8).
-- 2. The stats rollups (`play_stats`) are no longer kept by row triggers on `plays`: the writers add a
--    batch's plays with one INSERT … ON CONFLICT per batch (src/readmodel/stats.ts), a few rows per batch
--    instead of a dozen per play. What TMDB data contributes (minutes, genres) is recorded per title, not
--    per play: `movies.stats_runtime` / `stats_genres`, `shows.stats_genres`, `seasons.stats_runtimes`
--    (NULL: not counted yet, minutes unknown). Enrichment moves a title's plays from "unknown" to its
--    runtime by a per-title delta. The rollups are counted again here, from the plays and those columns.
--    `watched` (distinct titles) is read from the totals the sync keeps in `sync_state`.
-- 3. `movies` is WITHOUT ROWID on (user_id, trakt_id) (its row id was never shown), `episodes` on
--    (season_id, episode_number): the id an episode is shown with is derived from that key. `episodes`
--    loses `show_id` and its index (it is reached through its season).
-- 4. `movies` keeps the indexes of its default order and of sort=title (and the paused partial one); sort=plays
--    and sort=year sort the user's movies instead of walking an index each (two rows written fewer per movie,
--    the largest per-title cost of a first sync: STORAGE.md, "What each index serves").
-- 5. `plays` and `episodes` carry no foreign key: checking one is a row read per inserted row (D1 counts it,
--    the cost of a play would grow by a third). Their rows were already deleted explicitly with the user's
--    history (src/sync/store.ts `deleteUserHistory`, account deletion) and, for episodes, with their show.
-- Safe on a database with data: rows are copied into the new tables before the old ones are dropped.
DROP TRIGGER IF EXISTS `plays_stats_insert`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `plays_stats_delete`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `plays_stats_recount`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `plays_local_stats_insert`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `plays_local_stats_delete`;
--> statement-breakpoint
CREATE TABLE `plays_new` (
	`user_id` integer NOT NULL,
	`history_id` integer NOT NULL,
	`media_type` text NOT NULL,
	`watched_at` text NOT NULL,
	`action` text NOT NULL,
	`movie_trakt_id` integer,
	`show_trakt_id` integer,
	`season_number` integer,
	`episode_number` integer,
	`episode_trakt_id` integer,
	PRIMARY KEY(`user_id`, `history_id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `plays_new` (`user_id`, `history_id`, `media_type`, `watched_at`, `action`, `movie_trakt_id`,
	`show_trakt_id`, `season_number`, `episode_number`, `episode_trakt_id`)
	SELECT `user_id`, `history_id`, `media_type`, `watched_at`, `action`, `movie_trakt_id`, `show_trakt_id`,
		`season_number`, `episode_number`, `episode_trakt_id` FROM `plays`;
--> statement-breakpoint
DROP TABLE `plays`;
--> statement-breakpoint
ALTER TABLE `plays_new` RENAME TO `plays`;
--> statement-breakpoint
CREATE INDEX `plays_user_type_watched_idx` ON `plays` (`user_id`, `media_type`, `watched_at`, `history_id`);
--> statement-breakpoint
CREATE INDEX `plays_user_movie_idx` ON `plays` (`user_id`, `movie_trakt_id`, `watched_at`, `history_id`)
	WHERE `movie_trakt_id` IS NOT NULL;
--> statement-breakpoint
CREATE INDEX `plays_user_show_idx` ON `plays` (`user_id`, `show_trakt_id`, `watched_at`, `history_id`)
	WHERE `show_trakt_id` IS NOT NULL;
--> statement-breakpoint
CREATE TABLE `movies_new` (
	`user_id` integer NOT NULL,
	`trakt_id` integer NOT NULL,
	`title` text NOT NULL,
	`year` integer,
	`slug` text,
	`imdb_id` text,
	`tmdb_id` integer,
	`tmdb_ref` integer,
	`plays` integer NOT NULL,
	`last_watched_at` text NOT NULL,
	`last_updated_at` text,
	`progress` real,
	`paused_at` text,
	`stats_runtime` integer,
	`stats_genres` text,
	PRIMARY KEY(`user_id`, `trakt_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
) WITHOUT ROWID;
--> statement-breakpoint
-- What each movie's plays count as from now on: the TMDB data cached now (a cache row: counted).
INSERT INTO `movies_new` (`user_id`, `trakt_id`, `title`, `year`, `slug`, `imdb_id`, `tmdb_id`, `tmdb_ref`, `plays`,
	`last_watched_at`, `last_updated_at`, `progress`, `paused_at`, `stats_runtime`, `stats_genres`)
	SELECT m.`user_id`, m.`trakt_id`, m.`title`, m.`year`, m.`slug`, m.`imdb_id`, m.`tmdb_id`, m.`tmdb_ref`, m.`plays`,
		m.`last_watched_at`, m.`last_updated_at`, m.`progress`, m.`paused_at`,
		CASE WHEN t.`tmdb_id` IS NOT NULL THEN coalesce(t.`runtime`, 0) END,
		CASE WHEN t.`tmdb_id` IS NOT NULL THEN coalesce(CASE WHEN t.`status` = 'found' THEN t.`genres` END, '[]') END
	FROM `movies` m LEFT JOIN `tmdb_titles` t ON t.`kind` = 'movie' AND t.`tmdb_id` = m.`tmdb_ref`;
--> statement-breakpoint
DROP TABLE `movies`;
--> statement-breakpoint
ALTER TABLE `movies_new` RENAME TO `movies`;
--> statement-breakpoint
CREATE INDEX `movies_user_recent_idx` ON `movies` (`user_id`, `last_watched_at`, `trakt_id`);
--> statement-breakpoint
CREATE INDEX `movies_user_title_idx` ON `movies` (`user_id`, `title` COLLATE NOCASE, `trakt_id`);
--> statement-breakpoint
CREATE INDEX `movies_user_paused_idx` ON `movies` (`user_id`) WHERE `paused_at` IS NOT NULL;
--> statement-breakpoint
ALTER TABLE `shows` ADD `stats_genres` text;
--> statement-breakpoint
UPDATE `shows` SET `stats_genres` = (SELECT coalesce(CASE WHEN t.`status` = 'found' THEN t.`genres` END, '[]')
	FROM `tmdb_titles` t WHERE t.`kind` = 'tv' AND t.`tmdb_id` = `shows`.`tmdb_ref`);
--> statement-breakpoint
ALTER TABLE `seasons` ADD `stats_runtimes` text;
--> statement-breakpoint
-- A season's counted runtimes: those of its cached TMDB season ({"<episode number>": minutes, 0: TMDB knows none}).
UPDATE `seasons` SET `stats_runtimes` = (SELECT coalesce(ts.`runtimes`, '{}')
	FROM `shows` s JOIN `tmdb_seasons` ts ON ts.`tmdb_show_id` = s.`tmdb_ref` AND ts.`season_number` = `seasons`.`season_number`
	WHERE s.`id` = `seasons`.`show_id`);
--> statement-breakpoint
CREATE TABLE `episodes_new` (
	`season_id` integer NOT NULL,
	`episode_number` integer NOT NULL,
	`trakt_id` integer,
	`title` text,
	`plays` integer NOT NULL,
	`last_watched_at` text,
	`progress` real NOT NULL,
	`paused_at` text,
	PRIMARY KEY(`season_id`, `episode_number`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `episodes_new` (`season_id`, `episode_number`, `trakt_id`, `title`, `plays`, `last_watched_at`, `progress`,
	`paused_at`)
	SELECT `season_id`, `episode_number`, `trakt_id`, `title`, `plays`, `last_watched_at`, `progress`, `paused_at`
	FROM `episodes`;
--> statement-breakpoint
DROP TABLE `episodes`;
--> statement-breakpoint
ALTER TABLE `episodes_new` RENAME TO `episodes`;
--> statement-breakpoint
CREATE INDEX `episodes_season_paused_idx` ON `episodes` (`season_id`) WHERE `paused_at` IS NOT NULL;
--> statement-breakpoint
CREATE TABLE `play_stats_new` (
	`user_id` integer NOT NULL,
	`dimension` text NOT NULL,
	`bucket` text NOT NULL,
	`plays` integer NOT NULL,
	`minutes` integer NOT NULL,
	`minutes_unknown_plays` integer NOT NULL,
	PRIMARY KEY(`user_id`, `dimension`, `bucket`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
) WITHOUT ROWID;
--> statement-breakpoint
-- Plays-only rollups were exact (kept by the triggers until now): copied as they are.
INSERT INTO `play_stats_new` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`)
	SELECT `user_id`, `dimension`, `bucket`, `plays`, 0, 0 FROM `play_stats`
	WHERE `dimension` IN ('weekday_hour', 'day', 'local_weekday_hour') AND `plays` > 0;
--> statement-breakpoint
-- Totals and months with minutes, and genres, counted again from every play and what its title counts.
INSERT INTO `play_stats_new` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`)
	SELECT `user_id`, 'total', `media_type`, count(*), sum(coalesce(`rt`, 0)), sum(coalesce(`rt`, 0) = 0)
	FROM (SELECT p.`user_id`, p.`media_type`, CASE p.`media_type` WHEN 'movie' THEN m.`stats_runtime`
			ELSE json_extract(se.`stats_runtimes`, '$."' || p.`episode_number` || '"') END AS `rt`
		FROM `plays` p
		LEFT JOIN `movies` m ON p.`media_type` = 'movie' AND m.`user_id` = p.`user_id` AND m.`trakt_id` = p.`movie_trakt_id`
		LEFT JOIN `shows` s ON p.`media_type` = 'episode' AND s.`user_id` = p.`user_id` AND s.`trakt_id` = p.`show_trakt_id`
		LEFT JOIN `seasons` se ON se.`show_id` = s.`id` AND se.`season_number` = p.`season_number`)
	GROUP BY `user_id`, `media_type`;
--> statement-breakpoint
INSERT INTO `play_stats_new` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`)
	SELECT `user_id`, 'month', `month`, count(*), sum(coalesce(`rt`, 0)), sum(coalesce(`rt`, 0) = 0)
	FROM (SELECT p.`user_id`, substr(p.`watched_at`, 1, 7) AS `month`, CASE p.`media_type` WHEN 'movie' THEN m.`stats_runtime`
			ELSE json_extract(se.`stats_runtimes`, '$."' || p.`episode_number` || '"') END AS `rt`
		FROM `plays` p
		LEFT JOIN `movies` m ON p.`media_type` = 'movie' AND m.`user_id` = p.`user_id` AND m.`trakt_id` = p.`movie_trakt_id`
		LEFT JOIN `shows` s ON p.`media_type` = 'episode' AND s.`user_id` = p.`user_id` AND s.`trakt_id` = p.`show_trakt_id`
		LEFT JOIN `seasons` se ON se.`show_id` = s.`id` AND se.`season_number` = p.`season_number`)
	GROUP BY `user_id`, `month`;
--> statement-breakpoint
INSERT INTO `play_stats_new` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`)
	SELECT t.`user_id`, 'genre', g.`value`, sum(t.`plays`), 0, 0
	FROM (SELECT `user_id`, `plays`, `stats_genres` FROM `movies` UNION ALL SELECT `user_id`, `plays`, `stats_genres` FROM `shows`) t,
		json_each(coalesce(t.`stats_genres`, '[]')) g
	GROUP BY t.`user_id`, g.`value`;
--> statement-breakpoint
DROP TABLE `play_stats`;
--> statement-breakpoint
ALTER TABLE `play_stats_new` RENAME TO `play_stats`;
