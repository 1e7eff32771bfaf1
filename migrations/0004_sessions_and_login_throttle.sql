-- Refresh-token sessions (revocation) and login throttling counters.
CREATE TABLE `sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `sessions_user_idx` ON `sessions` (`user_id`);--> statement-breakpoint
CREATE INDEX `sessions_expires_at_idx` ON `sessions` (`expires_at`);--> statement-breakpoint
CREATE TABLE `login_throttle` (
	`subject` text PRIMARY KEY NOT NULL,
	`count` integer NOT NULL,
	`lockouts` integer NOT NULL,
	`started_at` text NOT NULL,
	`last_at` text NOT NULL,
	`locked_until` text,
	`revision` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `login_throttle_last_at_idx` ON `login_throttle` (`last_at`);--> statement-breakpoint
CREATE TABLE `login_failure_usernames` (
	`address` text NOT NULL,
	`username` text NOT NULL,
	`failed_at` text NOT NULL,
	PRIMARY KEY(`address`, `username`)
);
--> statement-breakpoint
CREATE INDEX `login_failure_usernames_username_idx` ON `login_failure_usernames` (`username`);--> statement-breakpoint
CREATE INDEX `login_failure_usernames_failed_at_idx` ON `login_failure_usernames` (`failed_at`);
