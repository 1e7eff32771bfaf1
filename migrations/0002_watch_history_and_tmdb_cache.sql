CREATE TABLE `episodes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`show_id` integer NOT NULL,
	`season_id` integer NOT NULL,
	`episode_number` integer NOT NULL,
	`trakt_id` integer,
	`title` text,
	`plays` integer NOT NULL,
	`last_watched_at` text,
	`progress` real NOT NULL,
	`paused_at` text,
	FOREIGN KEY (`show_id`) REFERENCES `shows`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`season_id`) REFERENCES `seasons`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `episodes_season_number_unique` ON `episodes` (`season_id`,`episode_number`);--> statement-breakpoint
CREATE INDEX `episodes_show_idx` ON `episodes` (`show_id`,`season_id`,`episode_number`);--> statement-breakpoint
CREATE INDEX `episodes_paused_idx` ON `episodes` (`paused_at`) WHERE "episodes"."paused_at" IS NOT NULL;--> statement-breakpoint
CREATE TABLE `movies` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
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
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `movies_user_trakt_unique` ON `movies` (`user_id`,`trakt_id`);--> statement-breakpoint
CREATE INDEX `movies_user_recent_idx` ON `movies` (`user_id`,`last_watched_at`,`id`);--> statement-breakpoint
CREATE TABLE `plays` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
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
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `plays_user_history_unique` ON `plays` (`user_id`,`history_id`);--> statement-breakpoint
CREATE INDEX `plays_user_type_watched_idx` ON `plays` (`user_id`,`media_type`,`watched_at`);--> statement-breakpoint
CREATE INDEX `plays_user_show_idx` ON `plays` (`user_id`,`show_trakt_id`);--> statement-breakpoint
CREATE TABLE `seasons` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`show_id` integer NOT NULL,
	`season_number` integer NOT NULL,
	FOREIGN KEY (`show_id`) REFERENCES `shows`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `seasons_show_number_unique` ON `seasons` (`show_id`,`season_number`);--> statement-breakpoint
CREATE TABLE `shows` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`trakt_id` integer NOT NULL,
	`title` text NOT NULL,
	`year` integer,
	`slug` text,
	`imdb_id` text,
	`tvdb_id` integer,
	`tmdb_id` integer,
	`tmdb_ref` integer,
	`aired_episodes` integer,
	`plays` integer NOT NULL,
	`last_watched_at` text NOT NULL,
	`last_updated_at` text,
	`reset_at` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `shows_user_trakt_unique` ON `shows` (`user_id`,`trakt_id`);--> statement-breakpoint
CREATE INDEX `shows_user_recent_idx` ON `shows` (`user_id`,`last_watched_at`,`id`);--> statement-breakpoint
CREATE TABLE `sync_state` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`movies_synced_at` text,
	`shows_synced_at` text,
	`movies_watched_at` text,
	`movies_paused_at` text,
	`episodes_watched_at` text,
	`episodes_paused_at` text,
	`movies_history_high_water` text,
	`episodes_history_high_water` text,
	`movie_count` integer DEFAULT 0 NOT NULL,
	`show_count` integer DEFAULT 0 NOT NULL,
	`episode_count` integer DEFAULT 0 NOT NULL,
	`movie_play_count` integer DEFAULT 0 NOT NULL,
	`episode_play_count` integer DEFAULT 0 NOT NULL,
	`lease_id` text,
	`lease_until` text,
	`last_sync_at` text,
	`last_result` text,
	`last_error` text,
	`last_error_at` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `tmdb_episodes` (
	`tmdb_show_id` integer NOT NULL,
	`season_number` integer NOT NULL,
	`episode_number` integer NOT NULL,
	`name` text,
	`overview` text,
	`still_path` text,
	`vote_average` real,
	PRIMARY KEY(`tmdb_show_id`, `season_number`, `episode_number`)
);
--> statement-breakpoint
CREATE TABLE `tmdb_external_ids` (
	`source` text NOT NULL,
	`external_id` text NOT NULL,
	`kind` text NOT NULL,
	`tmdb_id` integer,
	`fetched_at` text NOT NULL,
	PRIMARY KEY(`source`, `external_id`, `kind`)
);
--> statement-breakpoint
CREATE TABLE `tmdb_seasons` (
	`tmdb_show_id` integer NOT NULL,
	`season_number` integer NOT NULL,
	`status` text NOT NULL,
	`fetched_at` text NOT NULL,
	PRIMARY KEY(`tmdb_show_id`, `season_number`)
);
--> statement-breakpoint
CREATE TABLE `tmdb_titles` (
	`kind` text NOT NULL,
	`tmdb_id` integer NOT NULL,
	`status` text NOT NULL,
	`title` text,
	`poster_path` text,
	`backdrop_path` text,
	`overview` text,
	`vote_average` real,
	`fetched_at` text NOT NULL,
	PRIMARY KEY(`kind`, `tmdb_id`)
);
