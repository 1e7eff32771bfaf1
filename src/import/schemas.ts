/**
 * @module
 * Response schemas of the import endpoints (`/trakt/import/*`); the request body of the batch
 * endpoint is `importBatch` in ./items.ts.
 */
import { z } from 'zod';

const count = z.number().int().min(0);

export const importFileOutput = z.object({
  name: z.string().describe('The history file in the ZIP, e.g. watched-history-3.json'),
  status: z.enum(['pending', 'done', 'failed']).describe('done: its plays are stored (committed in one transaction)'),
  plays_seen: count,
  plays_added: count,
  plays_skipped: count.describe('Plays already stored (same Trakt history id)'),
});

export const importOutput = z.object({
  import: z.object({
    id: z.string(),
    status: z.enum(['queued', 'running', 'done', 'failed']),
    files: z.array(importFileOutput).describe('The ZIP history files, in order'),
    plays_seen: count.describe('Items of the files committed so far'),
    plays_added: count,
    plays_skipped: count,
    error: z
      .string()
      .nullable()
      .describe('Why the import failed: the file and the item, or what to do; files done before it stay'),
  }),
});
export type ImportOutput = z.infer<typeof importOutput>;

export const importBatchOutput = z.object({
  added: count.describe('New plays stored'),
  skipped: count.describe('Items whose play was already stored (or repeated in the batch)'),
});
export type ImportBatchOutput = z.infer<typeof importBatchOutput>;
