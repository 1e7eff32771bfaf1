/**
 * A discrete-event model of one deployment's fleet under the app-wide limiters, built from the
 * code's own pure functions: the cron's spread (jobs/fan-out.ts), the limiter's slot maths
 * (pacing/token-bucket.ts) and the deferral delay (jobs/deferral.ts). Used by fleet.bench.test.ts.
 *
 * What it models: every user is due once per interval at its phase (the cron delivers each message
 * at that time); a sync is a chain of Trakt calls (the mix below), each call takes a send time from
 * the Trakt limiter and lasts a fixed latency. A finished sync that touched titles queues an
 * enrichment run on `trakt-enrich`, whose consumers run at most ENRICH_CONCURRENCY at a time
 * (wrangler.toml `max_concurrency`), first in first out; a run's TMDB calls go out in groups of
 * ENRICH_LANES in flight (src/tmdb/enrich.ts), each taking a send time from the TMDB limiter. A call
 * that would wait longer than MAX_INLINE_WAIT_MS is refused: a Trakt refusal defers the whole sync
 * (it comes back at the limiter's return time plus the deferral jitter and starts over, as the
 * queue consumer does); a TMDB refusal defers the enrichment run the same way (it comes back to the
 * end of the enrichment queue and resumes with the calls it has left).
 * What it leaves out: batch reservations (they change limiter round trips, not rates), the sync
 * queue's consumer cap (reported as the peak of syncs in flight instead), D1 time.
 */
import { deferralDelaySeconds } from '../src/jobs/deferral';
import { fanOutDelaySeconds } from '../src/jobs/fan-out';
import { MAX_INLINE_WAIT_MS } from '../src/pacing/gate';
import { type BucketState, EMPTY_BUCKET, reserveSlots } from '../src/pacing/token-bucket';
import { userPhaseOffsetMs } from '../src/sync/schedule';
import type { FleetModelRow, FleetProfile } from './fleet-format';

/** One upstream request's send slot, as a client asks the limiter for it (refused past the inline wait). */
function oneSlot(bucket: BucketState, at: number, ratePerSecond: number) {
  return reserveSlots(bucket, at, { count: 1, ratePerSecond, maxWaitMs: MAX_INLINE_WAIT_MS });
}

export type SyncProfile = FleetProfile;

/**
 * The hourly mix assumed for a background sync (figures per kind from BENCHMARKS.md "Upstream calls
 * per sync"): most hours nothing changed (one /sync/last_activities call); some hours a few plays
 * (last_activities + watched + playback + history for one or both kinds, and a few TMDB titles and
 * seasons); rarely a bigger change.
 */
export const DEFAULT_MIX: SyncProfile[] = [
  { name: 'no-op', share: 0.8, traktCalls: 1, tmdbCalls: 0 },
  { name: 'a few new plays', share: 0.18, traktCalls: 6, tmdbCalls: 3 },
  { name: 'a bigger change', share: 0.02, traktCalls: 14, tmdbCalls: 20 },
];

export type ModelInput = {
  users: number;
  intervalMinutes: number;
  cronPeriodMs: number;
  traktRps: number;
  tmdbRps: number;
  hours: number;
  traktLatencyMs?: number;
  tmdbLatencyMs?: number;
  mix?: SyncProfile[];
};

/** The figures of one simulated fleet hour (declared once, with the table that prints them). */
export type ModelResult = FleetModelRow;

/** Enrichment runs at once (wrangler.toml: trakt-enrich `max_concurrency`). */
export const ENRICH_CONCURRENCY = 2;
/** TMDB calls one enrichment run has in flight at once (src/tmdb/enrich.ts CONCURRENCY). */
const ENRICH_LANES = 8;

type Job = {
  due: number;
  traktLeft: number;
  tmdbLeft: number;
  profile: SyncProfile;
  deferrals: number;
  /** `sync`: the Trakt chain; `enrich`: an enrichment run in progress; `queued`: back on trakt-enrich. */
  stage: 'sync' | 'enrich' | 'queued';
  /** When its enrichment was queued (for the wait figures). */
  enrichQueuedAt?: number;
};
type Event = { at: number; job: Job; seq: number };

/** A binary min-heap on (at, seq): events run in time order, ties in insertion order. */
class EventQueue {
  private heap: Event[] = [];
  private seq = 0;
  get size() {
    return this.heap.length;
  }
  push(at: number, job: Job) {
    const heap = this.heap;
    heap.push({ at, job, seq: this.seq++ });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }
  pop(): Event | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && this.less(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && this.less(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
  private less(a: Event, b: Event) {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

/** A small deterministic PRNG (mulberry32), so a run's figures are reproducible. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

export function simulateFleet(input: ModelInput): ModelResult {
  const mix = input.mix ?? DEFAULT_MIX;
  const traktLatency = input.traktLatencyMs ?? 250;
  const tmdbLatency = input.tmdbLatencyMs ?? 120;
  const intervalMs = input.intervalMinutes * 60_000;
  const env = { SYNC_INTERVAL_MINUTES: String(input.intervalMinutes) };
  const random = prng(15);
  const end = input.hours * 3_600_000;
  const measureFrom = end - 3_600_000;
  const events = new EventQueue();

  const pick = () => {
    let r = random();
    for (const profile of mix) {
      if (r < profile.share) return profile;
      r -= profile.share;
    }
    return mix[mix.length - 1]!;
  };
  // Each phase point P of a user is claimed by the cron run T with T <= P < T + period and delivered at
  // T + its fan-out delay.
  let syncsDue = 0;
  for (let user = 1; user <= input.users; user++) {
    for (let phasePoint = userPhaseOffsetMs(user, intervalMs); phasePoint < end; phasePoint += intervalMs) {
      const runTime = Math.floor(phasePoint / input.cronPeriodMs) * input.cronPeriodMs;
      const deliverAt = runTime + fanOutDelaySeconds(env, user, runTime, input.cronPeriodMs) * 1000;
      const profile = pick();
      if (deliverAt >= measureFrom && deliverAt < end) syncsDue++;
      events.push(deliverAt, {
        due: deliverAt,
        traktLeft: profile.traktCalls,
        tmdbLeft: profile.tmdbCalls,
        profile,
        deferrals: 0,
        stage: 'sync',
      });
    }
  }

  let trakt: BucketState = EMPTY_BUCKET;
  let tmdb: BucketState = EMPTY_BUCKET;
  const traktPerSecond = new Map<number, number>();
  const tmdbPerSecond = new Map<number, number>();
  const count = (map: Map<number, number>, at: number) => {
    if (at >= measureFrom && at < end) map.set(Math.floor(at / 1000), (map.get(Math.floor(at / 1000)) ?? 0) + 1);
  };
  let completed = 0;
  let deferrals = 0;
  let enrichDeferrals = 0;
  const enrichWaits: number[] = [];
  const enrichQueue: Job[] = [];
  let enrichRunning = 0;
  const startEnrichment = (at: number) => {
    while (enrichRunning < ENRICH_CONCURRENCY && enrichQueue.length > 0) {
      const job = enrichQueue.shift()!;
      enrichRunning++;
      job.stage = 'enrich';
      events.push(at, job);
    }
  };
  let inFlight = 0;
  let peakInFlight = 0;
  const delays: number[] = [];
  let unfinishedDue = 0;

  for (let event = events.pop(); event; event = events.pop()) {
    const { at, job } = event;
    if (at >= end) {
      if (job.due < end && job.stage === 'sync') unfinishedDue++;
      continue;
    }
    if (job.stage === 'queued') {
      // A deferred enrichment message is delivered again: back to the end of the enrichment queue.
      enrichQueue.push(job);
      startEnrichment(at);
      continue;
    }
    if (job.stage === 'enrich') {
      if (job.tmdbLeft > 0) {
        const answer = oneSlot(tmdb, at, input.tmdbRps);
        tmdb = answer.state;
        if (answer.granted) {
          const sendAt = answer.slots[0]!;
          count(tmdbPerSecond, sendAt);
          job.tmdbLeft--;
          // The next call of the run goes out with this one, except after each group of ENRICH_LANES.
          const doneInRun = job.profile.tmdbCalls - job.tmdbLeft;
          events.push(doneInRun % ENRICH_LANES === 0 ? sendAt + tmdbLatency : sendAt, job);
          continue;
        }
        enrichRunning--;
        if (at >= measureFrom) enrichDeferrals++;
        job.stage = 'queued';
        events.push(at + deferralDelaySeconds(answer.retryAfterMs / 1000, random()) * 1000, job);
        startEnrichment(at);
        continue;
      }
      enrichRunning--;
      if (at >= measureFrom) enrichWaits.push((at - job.enrichQueuedAt!) / 60_000);
      startEnrichment(at);
      continue;
    }
    const fresh = job.traktLeft === job.profile.traktCalls;
    if (fresh) {
      inFlight++;
      if (at >= measureFrom) peakInFlight = Math.max(peakInFlight, inFlight);
    }
    if (job.traktLeft > 0) {
      const answer = oneSlot(trakt, at, input.traktRps);
      trakt = answer.state;
      if (!answer.granted) {
        // The consumer defers the message; the sync starts over when it comes back.
        inFlight--;
        if (at >= measureFrom) deferrals++;
        job.deferrals++;
        job.traktLeft = job.profile.traktCalls;
        events.push(at + deferralDelaySeconds(answer.retryAfterMs / 1000, random()) * 1000, job);
        continue;
      }
      const sendAt = answer.slots[0]!;
      count(traktPerSecond, sendAt);
      job.traktLeft--;
      events.push(sendAt + traktLatency, job);
      continue;
    }
    inFlight--;
    if (at >= measureFrom) {
      completed++;
      delays.push((at - job.due) / 60_000);
    }
    // The sync's last chunk queues the titles it touched on trakt-enrich.
    if (job.tmdbLeft > 0) {
      job.enrichQueuedAt = at;
      enrichQueue.push(job);
      startEnrichment(at);
    }
  }

  const sortedDelays = delays.sort((a, b) => a - b);
  const sum = (map: Map<number, number>) => [...map.values()].reduce((n, v) => n + v, 0);
  const demandPerHour =
    (input.users * (60 / input.intervalMinutes) * mix.reduce((n, p) => n + p.share * p.traktCalls, 0)) /
    (input.traktRps * 3600);
  const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
  return {
    users: input.users,
    interval_minutes: input.intervalMinutes,
    trakt_rps_limit: input.traktRps,
    tmdb_rps_limit: input.tmdbRps,
    syncs_due: syncsDue,
    syncs_completed: completed,
    deferrals,
    trakt_calls: sum(traktPerSecond),
    tmdb_calls: sum(tmdbPerSecond),
    trakt_peak_per_second: Math.max(0, ...traktPerSecond.values()),
    trakt_mean_per_second: round(sum(traktPerSecond) / 3600),
    tmdb_peak_per_second: Math.max(0, ...tmdbPerSecond.values()),
    tmdb_mean_per_second: round(sum(tmdbPerSecond) / 3600),
    peak_syncs_in_flight: peakInFlight,
    delay_p50_minutes: round(percentile(sortedDelays, 0.5)),
    delay_p95_minutes: round(percentile(sortedDelays, 0.95)),
    delay_max_minutes: round(sortedDelays[sortedDelays.length - 1] ?? 0),
    backlog_at_end: unfinishedDue,
    enrich_deferrals: enrichDeferrals,
    enrich_wait_p95_minutes: round(
      percentile(
        enrichWaits.sort((a, b) => a - b),
        0.95,
      ),
    ),
    enrich_waiting_at_end: enrichQueue.length + enrichRunning,
    trakt_demand_ratio: round(demandPerHour, 2),
  };
}
