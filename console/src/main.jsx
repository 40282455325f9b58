// The console's page: sign-in, then buckets, objects and one object's details, routed by
// the URL's fragment (#/, #/b/BUCKET/PREFIX, #/o/BUCKET/KEY, #/s/BUCKET, #/m; the root user's
// #/u users and keys, #/k KMS keys, #/r remotes and tiers) so Back and bookmarks work.
// The credentials live in this module's memory only: reloading the page signs out.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { S3 } from './s3.js';
import { SignIn } from './signin.jsx';
import { Buckets } from './buckets.jsx';
import { Objects } from './objects.jsx';
import { Details } from './details.jsx';
import { Settings } from './settings.jsx';
import { Dashboard } from './dashboard.jsx';
import { Users } from './users.jsx';
import { KmsKeys } from './kms.jsx';
import { RemotesAndTiers } from './remotes.jsx';
import { useLoad } from './ui.jsx';
import './app.css';

function parseRoute(hash) {
  const [kind, bucket, ...rest] = hash.replace(/^#\/?/, '').split('/');
  const tail = decodeURIComponent(rest.join('/'));
  if (kind === 'b' && bucket) return { view: 'objects', bucket: decodeURIComponent(bucket), prefix: tail };
  if (kind === 'm') return { view: 'dashboard' };
  if (kind === 'u') return { view: 'users', admin: true };
  if (kind === 'k') return { view: 'kms', admin: true };
  if (kind === 'r') return { view: 'storage', admin: true };
  if (kind === 's' && bucket) return { view: 'settings', bucket: decodeURIComponent(bucket) };
  if (kind === 'o' && bucket) return { view: 'details', bucket: decodeURIComponent(bucket), key: tail };
  return { view: 'buckets' };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** The root user's pages, shown only to a key the admin API answers (the root user's). */
function AdminPage({ s3, root, view }) {
  if (root.loading) return <p aria-live="polite">Loading…</p>;
  if (!root.data) return <p class="error" role="alert" id="admin-refused">This page is the root user's: the server's admin API refuses this key.</p>;
  if (view === 'users') return <Users s3={s3} />;
  if (view === 'kms') return <KmsKeys s3={s3} />;
  return <RemotesAndTiers s3={s3} />;
}

function Signed({ s3, route, signOut }) {
  // Whether this key may use the admin API (only the root user's may): it lists the users.
  const root = useLoad(() => s3.admin('GET', 'users').then(() => true, () => false), [s3]);
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">Coffer</a>
        <nav aria-label="Console" class="sections">
          <a href="#/">Buckets</a> <a href="#/m" id="server-link">Server</a>
          {root.data && <><a href="#/u" id="users-link">Users &amp; keys</a> <a href="#/k" id="kms-link">KMS keys</a> <a href="#/r" id="storage-link">Remotes &amp; tiers</a></>}
        </nav>
        <span class="who">Signed in as <strong id="who">{s3.accessKeyId}</strong></span>
        <button type="button" id="sign-out" onClick={signOut}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        {route.view === 'buckets' && <Buckets s3={s3} />}
        {route.view === 'objects' && <Objects s3={s3} bucket={route.bucket} prefix={route.prefix} />}
        {route.view === 'dashboard' && <Dashboard s3={s3} />}
        {route.view === 'settings' && <Settings s3={s3} bucket={route.bucket} />}
        {route.view === 'details' && <Details s3={s3} bucket={route.bucket} objectKey={route.key} />}
        {route.admin && <AdminPage s3={s3} root={root} view={route.view} />}
      </main>
    </>
  );
}

function App() {
  const [s3, setS3] = useState(null);
  const route = useRoute();
  useEffect(() => { document.getElementById('main')?.focus(); }, [s3, route.view]);
  if (!s3) return <SignIn onSignedIn={(creds) => setS3(new S3(creds))} />;
  const signOut = () => { setS3(null); location.hash = '#/'; };
  return <Signed s3={s3} route={route} signOut={signOut} />;
}

render(<App />, document.getElementById('app'));
