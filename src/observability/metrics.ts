/**
 * @module
 * Metrics as Workers Analytics Engine data points (binding `METRICS`, dataset
 * `trakt_history_metrics`). One data point per event; the layout of each event is below and in
 * README "Operating it", which also has the SQL API queries that read them.
 *
 * Each event's name is `blob1` (and `index1`):
 * - `sync`: blob2 outcome `ok`/`failed`, blob3 reason, blob4 kinds, blob5 trigger `request`/`queue`;
 *   double1 duration ms, double2 Trakt calls, double3 TMDB calls, double4 D1 rows read, double5 D1
 *   rows written.
 * - `upstream`: blob2 service `Trakt`/`TMDB`, blob3 host, blob4 status (`200`, `429`, …, `timeout`,
 *   `network_error`); double1 1.
 * - `refresh`: blob2 outcome; double1 1.
 * - `cron`: blob2 outcome `ok`/`failed`; double1 duration ms, double2 refreshed, double3 refresh
 *   failures, double4 claimed, double5 enqueued, double6 OAuth states deleted.
 * - `queue`: blob2 queue, blob3 outcome; double1 attempts.
 *
 * Writing never throws and never waits: without the binding (local runs, tests that do not
 * inject one) it does nothing. No blob ever holds a user id, token or URL path with ids.
 */
import { log } from './log';
import { currentScope } from './scope';

export type MetricEvent = 'sync' | 'upstream' | 'refresh' | 'cron' | 'queue';

export function writeMetric(event: MetricEvent, blobs: string[], doubles: number[]): void {
  const dataset = currentScope()?.metrics;
  if (!dataset) return;
  try {
    dataset.writeDataPoint({ indexes: [event], blobs: [event, ...blobs], doubles });
  } catch (error) {
    log.warn('metric_write_failed', { metric: event, message: error instanceof Error ? error.message : String(error) });
  }
}
