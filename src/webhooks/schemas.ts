/**
 * @module
 * Schemas of `/users/me/webhooks` and of the delivery bodies (Standard Webhooks: `{type, timestamp, data}`).
 */
import { z } from 'zod';

export const WEBHOOK_EVENTS = ['play.created', 'sync.failed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export const webhookInput = z.object({
  url: z.string({ error: 'url is required' }).trim().min(1, 'url is required').max(2048, 'url is too long'),
  events: z
    .array(z.enum(WEBHOOK_EVENTS, { error: `events may contain only: ${WEBHOOK_EVENTS.join(', ')}` }), {
      error: 'events is required',
    })
    .min(1, 'events must name at least one event')
    .max(WEBHOOK_EVENTS.length),
});

export const webhookUpdateInput = z.object({
  enabled: z.boolean({ error: 'enabled must be true or false' }).describe('true re-enables a disabled endpoint'),
});

export const webhookIdParam = z.object({ id: z.string().min(1).max(64) });

const webhookFields = {
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  created_at: z.string(),
  enabled: z.boolean(),
  disabled_at: z.string().nullable(),
  disabled_reason: z.string().nullable(),
  failing_since: z.string().nullable(),
  consecutive_failures: z.number().int(),
  last_success_at: z.string().nullable(),
  last_failure_at: z.string().nullable(),
};

export const webhookOutput = z.object(webhookFields);
export const webhookCreatedOutput = z.object({
  ...webhookFields,
  secret: z.string().describe('whsec_…: the signing secret, shown only in this answer'),
});
export const webhookListOutput = z.object({ webhooks: z.array(webhookOutput) });

export const deliveryOutput = z.object({
  id: z.string().describe('The webhook-id header (the same on every attempt)'),
  type: z.string(),
  status: z.enum(['pending', 'retrying', 'delivered', 'failed']),
  attempts: z.number().int(),
  created_at: z.string(),
  last_attempt_at: z.string().nullable(),
  next_attempt_at: z.string().nullable(),
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  completed_at: z.string().nullable(),
});
export const deliveryListOutput = z.object({ deliveries: z.array(deliveryOutput) });
export const testDeliveryOutput = z.object({ delivery: deliveryOutput });

/** `data.plays[]` of `play.created`: a play as the public answers show it (without the poster), and its history id. */
export const webhookPlay = z.object({
  history_id: z.number().int(),
  watched_at: z.string(),
  type: z.enum(['movie', 'episode']),
  title: z.string().nullable(),
  year: z.number().int().nullable(),
  show: z.string().nullable(),
  season: z.number().int().nullable(),
  episode: z.number().int().nullable(),
  ids: z.object({
    trakt: z.number().int(),
    slug: z.string().nullable(),
    imdb: z.string().nullable(),
    tmdb: z.number().int().nullable(),
    tvdb: z.number().int().nullable().optional(),
  }),
});

export type WebhookInput = z.output<typeof webhookInput>;
export type WebhookOutput = z.input<typeof webhookOutput>;
export type WebhookCreatedOutput = z.input<typeof webhookCreatedOutput>;
export type DeliveryOutput = z.input<typeof deliveryOutput>;
export type WebhookPlay = z.input<typeof webhookPlay>;
