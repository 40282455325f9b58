// Uploads into the current prefix, from a file input or dropped files, each with a progress
// bar (large files go up in parts; a part that fails on the network is tried again).
import { useState } from 'preact/hooks';
import { size } from './ui.jsx';

export function Upload({ s3, bucket, prefix, onUploaded }) {
  const [jobs, setJobs] = useState([]);
  const [over, setOver] = useState(false);
  const update = (id, change) => setJobs((js) => js.map((j) => (j.id === id ? { ...j, ...change } : j)));
  const start = (files) => {
    for (const file of files) {
      const id = `${Date.now()}-${Math.random()}`;
      const key = prefix + file.name;
      setJobs((js) => [...js, { id, key, sent: 0, total: file.size, state: 'uploading', error: null }]);
      s3.upload(bucket, key, file, (sent, total) => update(id, { sent, total }))
        .then(() => { update(id, { state: 'done', sent: file.size }); onUploaded(); })
        .catch((e) => update(id, { state: 'failed', error: String(e.message || e) }));
    }
  };
  const drop = (e) => {
    e.preventDefault();
    setOver(false);
    start(Array.from(e.dataTransfer.files));
  };
  return (
    <div class={over ? 'drop over' : 'drop'} onDragOver={(e) => { e.preventDefault(); setOver(true); }}
      onDragLeave={() => setOver(false)} onDrop={drop}>
      <label for="upload-input">Upload files to <code>{prefix || '/'}</code> (or drop them here)</label>
      <input id="upload-input" type="file" multiple onChange={(e) => { start(Array.from(e.currentTarget.files)); e.currentTarget.value = ''; }} />
      {jobs.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {jobs.map((j) => {
            const pct = j.total ? Math.floor((100 * j.sent) / j.total) : 100;
            return (
              <li key={j.id} class={`upload ${j.state}`} data-key={j.key}>
                <span class="upload-name">{j.key}</span>
                <progress max={100} value={pct} aria-label={`Upload of ${j.key}`} />
                <span class="upload-pct" aria-live="polite">{pct}% of {size(j.total)} {j.state === 'uploading' ? '' : j.state}</span>
                {j.error && <span class="error" role="alert">{j.error}</span>}
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
