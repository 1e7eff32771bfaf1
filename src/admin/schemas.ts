/** Response schema of GET /admin/status (for the OpenAPI document and the tests). */
import { z } from 'zod';

export const adminStatusOutput = z.object({
  generated_at: z.string(),
  users: z.number().int(),
  connections: z
    .record(z.string(), z.number().int())
    .describe(
      'Trakt connections per status value (active, reauthorization_required, …); statuses with none are left out',
    ),
  syncs_in_progress: z.number().int(),
  sync_lag: z.object({
    oldest_next_sync_at: z.string().nullable(),
    seconds: z.number().int().describe('How long the most overdue active connection has waited; 0 if none is overdue'),
  }),
  dead_lettered_last_24h: z.number().int(),
  tmdb_backlog_users: z.number().int().describe('Users whose library still waits for TMDB enrichment'),
  d1_today: z
    .object({
      rows_read: z.number().int(),
      rows_written: z.number().int(),
      budget_rows_read: z.number().int().nullable().describe('D1_DAILY_ROWS_READ_BUDGET; null = unlimited'),
      budget_rows_written: z.number().int().nullable().describe('D1_DAILY_ROWS_WRITTEN_BUDGET; null = unlimited'),
      resets_at: z.string().describe('00:00 UTC: when the day, and its budget, start afresh'),
    })
    .describe(
      "D1 rows this Worker read and wrote today (UTC), from each statement's meta; background work stops " +
        'before the budget',
    ),
  encryption: z
    .record(z.string(), z.number().int())
    .describe(
      'Stored envelopes (API keys, Trakt token sets) each key id seals: every key of ENCRYPTION_KEYS in order ' +
        '(0: safe to remove), then any key id missing from it that still seals something',
    ),
  encryption_missing_keys: z
    .array(z.string())
    .describe('Key ids that seal stored envelopes but are not in ENCRYPTION_KEYS: put them back'),
  last_cron_run: z
    .object({
      started_at: z.string(),
      finished_at: z.string(),
      duration_ms: z.number().int(),
      outcome: z.string(),
      refreshed: z.number().int(),
      refresh_failures: z.number().int(),
      claimed: z.number().int(),
      enqueued: z.number().int(),
      states_deleted: z.number().int(),
      error: z.string().nullable(),
    })
    .nullable(),
});
