// A time-series chart on uPlot (canvas, fast with many points): lines, or stacked bars. Every
// bucket is clickable (the caller gets the bucket and series), and the same data is offered as a
// table with links for keyboard and screen-reader users.

import "uplot/dist/uPlot.min.css";
import "./charts.css";
import type { JSX } from "preact";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { cssVar, useColorScheme } from "./theme";

export interface ChartSeries {
  label: string;
  /** A CSS variable name, e.g. "--positive". */
  color: string;
  values: (number | null)[];
  dashed?: boolean;
}

export interface TrendChartProps {
  /** Bucket starts, seconds since the epoch. */
  x: number[];
  series: ChartSeries[];
  kind: "line" | "stacked";
  timeZone: string;
  formatX: (sec: number) => string;
  formatY: (v: number) => string;
  ariaLabel: string;
  height?: number;
  yRange?: [number, number];
  onPick?: (index: number, series: number) => void;
}

function stack(series: ChartSeries[]): number[][] {
  const out: number[][] = [];
  let acc: number[] = [];
  for (const s of series) {
    acc = s.values.map((v, i) => (v ?? 0) + (acc[i] ?? 0));
    out.push(acc);
  }
  return out;
}

export function TrendChart(props: TrendChartProps): JSX.Element {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const propsRef = useRef(props);
  propsRef.current = props;
  const scheme = useColorScheme();
  const { x, series, kind, timeZone, height = 280, yRange } = props;

  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const grid = cssVar("--chart-grid");
    const text = cssVar("--text-2");
    const font = `12px ${cssVar("--font") || "system-ui"}`;
    const stacked = kind === "stacked" ? stack(series) : null;
    // Stacked bars: the tallest (cumulative) series first, so that each shorter one paints over it.
    const order = series.map((_, i) => i);
    if (stacked) order.reverse();
    const data: uPlot.AlignedData = [x, ...order.map((i) => (stacked ? stacked[i]! : series[i]!.values))];
    const bars = uPlot.paths.bars ? uPlot.paths.bars({ size: [0.72, 56], gap: 1 }) : undefined;
    const opts: uPlot.Options = {
      width: Math.max(280, host.clientWidth),
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone),
      cursor: { points: { size: 7 }, drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: { time: true, ...(stacked ? { range: (_u, min, max) => {
          const pad = x.length > 1 ? (x[1]! - x[0]!) / 2 : 43_200;
          return [min - pad, max + pad];
        } } : {}) },
        y: yRange ? { range: yRange } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] },
      },
      axes: [
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font },
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { show: false }, font, size: 56,
          values: (_u, splits) => splits.map((v) => propsRef.current.formatY(v)) },
      ],
      series: [
        { value: (_u, v) => (v === null ? "–" : propsRef.current.formatX(v)) },
        ...order.map((i) => {
          const s = series[i]!;
          const color = cssVar(s.color) || s.color;
          return {
            label: s.label,
            stroke: color,
            width: stacked ? 0 : 2,
            fill: stacked ? color : undefined,
            dash: s.dashed ? [5, 5] : undefined,
            points: { show: !stacked && x.length <= 60 ? true : false, size: 5, fill: color },
            paths: stacked ? bars : undefined,
            spanGaps: false,
            value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) => {
              const raw = idx === null ? null : (series[i]!.values[idx] ?? null);
              return raw === null ? "–" : propsRef.current.formatY(raw);
            },
          } satisfies uPlot.Series;
        }),
      ],
    };
    const u = new uPlot(opts, data, host);
    plot.current = u;
    const onClick = (): void => {
      const idx = u.cursor.idx;
      const top = u.cursor.top;
      if (idx === null || idx === undefined || top === undefined || top < 0) return;
      const yVal = u.posToVal(top, "y");
      let pick = 0;
      if (stacked) {
        // The segment under the pointer: the lowest stack level at or above it.
        pick = stacked.findIndex((level) => (level[idx] ?? 0) >= yVal);
        if (pick < 0) pick = stacked.length - 1;
      } else {
        let best = Number.POSITIVE_INFINITY;
        series.forEach((s, i) => {
          const v = s.values[idx];
          if (v !== null && v !== undefined && Math.abs(v - yVal) < best) {
            best = Math.abs(v - yVal);
            pick = i;
          }
        });
      }
      propsRef.current.onPick?.(idx, pick);
    };
    u.over.addEventListener("click", onClick);
    if (propsRef.current.onPick) u.over.classList.add("pickable");
    const ro = new ResizeObserver(() => {
      const w = host.clientWidth;
      if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: Math.max(280, w), height });
    });
    ro.observe(host);
    return () => {
      ro.disconnect();
      u.over.removeEventListener("click", onClick);
      u.destroy();
      plot.current = null;
    };
  }, [x, series, kind, timeZone, height, yRange, scheme]);

  return <div class="trend-chart" ref={el} role="img" aria-label={props.ariaLabel} />;
}
