/**
 * @module
 * One log line, one metric and one `cron_runs` record per cron run, success or failure. The
 * Worker entry wraps the scheduled handler in it; the cron's own steps stay free of logging.
 */
import { describeError, log } from './log';
import { writeMetric } from './metrics';
import { recordCronRun } from './records';

/** The figures a cron run reports (src/jobs/scheduled.ts produces them; its report has at least these). */
export type CronFigures = {
  refreshed: number;
  refresh_failures: number;
  claimed: number;
  enqueued: number;
  states_deleted: number;
};

export async function observeCronRun<Report extends CronFigures>(
  env: Env,
  run: () => Promise<Report>,
): Promise<Report> {
  const startedAt = Date.now();
  let report: Report;
  try {
    report = await run();
  } catch (error) {
    const finishedAt = Date.now();
    const failure = describeError(error);
    writeMetric('cron', ['failed'], [finishedAt - startedAt, 0, 0, 0, 0, 0]);
    log.error('cron', { outcome: 'failed', duration_ms: finishedAt - startedAt, ...failure });
    await saveRecord(env, { startedAt, finishedAt, outcome: 'failed', error: `${failure.error}: ${failure.message}` });
    throw error;
  }
  const finishedAt = Date.now();
  writeMetric(
    'cron',
    ['ok'],
    [
      finishedAt - startedAt,
      report.refreshed,
      report.refresh_failures,
      report.claimed,
      report.enqueued,
      report.states_deleted,
    ],
  );
  log.info('cron', { outcome: 'ok', duration_ms: finishedAt - startedAt, ...report });
  await saveRecord(env, {
    startedAt,
    finishedAt,
    outcome: 'ok',
    refreshed: report.refreshed,
    refreshFailures: report.refresh_failures,
    claimed: report.claimed,
    enqueued: report.enqueued,
    statesDeleted: report.states_deleted,
  });
  return report;
}

async function saveRecord(env: Env, record: Parameters<typeof recordCronRun>[1]): Promise<void> {
  try {
    await recordCronRun(env.DB, record);
  } catch (error) {
    // The run itself is done; a lost record only leaves the operator view one run behind.
    log.warn('cron_record_failed', describeError(error));
  }
}
