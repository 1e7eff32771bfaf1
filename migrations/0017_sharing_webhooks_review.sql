-- Public sharing, webhooks on new plays, the calendar and the year in review (issue 28).
--
-- sharing_profiles (src/sharing/settings.ts): a user's opt-in public handle and the parts they share.
-- shared_now_watching (src/sharing/now.ts): the last answer of Trakt's /users/me/watching per user, so a
--   busy public page costs Trakt at most one call a minute, across every isolate and location.
-- webhooks, webhook_deliveries, webhook_new_plays (src/webhooks/): endpoints, the delivery log (which is
--   also the dead-letter record), and the outbox the write hooks fill in the writer's own transaction.
-- year_reviews (src/review/): a computed year in review per user and year, valid for one data version.
-- tmdb_titles.show_status / next_episode, tmdb_episodes.air_date: what the calendar of upcoming
--   episodes reads; tv titles and seasons cached before this migration are marked stale so enrichment
--   fetches them again (as it touches them, within its budget).
CREATE TABLE `sharing_profiles` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`handle` text NOT NULL,
	`parts` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sharing_profiles_handle_unique` ON `sharing_profiles` (`handle`);
--> statement-breakpoint
CREATE TABLE `shared_now_watching` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`watching` text,
	`fetched_at` text,
	`lease_until` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `webhooks` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`sealed_secret` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`disabled_at` text,
	`disabled_reason` text,
	`failing_since` text,
	`consecutive_failures` integer DEFAULT 0 NOT NULL,
	`last_success_at` text,
	`last_failure_at` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhooks_user_idx` ON `webhooks` (`user_id`);
--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`webhook_id` text NOT NULL,
	`user_id` integer NOT NULL,
	`event_type` text NOT NULL,
	`payload` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` text NOT NULL,
	`next_attempt_at` text,
	`lease_until` text,
	`last_attempt_at` text,
	`last_status_code` integer,
	`last_error` text,
	`completed_at` text,
	FOREIGN KEY (`webhook_id`) REFERENCES `webhooks`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_webhook_idx` ON `webhook_deliveries` (`webhook_id`,`created_at`);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_due_idx` ON `webhook_deliveries` (`next_attempt_at`) WHERE `status` IN ('pending', 'retrying');
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_user_idx` ON `webhook_deliveries` (`user_id`);
--> statement-breakpoint
CREATE TABLE `webhook_new_plays` (
	`user_id` integer NOT NULL,
	`history_id` integer NOT NULL,
	`staged_at` text NOT NULL,
	PRIMARY KEY(`user_id`, `history_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhook_new_plays_staged_idx` ON `webhook_new_plays` (`staged_at`);
--> statement-breakpoint
CREATE TABLE `year_reviews` (
	`user_id` integer NOT NULL,
	`year` integer NOT NULL,
	`version` integer NOT NULL,
	`body` text NOT NULL,
	`computed_at` text NOT NULL,
	PRIMARY KEY(`user_id`, `year`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `tmdb_titles` ADD `show_status` text;
--> statement-breakpoint
ALTER TABLE `tmdb_titles` ADD `next_episode` text;
--> statement-breakpoint
ALTER TABLE `tmdb_episodes` ADD `air_date` text;
--> statement-breakpoint
UPDATE `tmdb_titles` SET `fetched_at` = '1970-01-01T00:00:00.000Z' WHERE `kind` = 'tv';
--> statement-breakpoint
UPDATE `tmdb_seasons` SET `fetched_at` = '1970-01-01T00:00:00.000Z';
