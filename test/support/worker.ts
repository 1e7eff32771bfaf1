/**
 * Calls the Worker entry (src/index.ts) directly with a modified env, for tests that need a
 * binding or var the shared test env does not have (a fake Analytics Engine dataset, LOG_LEVEL,
 * ADMIN_TOKEN). Same response shape as `call()` in ./api.ts; `apiWith()` in ./client.ts is its typed client.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import worker from '../../src/index';
import { BASE, type JsonResponse } from './api';

export type EnvOverrides = Partial<Record<keyof Env, unknown>>;

export function envWith(overrides: EnvOverrides): Env {
  return { ...env, ...overrides } as Env;
}

/** A `fetch` into the Worker entry with `overrides` in its env, waiting for its `waitUntil` work (for `hono/client`). */
export function workerWith(overrides: EnvOverrides) {
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(input, init) as Parameters<typeof worker.fetch>[0],
      envWith(overrides),
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return res;
  };
}

export async function callWith<T = any>(
  overrides: EnvOverrides,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const headers = new Headers(options.headers);
  if (options.token) headers.set('Authorization', `Bearer ${options.token}`);
  let body: string | undefined;
  if (options.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(options.json);
  }
  const res = await workerWith(overrides)(`${BASE}${path}`, { method, headers, body });
  const text = await res.text();
  const parsed = res.headers.get('Content-Type')?.includes('application/json') && text ? JSON.parse(text) : text;
  return { status: res.status, headers: res.headers, body: parsed as T };
}

/** A fake Analytics Engine dataset: records every data point (Analytics Engine has no local query API). */
export function fakeDataset() {
  const points: AnalyticsEngineDataPoint[] = [];
  return {
    points,
    dataset: {
      writeDataPoint: (point?: AnalyticsEngineDataPoint) => points.push(point ?? {}),
    } as AnalyticsEngineDataset,
    /** Points of one event (blob1), as [blobs after the event, doubles]. */
    of(event: string) {
      return points
        .filter((p) => p.blobs?.[0] === event)
        .map((p) => ({ blobs: (p.blobs ?? []).slice(1).map(String), doubles: p.doubles ?? [] }));
    },
  };
}
