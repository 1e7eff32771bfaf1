/**
 * @module
 * Owns `reseal_progress` (migration 0015): where the background re-encryption stands in its pass over
 * each table of envelopes, so a step resumes where the last one stopped, and what the last complete pass
 * could not re-seal, so the cron stops asking for passes that cannot change anything. The pass rules
 * are pure functions of the stored row and what a step found.
 */
import { type Database, isoNow } from '../db/client';
import { resealProgress } from '../db/schema';

/** The tables that hold envelopes the rotation re-seals. */
export type ResealTarget = 'api_keys' | 'trakt_connections';
export const RESEAL_TARGETS: readonly ResealTarget[] = ['api_keys', 'trakt_connections'];

export type Progress = {
  target: ResealTarget;
  /** ENCRYPTION_KEYS' key ids the pass runs under (`ringKeyIds`). */
  keyIds: string;
  /** The last row handled in this pass; 0 at the start of one. */
  afterId: number;
  /** Envelopes this pass could not re-seal so far. */
  skipped: number;
  /** What the last complete pass under these key ids could not re-seal; null until one completed. */
  unresealable: number | null;
};

/** What one step did to one table. */
export type StepResult = {
  /** Rows the step looked at (at most its limit); fewer than the limit means it reached the end. */
  found: number;
  /** The last row id it looked at. */
  lastId: number;
  /** Envelopes that did not open (key missing, or tampered with). */
  skipped: number;
  /** Whether it reached the end of the table. */
  complete: boolean;
};

/** The ring as a pass sees it: primary first, then the others in order. Another list starts another pass. */
export function ringKeyIds(keyIds: Iterable<string>): string {
  return [...keyIds].join(',');
}

/** Where a step starts: the stored pass, or a new one when there is none or it ran under other key ids. */
export function passFor(stored: Progress | undefined, target: ResealTarget, keyIds: string): Progress {
  if (stored && stored.keyIds === keyIds) return stored;
  return { target, keyIds, afterId: 0, skipped: 0, unresealable: null };
}

/** The pass after a step: moved past the rows it looked at, or complete (back to 0, with its count of failures). */
export function advance(pass: Progress, step: StepResult): Progress {
  const skipped = pass.skipped + step.skipped;
  if (step.complete) return { ...pass, afterId: 0, skipped: 0, unresealable: skipped };
  return { ...pass, afterId: step.lastId, skipped };
}

/** Whether the pass has run to the end of its table (and not started again since). */
export function completed(pass: Progress): boolean {
  return pass.unresealable !== null && pass.afterId === 0;
}

/**
 * Whether a complete pass under `keyIds` already found everything that is left: every envelope not
 * sealed with the primary key (`pending`) is one the passes could not re-seal. Then another pass would
 * change nothing (until a key is put back, which changes the key ids, or new old-key envelopes appear).
 */
export function settled(passes: ReadonlyArray<Progress | undefined>, keyIds: string, pending: number): boolean {
  let unresealable = 0;
  for (const pass of passes) {
    if (!pass || pass.keyIds !== keyIds || !completed(pass)) return false;
    unresealable += pass.unresealable!;
  }
  return pending <= unresealable;
}

const columns = {
  target: resealProgress.target,
  keyIds: resealProgress.keyIds,
  afterId: resealProgress.afterId,
  skipped: resealProgress.skipped,
  unresealable: resealProgress.unresealable,
};

/** The query reading both rows (for the caller's batch). */
export function progressQuery(db: Database) {
  return db.select(columns).from(resealProgress);
}

/** The rows `progressQuery` read, by table. */
export function progressByTarget(rows: ReadonlyArray<Omit<Progress, 'target'> & { target: string }>) {
  const byTarget: Partial<Record<ResealTarget, Progress>> = {};
  for (const row of rows) byTarget[row.target as ResealTarget] = { ...row, target: row.target as ResealTarget };
  return byTarget;
}

/** The statement storing a pass (for the batch that writes the step's re-sealed envelopes). */
export function saveProgress(db: Database, pass: Progress, now: number) {
  const values = {
    keyIds: pass.keyIds,
    afterId: pass.afterId,
    skipped: pass.skipped,
    unresealable: pass.unresealable,
    updatedAt: isoNow(now),
  };
  return db
    .insert(resealProgress)
    .values({ target: pass.target, ...values })
    .onConflictDoUpdate({ target: resealProgress.target, set: values });
}
