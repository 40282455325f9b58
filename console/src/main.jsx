// The console's page: sign-in, then buckets, objects and one object's details, routed by
// the URL's fragment (#/, #/b/BUCKET/PREFIX, #/o/BUCKET/KEY, #/s/BUCKET, #/m) so Back and bookmarks work.
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
import './app.css';

function parseRoute(hash) {
  const [kind, bucket, ...rest] = hash.replace(/^#\/?/, '').split('/');
  const tail = decodeURIComponent(rest.join('/'));
  if (kind === 'b' && bucket) return { view: 'objects', bucket: decodeURIComponent(bucket), prefix: tail };
  if (kind === 'm') return { view: 'dashboard' };
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

function App() {
  const [s3, setS3] = useState(null);
  const route = useRoute();
  useEffect(() => { document.getElementById('main')?.focus(); }, [s3, route.view]);
  if (!s3) return <SignIn onSignedIn={(creds) => setS3(new S3(creds))} />;
  const signOut = () => { setS3(null); location.hash = '#/'; };
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">Coffer</a>
        <nav aria-label="Console" class="sections"><a href="#/">Buckets</a> <a href="#/m" id="server-link">Server</a></nav>
        <span class="who">Signed in as <strong id="who">{s3.accessKeyId}</strong></span>
        <button type="button" id="sign-out" onClick={signOut}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        {route.view === 'buckets' && <Buckets s3={s3} />}
        {route.view === 'objects' && <Objects s3={s3} bucket={route.bucket} prefix={route.prefix} />}
        {route.view === 'dashboard' && <Dashboard s3={s3} />}
        {route.view === 'settings' && <Settings s3={s3} bucket={route.bucket} />}
        {route.view === 'details' && <Details s3={s3} bucket={route.bucket} objectKey={route.key} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app'));
