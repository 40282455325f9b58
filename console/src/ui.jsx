// Small pieces the views share: formatting, links into the console, an error line, and a hook
// that runs an S3 call and tracks its result or error.
import { useCallback, useEffect, useState } from 'preact/hooks';

export const bucketHref = (bucket, prefix = '') => `#/b/${encodeURIComponent(bucket)}/${encodeURIComponent(prefix)}`;
export const settingsHref = (bucket) => `#/s/${encodeURIComponent(bucket)}`;
export const objectHref = (bucket, key) => `#/o/${encodeURIComponent(bucket)}/${encodeURIComponent(key)}`;

export function size(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

/** An error as S3 reported it, announced to screen readers. */
export function ErrorLine({ error, id }) {
  if (!error) return null;
  return <p class="error" role="alert" id={id}>{String(error.message || error)}</p>;
}

/** Runs `load` now and whenever `deps` change; `reload()` runs it again. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const run = useCallback(() => {
    setState((s) => ({ ...s, loading: true }));
    load().then((data) => setState({ data, error: null, loading: false }), (error) => setState({ data: null, error, loading: false }));
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

/** Wraps an action: clears the error, runs it, records its error, and tells when it is busy. */
export function useAction() {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const act = async (fn) => {
    setError(null);
    setBusy(true);
    try {
      return await fn();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, act, setError };
}
