// `remote` actions: controller-side operations on snapshot storage and backup records, run in this
// process (no shell): upload + read-back, remote retention, presigned URLs, a controller download,
// choosing a snapshot (`latest` across local and remote, s3:// URLs), and the metrics file.
// Credentials come from the run's secrets (s3_access_key_id, s3_secret_access_key), never from
// plan data; a presigned URL is added to the run's redactor the moment it is made.
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { jsonText, type Json, type JsonObject, type KeepRules, type S3Settings } from '../model/types.js';
import { decideRetention, type Candidate } from '../modules/retention.js';
import { localCatalog, MANIFEST_SUFFIX, newestFirst, parseManifest, parseS3Url, remoteCatalog, type CatalogEntry } from '../remote/catalog.js';
import { writeMetrics, metricsFile, type BackupMetrics } from '../remote/metrics.js';
import { credentialsFrom, deleteObject, downloadVerified, getText, presignGet, putText, RemoteError, s3Client, uploadVerified } from '../remote/s3.js';
import type { Redactor } from './redaction.js';

export interface RemoteEnv {
  scope: Record<string, unknown>;
  redact: Redactor;
  signal: AbortSignal;
  /** One line of output (shown live and journaled, redacted). */
  say: (line: string) => void;
}

type RemoteOp = (args: JsonObject, env: RemoteEnv) => Promise<Json>;

const s3Of = (args: JsonObject): S3Settings => {
  const s = args.s3 as unknown as S3Settings | undefined;
  if (!s || typeof s.bucket !== 'string') throw new RemoteError('no-credentials', 'no remote target: set cluster.backup_remote in the inventory');
  return s;
};

async function clientOf(args: JsonObject, env: RemoteEnv): Promise<{ client: S3Client; t: S3Settings }> {
  const t = s3Of(args);
  const secrets = (env.scope.secrets ?? {}) as Record<string, string>;
  return { client: await s3Client(t, credentialsFrom(secrets)), t };
}

const keepOf = (v: Json | undefined): KeepRules => {
  const k = (v ?? {}) as { count?: number; max_age_sec?: number };
  return { ...(typeof k.count === 'number' ? { count: k.count } : {}), ...(typeof k.max_age_sec === 'number' ? { maxAgeSec: k.max_age_sec } : {}) };
};

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file) as AsyncIterable<Buffer>) h.update(c);
  return h.digest('hex');
}

/** Upload the snapshot, read it back; only then its manifest (the marker that the backup is complete). */
const upload: RemoteOp = async (args, env) => {
  const { client, t } = await clientOf(args, env);
  try {
    const file = jsonText(args.file);
    const manifest = parseManifest(readFileSync(`${file}${MANIFEST_SUFFIX}`, 'utf8'), `${file}${MANIFEST_SUFFIX}`);
    const key = `${t.prefix}${basename(file)}`;
    const meta: Record<string, string> = {
      cluster: jsonText(args.cluster),
      revision: String(manifest.revision),
      'live-keys': String(manifest.live_keys ?? ''),
      'etcd-version': String(manifest.etcd_version ?? ''),
      'source-member': String((manifest as { source_member?: string }).source_member ?? ''),
    };
    const r = await uploadVerified(client, t, file, key, manifest.sha256, meta, { signal: env.signal });
    env.say(`uploaded s3://${t.bucket}/${key}: ${r.expected.size} bytes, sha256 ${manifest.sha256}; read back and verified`);
    const manifestText = readFileSync(`${file}${MANIFEST_SUFFIX}`, 'utf8');
    await putText(client, t, `${key}${MANIFEST_SUFFIX}`, manifestText);
    if ((await getText(client, t, `${key}${MANIFEST_SUFFIX}`)) !== manifestText) {
      throw new RemoteError('verify-failed', `s3://${t.bucket}/${key}${MANIFEST_SUFFIX} does not read back as written`);
    }
    env.say(`uploaded s3://${t.bucket}/${key}${MANIFEST_SUFFIX}: the backup counts from now on`);
    return { url: `s3://${t.bucket}/${key}`, bucket: t.bucket, key, size: r.expected.size, sha256: manifest.sha256, revision: manifest.revision };
  } finally {
    client.destroy();
  }
};

/** Remote retention: its own rules; snapshot and manifest objects deleted together, each with its reason. */
const prune: RemoteOp = async (args, env) => {
  const { client, t } = await clientOf(args, env);
  try {
    const entries = await remoteCatalog(client, t, jsonText(args.cluster));
    const candidates: Candidate[] = entries.map((e) => ({ key: e.location, time: e.time, verified: e.verified }));
    const d = decideRetention(candidates, keepOf(args.keep), Math.floor(Date.now() / 1000));
    for (const v of d.delete) {
      await deleteObject(client, t, v.key);
      await deleteObject(client, t, `${v.key}${MANIFEST_SUFFIX}`);
      env.say(`deleted s3://${t.bucket}/${v.key}: ${v.reason}`);
    }
    for (const v of d.keep) env.say(`kept s3://${t.bucket}/${v.key}: ${v.reason}`);
    return { deleted: d.delete as unknown as Json, kept: d.keep as unknown as Json };
  } finally {
    client.destroy();
  }
};

/** A GET URL for `seconds`; the URL is a credential while it lives: masked everywhere from now on. */
const presign: RemoteOp = async (args, env) => {
  const { client, t } = await clientOf(args, env);
  try {
    const url = await presignGet(client, t, jsonText(args.key), Number(args.seconds ?? 900));
    env.redact.add(url);
    const sig = /[?&]X-Amz-Signature=([^&]+)/.exec(url)?.[1];
    if (sig) env.redact.add(sig);
    return { url };
  } finally {
    client.destroy();
  }
};

// Members that cannot reach the store fall back to the controller: one download per run and file, however many members ask.
const downloads = new Map<string, Promise<void>>();

const download: RemoteOp = async (args, env) => {
  const dest = jsonText(args.dest);
  const sha = jsonText(args.sha256);
  const memo = `${String((env.scope.run as { id?: string } | undefined)?.id)} ${dest} ${sha}`;
  let p = downloads.get(memo);
  if (!p) {
    p = (async () => {
      const { client, t } = await clientOf(args, env);
      try {
        mkdirSync(join(dest, '..'), { recursive: true });
        await downloadVerified(client, t, jsonText(args.key), dest, sha);
      } finally {
        client.destroy();
      }
    })();
    downloads.set(memo, p);
    p.catch(() => downloads.delete(memo));
  }
  await p;
  env.say(`downloaded s3://${s3Of(args).bucket}/${jsonText(args.key)} to the controller (sha256 checked)`);
  return { path: dest, sha256: sha };
};

/** snapshot=latest | PATH | s3://bucket/key → which snapshot, where, and its manifest (a local file's hash checked here). */
const locate: RemoteOp = async (args, env) => {
  const want = jsonText(args.snapshot);
  const cluster = jsonText(args.cluster);
  const dir = jsonText(args.dir);
  const hasRemote = args.s3 !== undefined && args.s3 !== null;
  let pick: { where: 'local' | 'remote'; location: string } | undefined;
  const url = parseS3Url(want);
  if (url) {
    if (!hasRemote) throw new RemoteError('not-found', `${want}: this inventory has no cluster.backup_remote`);
    if (url.bucket !== s3Of(args).bucket) throw new RemoteError('not-found', `${want}: not the inventory's bucket ${s3Of(args).bucket}`);
    pick = { where: 'remote', location: url.key };
  } else if (want === 'latest') {
    const all: CatalogEntry[] = localCatalog(dir, cluster).filter((e) => e.verified);
    if (hasRemote) {
      const { client, t } = await clientOf(args, env);
      try {
        all.push(...(await remoteCatalog(client, t, cluster)).filter((e) => e.verified));
      } finally {
        client.destroy();
      }
    }
    const newest = newestFirst(all)[0];
    if (!newest)
      throw new RemoteError(
        'not-found',
        `no verified snapshot of ${cluster} in ${dir}${hasRemote ? ` or s3://${s3Of(args).bucket}/${s3Of(args).prefix}` : ''}`,
      );
    pick = { where: newest.where, location: newest.location };
  } else pick = { where: 'local', location: want };

  if (pick.where === 'local') {
    const file = pick.location;
    if (!statSync(file, { throwIfNoEntry: false })?.isFile()) throw new RemoteError('not-found', `no snapshot found at ${file}`);
    const manifest = parseManifest(readFileSync(`${file}${MANIFEST_SUFFIX}`, 'utf8'), `${file}${MANIFEST_SUFFIX}`);
    const got = await sha256File(file);
    if (got !== manifest.sha256)
      throw new RemoteError('hash-mismatch', `sha256 of ${file} does not match its manifest (the file has ${got}, the manifest says ${manifest.sha256})`);
    env.say(`snapshot ${file} (revision ${manifest.revision}), sha256 matches its manifest`);
    return { remote: false, file, key: '', url: file, manifest: manifest as unknown as Json };
  }
  const { client, t } = await clientOf(args, env);
  try {
    const text = await getText(client, t, `${pick.location}${MANIFEST_SUFFIX}`);
    if (text === null) throw new RemoteError('not-found', `s3://${t.bucket}/${pick.location}: no manifest object, not a verified backup`);
    const manifest = parseManifest(text, `s3://${t.bucket}/${pick.location}${MANIFEST_SUFFIX}`);
    env.say(`snapshot s3://${t.bucket}/${pick.location} (revision ${manifest.revision}, sha256 ${manifest.sha256} from its manifest)`);
    // Where a controller fallback download lands (only made when a member cannot fetch it itself).
    const file = join(dir, basename(pick.location));
    return { remote: true, file, key: pick.location, url: `s3://${t.bucket}/${pick.location}`, manifest: manifest as unknown as Json };
  } finally {
    client.destroy();
  }
};

/**
 * The metrics file after a backup run: success when the fact `success` is set on some host, with
 * size and revision from the manifest registered as `manifest`; otherwise a failed run (the last
 * success's values kept).
 */
const metrics: RemoteOp = (args, env) => {
  const hostvars = (env.scope.hostvars ?? {}) as Record<string, Record<string, Json>>;
  const okName = jsonText(args.success);
  const manName = jsonText(args.manifest);
  const done = Object.values(hostvars).find((v) => v[okName] === true);
  const now = Math.floor(Date.now() / 1000);
  const cluster = jsonText(args.cluster);
  const dir = jsonText(args.dir);
  let update: BackupMetrics;
  if (done) {
    const m = (done[manName] ?? {}) as { size?: number; revision?: number };
    update = { lastRunSuccess: 1, lastSuccessTimestamp: now, lastRunTimestamp: now, ...(m.size !== undefined ? { sizeBytes: m.size } : {}) };
    if (typeof m.revision === 'number') update.revision = m.revision;
  } else update = { lastRunSuccess: 0, lastRunTimestamp: now };
  writeMetrics(dir, cluster, update);
  env.say(`${metricsFile(dir, cluster)}: runbook_backup_last_run_success ${update.lastRunSuccess ?? 0}`);
  return Promise.resolve({ success: done !== undefined, file: metricsFile(dir, cluster) });
};

export const REMOTE_OPS: Readonly<Record<string, RemoteOp>> = Object.freeze({ upload, prune, presign, download, locate, metrics });
