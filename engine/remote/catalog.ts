// The snapshots a cluster has: on the controller (controller_backup_dir) and in its bucket, with
// their age, revision, size and whether they were verified; `latest` across both; s3:// URLs.
//
// Verified means: on the controller, a manifest next to the file whose size matches (its sha256 was
// checked when backup.yml fetched it; restore and `snapshot verify` check it again); in the bucket,
// a `<key>.manifest.json` object, which backup.yml uploads only after the snapshot's upload was read
// back and verified (so a cut upload never counts as a backup).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { stampTime } from '../modules/retention.js';
import { getText, listObjects, RemoteError, type S3Target } from './s3.js';

export interface SnapshotManifest {
  file: string;
  sha256: string;
  size: number;
  revision: number;
  live_keys?: number | null;
  etcd_version?: string;
  [k: string]: unknown;
}

export interface CatalogEntry {
  where: 'local' | 'remote';
  name: string;
  /** Controller path, or the object key. */
  location: string;
  /** Epoch seconds the snapshot was taken (its name's stamp; else the file's or object's time). */
  time: number;
  size: number;
  verified: boolean;
  revision: number | null;
}

export const MANIFEST_SUFFIX = '.manifest.json';

/** `s3://bucket/key` → its parts; null for anything else. */
export function parseS3Url(s: string): { bucket: string; key: string } | null {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(s);
  return m?.[1] && m[2] ? { bucket: m[1], key: m[2] } : null;
}

export function isSnapshotName(name: string, cluster: string): boolean {
  return name.startsWith(`${cluster}-`) && name.endsWith('.db') && !name.includes('/');
}

export function parseManifest(text: string, where: string): SnapshotManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new RemoteError('bad-manifest', `${where} is not JSON`);
  }
  const o = m as Partial<SnapshotManifest> | null;
  if (!o || typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256) || typeof o.revision !== 'number') {
    throw new RemoteError('bad-manifest', `${where} is not a snapshot manifest (sha256 and revision expected)`);
  }
  return o as SnapshotManifest;
}

export function localCatalog(dir: string, cluster: string): CatalogEntry[] {
  if (!existsSync(dir)) return [];
  const out: CatalogEntry[] = [];
  for (const name of readdirSync(dir)) {
    if (!isSnapshotName(name, cluster)) continue;
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st?.isFile()) continue;
    let manifest: SnapshotManifest | null;
    try {
      manifest = parseManifest(readFileSync(`${path}${MANIFEST_SUFFIX}`, 'utf8'), `${path}${MANIFEST_SUFFIX}`);
    } catch {
      manifest = null;
    }
    out.push({
      where: 'local',
      name,
      location: path,
      time: stampTime(name) ?? Math.floor(st.mtimeMs / 1000),
      size: st.size,
      verified: manifest !== null && manifest.size === st.size,
      revision: manifest?.revision ?? null,
    });
  }
  return out;
}

/** The bucket's snapshots; with `withManifests`, each verified one's manifest is read for its revision. */
export async function remoteCatalog(client: S3Client, t: S3Target, cluster: string, withManifests = false): Promise<CatalogEntry[]> {
  const objects = await listObjects(client, t);
  const keys = new Set(objects.map((o) => o.key));
  const out: CatalogEntry[] = [];
  for (const o of objects) {
    const name = o.key.slice(t.prefix.length);
    if (!isSnapshotName(name, cluster)) continue;
    const verified = keys.has(`${o.key}${MANIFEST_SUFFIX}`);
    let revision: number | null = null;
    if (verified && withManifests) {
      const text = await getText(client, t, `${o.key}${MANIFEST_SUFFIX}`);
      revision = text === null ? null : parseManifest(text, `s3://${t.bucket}/${o.key}${MANIFEST_SUFFIX}`).revision;
    }
    out.push({
      where: 'remote',
      name,
      location: o.key,
      time: stampTime(name) ?? Math.floor(o.lastModified.getTime() / 1000),
      size: o.size,
      verified,
      revision,
    });
  }
  return out;
}

/** Newest first (time, then remote before local for the same snapshot, then name). */
export function newestFirst(entries: CatalogEntry[]): CatalogEntry[] {
  return [...entries].sort((a, b) => b.time - a.time || (a.where === b.where ? (a.name < b.name ? 1 : -1) : a.where === 'local' ? -1 : 1));
}
