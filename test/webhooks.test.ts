/**
 * Webhooks on new plays (issue 28 §2): CRUD with a secret shown once; SSRF-safe URLs; Standard Webhooks
 * deliveries verified by the reference library in a receiver inside the harness; one delivery per batch
 * of new plays from a sync or from another writer (the import) through the write hook; retries with
 * backoff through the queue, the dead-letter record, disabling after sustained failure (visible to the
 * owner, re-enabled by PATCH); no redirects; the test delivery; sync.failed once per failure streak.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import type { InferRequestType } from 'hono/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installSimulator, type Simulator } from '../simulator/support/harness';
import { BUDGETS } from '../src/budgets/policy';
import type { HistoryClient } from '../src/client';
import { runBatch } from '../src/db/client';
import worker from '../src/index';
import { sweepWebhooks } from '../src/jobs/scheduled';
import { playsWritten } from '../src/readmodel/write-hooks';
import { newPlaysCommitted } from '../src/webhooks/outbox';
import { nextRetryDelaySeconds, shouldDisable } from '../src/webhooks/retry-policy';
import { webhookUrlProblem } from '../src/webhooks/url-policy';
import { call, expectError, registerAndLogin } from './support/api';
import { api, expectStatus, ok, read } from './support/client';
import { connectedUser } from './support/trakt';
import { webhookQueue } from './support/webhook-queue';
import { installReceiver, RECEIVER_URL } from './support/webhook-receiver';
import { callWith } from './support/worker';

/** The write hook a writer of movie plays appends (rollups and the webhook outbox), for plays inserted by hand. */
const moviePlaysWritten = (userId: number, ids: readonly number[], movieTraktId: number) =>
  playsWritten(
    userId,
    {
      inserted: ids.map((historyId) => ({
        historyId,
        mediaType: 'movie' as const,
        watchedAt: '2020-01-01T10:00:00.000Z',
        movieTraktId,
        showTraktId: null,
        seasonNumber: null,
        episodeNumber: null,
      })),
      removed: [],
    },
    { counted: { movies: new Map(), shows: new Map(), seasons: new Map() }, grid: null },
  );

let sim: Simulator;
/** What the Worker sent to the webhook queue (captured by test/setup.ts). */
const sent = webhookQueue;
beforeEach(() => {
  sim = installSimulator();
});
afterEach(() => {
  sim.restore();
  vi.restoreAllMocks();
});

/** Delivers the queued messages through the Worker's real queue handler, one per batch, until none is left. */
async function drain(max = 20) {
  const outcomes: string[] = [];
  for (let i = 0; i < max && sent.length > 0; i++) {
    const next = sent.shift()!;
    const batch = createMessageBatch('webhook-deliveries', [
      { id: `m-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body: next.body },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    outcomes.push(result.explicitAcks.length === 1 ? 'acked' : 'retried');
  }
  return outcomes;
}

type WebhookEvents = InferRequestType<HistoryClient['users']['me']['webhooks']['$post']>['json']['events'];

async function hookedUser(events: WebhookEvents = ['play.created']) {
  const user = await connectedUser(sim, { movies: 3, shows: 1, seasons_per_show: 1, episodes_per_season: 2 });
  const receiver = installReceiver(sim);
  const created = await ok(api(user.access).users.me.webhooks.$post({ json: { url: RECEIVER_URL, events } }), 201);
  receiver.useSecret(created.body.secret);
  return { user, receiver, webhook: created.body };
}

describe('URL policy (SSRF) and retry rules', () => {
  it('allows only https on public hosts; insecure mode adds http and loopback, never private ranges', () => {
    for (const url of [
      'http://hooks.example.com/x',
      'https://127.0.0.1/x',
      'https://2130706433/x',
      'https://10.1.2.3/x',
      'https://192.168.1.1/x',
      'https://172.16.0.1/x',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/x',
      'https://[fe80::1]/x',
      'https://[fd00::1]/x',
      'https://[::ffff:10.0.0.1]/x',
      'https://100.64.0.1/x',
      'https://0.0.0.0/x',
      'https://localhost/x',
      'https://db.internal/x',
      'https://printer.local/x',
      'https://intranet/x',
      'https://user:pass@hooks.example.com/x',
      'ftp://hooks.example.com/x',
      'not a url',
    ])
      expect(webhookUrlProblem(url, false), url).not.toBeNull();
    expect(webhookUrlProblem('https://hooks.example.com/x', false)).toBeNull();
    expect(webhookUrlProblem('https://93.184.216.34/x', false)).toBeNull();
    expect(webhookUrlProblem('http://127.0.0.1:8080/x', true)).toBeNull();
    expect(webhookUrlProblem('http://localhost:8080/x', true)).toBeNull();
    expect(webhookUrlProblem('https://10.1.2.3/x', true)).not.toBeNull();
  });

  it('retries on the reference schedule with jitter, and disables after 24 h and 8 failures', () => {
    expect(nextRetryDelaySeconds(1, () => 0.5)).toBe(5);
    expect(nextRetryDelaySeconds(2, () => 0.5)).toBe(300);
    expect(nextRetryDelaySeconds(7, () => 0.5)).toBe(36000);
    expect(nextRetryDelaySeconds(8, () => 0.5)).toBeNull();
    expect(nextRetryDelaySeconds(3, () => 0)).toBe(1620);
    const now = Date.parse('2026-06-02T12:00:00Z');
    expect(shouldDisable('2026-06-01T11:00:00.000Z', 8, now)).toBe(true);
    expect(shouldDisable('2026-06-01T13:00:00.000Z', 20, now)).toBe(false);
    expect(shouldDisable('2026-05-01T00:00:00.000Z', 7, now)).toBe(false);
    expect(shouldDisable(null, 50, now)).toBe(false);
  });
});

describe('/users/me/webhooks', () => {
  it('creates (secret once), lists, validates, refuses unsafe URLs, deletes', async () => {
    const user = await registerAndLogin();
    const created = await read(
      api(user.access).users.me.webhooks.$post({
        json: { url: 'https://hooks.example.com/trakt', events: ['play.created', 'sync.failed'] },
      }),
    );
    expectStatus(created, 201);
    expect(created.body).toMatchObject({
      url: 'https://hooks.example.com/trakt',
      events: ['play.created', 'sync.failed'],
      enabled: true,
    });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const list = await read(api(user.access).users.me.webhooks.$get());
    expect(list.body.webhooks).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    const row = await env.DB.prepare('SELECT sealed_secret FROM webhooks WHERE id = ?')
      .bind(created.body.id)
      .first<{ sealed_secret: string }>();
    expect(row!.sealed_secret).toMatch(/^v1\./);
    expect(row!.sealed_secret).not.toContain(created.body.secret.slice(6));
    expectError(
      await call('POST', '/users/me/webhooks/', {
        token: user.access,
        json: { url: 'https://hooks.example.com', events: ['play.deleted'] },
      }),
      400,
      /events/,
    );
    for (const url of ['http://hooks.example.com/', 'https://10.0.0.8/', 'https://localhost/', 'https://[::1]/'])
      expectError(
        await callWith({ WEBHOOKS_ALLOW_INSECURE: 'false' }, 'POST', '/users/me/webhooks/', {
          token: user.access,
          json: { url, events: ['play.created'] },
        }),
        400,
        /url must/,
      );
    const other = await registerAndLogin();
    const remove = (token: string) =>
      read(api(token).users.me.webhooks[':id'].$delete({ param: { id: String(created.body.id) } }));
    expectError(await remove(other.access), 404, 'No such webhook');
    expect((await remove(user.access)).status).toBe(204);
    expect((await read(api(user.access).users.me.webhooks.$get())).body.webhooks).toEqual([]);
  });
});

describe('deliveries', () => {
  it('a sync with new plays sends ONE signed play.created delivery for the batch', async () => {
    const { user, receiver, webhook } = await hookedUser();
    expect((await read(api(user.access).trakt['fetch-latest-movies'].$post())).status).toBe(200);
    expect(sent).toHaveLength(1);
    await drain();
    expect(receiver.received).toHaveLength(1);
    const delivery = receiver.received[0]!;
    expect(delivery.verified).toBe(true);
    expect(delivery.id).toMatch(/^msg_/);
    expect(delivery.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(delivery.body.type).toBe('play.created');
    const stored = await read(api(user.access).trakt.history.$get({ query: { type: 'movies', limit: '100' } }));
    expect(delivery.body.data.plays.map((p: { history_id: number }) => p.history_id).sort()).toEqual(
      stored.body.items.map((i: { id: number }) => i.id).sort(),
    );
    expect(delivery.body.data.plays[0]).toMatchObject({
      type: 'movie',
      title: expect.any(String),
      ids: { trakt: expect.any(Number) },
    });
    expect(delivery.body.data.count).toBe(stored.body.items.length);

    // Nothing new: no delivery. One more play: one more delivery with exactly that play.
    await read(api(user.access).trakt['fetch-latest-movies'].$post());
    expect(sent).toHaveLength(0);
    const catalog = await sim.catalog(user.traktUsername);
    await sim.advanceClock(60); // a later activity time: the sync sees the change
    const play = await sim.addPlay(user.traktUsername, { type: 'movie', trakt_id: catalog.movies[2]!.trakt });
    await read(api(user.access).trakt['fetch-latest-movies'].$post());
    await drain();
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]!.body.data.plays.map((p: { history_id: number }) => p.history_id)).toEqual([play.id]);
    const log = await ok(
      api(user.access).users.me.webhooks[':id'].deliveries.$get({ param: { id: String(webhook.id) } }),
    );
    expect(log.body.deliveries.map((d: { status: string }) => d.status)).toEqual(['delivered', 'delivered']);
    expect(log.body.deliveries[0]).toMatchObject({
      type: 'play.created',
      attempts: 1,
      last_status_code: 204,
      last_error: null,
    });
  });

  it('an import batch announces its new plays the same way: ONE delivery, right after the batch commits', async () => {
    const { user, receiver } = await hookedUser();
    const ids = [990_000_001, 990_000_002, 990_000_003];
    // Items in the shape of the export's watched-history-N.json (POST /trakt/import/history/).
    const items = ids.map((id, i) => ({
      id,
      watched_at: `2020-01-0${i + 1}T10:00:00.000Z`,
      action: 'watch',
      type: 'movie' as const,
      movie: { title: `Imported ${i}`, year: 2001, ids: { trakt: 424_240 + i, slug: `imported-${i}`, tmdb: null } },
    }));
    const imported = await read(api(user.access).trakt.import.history.$post({ json: items }));
    expect(imported.status).toBe(200);
    expect(imported.body).toEqual({ added: 3, skipped: 0 });
    expect(sent).toHaveLength(1); // queued by the import itself, not by the cron
    await drain();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.body.data.plays.map((p: { history_id: number }) => p.history_id).sort()).toEqual(ids);
    // The same batch again adds nothing, so it announces nothing.
    expect((await read(api(user.access).trakt.import.history.$post({ json: items }))).body).toEqual({
      added: 0,
      skipped: 3,
    });
    expect(sent).toHaveLength(0);
  });

  it('a writer that stages plays and dies before announcing them: a later dispatch sends them once', async () => {
    const { user, receiver } = await hookedUser();
    const ids = [990_000_011, 990_000_012];
    const insert = (id: number, i: number) =>
      sql`INSERT INTO plays (user_id, history_id, media_type, watched_at, action, movie_trakt_id)
        VALUES (${user.id}, ${id}, 'movie', ${`2020-01-0${i + 1}T10:00:00.000Z`}, 'watch', 424242)`;
    await runBatch(env.DB, [...ids.map(insert), ...moviePlaysWritten(user.id, ids, 424242)]);
    await newPlaysCommitted(env, user.id);
    await newPlaysCommitted(env, user.id); // a second call finds nothing staged
    expect(sent).toHaveLength(1);
    await drain();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.body.data.plays.map((p: { history_id: number }) => p.history_id)).toEqual(
      [...ids].reverse(),
    );
  });

  it('retries a failed attempt with backoff through the queue (same webhook-id), then delivers', async () => {
    const { user, receiver, webhook } = await hookedUser();
    receiver.respond(500, 503);
    await read(api(user.access).trakt['fetch-latest-movies'].$post());
    await drain(1);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.delaySeconds).toBeGreaterThanOrEqual(4);
    expect(sent[0]!.delaySeconds).toBeLessThanOrEqual(6);
    let log = await ok(
      api(user.access).users.me.webhooks[':id'].deliveries.$get({ param: { id: String(webhook.id) } }),
    );
    expect(log.body.deliveries[0]).toMatchObject({
      status: 'retrying',
      attempts: 1,
      last_status_code: 500,
      last_error: 'HTTP 500',
    });
    await drain(1);
    expect(sent[0]!.delaySeconds).toBeGreaterThanOrEqual(270);
    await drain(1);
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.id)).size).toBe(1);
    expect(receiver.received.every((r) => r.verified)).toBe(true);
    log = await ok(api(user.access).users.me.webhooks[':id'].deliveries.$get({ param: { id: String(webhook.id) } }));
    expect(log.body.deliveries[0]).toMatchObject({ status: 'delivered', attempts: 3, last_status_code: 204 });
    const hooks = await read(api(user.access).users.me.webhooks.$get());
    expect(hooks.body.webhooks[0]).toMatchObject({ consecutive_failures: 0, failing_since: null, enabled: true });
  });

  it('records a dead letter when the retries are spent, and never follows a redirect', async () => {
    const { user, receiver, webhook } = await hookedUser();
    receiver.respond(302, 500, 500, 500, 500, 500, 500, 500);
    await read(api(user.access).trakt['fetch-latest-movies'].$post());
    await drain(20);
    expect(receiver.received).toHaveLength(8);
    const log = await ok(
      api(user.access).users.me.webhooks[':id'].deliveries.$get({ param: { id: String(webhook.id) } }),
    );
    expect(log.body.deliveries[0]).toMatchObject({
      status: 'failed',
      attempts: 8,
      last_error: 'HTTP 500',
      next_attempt_at: null,
    });
    expect(log.body.deliveries[0]?.completed_at).toEqual(expect.any(String));
    const redirects = sim.fetchSpy.mock.calls.filter(([input]) =>
      String(input instanceof Request ? input.url : input).includes('/elsewhere'),
    );
    expect(redirects).toEqual([]);
  });

  it('disables an endpoint after sustained failure, visibly; PATCH enables it again', async () => {
    const { user, receiver, webhook } = await hookedUser();
    await env.DB.prepare(
      "UPDATE webhooks SET failing_since = '2000-01-01T00:00:00.000Z', consecutive_failures = 7 WHERE id = ?",
    )
      .bind(webhook.id)
      .run();
    receiver.respond(500);
    await read(api(user.access).trakt['fetch-latest-movies'].$post());
    await drain(5);
    const hooks = await read(api(user.access).users.me.webhooks.$get());
    expect(hooks.body.webhooks[0]).toMatchObject({
      enabled: false,
      disabled_reason: 'deliveries failed for 24 hours',
      consecutive_failures: 8,
    });
    const log = await ok(
      api(user.access).users.me.webhooks[':id'].deliveries.$get({ param: { id: String(webhook.id) } }),
    );
    expect(log.body.deliveries[0]?.status).toBe('failed');
    const enabled = await ok(
      api(user.access).users.me.webhooks[':id'].$patch({ param: { id: String(webhook.id) }, json: { enabled: true } }),
    );
    expect(enabled.body).toMatchObject({ enabled: true, consecutive_failures: 0, failing_since: null });
  });

  it('sends a test delivery now and logs it', async () => {
    const { user, receiver, webhook } = await hookedUser();
    const res = await read(api(user.access).users.me.webhooks[':id'].test.$post({ param: { id: String(webhook.id) } }));
    expectStatus(res, 200);
    expect(res.body.delivery).toMatchObject({
      type: 'webhook.test',
      status: 'delivered',
      attempts: 1,
      last_status_code: 204,
    });
    expect(receiver.received[0]).toMatchObject({
      verified: true,
      body: { type: 'webhook.test', data: { webhook_id: webhook.id } },
    });
    receiver.respond(500);
    const failed = await ok(
      api(user.access).users.me.webhooks[':id'].test.$post({ param: { id: String(webhook.id) } }),
    );
    expect(failed.body.delivery).toMatchObject({ status: 'failed', last_error: 'HTTP 500' });
    expect(sent).toHaveLength(0); // a test is not retried
  });

  it('test deliveries have a per-user budget: past its burst, 429 and nothing is sent', async () => {
    const { user, receiver, webhook } = await hookedUser();
    const test = () =>
      callWith({ USER_BUDGET_SCALE: '1' }, 'POST', `/users/me/webhooks/${webhook.id}/test/`, { token: user.access });
    for (let i = 0; i < BUDGETS.webhook_test.burst; i++) expect((await test()).status).toBe(200);
    const refused = await test();
    expectError(refused, 429, /^Too many requests of this kind; retry after \d+ seconds$/);
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(receiver.received).toHaveLength(BUDGETS.webhook_test.burst);
  });

  it('the cron dispatches an outbox its writer left behind, and re-queues a delivery whose message was lost', async () => {
    const { user, receiver, webhook } = await hookedUser();
    const ids = [991_000_001];
    await runBatch(env.DB, [
      sql`INSERT INTO plays (user_id, history_id, media_type, watched_at, action, movie_trakt_id)
        VALUES (${user.id}, ${ids[0]}, 'movie', '2021-05-05T10:00:00.000Z', 'watch', 424243)`,
      ...moviePlaysWritten(user.id, ids, 424243),
    ]);
    // The writer died before newPlaysCommitted: the next cron run (a minute later or more) dispatches it.
    await sweepWebhooks(env, Date.now() + 2 * 60_000);
    expect(sent).toHaveLength(1);
    sent.length = 0; // …and that queue message is lost: the delivery is overdue 10 minutes later.
    await sweepWebhooks(env, Date.now() + 15 * 60_000);
    expect(sent).toHaveLength(1);
    await drain();
    expect(receiver.received.map((r) => r.body.data.plays.map((p: { history_id: number }) => p.history_id))).toEqual([
      ids,
    ]);
    const log = await ok(
      api(user.access).users.me.webhooks[':id'].deliveries.$get({ param: { id: String(webhook.id) } }),
    );
    expect(log.body.deliveries).toHaveLength(1);
  });

  it('the dead-letter queue marks a delivery failed when its messages kept crashing the consumer', async () => {
    const { user, webhook } = await hookedUser();
    await read(api(user.access).trakt['fetch-latest-movies'].$post());
    const id = sent.shift()!.body.delivery_id;
    const batch = createMessageBatch('webhook-deliveries-dlq', [
      { id: 'dead-1', timestamp: new Date(), attempts: 4, body: { delivery_id: id } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['dead-1']);
    const log = await ok(
      api(user.access).users.me.webhooks[':id'].deliveries.$get({ param: { id: String(webhook.id) } }),
    );
    expect(log.body.deliveries[0]).toMatchObject({
      id,
      status: 'failed',
      last_error: 'The delivery could not be processed',
    });
  });

  it('sync.failed: one delivery per failure streak', async () => {
    const { user, receiver } = await hookedUser(['sync.failed']);
    await sim.addFault({ match: { path_prefix: '/sync/last_activities' }, kind: '500', times: 40 });
    expect((await read(api(user.access).trakt['fetch-latest-movies'].$post())).status).toBeGreaterThanOrEqual(500);
    expect((await read(api(user.access).trakt['fetch-latest-movies'].$post())).status).toBeGreaterThanOrEqual(500);
    await drain();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.body).toMatchObject({ type: 'sync.failed', data: { error: expect.any(String) } });
  });
});
