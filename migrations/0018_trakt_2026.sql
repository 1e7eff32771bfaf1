-- Trakt's 2026 answers and per-user budgets (issues 24 and 26; src/trakt/, src/budgets/).
-- (Reconnecting from a changed status once failed in the counter trigger `ops_connections_status`: migration
-- 0015 creates it again with INSERT … WHERE NOT EXISTS; the triggers below follow the same rule.)
--
-- 1. The connection remembers the Trakt app its token set was issued to (set by every completed
--    authorization and refresh; null for rows from before this migration until their next refresh),
--    when Trakt stopped accepting that app (its client id answers 403: deleted, or no longer valid),
--    and until when Trakt's per-user rate limit holds the user's calls back.
ALTER TABLE `trakt_connections` ADD `client_id` text;
--> statement-breakpoint
ALTER TABLE `trakt_connections` ADD `app_rejected_at` text;
--> statement-breakpoint
ALTER TABLE `trakt_connections` ADD `rate_limited_until` text;
--> statement-breakpoint
-- Connections whose app Trakt rejects, for GET /admin/status (they are also counted under their status).
INSERT INTO `ops_counters` (`name`, `value`) SELECT 'connections:app_rejected', 0
	WHERE NOT EXISTS (SELECT 1 FROM `ops_counters` WHERE `name` = 'connections:app_rejected');
--> statement-breakpoint
CREATE TRIGGER `ops_connections_app_rejected` AFTER UPDATE OF `app_rejected_at` ON `trakt_connections`
	WHEN (OLD.`app_rejected_at` IS NULL) IS NOT (NEW.`app_rejected_at` IS NULL) BEGIN
	UPDATE `ops_counters` SET `value` = `value` + (CASE WHEN NEW.`app_rejected_at` IS NULL THEN -1 ELSE 1 END)
		WHERE `name` = 'connections:app_rejected';
END;
--> statement-breakpoint
CREATE TRIGGER `ops_connections_app_rejected_delete` AFTER DELETE ON `trakt_connections`
	WHEN OLD.`app_rejected_at` IS NOT NULL BEGIN
	UPDATE `ops_counters` SET `value` = `value` - 1 WHERE `name` = 'connections:app_rejected';
END;
--> statement-breakpoint
-- 2. Per-user budgets of the endpoints that call Trakt or write KV (src/budgets/): one row per user and
--    budget, holding the GCRA "theoretical arrival time" (ms since the epoch) and whether the last
--    request was let through. One conditional upsert per request decides and records it atomically.
CREATE TABLE `user_budgets` (
	`user_id` integer NOT NULL,
	`budget` text NOT NULL,
	`tat_ms` integer NOT NULL,
	`allowed` integer NOT NULL,
	PRIMARY KEY(`user_id`, `budget`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
