// The server's own numbers for the root user, from /metrics: the process, storage, S3
// requests per operation (count, errors, latency) and the background workers.
import { useEffect } from 'preact/hooks';
import { parseMetrics, requests, scalar, workers } from './metrics.js';
import { ErrorLine, size, useLoad } from './ui.jsx';

const REFRESH_MS = 10000;

function duration(s) {
  if (s === undefined) return '—';
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return s < 172800 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86400).toFixed(1)} days`;
}

const count = (n) => (n === undefined ? '—' : Math.round(n).toLocaleString());
const ms = (n) => (n === undefined ? '—' : n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`);
const bound = (s) => (s === undefined ? '—' : s === Infinity ? '> 30 s' : `≤ ${ms(1000 * s)}`);

function Figures({ id, rows }) {
  return <dl class="props" id={id}>{rows.map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{v}</dd></div>)}</dl>;
}

export function Dashboard({ s3 }) {
  const data = useLoad(async () => parseMetrics(await s3.metrics()), [s3]);
  useEffect(() => {
    const timer = setInterval(data.reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [data.reload]);
  const m = data.data;
  const forbidden = data.error?.status === 403;
  return (
    <section aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Server</h1>
      {forbidden ? <p class="error" role="alert" id="dashboard-error">Only the root user may read the server's metrics ({data.error.message}).</p>
        : <ErrorLine error={data.error} id="dashboard-error" />}
      {m && (
        <>
          <p class="note">From the server's /metrics, refreshed every {REFRESH_MS / 1000} seconds. <button type="button" onClick={data.reload}>Refresh now</button></p>
          <h2>Process</h2>
          <Figures id="process-figures" rows={[
            ['Version', m.find((s) => s.name === 'coffer_build_info')?.labels.version ?? '—'],
            ['Up for', duration(scalar(m, 'coffer_process_uptime_seconds'))],
            ['Memory', size(scalar(m, 'coffer_process_resident_memory_bytes'))],
            ['Open files', `${count(scalar(m, 'coffer_process_open_fds'))} of ${count(scalar(m, 'coffer_process_max_fds'))}`],
            ['Connections open', count(scalar(m, 'coffer_s3_connections_open'))],
            ['Requests in flight', count(scalar(m, 'coffer_s3_requests_in_flight'))],
          ]} />
          <h2>Storage</h2>
          <Figures id="storage-figures" rows={[
            ['Blobs (deduplicated)', `${count(scalar(m, 'coffer_store_blobs'))}, ${size(scalar(m, 'coffer_store_blob_bytes'))}`],
            ['Small objects in the index', size(scalar(m, 'coffer_store_inline_bytes'))],
            ['On storage tiers', `${count(scalar(m, 'coffer_store_tier_blobs'))}, ${size(scalar(m, 'coffer_store_tier_blob_bytes'))}`],
            ['Waiting for garbage collection', `${count(scalar(m, 'coffer_gc_backlog_blobs'))}, ${size(scalar(m, 'coffer_gc_backlog_bytes'))}`],
            ['Corrupt blobs', <span class={scalar(m, 'coffer_corrupt_blobs') > 0 ? 'error' : ''}>{count(scalar(m, 'coffer_corrupt_blobs'))}</span>],
            ['Index on disk', size(scalar(m, 'coffer_index_size_bytes'))],
          ]} />
          <h2>Requests since start</h2>
          <table id="request-table">
            <thead><tr><th scope="col">Operation</th><th scope="col">Requests</th><th scope="col">4xx</th><th scope="col">5xx</th><th scope="col">Mean</th><th scope="col">95% within</th></tr></thead>
            <tbody>
              {requests(m).map((r) => (
                <tr key={r.operation}>
                  <th scope="row">{r.operation}</th>
                  <td data-label="Requests">{count(r.total)}</td>
                  <td data-label="4xx">{count(r.clientErrors)}</td>
                  <td data-label="5xx" class={r.serverErrors ? 'error' : ''}>{count(r.serverErrors)}</td>
                  <td data-label="Mean">{ms(r.meanMs)}</td>
                  <td data-label="95% within">{bound(r.p95)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Background workers</h2>
          <table id="worker-table">
            <thead><tr><th scope="col">Worker</th><th scope="col">State</th><th scope="col">Items</th><th scope="col">Failed</th><th scope="col">Backlog</th><th scope="col">Oldest waiting</th><th scope="col">Last batch</th></tr></thead>
            <tbody>
              {workers(m).map((w) => (
                <tr key={w.worker}>
                  <th scope="row">{w.worker}</th>
                  <td data-label="State">{w.running ? 'running' : 'stopped'}</td>
                  <td data-label="Items">{count(w.items)}</td>
                  <td data-label="Failed" class={w.failed ? 'error' : ''}>{count(w.failed)}</td>
                  <td data-label="Backlog">{count(w.backlog)}</td>
                  <td data-label="Oldest waiting">{w.lag ? duration(w.lag) : '—'}</td>
                  <td data-label="Last batch">{w.last ? `${duration(Date.now() / 1000 - w.last)} ago` : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
