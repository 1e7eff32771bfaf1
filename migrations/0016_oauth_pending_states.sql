-- Issue 27 (NowPlaying's clients): OAuth states issued by GET /api/trakt/authenticate/, indexed by user.
-- NowPlaying's web app posts the authorization code with its numeric user id instead of the state
-- Trakt echoed, so the compatibility layer needs the caller's newest pending state, which KV (keyed by
-- the state's hash, eventually consistent lists) cannot answer. The state itself stays random, sealed
-- in KV and single-use through `oauth_state_uses`; a row here only names its hash and its user.
CREATE TABLE `oauth_pending_states` (
	`state_hash` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`created_at` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `oauth_pending_states_user_idx` ON `oauth_pending_states` (`user_id`, `created_at`);--> statement-breakpoint
CREATE INDEX `oauth_pending_states_created_at_idx` ON `oauth_pending_states` (`created_at`);
