-- The weekday x hour grid in a user's own time zone (issue 14; src/history/stats-zone.ts). A user
-- picks a stats zone (`stats_time_zones`); the zone's UTC-offset intervals are stored as immutable
-- rules (`time_zone_offsets`), and the grid (`play_stats` rows of dimension `local_weekday_hour`) is
-- counted once from every play, then kept exact by the triggers below in the same transaction as
-- every insert and delete of a play: one seek of `time_zone_offsets` finds the offset at `watched_at`.
-- No user has a stats zone yet, so there is nothing to count here.
CREATE TABLE `stats_time_zones` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`time_zone` text NOT NULL,
	`rules` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `time_zone_offsets` (
	`rules` text NOT NULL,
	`start_at` text NOT NULL,
	`end_at` text NOT NULL,
	`offset_minutes` integer NOT NULL,
	PRIMARY KEY(`rules`, `start_at`)
);

--> statement-breakpoint
CREATE TRIGGER `plays_local_stats_insert` AFTER INSERT ON `plays`
	WHEN EXISTS (SELECT 1 FROM `stats_time_zones` WHERE `user_id` = NEW.`user_id`) BEGIN
	INSERT INTO `play_stats` (`user_id`, `dimension`, `bucket`, `plays`, `minutes`, `minutes_unknown_plays`)
		SELECT NEW.`user_id`, 'local_weekday_hour', ((CAST(strftime('%w', l.`at`) AS INTEGER) + 6) % 7) || '-' || CAST(strftime('%H', l.`at`) AS INTEGER), 1, 0, 0
		FROM (SELECT datetime(NEW.`watched_at`, coalesce((SELECT o.`offset_minutes` FROM `stats_time_zones` z
			JOIN `time_zone_offsets` o ON o.`rules` = z.`rules` AND o.`start_at` <= NEW.`watched_at`
			WHERE z.`user_id` = NEW.`user_id` ORDER BY o.`start_at` DESC LIMIT 1), 0) || ' minutes') AS `at`) AS l
		WHERE true
		ON CONFLICT (`user_id`, `dimension`, `bucket`) DO UPDATE SET `plays` = `plays` + 1;
END;
--> statement-breakpoint
-- Like the UTC rollups' delete trigger, a single probe when the user's rollups were deleted first.
CREATE TRIGGER `plays_local_stats_delete` AFTER DELETE ON `plays`
	WHEN EXISTS (SELECT 1 FROM `stats_time_zones` WHERE `user_id` = OLD.`user_id`)
		AND EXISTS (SELECT 1 FROM `play_stats` WHERE `user_id` = OLD.`user_id` AND `dimension` = 'total'
			AND `bucket` = OLD.`media_type`) BEGIN
	UPDATE `play_stats` SET `plays` = `plays` - 1
		WHERE `user_id` = OLD.`user_id` AND `dimension` = 'local_weekday_hour'
		AND `bucket` = (SELECT ((CAST(strftime('%w', l.`at`) AS INTEGER) + 6) % 7) || '-' || CAST(strftime('%H', l.`at`) AS INTEGER) FROM (SELECT datetime(OLD.`watched_at`, coalesce((SELECT o.`offset_minutes` FROM `stats_time_zones` z
			JOIN `time_zone_offsets` o ON o.`rules` = z.`rules` AND o.`start_at` <= OLD.`watched_at`
			WHERE z.`user_id` = OLD.`user_id` ORDER BY o.`start_at` DESC LIMIT 1), 0) || ' minutes') AS `at`) AS l);
END;
