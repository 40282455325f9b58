// A bucket's settings as documents: lifecycle (XML) and policy (JSON), each loaded, checked
// for well-formedness in the page, then saved with S3's own error message on a bad document.
import { useEffect, useState } from 'preact/hooks';
import { bucketHref, ErrorLine, useAction, useLoad } from './ui.jsx';

const LIFECYCLE_EXAMPLE = `<LifecycleConfiguration>
  <Rule>
    <ID>expire-old-logs</ID>
    <Filter><Prefix>logs/</Prefix></Filter>
    <Status>Enabled</Status>
    <Expiration><Days>30</Days></Expiration>
  </Rule>
</LifecycleConfiguration>`;

const policyExample = (bucket) => JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/public/*` }],
}, null, 2);

/** The first problem a parser finds in `text`, or null. */
function wellFormed(kind, text) {
  if (kind === 'json') {
    try { JSON.parse(text); return null; } catch (e) { return `Not valid JSON: ${e.message}`; }
  }
  const err = new DOMParser().parseFromString(text, 'application/xml').getElementsByTagName('parsererror')[0];
  return err ? `Not well-formed XML: ${err.textContent.split('\n')[0]}` : null;
}

function Editor({ s3, bucket, sub, title, kind, example }) {
  const current = useLoad(() => s3.getConfig(bucket, sub), [s3, bucket, sub]);
  const [text, setText] = useState('');
  const [saved, setSaved] = useState('');
  const { error, busy, act, setError } = useAction();
  useEffect(() => { if (current.data !== null) setText(current.data); }, [current.data]);
  const id = `${sub}-doc`;
  const save = (e) => {
    e.preventDefault();
    setSaved('');
    const problem = wellFormed(kind, text);
    if (problem) return setError(new Error(problem));
    act(async () => { await s3.putConfig(bucket, sub, text); setSaved('Saved.'); current.reload(); });
  };
  const remove = () => act(async () => { await s3.deleteConfig(bucket, sub); setSaved('Removed.'); current.reload(); });
  return (
    <form onSubmit={save} class="editor" aria-labelledby={`${sub}-title`}>
      <h2 id={`${sub}-title`}>{title}</h2>
      <label for={id}>{title} ({kind === 'json' ? 'JSON' : 'XML'}){current.data === '' ? ', none set yet' : ''}</label>
      <textarea id={id} rows={12} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <div class="inline">
        <button type="submit" id={`${sub}-save`} disabled={busy || current.loading}>Save</button>
        {current.data === '' && <button type="button" onClick={() => setText(example)}>Insert an example</button>}
        {current.data && <button type="button" class="danger" disabled={busy} onClick={remove}>Remove</button>}
        <span role="status" id={`${sub}-saved`}>{saved}</span>
      </div>
      <ErrorLine error={error || current.error} id={`${sub}-error`} />
    </form>
  );
}

export function Settings({ s3, bucket }) {
  return (
    <section aria-labelledby="settings-title">
      <nav aria-label="Location" class="crumbs"><a href="#/">Buckets</a> / <a href={bucketHref(bucket)}>{bucket}</a></nav>
      <h1 id="settings-title">{bucket}: settings</h1>
      <Editor s3={s3} bucket={bucket} sub="lifecycle" title="Lifecycle rules" kind="xml" example={LIFECYCLE_EXAMPLE} />
      <Editor s3={s3} bucket={bucket} sub="policy" title="Bucket policy" kind="json" example={policyExample(bucket)} />
    </section>
  );
}
