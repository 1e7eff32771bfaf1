CREATE TABLE `oauth_state_uses` (
	`state_hash` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`used_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `trakt_connections` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`status_reason` text,
	`token_version` integer NOT NULL,
	`token_set_id` text NOT NULL,
	`expires_at` text NOT NULL,
	`token_lifetime_seconds` integer NOT NULL,
	`refresh_lease_id` text,
	`refresh_lease_until` text,
	`pending_token_set_id` text,
	`connected_at` text NOT NULL,
	`refreshed_at` text,
	`updated_at` text NOT NULL,
	`next_sync_at` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `trakt_connections_due_idx` ON `trakt_connections` (`status`,`next_sync_at`);