/**
 * @module
 * The charts' geometry, with no DOM: which bars, cells and intensity levels to draw for the plays-per-month chart,
 * the calendar heatmap and the weekday × hour grid. Pure functions of the stats and `now`, so they are unit-tested
 * in the Workers runtime; `./chart-svg.ts` turns them into SVG.
 */

export type MonthBar = { month: string; plays: number; x: number; y: number; width: number; height: number };
export type Cell = { key: string; label: string; plays: number; x: number; y: number; level: 0 | 1 | 2 | 3 | 4 };

/** `YYYY-MM` of a UTC date. */
export function monthKey(date: Date): string {
  return date.toISOString().slice(0, 7);
}

/** The last `count` months up to `now`'s month, oldest first, with their plays (0 where the stats have none). */
export function lastMonths(byMonth: ReadonlyArray<{ month: string; plays: number }>, now: Date, count = 24) {
  const plays = new Map(byMonth.map((m) => [m.month, m.plays]));
  const months: Array<{ month: string; plays: number }> = [];
  for (let i = count - 1; i >= 0; i--) {
    const key = monthKey(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1)));
    months.push({ month: key, plays: plays.get(key) ?? 0 });
  }
  return months;
}

/** Bars of a chart `width` × `height` (in SVG units), one per month, scaled to the busiest month. */
export function monthBars(months: ReadonlyArray<{ month: string; plays: number }>, width: number, height: number) {
  const max = Math.max(1, ...months.map((m) => m.plays));
  const slot = width / Math.max(1, months.length);
  const bars: MonthBar[] = months.map((m, i) => {
    const barHeight = m.plays === 0 ? 0 : Math.max(1, Math.round((m.plays / max) * height));
    return {
      month: m.month,
      plays: m.plays,
      x: i * slot + 1,
      y: height - barHeight,
      width: slot - 2,
      height: barHeight,
    };
  });
  return { bars, max };
}

/** 0 for nothing, then 1–4 by quarter of the busiest value: the usual heatmap scale. */
export function level(value: number, max: number): Cell['level'] {
  if (value <= 0 || max <= 0) return 0;
  return Math.min(4, Math.max(1, Math.ceil((value / max) * 4))) as Cell['level'];
}

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` of a UTC date. */
export function dayKey(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * GitHub-style calendar of the `days` days up to `now`: one column per week (Monday first), one row per weekday.
 * `size` is a cell's side including its gap.
 */
export function calendarCells(byDay: ReadonlyArray<{ date: string; plays: number }>, now: Date, days = 365, size = 12) {
  const plays = new Map(byDay.map((d) => [d.date, d.plays]));
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const first = today - (days - 1) * DAY_MS;
  const firstWeekday = (new Date(first).getUTCDay() + 6) % 7; // Monday = 0
  const values = Array.from({ length: days }, (_, i) => plays.get(dayKey(new Date(first + i * DAY_MS))) ?? 0);
  const max = Math.max(0, ...values);
  const cells: Cell[] = values.map((count, i) => {
    const slot = firstWeekday + i;
    const key = dayKey(new Date(first + i * DAY_MS));
    return {
      key,
      label: `${key}: ${count} ${count === 1 ? 'play' : 'plays'}`,
      plays: count,
      x: Math.floor(slot / 7) * size,
      y: (slot % 7) * size,
      level: level(count, max),
    };
  });
  return { cells, weeks: Math.ceil((firstWeekday + days) / 7), max };
}

export const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

/** The 7 × 24 grid (Monday first, hours 0–23), one cell per weekday and hour. */
export function weekdayHourCells(grid: ReadonlyArray<ReadonlyArray<number>>, size = 14) {
  const max = Math.max(0, ...grid.flat());
  const cells: Cell[] = [];
  WEEKDAYS.forEach((day, d) => {
    for (let hour = 0; hour < 24; hour++) {
      const count = grid[d]?.[hour] ?? 0;
      cells.push({
        key: `${d}-${hour}`,
        label: `${day} ${String(hour).padStart(2, '0')}:00: ${count} ${count === 1 ? 'play' : 'plays'}`,
        plays: count,
        x: hour * size,
        y: d * size,
        level: level(count, max),
      });
    }
  });
  return { cells, max };
}

/** "3 hours ago", "in 5 minutes", "2 days ago": the coarsest unit that fits. */
export function relativeTime(iso: string, now: number, locale?: string): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const units: Array<[Intl.RelativeTimeFormatUnit, number]> = [
    ['year', 31_536_000],
    ['month', 2_592_000],
    ['week', 604_800],
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ];
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return format.format(Math.trunc(seconds / size), unit);
  }
  return format.format(0, 'minute');
}

/** `S01E02`. */
export function episodeCode(season: number, episode: number): string {
  return `S${String(season).padStart(2, '0')}E${String(episode).padStart(2, '0')}`;
}
