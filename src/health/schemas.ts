/** Response schemas of /health (for the OpenAPI document). */
import { z } from 'zod';

const checkState = z.enum(['ok', 'failed']);
const checks = z.object({
  database: checkState,
  kv: checkState,
  configuration: checkState,
  migrations: checkState,
  encryption: checkState.describe('ENCRYPTION_KEYS has every key id that seals a stored secret'),
});

export const livenessOutput = z.object({ status: z.literal('ok'), version: z.string() });
export const readyOutput = z.object({ status: z.literal('ready'), checks });
export const notReadyOutput = z.object({
  status: z.literal('not_ready'),
  checks,
  problems: z.record(z.string(), z.string()).describe('One fixed sentence per failed check; never internals'),
});
