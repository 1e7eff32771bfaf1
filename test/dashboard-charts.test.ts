/** The dashboard's chart geometry and formatting (src/web/dashboard/browser/charts.ts): pure functions of `now`. */
import { describe, expect, it } from 'vitest';
import {
  calendarCells,
  episodeCode,
  lastMonths,
  level,
  monthBars,
  relativeTime,
  weekdayHourCells,
} from '../src/web/dashboard/browser/charts';

const NOW = new Date('2025-03-15T12:00:00Z'); // a Saturday

describe('lastMonths', () => {
  it('lists the last 24 months oldest first, across a year boundary, with zeros where there were no plays', () => {
    const months = lastMonths(
      [
        { month: '2025-03', plays: 4 },
        { month: '2024-12', plays: 2 },
        { month: '2023-01', plays: 9 }, // older than the window
      ],
      NOW,
    );
    expect(months).toHaveLength(24);
    expect(months[0]).toEqual({ month: '2023-04', plays: 0 });
    expect(months[23]).toEqual({ month: '2025-03', plays: 4 });
    expect(months.find((m) => m.month === '2024-12')).toEqual({ month: '2024-12', plays: 2 });
    expect(months.reduce((sum, m) => sum + m.plays, 0)).toBe(6);
  });
});

describe('monthBars', () => {
  it('scales bars to the busiest month and draws nothing for an empty month', () => {
    const { bars, max } = monthBars(
      [
        { month: '2025-01', plays: 10 },
        { month: '2025-02', plays: 0 },
        { month: '2025-03', plays: 5 },
      ],
      300,
      100,
    );
    expect(max).toBe(10);
    expect(bars.map((b) => b.height)).toEqual([100, 0, 50]);
    expect(bars.map((b) => b.y)).toEqual([0, 100, 50]);
    expect(bars.map((b) => b.x)).toEqual([1, 101, 201]);
    expect(bars.every((b) => b.width === 98)).toBe(true);
  });
});

describe('level', () => {
  it('is 0 for no plays and 1–4 by quarter of the maximum', () => {
    expect([0, 1, 2, 3, 4, 5, 8].map((v) => level(v, 8))).toEqual([0, 1, 1, 2, 2, 3, 4]);
    expect(level(3, 0)).toBe(0);
  });
});

describe('calendarCells', () => {
  it('lays 365 days out by week (Monday first) ending today, with levels from the day counts', () => {
    const { cells, weeks, max } = calendarCells(
      [
        { date: '2025-03-15', plays: 4 },
        { date: '2025-03-14', plays: 1 },
        { date: '2024-03-16', plays: 2 }, // the first day of the window
        { date: '2024-03-15', plays: 7 }, // one day too old
      ],
      NOW,
      365,
      12,
    );
    expect(cells).toHaveLength(365);
    expect(max).toBe(4);
    const first = cells[0]!;
    const last = cells[364]!;
    expect(first).toMatchObject({ key: '2024-03-16', plays: 2, y: 5 * 12, x: 0, level: 2 }); // a Saturday
    expect(last).toMatchObject({ key: '2025-03-15', plays: 4, y: 5 * 12, level: 4, label: '2025-03-15: 4 plays' });
    expect(cells[363]).toMatchObject({ key: '2025-03-14', plays: 1, y: 4 * 12, level: 1, label: '2025-03-14: 1 play' });
    expect(weeks).toBe(Math.ceil((5 + 365) / 7));
    expect(last.x).toBe((weeks - 1) * 12);
  });
});

describe('weekdayHourCells', () => {
  it('draws 7 × 24 cells, Monday first, with labels and levels', () => {
    const grid = Array.from({ length: 7 }, () => Array.from({ length: 24 }, () => 0));
    grid[0]![20] = 6;
    grid[6]![9] = 3;
    const { cells, max } = weekdayHourCells(grid, 14);
    expect(cells).toHaveLength(168);
    expect(max).toBe(6);
    expect(cells.find((c) => c.key === '0-20')).toMatchObject({ x: 280, y: 0, level: 4, label: 'Mon 20:00: 6 plays' });
    expect(cells.find((c) => c.key === '6-9')).toMatchObject({ x: 126, y: 84, level: 2, label: 'Sun 09:00: 3 plays' });
    expect(cells.filter((c) => c.level > 0)).toHaveLength(2);
  });
});

describe('formatting', () => {
  it('says how long ago in the coarsest unit that fits', () => {
    const now = Date.parse('2025-03-15T12:00:00Z');
    expect(relativeTime('2025-03-15T09:00:00Z', now, 'en')).toBe('3 hours ago');
    expect(relativeTime('2025-03-13T12:00:00Z', now, 'en')).toBe('2 days ago');
    expect(relativeTime('2025-03-15T11:59:40Z', now, 'en')).toBe('this minute');
    expect(relativeTime('2025-03-15T12:05:00Z', now, 'en')).toBe('in 5 minutes');
  });

  it('writes episode codes as SxxEyy', () => {
    expect(episodeCode(1, 2)).toBe('S01E02');
    expect(episodeCode(12, 105)).toBe('S12E105');
  });
});
