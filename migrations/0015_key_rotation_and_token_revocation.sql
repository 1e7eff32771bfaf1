-- Key rotation that keeps data, and access tokens that die with a password change (issue 26).
--
-- 1. `users.tokens_valid_after`: access JWTs issued (`iat`) before it are refused. Set by a password
--    change and by "log out everywhere"; read from the row requireUser and the freshness query
--    already read, so the check costs no extra D1 round trip. Null: every unexpired token counts.
-- 2. Envelope counters: `ops_counters` rows `envelopes:<key id>` count the stored envelopes each key
--    id of ENCRYPTION_KEYS seals (api_keys.encrypted_key, trakt_connections.sealed_tokens), kept exact by
--    the triggers below, so GET /admin/status and the cron read a handful of rows instead of scanning.
--    An envelope is `v1.<kid>.<iv>.<ciphertext>`: the key id is what lies between the first two dots
--    after `v1.`. A token refresh rewrites `sealed_tokens` with the same key id: the update triggers'
--    WHEN clause is false then, so refreshes write nothing more.
-- 3. `reseal_progress`: where the background re-encryption (src/rotation/reseal.ts) is in its pass
--    over each table, so it resumes where the last step stopped.
-- 4. A counter row is created with INSERT … WHERE NOT EXISTS, never INSERT OR IGNORE: in a trigger fired by
--    an UPSERT's DO UPDATE (saveApiKey, saveConnection), SQLite applies the outer statement's conflict
--    policy (ABORT) instead of the trigger's OR IGNORE, so an existing counter row failed the whole write.
--    That is why `ops_connections_status` (migration 0008) is created again here: authorizing again a
--    connection whose status had changed (e.g. `reauthorization_required` → `active`) failed with
--    "UNIQUE constraint failed: ops_counters.name".
ALTER TABLE `users` ADD `tokens_valid_after` text;
--> statement-breakpoint
CREATE TABLE `reseal_progress` (
	`target` text PRIMARY KEY NOT NULL,
	`key_ids` text NOT NULL,
	`after_id` integer DEFAULT 0 NOT NULL,
	`skipped` integer DEFAULT 0 NOT NULL,
	`unresealable` integer,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
INSERT INTO `ops_counters` (`name`, `value`)
	SELECT 'envelopes:' || `kid`, count(*) FROM (
		SELECT substr(`encrypted_key`, 4, instr(substr(`encrypted_key`, 4), '.') - 1) AS `kid` FROM `api_keys`
		UNION ALL
		SELECT substr(`sealed_tokens`, 4, instr(substr(`sealed_tokens`, 4), '.') - 1) FROM `trakt_connections`
			WHERE `sealed_tokens` IS NOT NULL
	) GROUP BY `kid`;
--> statement-breakpoint
CREATE TRIGGER `envelopes_api_keys_insert` AFTER INSERT ON `api_keys` BEGIN
	INSERT INTO `ops_counters` (`name`, `value`)
		SELECT 'envelopes:' || substr(NEW.`encrypted_key`, 4, instr(substr(NEW.`encrypted_key`, 4), '.') - 1), 0
		WHERE NOT EXISTS (SELECT 1 FROM `ops_counters` WHERE `name` = 'envelopes:' || substr(NEW.`encrypted_key`, 4, instr(substr(NEW.`encrypted_key`, 4), '.') - 1));
	UPDATE `ops_counters` SET `value` = `value` + 1
		WHERE `name` = 'envelopes:' || substr(NEW.`encrypted_key`, 4, instr(substr(NEW.`encrypted_key`, 4), '.') - 1);
END;
--> statement-breakpoint
CREATE TRIGGER `envelopes_api_keys_delete` AFTER DELETE ON `api_keys` BEGIN
	UPDATE `ops_counters` SET `value` = `value` - 1
		WHERE `name` = 'envelopes:' || substr(OLD.`encrypted_key`, 4, instr(substr(OLD.`encrypted_key`, 4), '.') - 1);
END;
--> statement-breakpoint
CREATE TRIGGER `envelopes_api_keys_update` AFTER UPDATE OF `encrypted_key` ON `api_keys`
	WHEN substr(OLD.`encrypted_key`, 4, instr(substr(OLD.`encrypted_key`, 4), '.') - 1)
		IS NOT substr(NEW.`encrypted_key`, 4, instr(substr(NEW.`encrypted_key`, 4), '.') - 1) BEGIN
	UPDATE `ops_counters` SET `value` = `value` - 1
		WHERE `name` = 'envelopes:' || substr(OLD.`encrypted_key`, 4, instr(substr(OLD.`encrypted_key`, 4), '.') - 1);
	INSERT INTO `ops_counters` (`name`, `value`)
		SELECT 'envelopes:' || substr(NEW.`encrypted_key`, 4, instr(substr(NEW.`encrypted_key`, 4), '.') - 1), 0
		WHERE NOT EXISTS (SELECT 1 FROM `ops_counters` WHERE `name` = 'envelopes:' || substr(NEW.`encrypted_key`, 4, instr(substr(NEW.`encrypted_key`, 4), '.') - 1));
	UPDATE `ops_counters` SET `value` = `value` + 1
		WHERE `name` = 'envelopes:' || substr(NEW.`encrypted_key`, 4, instr(substr(NEW.`encrypted_key`, 4), '.') - 1);
END;
--> statement-breakpoint
CREATE TRIGGER `envelopes_connections_insert` AFTER INSERT ON `trakt_connections`
	WHEN NEW.`sealed_tokens` IS NOT NULL BEGIN
	INSERT INTO `ops_counters` (`name`, `value`)
		SELECT 'envelopes:' || substr(NEW.`sealed_tokens`, 4, instr(substr(NEW.`sealed_tokens`, 4), '.') - 1), 0
		WHERE NOT EXISTS (SELECT 1 FROM `ops_counters` WHERE `name` = 'envelopes:' || substr(NEW.`sealed_tokens`, 4, instr(substr(NEW.`sealed_tokens`, 4), '.') - 1));
	UPDATE `ops_counters` SET `value` = `value` + 1
		WHERE `name` = 'envelopes:' || substr(NEW.`sealed_tokens`, 4, instr(substr(NEW.`sealed_tokens`, 4), '.') - 1);
END;
--> statement-breakpoint
CREATE TRIGGER `envelopes_connections_delete` AFTER DELETE ON `trakt_connections`
	WHEN OLD.`sealed_tokens` IS NOT NULL BEGIN
	UPDATE `ops_counters` SET `value` = `value` - 1
		WHERE `name` = 'envelopes:' || substr(OLD.`sealed_tokens`, 4, instr(substr(OLD.`sealed_tokens`, 4), '.') - 1);
END;
--> statement-breakpoint
CREATE TRIGGER `envelopes_connections_update` AFTER UPDATE OF `sealed_tokens` ON `trakt_connections`
	WHEN substr(OLD.`sealed_tokens`, 4, instr(substr(OLD.`sealed_tokens`, 4), '.') - 1)
		IS NOT substr(NEW.`sealed_tokens`, 4, instr(substr(NEW.`sealed_tokens`, 4), '.') - 1) BEGIN
	UPDATE `ops_counters` SET `value` = `value` - 1
		WHERE OLD.`sealed_tokens` IS NOT NULL
			AND `name` = 'envelopes:' || substr(OLD.`sealed_tokens`, 4, instr(substr(OLD.`sealed_tokens`, 4), '.') - 1);
	INSERT INTO `ops_counters` (`name`, `value`)
		SELECT 'envelopes:' || substr(NEW.`sealed_tokens`, 4, instr(substr(NEW.`sealed_tokens`, 4), '.') - 1), 0
		WHERE NEW.`sealed_tokens` IS NOT NULL AND NOT EXISTS (SELECT 1 FROM `ops_counters`
			WHERE `name` = 'envelopes:' || substr(NEW.`sealed_tokens`, 4, instr(substr(NEW.`sealed_tokens`, 4), '.') - 1));
	UPDATE `ops_counters` SET `value` = `value` + 1
		WHERE NEW.`sealed_tokens` IS NOT NULL
			AND `name` = 'envelopes:' || substr(NEW.`sealed_tokens`, 4, instr(substr(NEW.`sealed_tokens`, 4), '.') - 1);
END;
--> statement-breakpoint
DROP TRIGGER `ops_connections_status`;
--> statement-breakpoint
CREATE TRIGGER `ops_connections_status` AFTER UPDATE OF `status` ON `trakt_connections` WHEN OLD.`status` IS NOT NEW.`status` BEGIN
	UPDATE `ops_counters` SET `value` = `value` - 1 WHERE `name` = 'connections:' || OLD.`status`;
	INSERT INTO `ops_counters` (`name`, `value`)
		SELECT 'connections:' || NEW.`status`, 0
		WHERE NOT EXISTS (SELECT 1 FROM `ops_counters` WHERE `name` = 'connections:' || NEW.`status`);
	UPDATE `ops_counters` SET `value` = `value` + 1 WHERE `name` = 'connections:' || NEW.`status`;
END;
