// The bucket list: the buckets ListBuckets shows this user, with object counts and sizes where
// the user may read /metrics (the root user), and forms to create and delete buckets.
import { parseMetrics, usage as bucketUsage } from './metrics.js';
import { bucketHref, ErrorLine, size, useAction, useLoad, when } from './ui.jsx';

export function Buckets({ s3 }) {
  const list = useLoad(() => s3.listBuckets(), [s3]);
  const usage = useLoad(() => s3.metrics().then((text) => bucketUsage(parseMetrics(text)), () => null), [s3]);
  const { error, busy, act } = useAction();
  const create = (e) => {
    e.preventDefault();
    const input = e.currentTarget.bucket;
    act(async () => {
      await s3.createBucket(input.value.trim());
      input.value = '';
      list.reload();
    });
  };
  const remove = (name) => {
    if (!confirm(`Delete bucket ${name}? It must be empty.`)) return;
    act(async () => {
      await s3.deleteBucket(name);
      list.reload();
    });
  };
  const u = usage.data;
  return (
    <section aria-labelledby="buckets-title">
      <h1 id="buckets-title">Buckets</h1>
      <form class="inline" onSubmit={create}>
        <label for="new-bucket">New bucket name</label>
        <input id="new-bucket" name="bucket" required minLength={3} maxLength={63} pattern="[a-z0-9][a-z0-9.\-]*[a-z0-9]" />
        <button type="submit" id="create-bucket" disabled={busy}>Create bucket</button>
        <button type="button" id="refresh-buckets" onClick={() => { list.reload(); usage.reload(); }}>Refresh</button>
      </form>
      <ErrorLine error={error || list.error} id="buckets-error" />
      {list.loading && !list.data && <p aria-live="polite">Loading…</p>}
      {list.data && (
        list.data.buckets.length === 0 ? <p>No buckets yet.</p> : (
          <table id="bucket-table">
            <thead><tr><th scope="col">Name</th><th scope="col">Objects</th><th scope="col">Size</th><th scope="col">Created</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
            <tbody>
              {list.data.buckets.map((b) => (
                <tr key={b.name}>
                  <th scope="row"><a href={bucketHref(b.name)}>{b.name}</a></th>
                  <td data-label="Objects">{u?.[b.name]?.objects ?? '—'}</td>
                  <td data-label="Size">{u?.[b.name] ? size(u[b.name].logical_bytes) : '—'}</td>
                  <td data-label="Created">{when(b.created)}</td>
                  <td><button type="button" class="danger" aria-label={`Delete bucket ${b.name}`} onClick={() => remove(b.name)}>Delete</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      )}
      {!usage.loading && !u && <p class="note">Object counts and sizes come from the server's metrics, which only the root user may read.</p>}
      {u && <p class="note">Counts and sizes are the server's metrics, recomputed at most every metrics_usage_interval (a minute by default); sizes add up all versions.</p>}
    </section>
  );
}
