// One object: its metadata, tags (editable), storage class and encryption (HeadObject, GetObjectTagging),
// rename by copy, a share link (a presigned GET of up to 7 days), and its versions, each restorable or deletable.
import { useEffect, useState } from 'preact/hooks';
import { bucketHref, ErrorLine, objectHref, size, useAction, useLoad, when } from './ui.jsx';

const MAX_SHARE_HOURS = 7 * 24;
/** The address share links were last made for (this page's until changed; kept in memory). */
let shareOrigin = location.origin;

function Metadata({ s3, bucket, objectKey }) {
  const head = useLoad(async () => {
    const [h, tags] = await Promise.all([s3.headObject(bucket, objectKey), s3.tags(bucket, objectKey).catch((e) => e)]);
    return { h, tags };
  }, [s3, bucket, objectKey]);
  if (head.error) return <ErrorLine error={head.error} id="details-error" />;
  if (!head.data) return <p aria-live="polite">Loading…</p>;
  const { h, tags } = head.data;
  const sse = h.get('x-amz-server-side-encryption');
  const rows = [
    ['Size', size(Number(h.get('content-length')))],
    ['Last modified', when(h.get('last-modified'))],
    ['Content type', h.get('content-type')],
    ['ETag', h.get('etag')],
    ['Storage class', h.get('x-amz-storage-class') || 'STANDARD'],
    ['Encryption', sse ? `${sse}${h.get('x-amz-server-side-encryption-aws-kms-key-id') ? ` (${h.get('x-amz-server-side-encryption-aws-kms-key-id')})` : ''}` : 'none'],
    ['Version', h.get('x-amz-version-id') || '—'],
    ['Object lock', h.get('x-amz-object-lock-mode') ? `${h.get('x-amz-object-lock-mode')} until ${h.get('x-amz-object-lock-retain-until-date')}` : 'none'],
    ['Legal hold', h.get('x-amz-object-lock-legal-hold') || 'OFF'],
    ['Replication', h.get('x-amz-replication-status') || '—'],
  ];
  h.forEach((v, k) => { if (k.startsWith('x-amz-meta-')) rows.push([`Metadata ${k.slice(11)}`, v]); });
  return (
    <>
      <dl class="props" id="object-props">
        {rows.map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{v}</dd></div>)}
      </dl>
      {tags instanceof Error ? <ErrorLine error={tags} /> : <Tags s3={s3} bucket={bucket} objectKey={objectKey} initial={tags} />}
    </>
  );
}

function Tags({ s3, bucket, objectKey, initial }) {
  const [rows, setRows] = useState(initial);
  const [saved, setSaved] = useState('');
  const { error, busy, act } = useAction();
  const edit = (i, j, value) => setRows(rows.map((r, n) => (n === i ? (j ? [r[0], value] : [value, r[1]]) : r)));
  const save = (e) => {
    e.preventDefault();
    setSaved('');
    act(async () => { await s3.putTags(bucket, objectKey, rows.filter(([k]) => k)); setSaved('Saved.'); });
  };
  return (
    <form onSubmit={save} aria-labelledby="tags-title">
      <h2 id="tags-title">Tags</h2>
      {rows.length === 0 && <p>No tags.</p>}
      {rows.map(([k, v], i) => (
        <div class="inline tag" key={i}>
          <input aria-label={`Tag ${i + 1} key`} value={k} onInput={(e) => edit(i, 0, e.currentTarget.value)} />
          <input aria-label={`Tag ${i + 1} value`} value={v} onInput={(e) => edit(i, 1, e.currentTarget.value)} />
          <button type="button" class="danger" aria-label={`Remove tag ${i + 1}`} onClick={() => setRows(rows.filter((_, n) => n !== i))}>Remove</button>
        </div>
      ))}
      <div class="inline">
        <button type="button" id="add-tag" onClick={() => setRows([...rows, ['', '']])}>Add tag</button>
        <button type="submit" id="save-tags" disabled={busy}>Save tags</button>
        <span role="status" id="tags-saved">{saved}</span>
      </div>
      <ErrorLine error={error} id="tags-error" />
    </form>
  );
}

function Share({ s3, bucket, objectKey }) {
  const [hours, setHours] = useState(24);
  const [origin, setOrigin] = useState(shareOrigin);
  const [url, setUrl] = useState('');
  const { error, act } = useAction();
  const make = (e) => {
    e.preventDefault();
    act(async () => {
      const base = new URL(origin).origin;
      shareOrigin = base;
      setUrl(await s3.presign(bucket, objectKey, Math.round(hours * 3600), { origin: base }));
    });
  };
  return (
    <form onSubmit={make} class="share">
      <h2>Share link</h2>
      <label for="share-hours">Valid for (hours, at most {MAX_SHARE_HOURS})</label>
      <input id="share-hours" type="number" min={1} max={MAX_SHARE_HOURS} step={1} value={hours} onInput={(e) => setHours(Number(e.currentTarget.value))} required />
      <label for="share-origin">Address others reach this server at</label>
      <input id="share-origin" type="url" required value={origin} onInput={(e) => setOrigin(e.currentTarget.value)} />
      <button type="submit" id="make-share">Make link</button>
      {url && (
        <>
          <label for="share-url">Anyone with this link can download the object until it expires</label>
          <input id="share-url" readOnly value={url} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={() => navigator.clipboard?.writeText(url)}>Copy</button>
        </>
      )}
      <ErrorLine error={error} />
    </form>
  );
}

function Versions({ s3, bucket, objectKey, onChange }) {
  // Pages of 1000 are added one after the other with "Load more versions"; a change reloads
  // from the first.
  const [pages, setPages] = useState({ versions: [], next: null });
  const first = useLoad(() => s3.versions(bucket, objectKey), [s3, bucket, objectKey]);
  useEffect(() => { if (first.data) setPages(first.data); }, [first.data]);
  const { error, busy, act } = useAction();
  const list = { data: first.data && pages.versions, error: first.error, reload: first.reload };
  const more = () => act(async () => {
    const page = await s3.versions(bucket, objectKey, pages.next);
    setPages((old) => ({ versions: [...old.versions, ...page.versions], next: page.next }));
  });
  const restore = (v) => act(async () => { await s3.restore(bucket, objectKey, v.versionId); list.reload(); onChange(); });
  const remove = (v) => {
    if (!confirm(`Delete version ${v.versionId} for good?`)) return;
    act(async () => { await s3.deleteObject(bucket, objectKey, v.versionId); list.reload(); onChange(); });
  };
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <ErrorLine error={error || list.error} id="versions-error" />
      {list.data && (
        <table id="version-table">
          <thead><tr><th scope="col">Version</th><th scope="col">Size</th><th scope="col">Modified</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
          <tbody>
            {list.data.map((v) => (
              <tr key={v.versionId} data-version={v.versionId}>
                <th scope="row"><code>{v.versionId}</code>{v.latest && ' (latest)'}{v.deleteMarker && ' delete marker'}</th>
                <td data-label="Size">{v.deleteMarker ? '—' : size(v.size)}</td>
                <td data-label="Modified">{when(v.modified)}</td>
                <td class="actions">
                  {!v.latest && !v.deleteMarker && <button type="button" disabled={busy} class="restore" aria-label={`Restore version ${v.versionId}`} onClick={() => restore(v)}>Restore</button>}
                  <button type="button" disabled={busy} class="danger" aria-label={`Delete version ${v.versionId}`} onClick={() => remove(v)}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.data && <p class="note" id="version-count" aria-live="polite">{list.data.length} shown{pages.next ? ', more on the server' : ''}.</p>}
      {list.data && pages.next && <button type="button" id="more-versions" disabled={busy} onClick={more}>Load more versions</button>}
    </section>
  );
}

function Rename({ s3, bucket, objectKey }) {
  const { error, busy, act } = useAction();
  const rename = (e) => {
    e.preventDefault();
    const to = e.currentTarget.to.value.trim();
    act(async () => { await s3.rename(bucket, objectKey, to); location.hash = objectHref(bucket, to); });
  };
  return (
    <form class="inline" onSubmit={rename}>
      <label for="rename-to">New name (copies, then deletes this key)</label>
      <input id="rename-to" name="to" required value={objectKey} key={objectKey} />
      <button type="submit" id="rename" disabled={busy}>Rename</button>
      <ErrorLine error={error} />
    </form>
  );
}

export function Details({ s3, bucket, objectKey }) {
  const [generation, setGeneration] = useState(0);
  const { error, act } = useAction();
  const parent = objectKey.includes('/') ? objectKey.slice(0, objectKey.lastIndexOf('/') + 1) : '';
  const download = () => act(async () => { location.href = await s3.presign(bucket, objectKey, 300, { download: true }); });
  return (
    <section aria-labelledby="details-title">
      <nav aria-label="Location" class="crumbs">
        <a href="#/">Buckets</a> / <a href={bucketHref(bucket)}>{bucket}</a>{parent && <> / <a href={bucketHref(bucket, parent)}>{parent}</a></>}
      </nav>
      <h1 id="details-title">{objectKey}</h1>
      <div class="inline"><button type="button" id="download" onClick={download}>Download</button></div>
      <ErrorLine error={error} />
      <Rename s3={s3} bucket={bucket} objectKey={objectKey} />
      <Metadata key={generation} s3={s3} bucket={bucket} objectKey={objectKey} />
      <Share s3={s3} bucket={bucket} objectKey={objectKey} />
      <Versions s3={s3} bucket={bucket} objectKey={objectKey} onChange={() => setGeneration((g) => g + 1)} />
    </section>
  );
}
