/**
 * @module
 * Shapes of the Trakt responses this API reads, as Trakt documents them: https://trakt.docs.apiary.io
 * and Trakt's own TypeScript contract, https://github.com/trakt/trakt-api.
 * Validated with zod where a wrong shape would corrupt stored data.
 */
import { z } from 'zod';

export const tokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().positive(),
  refresh_token: z.string().min(1),
  scope: z.string().optional(),
  created_at: z.number().int().positive(),
});
export type TraktTokenResponse = z.infer<typeof tokenResponse>;

export const deviceCodeResponse = z.object({
  device_code: z.string().min(1),
  user_code: z.string().min(1),
  verification_url: z.string().min(1),
  expires_in: z.number().int().positive(),
  interval: z.number().int().positive(),
});
export type TraktDeviceCode = z.infer<typeof deviceCodeResponse>;

export type Pagination = { page: number; limit: number; pageCount: number; itemCount: number };
