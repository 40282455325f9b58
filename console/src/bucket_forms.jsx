// Forms for a bucket's simple settings: versioning, default encryption (SSE-S3, or SSE-KMS
// with a key), and Object Lock with its default retention. Each reads the setting, writes it
// with the S3 call a client would make, and shows S3's error when the server refuses.
import { useEffect, useState } from 'preact/hooks';
import { ErrorLine, useAction, useLoad } from './ui.jsx';

/** Versioning's status with the button that changes it (never back to unversioned). */
export function Versioning({ s3, bucket, onChange }) {
  const status = useLoad(() => s3.versioning(bucket), [s3, bucket]);
  const { error, busy, act } = useAction();
  const set = (to) => act(async () => { await s3.setVersioning(bucket, to); status.reload(); onChange?.(); });
  return (
    <div class="inline">
      <span>Versioning: <strong id="versioning-status">{status.data ?? '…'}</strong></span>
      {status.data && status.data !== 'Enabled' && <button type="button" id="enable-versioning" disabled={busy} onClick={() => set('Enabled')}>Enable versioning</button>}
      {status.data === 'Enabled' && <button type="button" id="suspend-versioning" disabled={busy} onClick={() => set('Suspended')}>Suspend versioning</button>}
      <ErrorLine error={error || status.error} id="versioning-error" />
    </div>
  );
}

/** A `name` radio button with its label. */
function Choice({ name, value, current, set, id, children }) {
  return (
    <div class="check">
      <input type="radio" id={id} name={name} value={value} checked={current === value} onChange={() => set(value)} />
      <label for={id}>{children}</label>
    </div>
  );
}

/** Default encryption: none, SSE-S3, or SSE-KMS with a key of the keyring. */
export function EncryptionForm({ s3, bucket, generation, onChange }) {
  const current = useLoad(() => s3.encryption(bucket), [s3, bucket, generation]);
  const [form, setForm] = useState({ algorithm: '', kmsKeyId: '', bucketKey: false });
  const [saved, setSaved] = useState('');
  const { error, busy, act } = useAction();
  useEffect(() => {
    if (current.loading || current.error) return;
    const c = current.data;
    setForm({ algorithm: c?.algorithm ?? '', kmsKeyId: c?.kmsKeyId ?? '', bucketKey: c?.bucketKey ?? false });
  }, [current.data, current.loading]);
  const set = (k) => (v) => setForm((f) => ({ ...f, [k]: v }));
  const save = (e) => {
    e.preventDefault();
    setSaved('');
    act(async () => {
      if (form.algorithm) await s3.putEncryption(bucket, form);
      else if (current.data) await s3.deleteConfig(bucket, 'encryption');
      setSaved('Saved.');
      onChange();
    });
  };
  return (
    <form onSubmit={save} class="form" aria-labelledby="encryption-form-title">
      <h3 id="encryption-form-title">Default encryption</h3>
      <fieldset>
        <legend>New objects without their own encryption headers are stored</legend>
        <Choice name="sse" id="sse-none" value="" current={form.algorithm} set={set('algorithm')}>Unencrypted</Choice>
        <Choice name="sse" id="sse-s3" value="AES256" current={form.algorithm} set={set('algorithm')}>SSE-S3: under the server's master key</Choice>
        <Choice name="sse" id="sse-kms" value="aws:kms" current={form.algorithm} set={set('algorithm')}>SSE-KMS: under a key of the KMS keyring</Choice>
      </fieldset>
      {form.algorithm === 'aws:kms' && (
        <>
          <div class="field">
            <label for="sse-kms-key">KMS key (name, id, alias/NAME or ARN)</label>
            <input id="sse-kms-key" required value={form.kmsKeyId} onInput={(e) => set('kmsKeyId')(e.currentTarget.value)} />
          </div>
          <div class="check">
            <input type="checkbox" id="sse-bucket-key" checked={form.bucketKey} onChange={(e) => set('bucketKey')(e.currentTarget.checked)} />
            <label for="sse-bucket-key">S3 Bucket Key (BucketKeyEnabled)</label>
          </div>
        </>
      )}
      <div class="inline">
        <button type="submit" id="encryption-form-save" disabled={busy || current.loading}>Save encryption</button>
        <span role="status" id="encryption-form-saved">{saved}</span>
      </div>
      <ErrorLine error={error || current.error} id="encryption-form-error" />
    </form>
  );
}

/** Object Lock: on (for good) or off, and the default retention new versions get. */
export function ObjectLockForm({ s3, bucket, generation, onChange }) {
  const current = useLoad(() => s3.objectLock(bucket), [s3, bucket, generation]);
  const [form, setForm] = useState({ mode: '', period: '1', unit: 'days' });
  const [saved, setSaved] = useState('');
  const { error, busy, act } = useAction();
  useEffect(() => {
    const c = current.data;
    if (c) setForm({ mode: c.mode, period: c.years || c.days || '1', unit: c.years ? 'years' : 'days' });
  }, [current.data]);
  const set = (k) => (v) => setForm((f) => ({ ...f, [k]: v }));
  const on = Boolean(current.data);
  const save = (e) => {
    e.preventDefault();
    setSaved('');
    if (!on && !confirm(`Turn Object Lock on for ${bucket}? It can never be turned off again.`)) return;
    act(async () => {
      await s3.putObjectLock(bucket, { mode: form.mode, [form.unit]: form.period });
      setSaved('Saved.');
      onChange();
    });
  };
  return (
    <form onSubmit={save} class="form" aria-labelledby="lock-form-title">
      <h3 id="lock-form-title">Object Lock</h3>
      <p id="lock-status">
        {current.loading ? '…' : on ? 'Object Lock is on for this bucket (it cannot be turned off).'
          : 'Object Lock is off. Turning it on needs versioning Enabled, and cannot be undone.'}
      </p>
      <div class="field">
        <label for="lock-mode">Default retention of new versions</label>
        <select id="lock-mode" value={form.mode} onChange={(e) => set('mode')(e.currentTarget.value)}>
          <option value="">None</option>
          <option value="GOVERNANCE">GOVERNANCE (users with s3:BypassGovernanceRetention may shorten it)</option>
          <option value="COMPLIANCE">COMPLIANCE (nobody may shorten it)</option>
        </select>
      </div>
      {form.mode && (
        <div class="inline">
          <label for="lock-period">For</label>
          <input id="lock-period" type="number" min={1} step={1} required value={form.period} onInput={(e) => set('period')(e.currentTarget.value)} />
          <label for="lock-unit" class="sr">Unit</label>
          <select id="lock-unit" value={form.unit} onChange={(e) => set('unit')(e.currentTarget.value)}>
            <option value="days">days</option>
            <option value="years">years</option>
          </select>
        </div>
      )}
      <div class="inline">
        <button type="submit" id="lock-form-save" disabled={busy || current.loading}>{on ? 'Save Object Lock' : 'Turn Object Lock on'}</button>
        <span role="status" id="lock-form-saved">{saved}</span>
      </div>
      <ErrorLine error={error || current.error} id="lock-form-error" />
    </form>
  );
}
