// The sign-in form: the key is checked with a ListBuckets call before it is kept (in memory
// only); a wrong one shows S3's own error.
import { useState } from 'preact/hooks';
import { S3 } from './s3.js';
import { ErrorLine, useAction } from './ui.jsx';

export function SignIn({ onSignedIn }) {
  const { error, busy, act } = useAction();
  const [region, setRegion] = useState('us-east-1');
  const submit = (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const creds = { accessKeyId: form.access.value.trim(), secretAccessKey: form.secret.value, region: region.trim() };
    act(async () => {
      await new S3(creds).listBuckets();
      form.secret.value = '';
      onSignedIn(creds);
    });
  };
  // WebCrypto, which signing needs, exists only in secure contexts (HTTPS, or a loopback address).
  if (!globalThis.crypto?.subtle) {
    return (
      <main class="signin" id="main" tabIndex={-1}>
        <h1>Coffer console</h1>
        <p class="error" role="alert">
          This page can sign requests only over HTTPS or from a loopback address (127.0.0.1, localhost):
          start the server with --tls-cert and --tls-key, or open the console through a loopback address or SSH tunnel.
        </p>
      </main>
    );
  }
  return (
    <main class="signin" id="main" tabIndex={-1}>
      <h1>Coffer console</h1>
      <form onSubmit={submit} aria-describedby="signin-note">
        <label for="access">Access key</label>
        <input id="access" name="access" autocomplete="username" required autofocus />
        <label for="secret">Secret key</label>
        <input id="secret" name="secret" type="password" autocomplete="current-password" required />
        <details>
          <summary>Region</summary>
          <label for="region">Region the server signs for</label>
          <input id="region" value={region} onInput={(e) => setRegion(e.currentTarget.value)} required />
        </details>
        <button type="submit" id="sign-in" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
        <ErrorLine error={error} id="signin-error" />
      </form>
      <p id="signin-note" class="note">
        The page signs each request itself; the secret stays in this tab's memory and is never sent or stored.
        Reloading the page or signing out forgets it.
      </p>
    </main>
  );
}
