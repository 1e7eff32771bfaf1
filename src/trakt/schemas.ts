/**
 * @module
 * Request and response schemas for the Trakt connection endpoints.
 */
import { z } from 'zod';

export const callbackBody = z.object({
  code: z.string({ error: 'code is required' }).min(1, 'code is required').max(512),
  state: z.string({ error: 'state is required' }).min(1, 'state is required').max(512),
});

/** The confirmation form of the callback page (a plain HTML form post). */
export const callbackConfirmForm = z.object({
  confirmation: z.string({ error: 'confirmation is required' }).min(1, 'confirmation is required').max(512),
});

export const authStatusOutput = z.union([
  z.object({
    authenticated: z.literal(true),
    token_expired: z.boolean(),
    expires_at: z.string(),
    /** Trakt refused the refresh token: the connection works until `works_until`, then needs authorizing again. */
    warning: z.literal('reauthorization_required_soon').optional(),
    works_until: z.string().optional(),
    auth_url: z.string().optional(),
    /** Trakt rejects the client id/secret; the tokens are kept and work until they expire. */
    reason: z.literal('client_credentials_rejected').optional(),
  }),
  z.object({
    authenticated: z.literal(false),
    auth_url: z.string(),
    reason: z.enum(['reauthorization_required', 'client_credentials_rejected', 'app_rejected']).optional(),
    /** With `app_rejected`: what happened and the way out. */
    message: z.string().optional(),
  }),
]);
export const authenticateOutput = z.object({ auth_url: z.string(), message: z.string() });
export const callbackPostOutput = z.object({ success: z.literal(true), message: z.string(), expires_at: z.string() });
export const refreshTokenOutput = z.object({ access_token: z.string(), expires_at: z.string() });
export const disconnectOutput = z.object({ disconnected: z.literal(true), revoked_at_trakt: z.boolean() });
export const deviceCodeOutput = z.object({
  user_code: z.string(),
  verification_url: z.string(),
  expires_in: z.number(),
  interval: z.number(),
  /** The API account the Trakt account will be linked to. */
  api_username: z.string(),
});
/** Polling the device flow: 200 once connected, 202 while the user has not entered the code yet. */
export const deviceConnectedOutput = z.object({ status: z.literal('success'), expires_at: z.string() });
export const devicePendingOutput = z.object({
  status: z.literal('pending'),
  interval: z.number().describe('Seconds to wait before polling again'),
});
export const deviceTokenOutput = z.union([deviceConnectedOutput, devicePendingOutput]);
export const watchingOutput = z.object({
  watching: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe("Trakt's /users/me/watching item, or null when nothing is playing"),
});

export type AuthStatusOutput = z.input<typeof authStatusOutput>;
export type AuthenticateOutput = z.input<typeof authenticateOutput>;
export type CallbackPostOutput = z.input<typeof callbackPostOutput>;
export type RefreshTokenOutput = z.input<typeof refreshTokenOutput>;
export type DisconnectOutput = z.input<typeof disconnectOutput>;
export type DeviceCodeOutput = z.input<typeof deviceCodeOutput>;
export type DeviceTokenOutput = z.input<typeof deviceTokenOutput>;
export type WatchingOutput = z.input<typeof watchingOutput>;
