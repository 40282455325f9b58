// The console's S3 client: every call is an S3 request to this page's own origin, signed in
// the browser by aws4fetch (SigV4) with the key held in memory only. The server authorizes
// each one exactly as it would a request from any other S3 client.
import { AwsClient } from 'aws4fetch';

const PART_SIZE = 8 * 1024 * 1024;
const MULTIPART_FROM = 16 * 1024 * 1024;
const PART_TRIES = 4;
const PARALLEL_PARTS = 3;

/** An error S3 answered with: its code and message, as the server wrote them. */
export class S3Error extends Error {
  constructor(status, code, message) {
    super(message ? `${code}: ${message}` : code);
    this.status = status;
    this.code = code;
  }
}

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
/** Appends element `tag` (with `value` as its text, if given) to `parent`; returns it. */
function add(doc, parent, tag, value) {
  const el = parent.appendChild(doc.createElementNS(S3_NS, tag));
  if (value !== undefined) el.textContent = value;
  return el;
}
const serialize = (doc) => new XMLSerializer().serializeToString(doc);
const xml = (text) => new DOMParser().parseFromString(text, 'application/xml');
const all = (node, tag) => Array.from(node.getElementsByTagName(tag));
const text = (node, tag) => node.getElementsByTagName(tag)[0]?.textContent ?? '';
const child = (node, tag) => Array.from(node.children).find((c) => c.localName === tag);
const childText = (node, tag) => child(node, tag)?.textContent ?? '';

async function failure(resp) {
  const body = resp.status === 304 || resp.headers.get('content-length') === '0' ? '' : await resp.text();
  if (!body) return new S3Error(resp.status, `HTTP ${resp.status}`, resp.statusText);
  const doc = xml(body);
  return new S3Error(resp.status, text(doc, 'Code') || `HTTP ${resp.status}`, text(doc, 'Message'));
}

/** The hex SHA-256 of `bytes`, as x-amz-content-sha256 carries it. */
async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** `/bucket/key` with each path segment of the key percent-encoded. */
/** The SSE headers that make a copy encrypted as the object whose HeadObject headers are
 *  `head` is (a copy without them is encrypted only by the bucket's default, if any). */
function encryptionOf(head) {
  const sse = head.get('x-amz-server-side-encryption');
  const kmsKey = head.get('x-amz-server-side-encryption-aws-kms-key-id');
  if (!sse) return {};
  if (sse === 'aws:kms' && kmsKey) return { 'x-amz-server-side-encryption': sse, 'x-amz-server-side-encryption-aws-kms-key-id': kmsKey };
  return { 'x-amz-server-side-encryption': sse };
}

export function objectPath(bucket, key = '') {
  const k = key ? '/' + key.split('/').map(encodeURIComponent).join('/') : '';
  return `/${encodeURIComponent(bucket)}${k}`;
}

export class S3 {
  constructor({ accessKeyId, secretAccessKey, region }) {
    this.accessKeyId = accessKeyId;
    this.aws = new AwsClient({ accessKeyId, secretAccessKey, region, service: 's3' });
  }

  url(path, query = {}, origin = location.origin) {
    const u = new URL(path, origin);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) u.searchParams.set(k, v);
    return u.toString();
  }

  /** A signed request; resolves to the response, or throws S3's error. A text body's
   *  SHA-256 is signed, so the server checks it. */
  async call(method, path, { query, headers, body } = {}) {
    if (typeof body === 'string') headers = { ...headers, 'x-amz-content-sha256': await sha256(new TextEncoder().encode(body)) };
    const resp = await this.aws.fetch(this.url(path, query), { method, headers, body });
    if (!resp.ok) throw await failure(resp);
    return resp;
  }

  async callXml(method, path, opts) {
    return xml(await (await this.call(method, path, opts)).text());
  }

  async listBuckets() {
    const doc = await this.callXml('GET', '/');
    return {
      owner: text(doc, 'DisplayName') || text(doc, 'ID'),
      buckets: all(doc, 'Bucket').map((b) => ({ name: text(b, 'Name'), created: text(b, 'CreationDate') })),
    };
  }

  /** A call to the root user's admin API (`/_admin/PATH`, path segments already encoded):
   *  JSON in and out, signed like any S3 request; throws the server's error. */
  async admin(method, path, body) {
    const opts = body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
    const resp = await this.call(method, `/_admin/${path}`, opts);
    return resp.status === 204 ? null : resp.json();
  }

  /** The bucket's object count and bytes: Coffer's own `?coffer-usage` subresource, which the
   *  server answers to whoever may list the bucket, from counters it keeps current. */
  async bucketUsage(bucket) {
    const doc = await this.callXml('GET', objectPath(bucket), { query: { 'coffer-usage': '' } });
    const n = (tag) => (doc.getElementsByTagName(tag)[0] ? Number(text(doc, tag)) : null);
    return { objects: n('Objects'), versions: n('Versions'), logicalBytes: n('LogicalBytes'), maxBytes: n('MaxBytes'), maxObjects: n('MaxObjects') };
  }

  /** The server's /metrics text, which only the root user may read. */
  async metrics() {
    return (await this.call('GET', '/metrics')).text();
  }

  createBucket(bucket) {
    return this.call('PUT', objectPath(bucket));
  }

  deleteBucket(bucket) {
    return this.call('DELETE', objectPath(bucket));
  }

  /** One page of a listing under `prefix`, folders rolled up at `/`. */
  async listObjects(bucket, prefix, token, maxKeys = 100) {
    const doc = await this.callXml('GET', objectPath(bucket), {
      query: { 'list-type': '2', delimiter: '/', prefix, 'max-keys': String(maxKeys), 'continuation-token': token || undefined },
    });
    return {
      folders: all(doc, 'CommonPrefixes').map((p) => text(p, 'Prefix')),
      objects: all(doc, 'Contents').map((c) => ({
        key: text(c, 'Key'), size: Number(text(c, 'Size')), modified: text(c, 'LastModified'), storageClass: text(c, 'StorageClass'),
      })),
      next: text(doc, 'IsTruncated') === 'true' ? text(doc, 'NextContinuationToken') : null,
    };
  }

  async headObject(bucket, key, versionId) {
    const resp = await this.call('HEAD', objectPath(bucket, key), { query: { versionId } });
    return resp.headers;
  }

  async tags(bucket, key, versionId) {
    const doc = await this.callXml('GET', objectPath(bucket, key), { query: { tagging: '', versionId } });
    return all(doc, 'Tag').map((t) => [text(t, 'Key'), text(t, 'Value')]);
  }

  /** Replaces the object's tags with `pairs` ([[key, value], ...]; none removes them all). */
  putTags(bucket, key, pairs) {
    const doc = document.implementation.createDocument(null, 'Tagging');
    const set = doc.documentElement.appendChild(doc.createElement('TagSet'));
    for (const [k, v] of pairs) {
      const tag = set.appendChild(doc.createElement('Tag'));
      tag.appendChild(doc.createElement('Key')).textContent = k;
      tag.appendChild(doc.createElement('Value')).textContent = v;
    }
    return this.call('PUT', objectPath(bucket, key), { query: { tagging: '' }, body: new XMLSerializer().serializeToString(doc) });
  }

  deleteObject(bucket, key, versionId) {
    return this.call('DELETE', objectPath(bucket, key), { query: { versionId } });
  }

  /** A page of up to 1000 versions and delete markers of exactly `key`, newest first, from
   *  `after` (the previous page's `next`); `next` is null once the key has no more. */
  async versions(bucket, key, after) {
    const doc = await this.callXml('GET', objectPath(bucket), {
      query: { versions: '', prefix: key, 'max-keys': '1000', 'key-marker': after?.keyMarker, 'version-id-marker': after?.versionIdMarker },
    });
    const root = doc.documentElement;
    const versions = Array.from(root.children)
      .filter((n) => (n.localName === 'Version' || n.localName === 'DeleteMarker') && childText(n, 'Key') === key)
      .map((n) => ({
        versionId: childText(n, 'VersionId'), latest: childText(n, 'IsLatest') === 'true', modified: childText(n, 'LastModified'),
        size: Number(childText(n, 'Size') || 0), deleteMarker: n.localName === 'DeleteMarker',
      }));
    // Keys sort, so the key's versions come before those of longer keys with it as a prefix:
    // a listing that stops past the key has no more of them.
    const more = childText(root, 'IsTruncated') === 'true' && childText(root, 'NextKeyMarker') === key;
    return { versions, next: more ? { keyMarker: key, versionIdMarker: childText(root, 'NextVersionIdMarker') } : null };
  }

  /** Copies `from` to `to` (encrypted as `from` is) and deletes `from` (S3 has no rename). */
  async rename(bucket, from, to) {
    const head = await this.headObject(bucket, from);
    const headers = { 'x-amz-copy-source': objectPath(bucket, from), ...encryptionOf(head) };
    await this.call('PUT', objectPath(bucket, to), { headers });
    await this.deleteObject(bucket, from);
  }

  /** Makes an old version the latest again by copying it over the key, encrypted as it is. */
  async restore(bucket, key, versionId) {
    const head = await this.headObject(bucket, key, versionId);
    const source = `${objectPath(bucket, key)}?versionId=${encodeURIComponent(versionId)}`;
    return this.call('PUT', objectPath(bucket, key), { headers: { 'x-amz-copy-source': source, ...encryptionOf(head) } });
  }

  async versioning(bucket) {
    const doc = await this.callXml('GET', objectPath(bucket), { query: { versioning: '' } });
    return text(doc, 'Status') || 'Off';
  }

  setVersioning(bucket, status) {
    const body = `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>${status}</Status></VersioningConfiguration>`;
    return this.call('PUT', objectPath(bucket), { query: { versioning: '' }, body });
  }

  /** A bucket subresource's document (`lifecycle`, `policy`, ...) as text, or '' when the
   *  bucket has none. */
  async getConfig(bucket, sub) {
    try {
      return await (await this.call('GET', objectPath(bucket), { query: { [sub]: '' } })).text();
    } catch (e) {
      // NoSuchLifecycleConfiguration, ServerSideEncryptionConfigurationNotFoundError, ...
      const none = e.code !== 'NoSuchBucket' && (e.code.startsWith('NoSuch') || e.code.endsWith('NotFoundError'));
      if (e.status === 404 && none) return '';
      throw e;
    }
  }

  putConfig(bucket, sub, body) {
    return this.call('PUT', objectPath(bucket), { query: { [sub]: '' }, body });
  }

  deleteConfig(bucket, sub) {
    return this.call('DELETE', objectPath(bucket), { query: { [sub]: '' } });
  }

  /** The bucket's default encryption: { algorithm: 'AES256' | 'aws:kms', kmsKeyId, bucketKey },
   *  or null when none is set. */
  async encryption(bucket) {
    const body = await this.getConfig(bucket, 'encryption');
    if (!body) return null;
    const doc = xml(body);
    return { algorithm: text(doc, 'SSEAlgorithm'), kmsKeyId: text(doc, 'KMSMasterKeyID'), bucketKey: text(doc, 'BucketKeyEnabled') === 'true' };
  }

  putEncryption(bucket, { algorithm, kmsKeyId, bucketKey }) {
    const doc = document.implementation.createDocument(S3_NS, 'ServerSideEncryptionConfiguration');
    const rule = add(doc, doc.documentElement, 'Rule');
    const apply = add(doc, rule, 'ApplyServerSideEncryptionByDefault');
    add(doc, apply, 'SSEAlgorithm', algorithm);
    if (algorithm === 'aws:kms' && kmsKeyId) add(doc, apply, 'KMSMasterKeyID', kmsKeyId);
    if (algorithm === 'aws:kms') add(doc, rule, 'BucketKeyEnabled', String(Boolean(bucketKey)));
    return this.putConfig(bucket, 'encryption', serialize(doc));
  }

  /** The bucket's Object Lock configuration: null when lock is off, else { mode, days, years }
   *  of its default retention (mode '' when it has none). */
  async objectLock(bucket) {
    const body = await this.getConfig(bucket, 'object-lock');
    if (!body) return null;
    const doc = xml(body);
    if (text(doc, 'ObjectLockEnabled') !== 'Enabled') return null;
    return { mode: text(doc, 'Mode'), days: text(doc, 'Days'), years: text(doc, 'Years') };
  }

  /** Turns Object Lock on (it stays on) with a default retention of `days` or `years` in
   *  `mode`, or none when `mode` is empty. */
  putObjectLock(bucket, { mode, days, years }) {
    const doc = document.implementation.createDocument(S3_NS, 'ObjectLockConfiguration');
    add(doc, doc.documentElement, 'ObjectLockEnabled', 'Enabled');
    if (mode) {
      const retention = add(doc, add(doc, doc.documentElement, 'Rule'), 'DefaultRetention');
      add(doc, retention, 'Mode', mode);
      if (years) add(doc, retention, 'Years', String(years));
      else add(doc, retention, 'Days', String(days));
    }
    return this.putConfig(bucket, 'object-lock', serialize(doc));
  }

  /** Replaces the object's user metadata (x-amz-meta-*, given as [[name, value], ...]) by
   *  copying it onto itself with the REPLACE directive. What REPLACE would otherwise reset is
   *  sent again from `head` (HeadObject's headers): content type and the other standard
   *  headers, storage class and encryption; its tags are copied. */
  replaceMetadata(bucket, key, head, pairs) {
    const headers = { 'x-amz-copy-source': objectPath(bucket, key), 'x-amz-metadata-directive': 'REPLACE', 'x-amz-tagging-directive': 'COPY' };
    for (const h of ['content-type', 'cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires']) {
      if (head.get(h)) headers[h] = head.get(h);
    }
    const storageClass = head.get('x-amz-storage-class');
    if (storageClass && storageClass !== 'STANDARD') headers['x-amz-storage-class'] = storageClass;
    Object.assign(headers, encryptionOf(head));
    for (const [name, value] of pairs) headers[`x-amz-meta-${name.toLowerCase()}`] = value;
    return this.call('PUT', objectPath(bucket, key), { headers });
  }

  /** Sets the version's retention (`mode` and an ISO date `until`; both empty removes it).
   *  Shortening or removing GOVERNANCE retention needs `bypass`; COMPLIANCE never allows it. */
  putRetention(bucket, key, versionId, { mode, until }, bypass) {
    const doc = document.implementation.createDocument(S3_NS, 'Retention');
    if (mode) {
      add(doc, doc.documentElement, 'Mode', mode);
      add(doc, doc.documentElement, 'RetainUntilDate', until);
    }
    const headers = bypass ? { 'x-amz-bypass-governance-retention': 'true' } : {};
    return this.call('PUT', objectPath(bucket, key), { query: { retention: '', versionId }, headers, body: serialize(doc) });
  }

  putLegalHold(bucket, key, versionId, on) {
    const doc = document.implementation.createDocument(S3_NS, 'LegalHold');
    add(doc, doc.documentElement, 'Status', on ? 'ON' : 'OFF');
    return this.call('PUT', objectPath(bucket, key), { query: { 'legal-hold': '', versionId }, body: serialize(doc) });
  }

  /** A presigned URL anyone may use until it expires (at most 7 days), for this page's
   *  origin or another address of the same server (`origin`: the signature covers the host). */
  async presign(bucket, key, seconds, { versionId, download, origin } = {}) {
    const query = { versionId, 'X-Amz-Expires': String(seconds) };
    if (download) query['response-content-disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(key.split('/').pop())}`;
    const signed = await this.aws.sign(this.url(objectPath(bucket, key), query, origin), { method: 'GET', aws: { signQuery: true } });
    return signed.url;
  }

  /** Uploads `file` to `key`: one PUT when small, else multipart with retried parts.
   *  `progress(sent, total)` is called as bytes leave the browser. A multipart upload keeps
   *  its id and finished parts in `state`, so after a network error the same call with the
   *  same `state` resumes it, sending only the parts still missing. */
  async upload(bucket, key, file, progress, state = {}) {
    const headers = { 'content-type': file.type || 'application/octet-stream' };
    if (file.size < MULTIPART_FROM) {
      await this.send('PUT', this.url(objectPath(bucket, key)), headers, file, (n) => progress(n, file.size));
      progress(file.size, file.size);
      return;
    }
    if (!state.uploadId) {
      const created = await this.callXml('POST', objectPath(bucket, key), { query: { uploads: '' }, headers });
      state.uploadId = text(created, 'UploadId');
      state.etags = new Array(Math.ceil(file.size / PART_SIZE)).fill(null);
    }
    const { uploadId, etags } = state;
    const partSize = (i) => Math.min(file.size, (i + 1) * PART_SIZE) - i * PART_SIZE;
    const sent = etags.map((e, i) => (e ? partSize(i) : 0));
    const report = () => progress(sent.reduce((a, b) => a + b, 0), file.size);
    const todo = etags.flatMap((e, i) => (e ? [] : [i]));
    const worker = async () => {
      while (todo.length) {
        const i = todo.shift();
        const part = file.slice(i * PART_SIZE, i * PART_SIZE + partSize(i));
        const url = this.url(objectPath(bucket, key), { partNumber: String(i + 1), uploadId });
        try {
          etags[i] = await this.retry(() => this.send('PUT', url, {}, part, (n) => { sent[i] = n; report(); }));
        } catch (e) {
          sent[i] = 0;
          report();
          throw e;
        }
        sent[i] = part.size;
        report();
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, todo.length) }, worker));
      const parts = etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('');
      const done = await this.call('POST', objectPath(bucket, key), {
        query: { uploadId }, body: `<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`,
      });
      // CompleteMultipartUpload may report an error in a 200 response.
      const doc = xml(await done.text());
      if (doc.documentElement.localName === 'Error') throw new S3Error(200, text(doc, 'Code'), text(doc, 'Message'));
    } catch (e) {
      // S3 refused: the upload cannot succeed, so free its parts. The network failed: keep
      // them for a resume.
      if (e instanceof S3Error) await this.abort(bucket, key, state);
      throw e;
    }
  }

  /** Abandons a multipart upload `state` holds, freeing the parts already sent. */
  async abort(bucket, key, state) {
    if (!state.uploadId) return;
    await this.call('DELETE', objectPath(bucket, key), { query: { uploadId: state.uploadId } }).catch(() => {});
    state.uploadId = null;
  }

  /** Tries a part again after a network error or a 5xx, waiting longer each time. */
  async retry(attempt) {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (e) {
        const transient = !(e instanceof S3Error) || e.status >= 500;
        if (!transient || i >= PART_TRIES) throw e;
        await new Promise((r) => setTimeout(r, 500 * 2 ** i));
      }
    }
  }

  /** A signed request sent with XMLHttpRequest, which reports upload progress (fetch does
   *  not); resolves to the ETag. The body's SHA-256 is signed too, so the server checks the
   *  bytes (and takes the upload where Object Lock asks for an integrity check). */
  async send(method, url, headers, body, onProgress) {
    const hash = await sha256(await body.arrayBuffer());
    const signed = await this.aws.sign(url, { method, headers: { ...headers, 'x-amz-content-sha256': hash } });
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open(method, signed.url);
      signed.headers.forEach((v, k) => { if (k !== 'host') x.setRequestHeader(k, v); });
      x.upload.onprogress = (e) => onProgress(e.loaded);
      x.onload = () => {
        if (x.status >= 200 && x.status < 300) return resolve(x.getResponseHeader('etag'));
        const doc = x.responseText ? xml(x.responseText) : null;
        reject(new S3Error(x.status, (doc && text(doc, 'Code')) || `HTTP ${x.status}`, doc && text(doc, 'Message')));
      };
      x.onerror = () => reject(new Error('The network failed while sending'));
      x.send(body);
    });
  }
}
