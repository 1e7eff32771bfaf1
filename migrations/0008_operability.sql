-- Operability (issue 18): the records and counters behind GET /admin/status, each read through an index.
CREATE TABLE `cron_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`started_at` text NOT NULL,
	`finished_at` text NOT NULL,
	`duration_ms` integer NOT NULL,
	`outcome` text NOT NULL,
	`refreshed` integer DEFAULT 0 NOT NULL,
	`refresh_failures` integer DEFAULT 0 NOT NULL,
	`claimed` integer DEFAULT 0 NOT NULL,
	`enqueued` integer DEFAULT 0 NOT NULL,
	`states_deleted` integer DEFAULT 0 NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE TABLE `sync_dead_letters` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`attempts` integer NOT NULL,
	`dead_at` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `sync_dead_letters_dead_at_idx` ON `sync_dead_letters` (`dead_at`);
--> statement-breakpoint
CREATE INDEX `sync_dead_letters_user_idx` ON `sync_dead_letters` (`user_id`);
--> statement-breakpoint
CREATE TABLE `ops_counters` (
	`name` text PRIMARY KEY NOT NULL,
	`value` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sync_state_lease_idx` ON `sync_state` (`lease_until`) WHERE "sync_state"."lease_until" IS NOT NULL;
--> statement-breakpoint
CREATE INDEX `sync_state_tmdb_backlog_idx` ON `sync_state` (`user_id`) WHERE json_extract("sync_state"."last_result", '$.enrichment.skipped') = 'budget_exhausted';
--> statement-breakpoint
-- Counters kept by triggers, so the operator view never counts a large table. Seeded from the data present now.
INSERT INTO `ops_counters` (`name`, `value`) SELECT 'users', count(*) FROM `users`;
--> statement-breakpoint
INSERT INTO `ops_counters` (`name`, `value`) SELECT 'connections:' || `status`, count(*) FROM `trakt_connections` GROUP BY `status`;
--> statement-breakpoint
CREATE TRIGGER `ops_users_insert` AFTER INSERT ON `users` BEGIN
	INSERT OR IGNORE INTO `ops_counters` (`name`, `value`) VALUES ('users', 0);
	UPDATE `ops_counters` SET `value` = `value` + 1 WHERE `name` = 'users';
END;
--> statement-breakpoint
CREATE TRIGGER `ops_users_delete` AFTER DELETE ON `users` BEGIN
	UPDATE `ops_counters` SET `value` = `value` - 1 WHERE `name` = 'users';
END;
--> statement-breakpoint
CREATE TRIGGER `ops_connections_insert` AFTER INSERT ON `trakt_connections` BEGIN
	INSERT OR IGNORE INTO `ops_counters` (`name`, `value`) VALUES ('connections:' || NEW.`status`, 0);
	UPDATE `ops_counters` SET `value` = `value` + 1 WHERE `name` = 'connections:' || NEW.`status`;
END;
--> statement-breakpoint
CREATE TRIGGER `ops_connections_delete` AFTER DELETE ON `trakt_connections` BEGIN
	UPDATE `ops_counters` SET `value` = `value` - 1 WHERE `name` = 'connections:' || OLD.`status`;
END;
--> statement-breakpoint
CREATE TRIGGER `ops_connections_status` AFTER UPDATE OF `status` ON `trakt_connections` WHEN OLD.`status` IS NOT NEW.`status` BEGIN
	UPDATE `ops_counters` SET `value` = `value` - 1 WHERE `name` = 'connections:' || OLD.`status`;
	INSERT OR IGNORE INTO `ops_counters` (`name`, `value`) VALUES ('connections:' || NEW.`status`, 0);
	UPDATE `ops_counters` SET `value` = `value` + 1 WHERE `name` = 'connections:' || NEW.`status`;
END;
