/**
 * Vitest global setup for the e2e suite: one simulator + API stack for all test files
 * (they run one at a time, since the simulator's "signed-in Trakt user" is global), torn down
 * after the run whatever its outcome.
 */
import type { TestProject } from 'vitest/node';
import { type StackInfo, startStack } from '../simulator/support/stack';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

export default async function setup(project: TestProject) {
  // No daily D1 budget: the whole suite writes more rows than a Free day's default, and a paused background would
  // stall whichever file comes last (the budget's pause and resume are tested in workerd, test/budget.test.ts).
  const { info, stop } = await startStack({
    vars: { D1_DAILY_ROWS_WRITTEN_BUDGET: '0', D1_DAILY_ROWS_READ_BUDGET: '0' },
  });
  project.provide('stack', info);
  return () => stop();
}
