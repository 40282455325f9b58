// One object: its properties (HeadObject), user metadata (edited by a copy onto itself), tags
// (editable), Object Lock retention and legal hold (where the bucket has Object Lock), rename
// by copy, a share link (a presigned GET of up to 7 days), and its versions, each restorable
// or deletable.
import { useEffect, useState } from 'preact/hooks';
import { bucketHref, ErrorLine, objectHref, size, useAction, useLoad, when } from './ui.jsx';

const MAX_SHARE_HOURS = 7 * 24;
/** The address share links were last made for (this page's until changed; kept in memory). */
let shareOrigin = location.origin;

function Metadata({ s3, bucket, objectKey, onChange }) {
  const head = useLoad(async () => {
    const [h, tags, lock] = await Promise.all([
      s3.headObject(bucket, objectKey), s3.tags(bucket, objectKey).catch((e) => e), s3.objectLock(bucket).catch(() => null),
    ]);
    return { h, tags, lock };
  }, [s3, bucket, objectKey]);
  if (head.error) return <ErrorLine error={head.error} id="details-error" />;
  if (!head.data) return <p aria-live="polite">Loading…</p>;
  const { h, tags, lock } = head.data;
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
  const meta = [];
  h.forEach((v, k) => { if (k.startsWith('x-amz-meta-')) meta.push([k.slice(11), v]); });
  for (const [k, v] of meta) rows.push([`Metadata ${k}`, v]);
  const locked = lock || h.get('x-amz-object-lock-mode') || h.get('x-amz-object-lock-legal-hold');
  return (
    <>
      <dl class="props" id="object-props">
        {rows.map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{v}</dd></div>)}
      </dl>
      <UserMetadata s3={s3} bucket={bucket} objectKey={objectKey} head={h} initial={meta} onChange={onChange} />
      {tags instanceof Error ? <ErrorLine error={tags} /> : <Tags s3={s3} bucket={bucket} objectKey={objectKey} initial={tags} />}
      {locked && <Lock s3={s3} bucket={bucket} objectKey={objectKey} head={h} onChange={onChange} />}
    </>
  );
}

/** Names and values S3 carries as `x-amz-meta-*` headers: HTTP tokens, and printable ASCII. */
const META_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const META_VALUE = /^[\x20-\x7e]*$/;

/** Name/value rows with add and remove, shared by user metadata and tags. */
function Pairs({ rows, setRows, what, prefix, empty }) {
  const edit = (i, j, value) => setRows(rows.map((r, n) => (n === i ? (j ? [r[0], value] : [value, r[1]]) : r)));
  return (
    <>
      {rows.length === 0 && <p>{empty}</p>}
      {rows.map(([k, v], i) => (
        <div class="inline tag" key={i}>
          <input aria-label={`${prefix} ${i + 1} key`} value={k} onInput={(e) => edit(i, 0, e.currentTarget.value)} />
          <input aria-label={`${prefix} ${i + 1} value`} value={v} onInput={(e) => edit(i, 1, e.currentTarget.value)} />
          <button type="button" class="danger" aria-label={`Remove ${what} ${i + 1}`} onClick={() => setRows(rows.filter((_, n) => n !== i))}>Remove</button>
        </div>
      ))}
    </>
  );
}

/** User metadata, replaced by copying the object onto itself (a new version where versioning
 *  is on); content type, tags, storage class and encryption stay as they were. */
function UserMetadata({ s3, bucket, objectKey, head, initial, onChange }) {
  const [rows, setRows] = useState(initial);
  const { error, busy, act, setError } = useAction();
  const save = (e) => {
    e.preventDefault();
    const kept = rows.filter(([k]) => k);
    const bad = kept.find(([k, v]) => !META_NAME.test(k) || !META_VALUE.test(v));
    if (bad) return setError(new Error(`Metadata "${bad[0]}": names must be letters, digits or -_.!#$%&'*+^|~ and values printable ASCII (S3 sends them as HTTP headers)`));
    act(async () => { await s3.replaceMetadata(bucket, objectKey, head, kept); onChange(); });
  };
  return (
    <form onSubmit={save} aria-labelledby="meta-title">
      <h2 id="meta-title">User metadata</h2>
      <Pairs rows={rows} setRows={setRows} what="metadata entry" prefix="Metadata" empty="No user metadata." />
      <div class="inline">
        <button type="button" id="add-meta" onClick={() => setRows([...rows, ['', '']])}>Add metadata</button>
        <button type="submit" id="save-meta" disabled={busy}>Save metadata</button>
      </div>
      <p class="note">Saving copies the object onto itself with the new metadata (a new version where versioning is on).</p>
      <ErrorLine error={error} id="meta-error" />
    </form>
  );
}

/** `iso` as a datetime-local input shows it (local time, to the second). */
function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}

/** The version's Object Lock retention and legal hold, each changed with its own S3 call. */
function Lock({ s3, bucket, objectKey, head, onChange }) {
  const versionId = head.get('x-amz-version-id') || undefined;
  const [mode, setMode] = useState(head.get('x-amz-object-lock-mode') || '');
  const [until, setUntil] = useState(localInput(head.get('x-amz-object-lock-retain-until-date')));
  const [bypass, setBypass] = useState(false);
  const hold = head.get('x-amz-object-lock-legal-hold') === 'ON';
  const retention = useAction();
  const legal = useAction();
  const save = (e) => {
    e.preventDefault();
    retention.act(async () => {
      await s3.putRetention(bucket, objectKey, versionId, { mode, until: mode ? new Date(until).toISOString() : '' }, bypass);
      onChange();
    });
  };
  const toggleHold = () => legal.act(async () => { await s3.putLegalHold(bucket, objectKey, versionId, !hold); onChange(); });
  return (
    <section aria-labelledby="lock-title">
      <h2 id="lock-title">Object Lock</h2>
      <form onSubmit={save} class="form" aria-label="Retention">
        <div class="field">
          <label for="retention-mode">Retention mode</label>
          <select id="retention-mode" value={mode} onChange={(e) => setMode(e.currentTarget.value)}>
            <option value="">None</option>
            <option value="GOVERNANCE">GOVERNANCE</option>
            <option value="COMPLIANCE">COMPLIANCE</option>
          </select>
        </div>
        {mode && (
          <div class="field">
            <label for="retention-until">Retain until (your local time)</label>
            <input id="retention-until" type="datetime-local" step={1} required value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
          </div>
        )}
        <div class="check">
          <input type="checkbox" id="retention-bypass" checked={bypass} onChange={(e) => setBypass(e.currentTarget.checked)} />
          <label for="retention-bypass">Bypass GOVERNANCE retention (to shorten or remove it)</label>
        </div>
        <div class="inline"><button type="submit" id="save-retention" disabled={retention.busy}>Save retention</button></div>
        <ErrorLine error={retention.error} id="retention-error" />
      </form>
      <div class="inline">
        <span>Legal hold: <strong id="legal-hold-status">{hold ? 'ON' : 'OFF'}</strong></span>
        <button type="button" id="toggle-legal-hold" disabled={legal.busy} onClick={toggleHold}>{hold ? 'Remove legal hold' : 'Place legal hold'}</button>
      </div>
      <ErrorLine error={legal.error} id="legal-hold-error" />
    </section>
  );
}

function Tags({ s3, bucket, objectKey, initial }) {
  const [rows, setRows] = useState(initial);
  const [saved, setSaved] = useState('');
  const { error, busy, act } = useAction();
  const save = (e) => {
    e.preventDefault();
    setSaved('');
    act(async () => { await s3.putTags(bucket, objectKey, rows.filter(([k]) => k)); setSaved('Saved.'); });
  };
  return (
    <form onSubmit={save} aria-labelledby="tags-title">
      <h2 id="tags-title">Tags</h2>
      <Pairs rows={rows} setRows={setRows} what="tag" prefix="Tag" empty="No tags." />
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
  const restore = (v) => act(async () => { await s3.restore(bucket, objectKey, v.versionId); onChange(); });
  const remove = (v) => {
    if (!confirm(`Delete version ${v.versionId} for good?`)) return;
    act(async () => { await s3.deleteObject(bucket, objectKey, v.versionId); onChange(); });
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
  // A change (metadata, lock, a version restored or deleted) reloads the properties and versions.
  const [generation, setGeneration] = useState(0);
  const changed = () => setGeneration((g) => g + 1);
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
      <Metadata key={generation} s3={s3} bucket={bucket} objectKey={objectKey} onChange={changed} />
      <Share s3={s3} bucket={bucket} objectKey={objectKey} />
      <Versions key={generation} s3={s3} bucket={bucket} objectKey={objectKey} onChange={changed} />
    </section>
  );
}
