-- Imports of Trakt's data export (issue 24; src/import/imports.ts): one row per user, the latest
-- ZIP uploaded with POST /trakt/import/. `files` is a JSON array with one element per history file of
-- the ZIP: where its bytes are in the stored archive and whether it is pending, done or failed.
-- `object_key` names the archive in the IMPORTS R2 bucket while its files are imported in the
-- background; it is cleared when the import ends.
CREATE TABLE `trakt_imports` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`status` text NOT NULL,
	`files` text NOT NULL,
	`plays_seen` integer DEFAULT 0 NOT NULL,
	`plays_added` integer DEFAULT 0 NOT NULL,
	`plays_skipped` integer DEFAULT 0 NOT NULL,
	`error` text,
	`object_key` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`finished_at` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `trakt_imports_user_unique` ON `trakt_imports` (`user_id`);
