// Uploads into the current prefix, from a file input or dropped files, each with a progress
// bar (large files go up in parts; a part that fails on the network is tried again, and an
// upload the network broke can be resumed from the parts already sent, or cancelled).
import { useState } from 'preact/hooks';
import { size } from './ui.jsx';

export function Upload({ s3, bucket, prefix, onUploaded }) {
  const [jobs, setJobs] = useState([]);
  const [over, setOver] = useState(false);
  const update = (id, change) => setJobs((js) => js.map((j) => (j.id === id ? { ...j, ...change } : j)));
  /** Runs (or resumes) one job's upload; a network failure leaves it resumable. */
  const run = (job) => {
    update(job.id, { state: 'uploading', error: null });
    s3.upload(bucket, job.key, job.file, (sent, total) => update(job.id, { sent, total }), job.resume)
      .then(() => { update(job.id, { state: 'done', sent: job.file.size }); onUploaded(); })
      .catch((e) => update(job.id, { state: 'failed', error: String(e.message || e), resumable: Boolean(job.resume.uploadId) }));
  };
  const start = (files) => {
    for (const file of files) {
      const job = { id: `${Date.now()}-${Math.random()}`, key: prefix + file.name, file, resume: {}, sent: 0, total: file.size, state: 'uploading' };
      setJobs((js) => [...js, job]);
      run(job);
    }
  };
  const cancel = (job) => {
    s3.abort(bucket, job.key, job.resume);
    update(job.id, { state: 'cancelled', resumable: false });
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
                {j.state === 'failed' && j.resumable && (
                  <>
                    <button type="button" class="resume" aria-label={`Resume upload of ${j.key}`} onClick={() => run(j)}>Resume</button>
                    <button type="button" class="danger" aria-label={`Cancel upload of ${j.key}`} onClick={() => cancel(j)}>Cancel</button>
                  </>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
