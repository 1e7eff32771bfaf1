-- The token journal: D1 holds the sealed token set of each connection (written in the same statement that
-- ends the refresh lease), so a new token pair is durable the moment Trakt answers. KV keeps a copy for the
-- hot read path. Also records a client-credentials rejection and counts transient refresh failures (backoff).
-- `status` gains `refresh_rejected` (Trakt refused the refresh token; the access token still works until it
-- expires or Trakt rejects it) and `disconnecting` (DELETE /trakt/auth/ is revoking; nothing may refresh).
ALTER TABLE `trakt_connections` ADD `sealed_tokens` text;
--> statement-breakpoint
ALTER TABLE `trakt_connections` ADD `credentials_rejected_at` text;
--> statement-breakpoint
ALTER TABLE `trakt_connections` ADD `refresh_failures` integer DEFAULT 0 NOT NULL;
