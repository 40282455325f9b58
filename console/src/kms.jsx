// The built-in KMS's keys, for the root user (the admin API's /_admin/kms): create, rotate
// (a new version; old ones still decrypt), disable and enable.
import { ErrorLine, useAction, useLoad, when } from './ui.jsx';

export function KmsKeys({ s3 }) {
  const keys = useLoad(() => s3.admin('GET', 'kms'), [s3]);
  const { error, busy, act } = useAction();
  const run = (call, question) => {
    if (question && !confirm(question)) return;
    act(async () => { await call(); keys.reload(); });
  };
  const create = (e) => {
    e.preventDefault();
    const input = e.currentTarget.keyname;
    run(async () => { await s3.admin('POST', 'kms', { name: input.value.trim() }); input.value = ''; });
  };
  return (
    <section aria-labelledby="kms-title">
      <h1 id="kms-title">KMS keys</h1>
      <form class="inline" onSubmit={create}>
        <label for="new-kms-key">New key name</label>
        <input id="new-kms-key" name="keyname" required maxLength={250} aria-describedby="kms-note" />
        <button type="submit" id="create-kms-key" disabled={busy}>Create key</button>
        <button type="button" onClick={keys.reload}>Refresh</button>
      </form>
      <p class="note" id="kms-note">Letters, digits, / _ and -. Requests name a key by its name, alias/NAME, its id or its ARN.</p>
      <ErrorLine error={error || keys.error} id="kms-error" />
      {keys.loading && !keys.data && <p aria-live="polite">Loading…</p>}
      {keys.data && (keys.data.length === 0 ? <p>No KMS keys yet.</p> : (
        <table id="kms-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Status</th><th scope="col">Version</th><th scope="col">Created</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.id}>
                <th scope="row">{k.name}</th>
                <td data-label="Id"><code>{k.id}</code></td>
                <td data-label="Status">{k.enabled ? 'enabled' : 'disabled'}</td>
                <td data-label="Version">{k.version}</td>
                <td data-label="Created">{when(k.created)}</td>
                <td class="actions">
                  <button type="button" aria-label={`Rotate KMS key ${k.name}`} disabled={busy}
                    onClick={() => run(() => s3.admin('POST', `kms/${k.id}/rotate`))}>Rotate</button>
                  {k.enabled
                    ? <button type="button" class="danger" aria-label={`Disable KMS key ${k.name}`} disabled={busy}
                        onClick={() => run(() => s3.admin('POST', `kms/${k.id}/disable`), `Disable ${k.name}? Objects encrypted under it cannot be read or written until it is enabled again.`)}>Disable</button>
                    : <button type="button" aria-label={`Enable KMS key ${k.name}`} disabled={busy}
                        onClick={() => run(() => s3.admin('POST', `kms/${k.id}/enable`))}>Enable</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
      <p class="note">Rotation adds a version of new key material: new objects use it, older objects still decrypt. Keys cannot be deleted (objects would become unreadable); disable one instead.</p>
    </section>
  );
}
