/**
 * @module
 * Request and response schemas for /users/*. Types are derived from these, never written twice.
 */
import { z } from 'zod';
import { timeZoneName } from '../readmodel/time-zones';

export const USERNAME_PATTERN = /^[A-Za-z0-9_.@+-]+$/;

export const username = z
  .string({ error: 'username is required' })
  .min(3, 'username must be at least 3 characters')
  .max(150, 'username must be at most 150 characters')
  .regex(USERNAME_PATTERN, 'username may contain only letters, digits and _ . @ + -');

/** A password being set (registration, password change). */
const newPassword = (field: string) =>
  z
    .string({ error: `${field} is required` })
    .min(8, `${field} must be at least 8 characters`)
    .max(1024, `${field} must be at most 1024 characters`);

/** A password being checked: any non-empty string (rules may have changed since it was set). */
const givenPassword = (field: string) =>
  z
    .string({ error: `${field} is required` })
    .min(1, `${field} is required`)
    .max(1024);

export const registerInput = z.object({ username, password: newPassword('password') });

export const tokenInput = z.object({
  username: z.string({ error: 'username is required' }).min(1, 'username is required').max(150),
  password: givenPassword('password'),
});

export const refreshInput = z.object({
  refresh: z.string({ error: 'refresh is required' }).min(1, 'refresh is required').max(4096),
});

export const logoutInput = z
  .object({
    refresh: z.string().min(1, 'refresh is required').max(4096).optional().describe('The refresh token to revoke'),
    all: z
      .literal(true, { error: 'all must be true' })
      .optional()
      .describe('true: revoke every refresh token of the user'),
  })
  .refine((input) => (input.refresh === undefined) !== (input.all === undefined), {
    message: 'Send either "refresh" (one session) or "all": true (every session)',
  });

export const passwordChangeInput = z.object({
  current_password: givenPassword('current_password'),
  new_password: newPassword('new_password'),
});

export const deleteAccountInput = z.object({ password: givenPassword('password') });

/** Services whose credentials a user can store. */
export const SERVICE_NAMES = ['trakt', 'trakt_client_id', 'trakt_client_secret', 'tmdb'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const serviceName = z.enum(SERVICE_NAMES, {
  error: `service_name must be one of: ${SERVICE_NAMES.join(', ')}`,
});

export const apiKeyInput = z
  .object({
    service_name: serviceName,
    api_key: z.string({ error: 'api_key is required' }).trim().min(1, 'api_key is required').max(4096),
    service_user_id: z.string().trim().min(1).max(255).nullish(),
  })
  .refine((input) => input.service_name !== 'trakt' || !!input.service_user_id, {
    message: 'service_user_id (the Trakt client id) is required when service_name is "trakt"',
    path: ['service_user_id'],
  });

export const serviceNameParam = z.object({ service_name: z.string().min(1).max(64) });

export const userOutput = z.object({ id: z.number().int(), username: z.string() });
export const meOutput = userOutput.extend({
  created_at: z.string(),
  time_zone: z.string().nullable().describe('The stats time zone (PATCH /users/me); null: UTC only'),
});

export const meUpdateInput = z.object({
  time_zone: timeZoneName
    .nullable()
    .describe(
      'IANA zone whose weekday × hour grid the API keeps up to date, so GET /trakt/stats/?tz=<this zone> ' +
        'reads it instead of every play. null (or UTC) clears it.',
    ),
});
export const tokenPairOutput = z.object({ access: z.string(), refresh: z.string() });
export const accessOutput = z.object({ access: z.string() });
export const apiKeyOutput = z.object({
  service_name: z.enum(SERVICE_NAMES),
  service_user_id: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

export type UserOutput = z.input<typeof userOutput>;
export type MeOutput = z.input<typeof meOutput>;
export type TokenPairOutput = z.input<typeof tokenPairOutput>;
export type AccessOutput = z.input<typeof accessOutput>;
export type ApiKeyOutput = z.input<typeof apiKeyOutput>;
