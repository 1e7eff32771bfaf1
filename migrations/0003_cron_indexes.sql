CREATE INDEX `oauth_state_uses_used_at_idx` ON `oauth_state_uses` (`used_at`);--> statement-breakpoint
CREATE INDEX `trakt_connections_expiry_idx` ON `trakt_connections` (`status`,`expires_at`);