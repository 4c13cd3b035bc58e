// Windowing for the live table: only the rows in (and near) the viewport are in the DOM, so a
// frame's repaint costs the same with 500 rows kept as with 30. Rows have one fixed height; the
// one expanded row adds its measured extra height below it.

export interface RowWindow {
  start: number;
  /** Exclusive. */
  end: number;
  /** Heights of the spacers before and after the rendered rows. */
  before: number;
  after: number;
}

export function rowWindow(
  scrollTop: number,
  viewport: number,
  count: number,
  rowHeight: number,
  expandedIndex = -1,
  expandedExtra = 0,
  overscan = 8,
): RowWindow {
  const top = (i: number): number => i * rowHeight + (expandedIndex >= 0 && i > expandedIndex ? expandedExtra : 0);
  const indexAt = (y: number): number => {
    const plain = Math.floor(y / rowHeight);
    if (expandedIndex < 0 || plain <= expandedIndex) return plain;
    // Inside or below the expanded row's extra height.
    return Math.max(expandedIndex, Math.floor((y - expandedExtra) / rowHeight));
  };
  const start = Math.max(0, Math.min(count, indexAt(Math.max(0, scrollTop)) - overscan));
  const end = Math.max(start, Math.min(count, indexAt(scrollTop + viewport) + 1 + overscan));
  return { start, end, before: top(start), after: top(count) - top(end) };
}
