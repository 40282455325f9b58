// Remotes and tiers, for the root user (the admin API's /_admin/remotes and /_admin/tiers):
// S3 endpoints (their secret keys go in and never come back) and the tiers that store on them
// or in a directory, each taking some storage classes.
import { useState } from 'preact/hooks';
import { ErrorLine, useAction, useLoad } from './ui.jsx';

const enc = encodeURIComponent;
/** The storage classes a tier may take (STANDARD is the local store's). */
const TIER_CLASSES = ['STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE', 'REDUCED_REDUNDANCY', 'OUTPOSTS', 'SNOW', 'EXPRESS_ONEZONE'];

const where = (t) => (t.kind === 'dir' ? `directory ${t.path}` : `remote ${t.remote}, bucket ${t.bucket}${t.prefix ? `, prefix ${t.prefix}` : ''}`);

function Field({ id, label, ...input }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} name={id} {...input} />
    </div>
  );
}

function Remotes({ s3, remotes, onChange }) {
  const { error, busy, act } = useAction();
  const add = (e) => {
    e.preventDefault();
    const f = e.currentTarget;
    act(async () => {
      await s3.admin('POST', 'remotes', {
        name: f['remote-name'].value.trim(), endpoint: f['remote-endpoint'].value.trim(), region: f['remote-region'].value.trim(),
        access_key: f['remote-access'].value.trim(), secret_key: f['remote-secret'].value, path_style: !f['remote-virtual'].checked,
      });
      f.reset();
      onChange();
    });
  };
  const remove = (name) => {
    if (!confirm(`Remove remote ${name}? Tiers and --blobs that use it must go first.`)) return;
    act(async () => { await s3.admin('DELETE', `remotes/${enc(name)}`); onChange(); });
  };
  return (
    <section aria-labelledby="remotes-title">
      <h2 id="remotes-title">Remotes</h2>
      <ErrorLine error={error} id="remotes-error" />
      {remotes.length === 0 ? <p>No remotes yet.</p> : (
        <table id="remote-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Endpoint</th><th scope="col">Region</th><th scope="col">Access key</th><th scope="col">Addressing</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
          <tbody>
            {remotes.map((r) => (
              <tr key={r.name}>
                <th scope="row">{r.name}</th>
                <td data-label="Endpoint">{r.endpoint}</td>
                <td data-label="Region">{r.region}</td>
                <td data-label="Access key"><code>{r.access_key}</code></td>
                <td data-label="Addressing">{r.path_style ? 'path-style' : 'virtual-hosted'}</td>
                <td class="actions"><button type="button" class="danger" aria-label={`Remove remote ${r.name}`} disabled={busy} onClick={() => remove(r.name)}>Remove</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="form" onSubmit={add} aria-labelledby="add-remote-title">
        <h3 id="add-remote-title">Add a remote</h3>
        <Field id="remote-name" label="Name" required />
        <Field id="remote-endpoint" label="Endpoint URL" type="url" required placeholder="https://s3.example.net" />
        <Field id="remote-region" label="Region" required value="us-east-1" />
        <Field id="remote-access" label="Access key" required autocomplete="off" />
        <Field id="remote-secret" label="Secret key" type="password" required autocomplete="new-password" />
        <div class="check"><input type="checkbox" id="remote-virtual" name="remote-virtual" /><label for="remote-virtual">Virtual-hosted addressing (bucket.endpoint)</label></div>
        <button type="submit" id="add-remote" disabled={busy}>Add remote</button>
        <p class="note">The secret key is stored sealed under the master key and never shown again.</p>
      </form>
    </section>
  );
}

function Tiers({ s3, tiers, remotes, onChange }) {
  const { error, busy, act } = useAction();
  const [kind, setKind] = useState('dir');
  const add = (e) => {
    e.preventDefault();
    const f = e.currentTarget;
    const classes = TIER_CLASSES.filter((c) => f[`class-${c}`].checked);
    const place = kind === 'dir' ? { path: f['tier-path'].value.trim() }
      : { remote: f['tier-remote'].value, bucket: f['tier-bucket'].value.trim(), prefix: f['tier-prefix'].value };
    act(async () => {
      if (!classes.length) throw new Error('Choose at least one storage class for the tier.');
      await s3.admin('POST', 'tiers', { name: f['tier-name'].value.trim(), kind, ...place, storage_classes: classes, archive: f['tier-archive'].checked });
      f.reset();
      setKind('dir');
      onChange();
    });
  };
  const remove = (name) => {
    if (!confirm(`Remove tier ${name}? Only a tier that holds no object versions can go.`)) return;
    act(async () => { await s3.admin('DELETE', `tiers/${enc(name)}`); onChange(); });
  };
  return (
    <section aria-labelledby="tiers-title">
      <h2 id="tiers-title">Tiers</h2>
      <ErrorLine error={error} id="tiers-error" />
      {tiers.length === 0 ? <p>No tiers yet: every object is in the local store.</p> : (
        <table id="tier-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Where</th><th scope="col">Storage classes</th><th scope="col">Archive</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
          <tbody>
            {tiers.map((t) => (
              <tr key={t.name}>
                <th scope="row">{t.name}</th>
                <td data-label="Where">{where(t)}</td>
                <td data-label="Storage classes">{t.storage_classes.join(', ')}</td>
                <td data-label="Archive">{t.archive ? 'yes (restore before reading)' : 'no'}</td>
                <td class="actions"><button type="button" class="danger" aria-label={`Remove tier ${t.name}`} disabled={busy} onClick={() => remove(t.name)}>Remove</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="form" onSubmit={add} aria-labelledby="add-tier-title">
        <h3 id="add-tier-title">Add a tier</h3>
        <Field id="tier-name" label="Name" required pattern="[A-Za-z0-9_\-]+" />
        <fieldset>
          <legend>Stored in</legend>
          <div class="check"><input type="radio" id="tier-kind-dir" name="tier-kind" checked={kind === 'dir'} onChange={() => setKind('dir')} /><label for="tier-kind-dir">A directory on the server</label></div>
          <div class="check"><input type="radio" id="tier-kind-remote" name="tier-kind" checked={kind === 'remote'} onChange={() => setKind('remote')} /><label for="tier-kind-remote">A bucket on a remote</label></div>
        </fieldset>
        {kind === 'dir' ? <Field id="tier-path" label="Absolute directory path" required placeholder="/mnt/slow/coffer-tier" /> : (
          <>
            <div class="field">
              <label for="tier-remote">Remote</label>
              <select id="tier-remote" name="tier-remote" required>
                {remotes.map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
              </select>
            </div>
            <Field id="tier-bucket" label="Bucket" required />
            <Field id="tier-prefix" label="Key prefix (optional)" />
          </>
        )}
        <fieldset>
          <legend>Storage classes it takes</legend>
          <div class="classes">
            {TIER_CLASSES.map((c) => <div class="check" key={c}><input type="checkbox" id={`class-${c}`} name={`class-${c}`} /><label for={`class-${c}`}>{c}</label></div>)}
          </div>
        </fieldset>
        <div class="check"><input type="checkbox" id="tier-archive" name="tier-archive" /><label for="tier-archive">Archive tier (objects must be restored before they are read)</label></div>
        <button type="submit" id="add-tier" disabled={busy}>Add tier</button>
      </form>
    </section>
  );
}

export function RemotesAndTiers({ s3 }) {
  const data = useLoad(async () => {
    const [remotes, tiers] = await Promise.all([s3.admin('GET', 'remotes'), s3.admin('GET', 'tiers')]);
    return { remotes, tiers };
  }, [s3]);
  return (
    <section aria-labelledby="storage-title">
      <h1 id="storage-title">Remotes &amp; tiers</h1>
      <p class="note">Lifecycle transitions and PUTs with a tier's storage class move object data to that tier. Changes apply to the running server within seconds.</p>
      <ErrorLine error={data.error} id="storage-error" />
      {data.loading && !data.data && <p aria-live="polite">Loading…</p>}
      {data.data && (
        <>
          <Remotes s3={s3} remotes={data.data.remotes} onChange={data.reload} />
          <Tiers s3={s3} tiers={data.data.tiers} remotes={data.data.remotes} onChange={data.reload} />
        </>
      )}
    </section>
  );
}
