// Reading the server's /metrics (Prometheus text format) into samples, and the summaries the
// console shows: requests per operation, background workers.

/** Every sample of the text: { name, labels, value }. Comments and blank lines are skipped. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of an unlabelled sample, or undefined. */
export const scalar = (samples, name) => samples.find((s) => s.name === name)?.value;

/** Sums `name`'s samples grouped by one label: { labelValue: sum }. */
export function byLabel(samples, name, label, keep = () => true) {
  const out = {};
  for (const s of samples) if (s.name === name && keep(s.labels)) out[s.labels[label]] = (out[s.labels[label]] ?? 0) + s.value;
  return out;
}

/** The smallest histogram bucket bound under which fraction `q` of `operation`'s requests fell. */
function quantile(samples, operation, q) {
  const buckets = samples
    .filter((s) => s.name === 'coffer_s3_request_duration_seconds_bucket' && s.labels.operation === operation)
    .map((s) => [Number(s.labels.le === '+Inf' ? Infinity : s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  return buckets.find(([, n]) => n >= q * total)?.[0];
}

/** One row per S3 operation: requests, client and server errors, mean and p95 latency. */
export function requests(samples) {
  const total = byLabel(samples, 'coffer_s3_requests_total', 'operation');
  const clientErrors = byLabel(samples, 'coffer_s3_requests_total', 'operation', (l) => l.status_class === '4xx');
  const serverErrors = byLabel(samples, 'coffer_s3_requests_total', 'operation', (l) => l.status_class === '5xx');
  const seconds = byLabel(samples, 'coffer_s3_request_duration_seconds_sum', 'operation');
  const counted = byLabel(samples, 'coffer_s3_request_duration_seconds_count', 'operation');
  return Object.keys(total).sort((a, b) => total[b] - total[a]).map((op) => ({
    operation: op, total: total[op], clientErrors: clientErrors[op] ?? 0, serverErrors: serverErrors[op] ?? 0,
    meanMs: counted[op] ? (1000 * seconds[op]) / counted[op] : undefined, p95: quantile(samples, op, 0.95),
  }));
}

/** One row per background worker. */
export function workers(samples) {
  const get = (name) => byLabel(samples, name, 'worker');
  const running = get('coffer_worker_running');
  const items = get('coffer_worker_items_total');
  const failed = get('coffer_worker_items_failed_total');
  const backlog = get('coffer_worker_backlog');
  const lag = get('coffer_worker_lag_seconds');
  const last = get('coffer_worker_last_run_timestamp_seconds');
  return Object.keys(running).sort().map((w) => ({
    worker: w, running: running[w], items: items[w], failed: failed[w], backlog: backlog[w], lag: lag[w], last: last[w],
  }));
}
