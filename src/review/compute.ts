/**
 * @module
 * The pure parts of the year in review: streaks and busiest day from the day rollups, months from
 * the month rollups (UTC, like the rollups themselves).
 */

export type DayCount = { date: string; plays: number };

const nextDay = (date: string) => new Date(Date.parse(`${date}T00:00:00.000Z`) + 86_400_000).toISOString().slice(0, 10);

/** The longest run of consecutive days with plays (the earliest such run on a tie). */
export function longestStreak(days: readonly DayCount[]): { days: number; start: string; end: string } | null {
  const active = days
    .filter((d) => d.plays > 0)
    .map((d) => d.date)
    .sort();
  let best: { days: number; start: string; end: string } | null = null;
  let start = '';
  let length = 0;
  let previous = '';
  for (const date of active) {
    if (length > 0 && date === nextDay(previous)) length += 1;
    else {
      start = date;
      length = 1;
    }
    previous = date;
    if (!best || length > best.days) best = { days: length, start, end: date };
  }
  return best;
}

/** The day with the most plays (the earliest on a tie). */
export function busiestDay(days: readonly DayCount[]): DayCount | null {
  let best: DayCount | null = null;
  for (const day of [...days].sort((a, b) => (a.date < b.date ? -1 : 1)))
    if (day.plays > 0 && (!best || day.plays > best.plays)) best = { date: day.date, plays: day.plays };
  return best;
}

export const hours = (minutes: number) => Math.round((minutes / 60) * 10) / 10;

/** All 12 months of the year, January first, zero where nothing was played. */
export function twelveMonths(year: number, months: ReadonlyArray<{ month: string; plays: number; minutes: number }>) {
  const byMonth = new Map(months.map((m) => [m.month, m]));
  return Array.from({ length: 12 }, (_, i) => {
    const month = `${year}-${String(i + 1).padStart(2, '0')}`;
    const row = byMonth.get(month);
    return { month, plays: row?.plays ?? 0, hours: hours(row?.minutes ?? 0) };
  });
}
