// The bucket list: the buckets ListBuckets shows this user, each with its object count and
// size (Coffer's `?coffer-usage`, answered to whoever may list the bucket), and forms to
// create and delete buckets.
import { useEffect, useState } from 'preact/hooks';
import { bucketHref, ErrorLine, size, useAction, useLoad, when } from './ui.jsx';

/** Usage requests in flight at once, so a long bucket list does not queue up the browser. */
const PARALLEL = 4;

/** Each bucket's usage (or the error S3 refused it with), filled in as the answers arrive. */
function useUsage(s3, list) {
  const [usage, setUsage] = useState({});
  useEffect(() => {
    let live = true;
    setUsage({});
    const todo = (list?.buckets || []).map((b) => b.name);
    const worker = async () => {
      while (live && todo.length) {
        const name = todo.shift();
        const u = await s3.bucketUsage(name).catch((e) => e);
        if (live) setUsage((old) => ({ ...old, [name]: u }));
      }
    };
    for (let i = 0; i < PARALLEL; i++) worker();
    return () => { live = false; };
  }, [s3, list]);
  return usage;
}

function Count({ u }) {
  if (!u) return '…';
  if (u instanceof Error) return <span title={u.message}>—</span>;
  return u.maxObjects === null ? u.objects : `${u.objects} of ${u.maxObjects}`;
}

function Size({ u }) {
  if (!u) return '…';
  if (u instanceof Error) return <span title={u.message}>—</span>;
  return u.maxBytes === null ? size(u.logicalBytes) : `${size(u.logicalBytes)} of ${size(u.maxBytes)}`;
}

export function Buckets({ s3 }) {
  const list = useLoad(() => s3.listBuckets(), [s3]);
  const names = list.data?.buckets.map((b) => b.name);
  const usage = useUsage(s3, list.data);
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
  const refused = names?.some((n) => usage[n] instanceof Error);
  return (
    <section aria-labelledby="buckets-title">
      <h1 id="buckets-title">Buckets</h1>
      <form class="inline" onSubmit={create}>
        <label for="new-bucket">New bucket name</label>
        <input id="new-bucket" name="bucket" required minLength={3} maxLength={63} pattern="[a-z0-9][a-z0-9.\-]*[a-z0-9]" />
        <button type="submit" id="create-bucket" disabled={busy}>Create bucket</button>
        <button type="button" id="refresh-buckets" onClick={list.reload}>Refresh</button>
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
                  <td data-label="Objects"><Count u={usage[b.name]} /></td>
                  <td data-label="Size"><Size u={usage[b.name]} /></td>
                  <td data-label="Created">{when(b.created)}</td>
                  <td><button type="button" class="danger" aria-label={`Delete bucket ${b.name}`} onClick={() => remove(b.name)}>Delete</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      )}
      {list.data?.buckets.length > 0 && <p class="note">Objects count keys whose latest version is not a delete marker; sizes add up every version (and show the bucket's quota, if it has one).{refused ? ' — marks a bucket this key may not list.' : ''}</p>}
    </section>
  );
}
