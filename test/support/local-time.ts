/**
 * The independent oracle for weekday × hour grids: Intl's local weekday and hour of each instant,
 * one play at a time (the API computes them in SQL from stored offset intervals).
 */

export type Cell = { weekday: number; hour: number };
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** The local cell (Monday = 0) of an instant in a zone. */
export function localCell(iso: string, timeZone: string): Cell {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(iso));
  return {
    weekday: WEEKDAYS.indexOf(parts.find((p) => p.type === 'weekday')!.value),
    hour: Number(parts.find((p) => p.type === 'hour')!.value),
  };
}

/** 7 × 24 counts of cells. */
export function grid(cells: Cell[]): number[][] {
  const result = Array.from({ length: 7 }, () => Array.from({ length: 24 }, () => 0));
  for (const c of cells) result[c.weekday]![c.hour]! += 1;
  return result;
}

/** The grid of every play of a list in a zone. */
export function gridOf(plays: ReadonlyArray<{ watched_at: string }>, timeZone: string): number[][] {
  return grid(plays.map((p) => localCell(p.watched_at, timeZone)));
}
