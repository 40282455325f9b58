// Users & keys, for the root user (the admin API's /_admin/users and /_admin/keys): create,
// disable, enable and delete users; create, rotate, disable, enable and delete access keys.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorLine, useAction, useLoad } from './ui.jsx';

const enc = encodeURIComponent;
export const stamp = (ms) => (ms ? new Date(ms).toLocaleString() : '—');

/** A secret the server returned once, shown (and focused) until the admin dismisses it. */
function NewSecret({ secret, onDone }) {
  const box = useRef(null);
  useEffect(() => { box.current?.focus(); }, [secret]);
  if (!secret) return null;
  return (
    <section class="secret" id="new-secret" tabIndex={-1} ref={box} aria-labelledby="new-secret-title">
      <h2 id="new-secret-title">New access key for {secret.user}</h2>
      <p>Copy the secret key now: the server does not keep it readable and will not show it again.</p>
      <dl class="props">
        <div><dt>Access key</dt><dd><code id="new-access-key">{secret.access_key}</code></dd></div>
        <div><dt>Secret key</dt><dd><code id="new-secret-key">{secret.secret_key}</code></dd></div>
      </dl>
      <button type="button" id="dismiss-secret" onClick={onDone}>I have saved it</button>
    </section>
  );
}

export function Users({ s3 }) {
  const users = useLoad(() => s3.admin('GET', 'users'), [s3]);
  const { error, busy, act } = useAction();
  const [secret, setSecret] = useState(null);
  /** Runs an admin call (after a confirmation, if given), shows a returned secret, reloads. */
  const run = (call, question) => {
    if (question && !confirm(question)) return;
    act(async () => {
      const out = await call();
      if (out?.secret_key) setSecret(out);
      users.reload();
    });
  };
  const create = (e) => {
    e.preventDefault();
    const input = e.currentTarget.username;
    run(async () => {
      const out = await s3.admin('POST', 'users', { name: input.value.trim() });
      input.value = '';
      return out;
    });
  };
  const keys = (users.data || []).flatMap((u) => u.access_keys);
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users &amp; keys</h1>
      <form class="inline" onSubmit={create}>
        <label for="new-user">New user name</label>
        <input id="new-user" name="username" required maxLength={64} pattern="[A-Za-z0-9+=,.@_\-]+"
          aria-describedby="new-user-note" />
        <button type="submit" id="create-user" disabled={busy}>Create user</button>
        <button type="button" onClick={users.reload}>Refresh</button>
      </form>
      <p class="note" id="new-user-note">Letters, digits and + = , . @ _ - (up to 64). A new user gets one access key; its secret is shown once.</p>
      <ErrorLine error={error || users.error} id="users-error" />
      <NewSecret secret={secret} onDone={() => setSecret(null)} />
      {users.loading && !users.data && <p aria-live="polite">Loading…</p>}
      {users.data && (
        <>
          <h2>Users</h2>
          <table id="user-table">
            <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Keys enabled</th><th scope="col">Buckets</th><th scope="col">Created</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.name}>
                  <th scope="row">{u.name}</th>
                  <td data-label="Status">{u.enabled ? 'enabled' : 'disabled'}</td>
                  <td data-label="Keys enabled">{u.enabled_keys} of {u.keys}</td>
                  <td data-label="Buckets">{u.buckets}</td>
                  <td data-label="Created">{stamp(u.created_ms)}</td>
                  <td class="actions">
                    <button type="button" aria-label={`New key for ${u.name}`} disabled={busy}
                      onClick={() => run(() => s3.admin('POST', `users/${enc(u.name)}/keys`))}>New key</button>
                    {u.name !== 'root' && (u.enabled
                      ? <button type="button" aria-label={`Disable user ${u.name}`} disabled={busy}
                          onClick={() => run(() => s3.admin('POST', `users/${enc(u.name)}/disable`))}>Disable</button>
                      : <button type="button" aria-label={`Enable user ${u.name}`} disabled={busy}
                          onClick={() => run(() => s3.admin('POST', `users/${enc(u.name)}/enable`))}>Enable</button>)}
                    {u.name !== 'root' && <button type="button" class="danger" aria-label={`Delete user ${u.name}`} disabled={busy}
                      onClick={() => run(() => s3.admin('DELETE', `users/${enc(u.name)}`), `Delete user ${u.name} and all its keys? It must own no buckets.`)}>Delete</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="note">Disabling a user disables all its keys; enabling it enables them all again. The root user can only have its keys rotated.</p>
          <h2>Access keys</h2>
          <table id="key-table">
            <thead><tr><th scope="col">Access key</th><th scope="col">User</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.access_key} data-key={k.access_key}>
                  <th scope="row"><code>{k.access_key}</code></th>
                  <td data-label="User">{k.user}</td>
                  <td data-label="Status">{k.enabled ? 'enabled' : 'disabled'}</td>
                  <td data-label="Created">{stamp(k.created_ms)}</td>
                  <td class="actions">
                    <button type="button" aria-label={`Rotate key ${k.access_key}`} disabled={busy}
                      onClick={() => run(() => s3.admin('POST', `keys/${enc(k.access_key)}/rotate`), `Replace key ${k.access_key} with a new one? The old key is disabled at once.`)}>Rotate</button>
                    {k.enabled
                      ? <button type="button" aria-label={`Disable key ${k.access_key}`} disabled={busy}
                          onClick={() => run(() => s3.admin('POST', `keys/${enc(k.access_key)}/disable`))}>Disable</button>
                      : <button type="button" aria-label={`Enable key ${k.access_key}`} disabled={busy}
                          onClick={() => run(() => s3.admin('POST', `keys/${enc(k.access_key)}/enable`))}>Enable</button>}
                    <button type="button" class="danger" aria-label={`Delete key ${k.access_key}`} disabled={busy}
                      onClick={() => run(() => s3.admin('DELETE', `keys/${enc(k.access_key)}`), `Delete key ${k.access_key} for good?`)}>Delete</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="note">Rotate makes a new key for the same user and disables the old one. For a switch without downtime, use New key, move the clients, then Disable the old key. A change applies within a second.</p>
        </>
      )}
    </section>
  );
}
