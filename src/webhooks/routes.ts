/**
 * @module
 * `/users/me/webhooks` (composed under /users by src/users/routes.ts): create an endpoint (its secret is
 * shown once), list them with their health, enable or disable one, delete one, send a test delivery (one
 * attempt, now, recorded in the log), and read the delivery log.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../app-env';
import { webhooksAllowInsecure } from '../config';
import { keyRing } from '../crypto/envelope';
import { runBatch } from '../db/client';
import { describe, errorResponse } from '../http/describe';
import { ApiError } from '../http/errors';
import { validate } from '../http/validate';
import { requireUser } from '../users/middleware';
import { deliveryView, insertDelivery, listDeliveries, newMessageId } from './deliveries';
import { createWebhook, deleteWebhook, findWebhook, listWebhooks, setWebhookEnabled, webhookView } from './endpoints';
import { eventBody } from './outbox';
import {
  deliveryListOutput,
  testDeliveryOutput,
  type WebhookCreatedOutput,
  webhookCreatedOutput,
  webhookIdParam,
  webhookInput,
  webhookListOutput,
  webhookOutput,
  webhookUpdateInput,
} from './schemas';
import { attemptDelivery } from './sender';
import { webhookUrlProblem } from './url-policy';

const NO_WEBHOOK = 'No such webhook';
const notFound = errorResponse(NO_WEBHOOK);

export const webhookRoutes = new Hono<AppEnv>()
  .post(
    '/',
    describe({
      summary: 'Register a webhook endpoint',
      description:
        'Events: play.created (one delivery per batch of new plays, from a sync or an import) and sync.failed. ' +
        'Deliveries follow the Standard Webhooks spec (webhook-id, webhook-timestamp, webhook-signature) and are ' +
        'retried with backoff for about 27 hours; an endpoint failing for 24 hours is disabled. The url must be ' +
        'https on a public host (no private, link-local or loopback address). The secret is shown only here.',
      tag: 'webhooks',
      responses: {
        201: { description: 'Created', schema: webhookCreatedOutput },
        409: errorResponse('At most 10 webhooks per account'),
      },
    }),
    requireUser,
    validate('json', webhookInput),
    async (c) => {
      const input = c.req.valid('json');
      const problem = webhookUrlProblem(input.url, webhooksAllowInsecure(c.env));
      if (problem) throw new ApiError(400, problem);
      const { row, secret } = await createWebhook(c.var.db, await keyRing(c.env), c.var.userId, input, Date.now());
      return c.json({ ...webhookView(row), secret } satisfies WebhookCreatedOutput, 201);
    },
  )
  .get(
    '/',
    describe({
      summary: 'Your webhook endpoints and their health (failures, disabled)',
      tag: 'webhooks',
      responses: { 200: { description: 'Endpoints', schema: webhookListOutput } },
    }),
    requireUser,
    async (c) => c.json({ webhooks: (await listWebhooks(c.var.db, c.var.userId)).map(webhookView) }),
  )
  .patch(
    '/:id',
    describe({
      summary: 'Enable (clearing the failure streak) or disable an endpoint',
      tag: 'webhooks',
      responses: { 200: { description: 'The endpoint', schema: webhookOutput }, 404: notFound },
    }),
    requireUser,
    validate('param', webhookIdParam),
    validate('json', webhookUpdateInput),
    async (c) => {
      const row = await setWebhookEnabled(
        c.var.db,
        c.var.userId,
        c.req.valid('param').id,
        c.req.valid('json').enabled,
        Date.now(),
      );
      if (!row) throw new ApiError(404, NO_WEBHOOK);
      return c.json(webhookView(row));
    },
  )
  .delete(
    '/:id',
    describe({
      summary: 'Delete an endpoint (and its delivery log)',
      tag: 'webhooks',
      responses: { 204: { description: 'Deleted' }, 404: notFound },
    }),
    requireUser,
    validate('param', webhookIdParam),
    async (c) => {
      if (!(await deleteWebhook(c.var.db, c.var.userId, c.req.valid('param').id))) throw new ApiError(404, NO_WEBHOOK);
      return c.body(null, 204);
    },
  )
  .post(
    '/:id/test',
    describe({
      summary: 'Send a test delivery now (type webhook.test; one attempt, no retries)',
      description: 'Answers once the endpoint has answered (or timed out), with the delivery as logged.',
      tag: 'webhooks',
      responses: { 200: { description: 'The delivery', schema: testDeliveryOutput }, 404: notFound },
    }),
    requireUser,
    validate('param', webhookIdParam),
    async (c) => {
      const endpoint = await findWebhook(c.var.db, c.var.userId, c.req.valid('param').id);
      if (!endpoint) throw new ApiError(404, NO_WEBHOOK);
      const now = Date.now();
      const id = newMessageId();
      const payload = eventBody('webhook.test', { webhook_id: endpoint.id }, now);
      await runBatch(
        c.env.DB,
        insertDelivery({ id, webhookId: endpoint.id, userId: c.var.userId, type: 'webhook.test', payload }, now),
      );
      const result = await attemptDelivery(c.env, id, now, { retries: false });
      return c.json({ delivery: deliveryView(result.delivery!) });
    },
  )
  .get(
    '/:id/deliveries',
    describe({
      summary: 'The delivery log of an endpoint (newest first, the last 100): status, attempts, last error',
      description: 'A delivery whose retries are spent stays here as failed (the dead-letter record).',
      tag: 'webhooks',
      responses: { 200: { description: 'Deliveries', schema: deliveryListOutput }, 404: notFound },
    }),
    requireUser,
    validate('param', webhookIdParam),
    async (c) => {
      const endpoint = await findWebhook(c.var.db, c.var.userId, c.req.valid('param').id);
      if (!endpoint) throw new ApiError(404, NO_WEBHOOK);
      return c.json({ deliveries: (await listDeliveries(c.var.db, endpoint.id)).map(deliveryView) });
    },
  );
