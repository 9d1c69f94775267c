// Snapshots off the host: S3-compatible storage through the AWS SDK for JavaScript v3. The SDK is
// loaded only when a remote store is used (CLI start-up does not pay for it).
//
// What an upload guarantees:
// - the local file is hashed first and must match the manifest's sha256 (never upload a bad copy);
// - parts are sent with an SHA-256 checksum each (a server that checks, AWS S3, refuses a damaged part);
// - the object appears only when complete (single PUT, or CompleteMultipartUpload); a failed or
//   interrupted multipart upload is aborted, so nothing half-written is ever listed as a backup;
// - after the upload the object is read back (HEAD) and must have the expected size, the ETag the
//   server computed from the bytes it received (MD5, per part for multipart), the manifest's sha256
//   in its metadata, and, where the server keeps checksums, the expected SHA-256 checksum.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../model/types.js';

/** The inventory's `cluster.backup_remote.s3` (no credentials). */
export type S3Target = S3Settings;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The credentials from the run's secrets (inventory secrets s3_access_key_id, s3_secret_access_key, s3_session_token). */
export function credentialsFrom(secrets: Record<string, string | undefined>): S3Credentials {
  const id = secrets.s3_access_key_id;
  const key = secrets.s3_secret_access_key;
  if (!id || !key) throw new RemoteError('no-credentials', 'the secrets s3_access_key_id and s3_secret_access_key are not set (inventory secrets:)');
  return { accessKeyId: id, secretAccessKey: key, ...(secrets.s3_session_token ? { sessionToken: secrets.s3_session_token } : {}) };
}

export type RemoteErrorCode =
  'hash-mismatch' | 'upload-failed' | 'verify-failed' | 'not-found' | 'download-failed' | 'timeout' | 'no-credentials' | 'bad-manifest';

/** A remote-storage failure with a code callers branch on (never the message text). */
export class RemoteError extends Error {
  constructor(
    readonly code: RemoteErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

export interface RemoteObject {
  key: string;
  size: number;
  lastModified: Date;
  etag: string;
}

/** 16 MiB parts: 2 GiB is 128 parts, well under S3's 10,000, and small enough to retry. */
export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;

/** What the object must look like once uploaded, computed from the local file in one pass. */
export interface Expected {
  size: number;
  sha256Hex: string;
  /** The ETag S3 computes: md5 of the body, or md5 of the parts' md5s + "-N" for multipart. */
  etag: string;
  /** md5 of the whole body: the ETag some S3-compatible servers give a multipart object. */
  etagWhole: string;
  /** The SHA-256 checksum S3 keeps: of the body, or of the parts' checksums + "-N" (composite). */
  checksumSha256: string;
}

export async function expectedOf(file: string, partSize = DEFAULT_PART_SIZE): Promise<Expected> {
  const size = statSync(file).size;
  const whole = createHash('sha256');
  const wholeMd5 = createHash('md5');
  const partMd5: Buffer[] = [];
  const partSha: Buffer[] = [];
  let md5 = createHash('md5');
  let sha = createHash('sha256');
  let inPart = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    whole.update(chunk);
    wholeMd5.update(chunk);
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(chunk.length - off, partSize - inPart);
      const piece = chunk.subarray(off, off + take);
      md5.update(piece);
      sha.update(piece);
      inPart += take;
      off += take;
      if (inPart === partSize) {
        partMd5.push(md5.digest());
        partSha.push(sha.digest());
        md5 = createHash('md5');
        sha = createHash('sha256');
        inPart = 0;
      }
    }
  }
  if (inPart > 0 || partMd5.length === 0) {
    partMd5.push(md5.digest());
    partSha.push(sha.digest());
  }
  const sha256Hex = whole.digest('hex');
  const etagWhole = `"${wholeMd5.digest('hex')}"`;
  // lib-storage sends a file of at most one part as a single PUT.
  if (size <= partSize) return { size, sha256Hex, etag: etagWhole, etagWhole, checksumSha256: Buffer.from(sha256Hex, 'hex').toString('base64') };
  const n = partMd5.length;
  return {
    size,
    sha256Hex,
    etagWhole,
    etag: `"${createHash('md5').update(Buffer.concat(partMd5)).digest('hex')}-${n}"`,
    checksumSha256: `${createHash('sha256').update(Buffer.concat(partSha)).digest('base64')}-${n}`,
  };
}

export async function s3Client(t: S3Target, creds: S3Credentials): Promise<S3Client> {
  // The SDK warns on every start that its releases from 2027 on need Node 22; the locked version
  // supports Node 20, which runbook requires (package.json engines).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3Client } = await import('@aws-sdk/client-s3');
  return new S3Client({
    region: t.region,
    ...(t.endpoint ? { endpoint: t.endpoint } : {}),
    forcePathStyle: t.pathStyle,
    credentials: creds,
    maxAttempts: 3,
    // A stalled connection fails after 2 min without data, however large the file (k3s#4205:
    // one fixed deadline for the whole upload cut large snapshots short).
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
  });
}

export function objectKey(t: S3Target, name: string): string {
  return `${t.prefix}${name}`;
}

export interface UploadResult {
  key: string;
  expected: Expected;
}

/**
 * Upload `file` as `key` with `metadata` (x-amz-meta-*), after checking its sha256 against
 * `sha256Hex` (the manifest's); then read the object back and verify it (see the file header).
 */
export async function uploadVerified(
  client: S3Client,
  t: S3Target,
  file: string,
  key: string,
  sha256Hex: string,
  metadata: Record<string, string>,
  opts: { partSize?: number; signal?: AbortSignal; contentType?: string } = {},
): Promise<UploadResult> {
  const partSize = opts.partSize ?? DEFAULT_PART_SIZE;
  const expected = await expectedOf(file, partSize);
  if (expected.sha256Hex !== sha256Hex)
    throw new RemoteError('hash-mismatch', `${file}: sha256 ${expected.sha256Hex} does not match the manifest's ${sha256Hex}; not uploaded`);
  const { Upload } = await import('@aws-sdk/lib-storage');
  const upload = new Upload({
    client,
    params: {
      Bucket: t.bucket,
      Key: key,
      Body: createReadStream(file),
      ChecksumAlgorithm: 'SHA256',
      Metadata: { ...metadata, sha256: expected.sha256Hex },
      ContentType: opts.contentType ?? 'application/octet-stream',
    },
    partSize,
    queueSize: 4,
    leavePartsOnError: false, // abort the multipart upload: no orphaned parts, no partial object
    ...(opts.signal ? { abortController: abortFrom(opts.signal) } : {}),
  });
  try {
    await upload.done();
  } catch (e) {
    throw new RemoteError('upload-failed', `upload of ${file} to s3://${t.bucket}/${key} failed: ${errText(e)}`);
  }
  await verifyObject(client, t, key, expected);
  return { key, expected };
}

function abortFrom(signal: AbortSignal): AbortController {
  const c = new AbortController();
  if (signal.aborted) c.abort();
  else signal.addEventListener('abort', () => c.abort(), { once: true });
  return c;
}

function errText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/** HEAD the object and compare it with what was sent; a difference is a RemoteError('verify-failed'). */
export async function verifyObject(client: S3Client, t: S3Target, key: string, expected: Expected): Promise<void> {
  const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
  let head;
  try {
    head = await client.send(new HeadObjectCommand({ Bucket: t.bucket, Key: key, ChecksumMode: 'ENABLED' }));
  } catch (e) {
    throw new RemoteError('verify-failed', `s3://${t.bucket}/${key} cannot be read back: ${errText(e)}`);
  }
  const problems: string[] = [];
  if (head.ContentLength !== expected.size) problems.push(`size ${String(head.ContentLength)} (sent ${expected.size})`);
  // AWS gives a multipart object the md5 of its parts' md5s + "-N"; some compatible servers the md5
  // of the whole body. Either is computed by the server from the bytes it received.
  if (head.ETag !== expected.etag && head.ETag !== expected.etagWhole) {
    problems.push(`ETag ${String(head.ETag)} (expected ${expected.etag} or ${expected.etagWhole} from the bytes sent)`);
  }
  if (head.Metadata?.sha256 !== expected.sha256Hex) problems.push(`metadata sha256 ${String(head.Metadata?.sha256)} (expected ${expected.sha256Hex})`);
  if (head.ChecksumSHA256 !== undefined && head.ChecksumSHA256 !== expected.checksumSha256)
    problems.push(`checksum ${head.ChecksumSHA256} (expected ${expected.checksumSha256})`);
  if (problems.length) throw new RemoteError('verify-failed', `s3://${t.bucket}/${key} does not match what was uploaded: ${problems.join('; ')}`);
}

/** Every object under the target's prefix (paginated). */
export async function listObjects(client: S3Client, t: S3Target): Promise<RemoteObject[]> {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const out: RemoteObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: t.bucket, Prefix: t.prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) {
      if (o.Key !== undefined) out.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0), etag: o.ETag ?? '' });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export async function deleteObject(client: S3Client, t: S3Target, key: string): Promise<void> {
  const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  await client.send(new DeleteObjectCommand({ Bucket: t.bucket, Key: key }));
}

/** The object's user metadata (x-amz-meta-*), or null when it does not exist. */
export async function objectMetadata(client: S3Client, t: S3Target, key: string): Promise<Record<string, string> | null> {
  const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
  try {
    return (await client.send(new HeadObjectCommand({ Bucket: t.bucket, Key: key }))).Metadata ?? {};
  } catch (e) {
    if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
    throw e;
  }
}

/** A GET URL that works without credentials for `seconds` (members fetch snapshots with it). */
export async function presignGet(client: S3Client, t: S3Target, key: string, seconds: number): Promise<string> {
  const [{ GetObjectCommand }, { getSignedUrl }] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/s3-request-presigner')]);
  return getSignedUrl(client, new GetObjectCommand({ Bucket: t.bucket, Key: key }), { expiresIn: seconds });
}

/**
 * Download `key` to `dest` (through `dest.part`, renamed when complete) and check its sha256;
 * a mismatch removes the partial download and throws RemoteError('hash-mismatch').
 */
export async function downloadVerified(client: S3Client, t: S3Target, key: string, dest: string, sha256Hex: string): Promise<void> {
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  const part = `${dest}.part`;
  const hash = createHash('sha256');
  try {
    const r = await client.send(new GetObjectCommand({ Bucket: t.bucket, Key: key }));
    const body = r.Body as NodeJS.ReadableStream | undefined;
    if (!body) throw new Error('empty response');
    body.on('data', (c: Buffer) => hash.update(c));
    await pipeline(body, createWriteStream(part, { mode: 0o600 }));
  } catch (e) {
    rmSync(part, { force: true });
    throw new RemoteError('download-failed', `download of s3://${t.bucket}/${key} failed: ${errText(e)}`);
  }
  const got = hash.digest('hex');
  if (got !== sha256Hex) {
    rmSync(part, { force: true });
    throw new RemoteError('hash-mismatch', `s3://${t.bucket}/${key}: sha256 ${got} does not match the manifest's ${sha256Hex}`);
  }
  renameSync(part, dest);
}

/** A small object's text (a manifest), or null when it does not exist. */
export async function getText(client: S3Client, t: S3Target, key: string): Promise<string | null> {
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  try {
    const r = await client.send(new GetObjectCommand({ Bucket: t.bucket, Key: key }));
    return (await r.Body?.transformToString('utf8')) ?? '';
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (e as { name?: string }).name === 'NoSuchKey') return null;
    throw new RemoteError('download-failed', `s3://${t.bucket}/${key} cannot be read: ${errText(e)}`);
  }
}

/** Upload a small text object (a manifest) in one PUT with its SHA-256 checksum. */
export async function putText(client: S3Client, t: S3Target, key: string, text: string, contentType = 'application/json'): Promise<void> {
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  const body = Buffer.from(text, 'utf8');
  try {
    await client.send(
      new PutObjectCommand({
        Bucket: t.bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
        ContentMD5: createHash('md5').update(body).digest('base64'),
      }),
    );
  } catch (e) {
    throw new RemoteError('upload-failed', `upload of s3://${t.bucket}/${key} failed: ${errText(e)}`);
  }
}
