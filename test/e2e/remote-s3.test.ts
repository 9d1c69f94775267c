// Remote snapshot storage against a real S3-protocol server (s3rver on 127.0.0.1, a child process)
// driven by the real AWS SDK: single-part and multipart uploads read back and verified, a local copy
// that does not match its manifest refused before upload, an upload cut by killing the server leaves
// no object, a corrupted object refused on download, presigned URLs that work and expire.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  RemoteError,
  downloadVerified,
  expectedOf,
  listObjects,
  presignGet,
  s3Client,
  uploadVerified,
  verifyObject,
  type S3Target,
} from '../../engine/remote/s3.js';
import { startS3, type S3Lab } from '../lab/s3-server.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Files under the s3rver directory whose path contains `key` (its object store on disk). */
function storedFiles(dir: string, key: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.includes(key)).map((f) => path.join(dir, f));
}

describe('remote snapshot storage (s3rver + AWS SDK)', function () {
  this.timeout(120_000);
  let work: string;
  let s3: S3Lab;
  let client: S3Client;
  let target: S3Target;

  const file = (name: string, bytes: Buffer): string => {
    const f = path.join(work, name);
    writeFileSync(f, bytes);
    return f;
  };

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'runbook-s3-'));
    s3 = await startS3(path.join(work, 's3'), 'backups');
    target = { endpoint: s3.endpoint, bucket: 'backups', prefix: 'etcd/prod/', region: 'us-east-1', pathStyle: true };
    client = await s3Client(target, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
  });

  after(async () => {
    client?.destroy();
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('a single-part upload is read back and verified: size, server ETag (MD5 of what it received), metadata sha256', async () => {
    const body = randomBytes(300 * 1024);
    const f = file('small.db', body);
    const r = await uploadVerified(client, target, f, 'etcd/prod/small.db', sha(body), { revision: '42', cluster: 'prod' });
    assert.equal(r.expected.etag, `"${createHash('md5').update(body).digest('hex')}"`);
    const objects = await listObjects(client, target);
    assert.deepEqual(
      objects.map((o) => [o.key, o.size]),
      [['etcd/prod/small.db', body.length]],
    );
  });

  it('a multipart upload (5 MiB parts) is verified against the ETag the server computed from the parts', async () => {
    const body = randomBytes(23 * MiB);
    const f = file('big.db', body);
    const r = await uploadVerified(client, target, f, 'etcd/prod/big.db', sha(body), { revision: '43' }, { partSize: 5 * MiB });
    assert.match(r.expected.etag, /-5"$/, 'five parts');
    const objects = await listObjects(client, target);
    // s3rver's multipart ETag is the md5 of the whole body (AWS: of the parts' md5s); both come from the server.
    assert.ok(
      [r.expected.etag, r.expected.etagWhole].includes(objects.find((o) => o.key === 'etcd/prod/big.db')?.etag ?? ''),
      'the server computed the ETag we expect',
    );
    // Expectations from other bytes fail verification: the comparison is not vacuous.
    const other = await expectedOf(file('other.db', randomBytes(23 * MiB)), 5 * MiB);
    await assert.rejects(
      verifyObject(client, target, 'etcd/prod/big.db', other),
      (e) => e instanceof RemoteError && e.code === 'verify-failed' && /ETag/.test(e.message),
    );
  });

  it('a local copy that does not match its manifest is refused before anything is sent', async () => {
    const f = file('bad.db', randomBytes(1000));
    await assert.rejects(
      uploadVerified(client, target, f, 'etcd/prod/bad.db', 'f'.repeat(64), {}),
      (e) => e instanceof RemoteError && e.code === 'hash-mismatch' && /not uploaded/.test(e.message),
    );
    assert.equal(
      (await listObjects(client, target)).some((o) => o.key === 'etcd/prod/bad.db'),
      false,
    );
  });

  it('download checks the sha256: a byte changed in the stored object is refused and leaves no file', async () => {
    const body = randomBytes(64 * 1024);
    const f = file('flip.db', body);
    await uploadVerified(client, target, f, 'etcd/prod/flip.db', sha(body), {});
    const good = path.join(work, 'flip-down.db');
    await downloadVerified(client, target, 'etcd/prod/flip.db', good, sha(body));
    assert.deepEqual(readFileSync(good), body);
    // Corrupt the server's own copy on disk (the largest stored file of that key is its content).
    const stored = storedFiles(s3.dir, 'flip.db').sort((a, b) => statSync(b).size - statSync(a).size)[0] ?? '';
    const bytes = readFileSync(stored);
    assert.equal(bytes.length, body.length, `found the stored object: ${stored}`);
    bytes[1000] = (bytes[1000] ?? 0) ^ 0xff;
    writeFileSync(stored, bytes);
    const dest = path.join(work, 'flip-bad.db');
    await assert.rejects(downloadVerified(client, target, 'etcd/prod/flip.db', dest, sha(body)), (e) => e instanceof RemoteError && e.code === 'hash-mismatch');
    assert.equal(existsSync(dest), false);
    assert.equal(existsSync(`${dest}.part`), false);
  });

  it('a presigned URL fetches the object without credentials, and stops working when it expires', async () => {
    const body = randomBytes(10 * 1024);
    await uploadVerified(client, target, file('url.db', body), 'etcd/prod/url.db', sha(body), {});
    const url = await presignGet(client, target, 'etcd/prod/url.db', 1);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), body);
    assert.doesNotMatch(url, /S3RVER.*S3RVER|secret/i, 'the secret key is not in the URL');
    await new Promise((r) => setTimeout(r, 2100)); // the URL's own lifetime (1 s) must pass
    assert.equal((await fetch(url)).status, 403);
  });

  it('an upload cut by killing the server leaves no object; after a restart nothing half-written is listed', async () => {
    const body = randomBytes(40 * MiB);
    const f = file('cut.db', body);
    const port = s3.port;
    const upload = uploadVerified(client, target, f, 'etcd/prod/cut.db', sha(body), {}, { partSize: 5 * MiB });
    // Kill the server once it holds part of the upload (its multipart scratch files appear on disk).
    for (let i = 0; i < 600 && storedFiles(s3.dir, 'cut.db').length === 0 && readdirSync(s3.dir, { recursive: true }).length < 12; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await s3.stop('SIGKILL');
    await assert.rejects(upload, (e) => e instanceof RemoteError && e.code === 'upload-failed');
    s3 = await startS3(s3.dir, 'backups', port);
    const keys = (await listObjects(client, target)).map((o) => o.key);
    assert.equal(keys.includes('etcd/prod/cut.db'), false, `listed: ${keys.join(', ')}`);
  });
});
