-- Fleet pacing (issue 15): TMDB enrichment runs from its own queue. One enrichment run per user at a time:
-- the consumer takes this lease with a conditional UPDATE (src/sync/state.ts, acquireEnrichLease).
ALTER TABLE `sync_state` ADD `enrich_lease_until` text;
