-- Stats rollups maintained by the writes themselves (issue 14): triggers on `plays` keep `play_stats`
-- exact in the same transaction as every insert and delete, so a sync costs what it changed and a
-- stats read only reads the rollups. Each play records what it contributed: `counted_runtime`
-- (minutes; 0 = TMDB knows no runtime; NULL = TMDB data not fetched yet, counted as unknown) and
-- `counted_genres` (JSON names). When TMDB data arrives, the sync and enrichment set them again
-- (src/history/stats.ts, recountPlays) and the update trigger moves the minutes and genres.
-- Deleting a user's rollups before their plays (account deletion, DELETE /trakt/history/) makes the
-- delete trigger a single probe per play.
ALTER TABLE `plays` ADD `counted_runtime` integer;
--> statement-breakpoint
ALTER TABLE `plays` ADD `counted_genres` text;
--> statement-breakpoint
-- Plays whose TMDB data had not arrived when they were counted: what enrichment runs look at again.
CREATE INDEX `plays_uncounted_idx` ON `plays` (`user_id`) WHERE `counted_runtime` IS NULL;
--> statement-breakpoint
-- What every stored play contributes now (before the triggers exist, so nothing is counted twice).
UPDATE `plays` SET `counted_runtime` = CASE `media_type` WHEN 'movie' THEN (SELECT coalesce(t.`runtime`, 0) FROM `movies` m
		JOIN `tmdb_titles` t ON t.`kind` = 'movie' AND t.`tmdb_id` = m.`tmdb_ref`
		WHERE m.`user_id` = `plays`.`user_id` AND m.`trakt_id` = `plays`.`movie_trakt_id`)
	ELSE (SELECT coalesce(e.`runtime`, 0) FROM `shows` s
		JOIN `tmdb_seasons` ts ON ts.`tmdb_show_id` = s.`tmdb_ref` AND ts.`season_number` = `plays`.`season_number`
		LEFT JOIN `tmdb_episodes` e ON e.`tmdb_show_id` = s.`tmdb_ref` AND e.`season_number` = `plays`.`season_number`
			AND e.`episode_number` = `plays`.`episode_number`
		WHERE s.`user_id` = `plays`.`user_id` AND s.`trakt_id` = `plays`.`show_trakt_id`) END,
	`counted_genres` = CASE `media_type` WHEN 'movie' THEN (SELECT t.`genres` FROM `movies` m
		JOIN `tmdb_titles` t ON t.`kind` = 'movie' AND t.`tmdb_id` = m.`tmdb_ref` AND t.`status` = 'found'
		WHERE m.`user_id` = `plays`.`user_id` AND m.`trakt_id` = `plays`.`movie_trakt_id`)
	ELSE (SELECT t.`genres` FROM `shows` s
		JOIN `tmdb_titles` t ON t.`kind` = 'tv' AND t.`tmdb_id` = s.`tmdb_ref` AND t.`status` = 'found'
		WHERE s.`user_id` = `plays`.`user_id` AND s.`trakt_id` = `plays`.`show_trakt_id`) END;
--> statement-breakpoint
-- The rollups from scratch, from those contributions (the old ones were rebuilt lazily and may be stale).
DELETE FROM `play_stats`;
--> statement-breakpoint
INSERT INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`, `watched`)
	SELECT `user_id`, 'total', `media_type`, count(*), sum(coalesce(`counted_runtime`, 0)), sum(coalesce(`counted_runtime`, 0) = 0),
		CASE `media_type` WHEN 'movie' THEN count(DISTINCT `movie_trakt_id`)
			ELSE count(DISTINCT `show_trakt_id` || ':' || `season_number` || ':' || `episode_number`) END
	FROM `plays` GROUP BY `user_id`, `media_type`;
--> statement-breakpoint
INSERT INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`, `watched`)
	SELECT `user_id`, 'total', 'show', count(*), sum(coalesce(`counted_runtime`, 0)), sum(coalesce(`counted_runtime`, 0) = 0), count(DISTINCT `show_trakt_id`)
	FROM `plays` WHERE `media_type` = 'episode' GROUP BY `user_id`;
--> statement-breakpoint
INSERT INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`, `watched`)
	SELECT `user_id`, 'month', substr(`watched_at`, 1, 7), count(*), sum(coalesce(`counted_runtime`, 0)), sum(coalesce(`counted_runtime`, 0) = 0), NULL
	FROM `plays` GROUP BY 1, 3;
--> statement-breakpoint
INSERT INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`, `watched`)
	SELECT `user_id`, 'weekday_hour', ((CAST(strftime('%w', `plays`.`watched_at`) AS INTEGER) + 6) % 7) || '-' || CAST(strftime('%H', `plays`.`watched_at`) AS INTEGER), count(*), sum(coalesce(`counted_runtime`, 0)), sum(coalesce(`counted_runtime`, 0) = 0), NULL
	FROM `plays` GROUP BY 1, 3;
--> statement-breakpoint
INSERT INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`, `watched`)
	SELECT `user_id`, 'day', substr(`watched_at`, 1, 10), count(*), 0, 0, NULL FROM `plays` GROUP BY 1, 3;
--> statement-breakpoint
INSERT INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`, `watched`)
	SELECT p.`user_id`, 'genre', g.`value`, count(*), sum(coalesce(p.`counted_runtime`, 0)),
		sum(coalesce(p.`counted_runtime`, 0) = 0), NULL
	FROM `plays` p, json_each(p.`counted_genres`) g WHERE p.`counted_genres` IS NOT NULL GROUP BY 1, 3;
--> statement-breakpoint
CREATE TRIGGER `plays_stats_insert` AFTER INSERT ON `plays` BEGIN
	INSERT OR IGNORE INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`, `watched`)
		VALUES (NEW.`user_id`, 'total', NEW.`media_type`, 0, 0, 0, 0), (NEW.`user_id`, 'month', substr(NEW.`watched_at`, 1, 7), 0, 0, 0, NULL),
		(NEW.`user_id`, 'weekday_hour', ((CAST(strftime('%w', NEW.`watched_at`) AS INTEGER) + 6) % 7) || '-' || CAST(strftime('%H', NEW.`watched_at`) AS INTEGER), 0, 0, 0, NULL), (NEW.`user_id`, 'day', substr(NEW.`watched_at`, 1, 10), 0, 0, 0, NULL);
	INSERT OR IGNORE INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`, `watched`)
		SELECT NEW.`user_id`, 'total', 'show', 0, 0, 0, 0 WHERE NEW.`media_type` = 'episode';
	INSERT OR IGNORE INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`)
		SELECT NEW.`user_id`, 'genre', `value`, 0, 0, 0 FROM json_each(coalesce(NEW.`counted_genres`, '[]'));
	UPDATE `play_stats` SET `plays` = `plays` + 1, `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0), `minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'total' AND `bucket` = NEW.`media_type`;
	UPDATE `play_stats` SET `plays` = `plays` + 1, `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0), `minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'total' AND `bucket` = 'show' AND NEW.`media_type` = 'episode';
	UPDATE `play_stats` SET `plays` = `plays` + 1, `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0), `minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'month' AND `bucket` = substr(NEW.`watched_at`, 1, 7);
	UPDATE `play_stats` SET `plays` = `plays` + 1, `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0), `minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'weekday_hour' AND `bucket` = ((CAST(strftime('%w', NEW.`watched_at`) AS INTEGER) + 6) % 7) || '-' || CAST(strftime('%H', NEW.`watched_at`) AS INTEGER);
	UPDATE `play_stats` SET `plays` = `plays` + 1
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'day' AND `bucket` = substr(NEW.`watched_at`, 1, 10);
	UPDATE `play_stats` SET `plays` = `plays` + 1, `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0),
		`minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'genre'
		AND `bucket` IN (SELECT `value` FROM json_each(coalesce(NEW.`counted_genres`, '[]')));
	UPDATE `play_stats` SET `watched` = `watched` + 1
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'total' AND `bucket` = 'movie' AND NEW.`media_type` = 'movie'
		AND NOT EXISTS (SELECT 1 FROM `plays` p WHERE p.`user_id` = NEW.`user_id` AND p.`movie_trakt_id` = NEW.`movie_trakt_id` AND p.`history_id` <> NEW.`history_id`);
	UPDATE `play_stats` SET `watched` = `watched` + 1
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'total' AND `bucket` = 'episode' AND NEW.`media_type` = 'episode'
		AND NOT EXISTS (SELECT 1 FROM `plays` p WHERE p.`user_id` = NEW.`user_id` AND p.`show_trakt_id` = NEW.`show_trakt_id`
			AND p.`season_number` = NEW.`season_number` AND p.`episode_number` = NEW.`episode_number` AND p.`history_id` <> NEW.`history_id`);
	UPDATE `play_stats` SET `watched` = `watched` + 1
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'total' AND `bucket` = 'show' AND NEW.`media_type` = 'episode'
		AND NOT EXISTS (SELECT 1 FROM `plays` p WHERE p.`user_id` = NEW.`user_id` AND p.`show_trakt_id` = NEW.`show_trakt_id` AND p.`history_id` <> NEW.`history_id`);
END;
--> statement-breakpoint
CREATE TRIGGER `plays_stats_delete` AFTER DELETE ON `plays`
	WHEN EXISTS (SELECT 1 FROM `play_stats` WHERE `user_id` = OLD.`user_id` AND `dimension` = 'total'
		AND `bucket` = OLD.`media_type`) BEGIN
	UPDATE `play_stats` SET `plays` = `plays` - 1, `minutes` = `minutes` - coalesce(OLD.`counted_runtime`, 0), `minutes_unknown_plays` = `minutes_unknown_plays` - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'total' AND `bucket` = OLD.`media_type`;
	UPDATE `play_stats` SET `plays` = `plays` - 1, `minutes` = `minutes` - coalesce(OLD.`counted_runtime`, 0), `minutes_unknown_plays` = `minutes_unknown_plays` - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'total' AND `bucket` = 'show' AND OLD.`media_type` = 'episode';
	UPDATE `play_stats` SET `plays` = `plays` - 1, `minutes` = `minutes` - coalesce(OLD.`counted_runtime`, 0), `minutes_unknown_plays` = `minutes_unknown_plays` - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'month' AND `bucket` = substr(OLD.`watched_at`, 1, 7);
	UPDATE `play_stats` SET `plays` = `plays` - 1, `minutes` = `minutes` - coalesce(OLD.`counted_runtime`, 0), `minutes_unknown_plays` = `minutes_unknown_plays` - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'weekday_hour' AND `bucket` = ((CAST(strftime('%w', OLD.`watched_at`) AS INTEGER) + 6) % 7) || '-' || CAST(strftime('%H', OLD.`watched_at`) AS INTEGER);
	UPDATE `play_stats` SET `plays` = `plays` - 1
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'day' AND `bucket` = substr(OLD.`watched_at`, 1, 10);
	UPDATE `play_stats` SET `plays` = `plays` - 1, `minutes` = `minutes` - coalesce(OLD.`counted_runtime`, 0),
		`minutes_unknown_plays` = `minutes_unknown_plays` - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'genre'
		AND `bucket` IN (SELECT `value` FROM json_each(coalesce(OLD.`counted_genres`, '[]')));
	UPDATE `play_stats` SET `watched` = `watched` - 1
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'total' AND `bucket` = 'movie' AND OLD.`media_type` = 'movie'
		AND NOT EXISTS (SELECT 1 FROM `plays` p WHERE p.`user_id` = OLD.`user_id` AND p.`movie_trakt_id` = OLD.`movie_trakt_id`);
	UPDATE `play_stats` SET `watched` = `watched` - 1
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'total' AND `bucket` = 'episode' AND OLD.`media_type` = 'episode'
		AND NOT EXISTS (SELECT 1 FROM `plays` p WHERE p.`user_id` = OLD.`user_id` AND p.`show_trakt_id` = OLD.`show_trakt_id`
			AND p.`season_number` = OLD.`season_number` AND p.`episode_number` = OLD.`episode_number`);
	UPDATE `play_stats` SET `watched` = `watched` - 1
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'total' AND `bucket` = 'show' AND OLD.`media_type` = 'episode'
		AND NOT EXISTS (SELECT 1 FROM `plays` p WHERE p.`user_id` = OLD.`user_id` AND p.`show_trakt_id` = OLD.`show_trakt_id`);
END;
--> statement-breakpoint
CREATE TRIGGER `plays_stats_recount` AFTER UPDATE OF `counted_runtime`, `counted_genres` ON `plays`
	WHEN OLD.`counted_runtime` IS NOT NEW.`counted_runtime` OR OLD.`counted_genres` IS NOT NEW.`counted_genres` BEGIN
	UPDATE `play_stats` SET `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0) - coalesce(OLD.`counted_runtime`, 0),
		`minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0) - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'total' AND `bucket` = NEW.`media_type`;
	UPDATE `play_stats` SET `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0) - coalesce(OLD.`counted_runtime`, 0),
		`minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0) - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'total' AND `bucket` = 'show' AND NEW.`media_type` = 'episode';
	UPDATE `play_stats` SET `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0) - coalesce(OLD.`counted_runtime`, 0),
		`minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0) - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'month' AND `bucket` = substr(NEW.`watched_at`, 1, 7);
	UPDATE `play_stats` SET `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0) - coalesce(OLD.`counted_runtime`, 0),
		`minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0) - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'weekday_hour' AND `bucket` = ((CAST(strftime('%w', NEW.`watched_at`) AS INTEGER) + 6) % 7) || '-' || CAST(strftime('%H', NEW.`watched_at`) AS INTEGER);
	UPDATE `play_stats` SET `plays` = `plays` - 1, `minutes` = `minutes` - coalesce(OLD.`counted_runtime`, 0),
		`minutes_unknown_plays` = `minutes_unknown_plays` - (coalesce(OLD.`counted_runtime`, 0) = 0)
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'genre'
		AND `bucket` IN (SELECT `value` FROM json_each(coalesce(OLD.`counted_genres`, '[]')));
	INSERT OR IGNORE INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`)
		SELECT NEW.`user_id`, 'genre', `value`, 0, 0, 0 FROM json_each(coalesce(NEW.`counted_genres`, '[]'));
	UPDATE `play_stats` SET `plays` = `plays` + 1, `minutes` = `minutes` + coalesce(NEW.`counted_runtime`, 0),
		`minutes_unknown_plays` = `minutes_unknown_plays` + (coalesce(NEW.`counted_runtime`, 0) = 0)
		WHERE `user_id` = NEW.`user_id` AND `dimension` = 'genre'
		AND `bucket` IN (SELECT `value` FROM json_each(coalesce(NEW.`counted_genres`, '[]')));
END;
