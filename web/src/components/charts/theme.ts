// Chart colours come from the CSS variables, so charts follow the light/dark theme.

import { useEffect, useState } from "preact/hooks";

export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Changes when the system switches between light and dark (charts redraw with new colours). */
export function useColorScheme(): "light" | "dark" {
  const query = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
  const [dark, setDark] = useState(query?.matches ?? false);
  useEffect(() => {
    if (!query) return;
    const fn = (e: MediaQueryListEvent): void => setDark(e.matches);
    query.addEventListener("change", fn);
    return () => query.removeEventListener("change", fn);
  }, []);
  return dark ? "dark" : "light";
}

export const SERIES_VARS = ["--chart-1", "--chart-2", "--chart-3", "--chart-4", "--chart-5", "--chart-6"];
