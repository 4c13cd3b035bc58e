// Activity by weekday × hour: 168 links (one tab stop, arrow keys move between cells), each opening
// the interactions behind it.

import type { JSX } from "preact";
import { useRef, useState } from "preact/hooks";
import { formatInteger, formatSentiment, hourLabel, weekdayNames } from "../../lib/format";

export interface HeatCell {
  weekday: number;
  hour: number;
  total: number;
  average?: number | undefined;
  href: string;
}

export function Heatmap({ cells, ariaLabel }: { cells: HeatCell[]; ariaLabel: string }): JSX.Element {
  const days = weekdayNames("short");
  const longDays = weekdayNames("long");
  const max = Math.max(1, ...cells.map((c) => c.total));
  const grid = useRef<HTMLDivElement>(null);
  const [focus, setFocus] = useState(0);
  const byPos = new Map(cells.map((c) => [(c.weekday - 1) * 24 + c.hour, c]));

  const move = (e: KeyboardEvent, pos: number): void => {
    const d = Math.floor(pos / 24);
    const h = pos % 24;
    let next = pos;
    if (e.key === "ArrowRight") next = d * 24 + Math.min(23, h + 1);
    else if (e.key === "ArrowLeft") next = d * 24 + Math.max(0, h - 1);
    else if (e.key === "ArrowDown") next = Math.min(6, d + 1) * 24 + h;
    else if (e.key === "ArrowUp") next = Math.max(0, d - 1) * 24 + h;
    else if (e.key === "Home") next = d * 24;
    else if (e.key === "End") next = d * 24 + 23;
    else return;
    e.preventDefault();
    setFocus(next);
    grid.current?.querySelector<HTMLElement>(`[data-pos="${next}"]`)?.focus();
  };

  return (
    <div class="heatmap-scroll">
      <div class="heatmap" role="grid" aria-label={ariaLabel} ref={grid}>
        <div class="heatmap-row heatmap-hours" role="row">
          <span class="heatmap-corner" role="columnheader"><span class="sr-only">Weekday</span></span>
          {Array.from({ length: 24 }, (_, h) => (
            <span class="heatmap-hour" role="columnheader" key={h}>{h % 3 === 0 ? hourLabel(h) : <span class="sr-only">{hourLabel(h)}</span>}</span>
          ))}
        </div>
        {days.map((day, d) => (
          <div class="heatmap-row" role="row" key={day}>
            <span class="heatmap-day" role="rowheader">{day}</span>
            {Array.from({ length: 24 }, (_, h) => {
              const pos = d * 24 + h;
              const c = byPos.get(pos);
              const total = c?.total ?? 0;
              const label = `${longDays[d]} ${hourLabel(h)}: ${formatInteger(total)} interactions${c?.average !== undefined ? `, average sentiment ${formatSentiment(c.average)}` : ""}`;
              const level = total === 0 ? 0 : 0.12 + 0.88 * (total / max);
              return (
                <span role="gridcell" key={h} class="heatmap-cell-wrap">
                  <a
                    class={`heatmap-cell${total === 0 ? " is-empty" : ""}${level > 0.55 ? " strong" : ""}`}
                    href={c?.href ?? "/explorer"}
                    data-pos={pos}
                    tabIndex={pos === focus ? 0 : -1}
                    aria-label={label}
                    title={label}
                    style={{ backgroundColor: total ? `rgba(var(--heat-rgb), ${level.toFixed(3)})` : undefined }}
                    onKeyDown={(e) => move(e, pos)}
                    onFocus={() => setFocus(pos)}
                  />
                </span>
              );
            })}
          </div>
        ))}
      </div>
      <div class="heatmap-legend" aria-hidden="true">
        <span>Fewer</span>
        <span class="heatmap-scale" />
        <span>More</span>
        <span class="muted">· peak {formatInteger(max)} per hour</span>
      </div>
    </div>
  );
}
