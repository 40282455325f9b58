// A bucket's settings: forms for the simple ones (versioning, default encryption, Object
// Lock), and every configuration as its document (lifecycle, policy, encryption, CORS,
// website, replication, Object Lock), each loaded, checked for well-formedness in the page,
// then saved; a change the server refuses shows S3's own error message.
import { useEffect, useState } from 'preact/hooks';
import { EncryptionForm, ObjectLockForm, Versioning } from './bucket_forms.jsx';
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

function Editor({ s3, bucket, sub, title, kind, example, fixed, generation, onChange }) {
  const current = useLoad(() => s3.getConfig(bucket, sub), [s3, bucket, sub, generation]);
  const [text, setText] = useState('');
  // The document as last loaded: a reload (after a change elsewhere on the page) replaces the
  // text only when it was not edited since, so unsaved work is never lost.
  const [base, setBase] = useState(null);
  const [saved, setSaved] = useState('');
  const { error, busy, act, setError } = useAction();
  useEffect(() => {
    if (current.data === null) return;
    setText((t) => (base === null || t === base ? current.data : t));
    setBase(current.data);
  }, [current.data]);
  const id = `${sub}-doc`;
  const save = (e) => {
    e.preventDefault();
    setSaved('');
    const problem = wellFormed(kind, text);
    if (problem) return setError(new Error(problem));
    act(async () => { await s3.putConfig(bucket, sub, text); setBase(text); setSaved('Saved.'); onChange(); });
  };
  const remove = () => act(async () => { await s3.deleteConfig(bucket, sub); setText(''); setBase(''); setSaved('Removed.'); onChange(); });
  return (
    <form onSubmit={save} class="editor" aria-labelledby={`${sub}-title`}>
      <h2 id={`${sub}-title`}>{title}</h2>
      <label for={id}>{title} ({kind === 'json' ? 'JSON' : 'XML'}){current.data === '' ? ', none set yet' : ''}</label>
      <textarea id={id} rows={12} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <div class="inline">
        <button type="submit" id={`${sub}-save`} disabled={busy || current.loading}>Save</button>
        {current.data === '' && <button type="button" onClick={() => setText(example)}>Insert an example</button>}
        {current.data && !fixed && <button type="button" class="danger" disabled={busy} onClick={remove}>Remove</button>}
        <span role="status" id={`${sub}-saved`}>{saved}</span>
      </div>
      <ErrorLine error={error || current.error} id={`${sub}-error`} />
    </form>
  );
}

const XMLNS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

/** Each editable subresource: its query name, title, format, an example, and whether S3 can
 *  remove it (Object Lock, once on, stays on). */
const DOCUMENTS = [
  { sub: 'lifecycle', title: 'Lifecycle rules', kind: 'xml', example: () => LIFECYCLE_EXAMPLE },
  { sub: 'policy', title: 'Bucket policy', kind: 'json', example: policyExample },
  { sub: 'encryption', title: 'Default encryption', kind: 'xml', example: () => `<ServerSideEncryptionConfiguration ${XMLNS}>
  <Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>
</ServerSideEncryptionConfiguration>` },
  { sub: 'cors', title: 'CORS rules', kind: 'xml', example: () => `<CORSConfiguration ${XMLNS}>
  <CORSRule><AllowedOrigin>https://example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>
</CORSConfiguration>` },
  { sub: 'website', title: 'Website', kind: 'xml', example: () => `<WebsiteConfiguration ${XMLNS}>
  <IndexDocument><Suffix>index.html</Suffix></IndexDocument>
</WebsiteConfiguration>` },
  { sub: 'replication', title: 'Replication', kind: 'xml', example: () => `<ReplicationConfiguration ${XMLNS}>
  <Role>arn:coffer:iam::replication</Role>
  <Rule><Status>Enabled</Status><Priority>1</Priority><Filter/><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>
    <Destination><Bucket>arn:aws:s3:::other-bucket</Bucket></Destination></Rule>
</ReplicationConfiguration>` },
  { sub: 'object-lock', title: 'Object Lock', kind: 'xml', fixed: true, example: () => `<ObjectLockConfiguration ${XMLNS}>
  <ObjectLockEnabled>Enabled</ObjectLockEnabled>
  <Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>7</Days></DefaultRetention></Rule>
</ObjectLockConfiguration>` },
];

/** Moves to an editor without touching the URL's fragment, which is the console's route. */
function jumpTo(id) {
  const el = document.getElementById(id);
  el?.scrollIntoView();
  el?.focus();
}

export function Settings({ s3, bucket }) {
  // A change saved anywhere on the page reloads every form and document, which may show it.
  const [generation, setGeneration] = useState(0);
  const changed = () => setGeneration((g) => g + 1);
  const shared = { s3, bucket, generation, onChange: changed };
  return (
    <section aria-labelledby="settings-title">
      <nav aria-label="Location" class="crumbs"><a href="#/">Buckets</a> / <a href={bucketHref(bucket)}>{bucket}</a></nav>
      <h1 id="settings-title">{bucket}: settings</h1>
      <h2 id="simple-title">Versioning, encryption and Object Lock</h2>
      <Versioning s3={s3} bucket={bucket} onChange={changed} key={`v${generation}`} />
      <EncryptionForm {...shared} />
      <ObjectLockForm {...shared} />
      <h2 id="documents-title">Configuration documents</h2>
      <nav aria-label="Documents" class="inline">{DOCUMENTS.map((d) => <a key={d.sub} href={`#${d.sub}-title`} onClick={(e) => { e.preventDefault(); jumpTo(`${d.sub}-doc`); }}>{d.title}</a>)}</nav>
      {DOCUMENTS.map((d) => <Editor key={d.sub} {...shared} {...d} example={d.example(bucket)} />)}
    </section>
  );
}
