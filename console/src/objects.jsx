// One bucket's objects under a prefix: folders rolled up at `/`, a page of 100 keys at a time
// (continuation tokens; the bucket is never listed whole), uploads, downloads and deletes.
import { useEffect, useState } from 'preact/hooks';
import { Upload } from './upload.jsx';
import { Versioning } from './bucket_forms.jsx';
import { bucketHref, ErrorLine, objectHref, settingsHref, size, useAction, useLoad, when } from './ui.jsx';

function Breadcrumbs({ bucket, prefix }) {
  const parts = prefix.split('/').filter(Boolean);
  return (
    <nav aria-label="Location" class="crumbs">
      <a href="#/">Buckets</a> / <a href={bucketHref(bucket)}>{bucket}</a>
      {parts.map((p, i) => (
        <span key={i}> / <a href={bucketHref(bucket, parts.slice(0, i + 1).join('/') + '/')}>{p}</a></span>
      ))}
    </nav>
  );
}

export function Objects({ s3, bucket, prefix }) {
  const [pages, setPages] = useState({ folders: [], objects: [], next: null, loaded: false });
  const { error, busy, act } = useAction();
  const load = (token) => act(async () => {
    const page = await s3.listObjects(bucket, prefix, token);
    setPages((old) => token
      ? { folders: [...old.folders, ...page.folders], objects: [...old.objects, ...page.objects], next: page.next, loaded: true }
      : { ...page, loaded: true });
  });
  const refresh = () => load(null);
  useEffect(() => { setPages({ folders: [], objects: [], next: null, loaded: false }); refresh(); }, [s3, bucket, prefix]);

  const download = (key) => act(async () => { location.href = await s3.presign(bucket, key, 300, { download: true }); });
  const remove = (key) => {
    if (!confirm(`Delete ${key}?`)) return;
    act(async () => { await s3.deleteObject(bucket, key); refresh(); });
  };
  const go = (e) => {
    e.preventDefault();
    location.hash = bucketHref(bucket, e.currentTarget.prefix.value);
  };
  const name = (full) => full.slice(prefix.length);
  return (
    <section aria-labelledby="objects-title">
      <Breadcrumbs bucket={bucket} prefix={prefix} />
      <h1 id="objects-title">{bucket}</h1>
      <Versioning s3={s3} bucket={bucket} />
      <p><a href={settingsHref(bucket)} id="bucket-settings">Settings: versioning, encryption, Object Lock, lifecycle, policy, CORS, website, replication</a></p>
      <form class="inline" onSubmit={go}>
        <label for="prefix">Prefix</label>
        <input id="prefix" name="prefix" value={prefix} key={prefix} />
        <button type="submit">Go</button>
      </form>
      <Upload s3={s3} bucket={bucket} prefix={prefix} onUploaded={refresh} />
      <ErrorLine error={error} id="objects-error" />
      {pages.loaded && !pages.folders.length && !pages.objects.length && <p>No objects under this prefix.</p>}
      {(pages.folders.length > 0 || pages.objects.length > 0) && (
        <table id="object-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Modified</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
          <tbody>
            {pages.folders.map((f) => (
              <tr key={'/' + f}>
                <th scope="row"><a href={bucketHref(bucket, f)} class="folder">{name(f)}</a></th>
                <td data-label="Size">folder</td><td /><td />
              </tr>
            ))}
            {pages.objects.map((o) => (
              <tr key={o.key}>
                <th scope="row"><a href={objectHref(bucket, o.key)}>{name(o.key) || o.key}</a></th>
                <td data-label="Size">{size(o.size)}</td>
                <td data-label="Modified">{when(o.modified)}</td>
                <td class="actions">
                  <button type="button" aria-label={`Download ${o.key}`} onClick={() => download(o.key)}>Download</button>
                  <button type="button" class="danger" aria-label={`Delete ${o.key}`} onClick={() => remove(o.key)}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {pages.next && <button type="button" id="more" disabled={busy} onClick={() => load(pages.next)}>Load more</button>}
      {busy && <p aria-live="polite">Loading…</p>}
    </section>
  );
}
