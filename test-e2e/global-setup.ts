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
  const { info, stop } = await startStack();
  project.provide('stack', info);
  return () => stop();
}
