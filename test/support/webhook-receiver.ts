/**
 * A webhook receiver inside the test harness: requests from the Worker to `https://hooks.receiver.test/…`
 * are answered here (in front of the upstream simulator's fetch routing), recorded, and their Standard
 * Webhooks signatures verified with the spec's reference library (`standardwebhooks`, tests only).
 * `respond` queues the statuses of the next answers (default 204); `302` answers a redirect.
 */
import { Webhook } from 'standardwebhooks';
import type { Simulator } from '../../simulator/support/harness';

export const RECEIVER_URL = 'https://hooks.receiver.test/incoming';

export type Received = {
  id: string;
  timestamp: string;
  signature: string;
  body: { type: string; timestamp: string; data: any };
  raw: string;
  verified: boolean;
};

export function installReceiver(sim: Simulator) {
  const received: Received[] = [];
  const statuses: number[] = [];
  const state = { secret: '' };
  const routeToSim = sim.fetchSpy.getMockImplementation()!;
  sim.fetchSpy.mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (new URL(request.url).hostname !== 'hooks.receiver.test') return routeToSim(input, init);
    const raw = await request.text();
    const headers = Object.fromEntries(request.headers);
    let verified = false;
    try {
      new Webhook(state.secret).verify(raw, headers);
      verified = true;
    } catch {
      verified = false;
    }
    received.push({
      id: headers['webhook-id'] ?? '',
      timestamp: headers['webhook-timestamp'] ?? '',
      signature: headers['webhook-signature'] ?? '',
      body: JSON.parse(raw),
      raw,
      verified,
    });
    const status = statuses.shift() ?? 204;
    if (status >= 300 && status < 400)
      return new Response(null, { status, headers: { Location: 'https://hooks.receiver.test/elsewhere' } });
    return new Response(status === 204 ? null : 'answer', { status });
  });
  return {
    received,
    respond: (...next: number[]) => statuses.push(...next),
    useSecret: (secret: string) => {
      state.secret = secret;
    },
  };
}
