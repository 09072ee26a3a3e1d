import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { call, newIntentKey, type Problem } from './api.ts';

export type Load<T> = { data?: T; error?: Problem; loading: boolean; reload: () => void };

/** GET a resource, again on reload() and every `everyMs` while `keepPolling(data)` says so. */
export function useResource<T>(
  path: string | undefined,
  options: { everyMs?: number; keepPolling?: (data: T) => boolean } = {},
): Load<T> {
  const [state, setState] = useState<{ data?: T; error?: Problem; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  const { everyMs, keepPolling } = options;
  // `tick` is in the dependencies only to make reload() fetch again.
  useEffect(() => {
    if (path === undefined) return;
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fetchOnce = async () => {
      try {
        const data = await call<T>('GET', path);
        if (!alive) return;
        setState({ data, loading: false });
        if (everyMs !== undefined && (keepPolling === undefined || keepPolling(data)))
          timer = setTimeout(fetchOnce, everyMs);
      } catch (error) {
        if (!alive) return;
        setState((previous) => ({ data: previous.data, error: error as Problem, loading: false }));
        if (everyMs !== undefined) timer = setTimeout(fetchOnce, Math.max(everyMs, 2000));
      }
    };
    void fetchOnce();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [path, tick, everyMs]);
  return { ...state, reload };
}

/**
 * One money action as the customer means it: the key is made once for the
 * intent and sent again on every retry of the same body (a double click, a
 * timeout, a 503), so the bank moves the money once. A definite answer (2xx
 * or a 4xx decision) ends the intent; the next submit is a new one.
 */
export function useIntent<T>() {
  const intent = useRef<{ key: string; body: string } | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Problem | undefined>(undefined);
  const inFlight = useRef(false);
  const run = useCallback(async (method: string, path: string, body: unknown): Promise<T | undefined> => {
    // A second press while the first is on its way (a double click lands before
    // the button re-renders disabled) is the same intent: it waits for nothing.
    if (inFlight.current) return undefined;
    inFlight.current = true;
    const bodyText = JSON.stringify(body ?? null) + path;
    if (intent.current === undefined || intent.current.body !== bodyText)
      intent.current = { key: newIntentKey(), body: bodyText };
    setBusy(true);
    setError(undefined);
    try {
      const answer = await call<T>(method, path, body, { idempotencyKey: intent.current.key });
      intent.current = undefined;
      return answer;
    } catch (caught) {
      const problem = caught as Problem;
      if (problem.definite) intent.current = undefined;
      setError(problem);
      return undefined;
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }, []);
  return { run, busy, error, setError };
}
