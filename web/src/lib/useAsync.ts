// Loads data for a page: the latest call wins (earlier answers are dropped), errors are kept for
// display, reload() runs it again.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { toProblem, type ApiProblem } from "../api/errors";

export interface AsyncState<T> {
  data: T | undefined;
  error: ApiProblem | undefined;
  loading: boolean;
  reload: () => void;
}

export function useAsync<T>(fn: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[]): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiProblem | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    fnRef
      .current(controller.signal)
      .then((v) => {
        if (controller.signal.aborted) return;
        setData(v);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (controller.signal.aborted) return;
        setError(toProblem(e));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
