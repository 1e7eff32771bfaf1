/**
 * @module
 * Draws the charts from `./charts.ts` geometry as inline SVG. Colours come from CSS classes (`l0`–`l4`, `bar`) in the
 * page's stylesheet, so the charts follow the light or dark scheme; every bar and cell carries a `<title>` with its
 * figure, and each chart an accessible name.
 */
import { type Cell, calendarCells, lastMonths, monthBars, WEEKDAYS, weekdayHourCells } from './charts';
import { svg } from './dom';

const CHART_HEIGHT = 120;
const CHART_WIDTH = 480;

export function monthChart(byMonth: ReadonlyArray<{ month: string; plays: number }>, now: Date): SVGSVGElement {
  const months = lastMonths(byMonth, now, 24);
  const { bars, max } = monthBars(months, CHART_WIDTH, CHART_HEIGHT);
  const total = months.reduce((sum, m) => sum + m.plays, 0);
  const chart = svg('svg', {
    id: 'month-chart',
    viewBox: `0 0 ${CHART_WIDTH} ${CHART_HEIGHT + 16}`,
    role: 'img',
    'aria-label': `Plays per month for the last 24 months: ${total} plays, busiest month ${max}`,
    class: 'chart',
  });
  for (const bar of bars) {
    chart.append(
      svg(
        'rect',
        { class: 'bar', x: bar.x, y: bar.y, width: bar.width, height: bar.height, 'data-month': bar.month },
        svg('title', {}, `${bar.month}: ${bar.plays} ${bar.plays === 1 ? 'play' : 'plays'}`),
      ),
    );
  }
  const first = bars[0];
  const last = bars[bars.length - 1];
  if (first && last) {
    chart.append(
      svg('text', { x: first.x, y: CHART_HEIGHT + 13, class: 'axis' }, first.month),
      svg('text', { x: last.x + last.width, y: CHART_HEIGHT + 13, class: 'axis', 'text-anchor': 'end' }, last.month),
    );
  }
  return chart;
}

function cellRects(chart: SVGSVGElement, cells: Cell[], side: number, offsetX: number, offsetY: number): void {
  for (const cell of cells) {
    chart.append(
      svg(
        'rect',
        {
          class: `l${cell.level}`,
          x: cell.x + offsetX,
          y: cell.y + offsetY,
          width: side,
          height: side,
          rx: 2,
          'data-key': cell.key,
          'data-plays': cell.plays,
        },
        svg('title', {}, cell.label),
      ),
    );
  }
}

export function calendarHeatmap(byDay: ReadonlyArray<{ date: string; plays: number }>, now: Date): SVGSVGElement {
  const size = 12;
  const { cells, weeks } = calendarCells(byDay, now, 365, size);
  const total = cells.reduce((sum, c) => sum + c.plays, 0);
  const labelWidth = 28;
  const chart = svg('svg', {
    id: 'heatmap',
    viewBox: `0 0 ${labelWidth + weeks * size} ${7 * size}`,
    role: 'img',
    'aria-label': `Plays per day for the last 365 days: ${total} plays`,
    class: 'chart',
  });
  for (const [d, name] of WEEKDAYS.entries()) {
    if (d % 2 === 0) chart.append(svg('text', { x: 0, y: d * size + 9, class: 'axis' }, name));
  }
  cellRects(chart, cells, size - 2, labelWidth, 0);
  return chart;
}

export function weekdayHourGrid(grid: ReadonlyArray<ReadonlyArray<number>>): SVGSVGElement {
  const size = 14;
  const { cells } = weekdayHourCells(grid, size);
  const labelWidth = 30;
  const chart = svg('svg', {
    id: 'weekday-hour',
    viewBox: `0 0 ${labelWidth + 24 * size} ${7 * size + 14}`,
    role: 'img',
    'aria-label': 'Plays by weekday and hour of day',
    class: 'chart',
  });
  for (const [d, name] of WEEKDAYS.entries())
    chart.append(svg('text', { x: 0, y: d * size + 11, class: 'axis' }, name));
  for (const hour of [0, 6, 12, 18]) {
    chart.append(svg('text', { x: labelWidth + hour * size, y: 7 * size + 12, class: 'axis' }, `${hour}h`));
  }
  cellRects(chart, cells, size - 2, labelWidth, 0);
  return chart;
}
