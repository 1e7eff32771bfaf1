/**
 * The HTTP helpers of the Node benchmarks that drive a `wrangler dev` stack (bench/throughput.ts, bench/cpu.ts):
 * one JSON request to 127.0.0.1, and the check that stops a benchmark with what it saw.
 */

export type Json = Record<string, any>;

/** Stops the benchmark unless `ok`, naming what failed and what was seen. */
export function must(ok: boolean, what: string, detail: unknown): void {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

/** One request with an optional JSON body and bearer token; the answer's body parsed as JSON (`{text}` if not). */
export async function json(
  url: string,
  method = 'GET',
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual',
  });
  const text = await res.text();
  let parsed: Json = {};
  try {
    parsed = text ? (JSON.parse(text) as Json) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}
