// runbook backups list -i INV: the cluster's snapshots on the controller and in its bucket (age,
// revision, size, verified or not); and the remote side of `runbook snapshot verify latest|s3://…
// -i INV` (the drill): the snapshot is downloaded (sha256 checked) into a private scratch dir,
// verified there, and the result written to the metrics file.
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Inventory } from '../model/types.js';
import { EXIT, type Io } from '../model/io.js';
import { loadInventoryOnly } from './inputs.js';
import { formatDiagnostics } from '../report/diagnostics-text.js';
import { stableStringify } from '../report/stable-json.js';
import { localCatalog, MANIFEST_SUFFIX, newestFirst, parseManifest, parseS3Url, remoteCatalog, type CatalogEntry } from '../remote/catalog.js';
import { writeMetrics } from '../remote/metrics.js';
import { credentialsFrom, downloadVerified, getText, s3Client } from '../remote/s3.js';

function load(inventory: string, io: Io): Inventory | undefined {
  const r = loadInventoryOnly(inventory);
  if (!r.inventory) io.err(formatDiagnostics(r.diagnostics, r.texts));
  return r.inventory;
}

/** The S3 credentials from the inventory's secrets (env or file), read only now. */
function secretValues(inv: Inventory): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, src] of Object.entries(inv.secretSources)) {
    if (!name.startsWith('s3_')) continue;
    if (src.env !== undefined && process.env[src.env] !== undefined) out[name] = process.env[src.env] ?? '';
    else if (src.file !== undefined) {
      try {
        out[name] = readFileSync(src.file, 'utf8').replace(/\r?\n$/, '');
      } catch {
        // reported by credentialsFrom as a missing secret
      }
    }
  }
  return out;
}

async function clientFor(inv: Inventory): Promise<S3Client | undefined> {
  const r = inv.cluster.backupRemote;
  return r ? s3Client(r.s3, credentialsFrom(secretValues(inv))) : undefined;
}

function age(sec: number): string {
  if (sec < 3600) return `${Math.floor(sec / 60)}m`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h ${Math.floor((sec % 3600) / 60)}m`;
  return `${Math.floor(sec / 86400)}d ${Math.floor((sec % 86400) / 3600)}h`;
}

export async function runBackupsList(opts: { inventory: string; format?: string }, io: Io): Promise<number> {
  const inv = load(opts.inventory, io);
  if (!inv) return EXIT.INVALID;
  const c = inv.cluster;
  const entries: CatalogEntry[] = localCatalog(c.controllerBackupDir, c.name);
  const client = await clientFor(inv).catch((e: unknown) => {
    io.err(`runbook backups list: ${e instanceof Error ? e.message : String(e)}\n`);
    return null;
  });
  if (client === null) return EXIT.FAILED;
  try {
    if (client && c.backupRemote) entries.push(...(await remoteCatalog(client, c.backupRemote.s3, c.name, true)));
  } catch (e) {
    io.err(`runbook backups list: the bucket cannot be listed: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.FAILED;
  } finally {
    client?.destroy();
  }
  const sorted = newestFirst(entries);
  const now = Math.floor(Date.now() / 1000);
  if (opts.format === 'json') {
    io.out(stableStringify(sorted.map((e) => ({ ...e, age_seconds: Math.max(0, now - e.time) }))));
    return EXIT.OK;
  }
  const where = (e: CatalogEntry): string => (e.where === 'local' ? 'controller' : `s3://${c.backupRemote?.s3.bucket ?? ''}`);
  const bucket = c.backupRemote ? `; bucket s3://${c.backupRemote.s3.bucket}/${c.backupRemote.s3.prefix}` : '';
  io.out(`backups of ${c.name} (controller: ${c.controllerBackupDir}${bucket})\n`);
  if (sorted.length === 0) io.out('  none\n');
  for (const e of sorted) {
    const rev = e.revision === null ? '-' : String(e.revision);
    const cols = [e.name, where(e).padEnd(12), `age ${age(Math.max(0, now - e.time)).padEnd(7)}`, `rev ${rev.padEnd(10)}`, `${String(e.size).padStart(11)} B`];
    io.out(`  ${cols.join('  ')}  ${e.verified ? 'verified' : 'NOT verified'}\n`);
  }
  return EXIT.OK;
}

/**
 * `snapshot verify latest|s3://…|PATH -i INV`: which file to verify (a remote one downloaded with its
 * manifest into a private scratch dir), then `verify(file)`; the result goes to the metrics file.
 */
export async function verifyWithInventory(
  what: string,
  inventory: string,
  verify: (file: string) => Promise<number>,
  io: Io,
  opts: { remoteOnly?: boolean } = {},
): Promise<number> {
  const inv = load(inventory, io);
  if (!inv) return EXIT.INVALID;
  const c = inv.cluster;
  const fail = (msg: string): number => {
    io.err(`runbook snapshot verify: ${msg}\n`);
    writeMetrics(c.backupMetricsDir, c.name, { verifyLastSuccess: 0 });
    return EXIT.FAILED;
  };
  let client: S3Client | undefined;
  let scratch: string | undefined;
  try {
    client = await clientFor(inv);
    let pick: { where: 'local' | 'remote'; location: string };
    const url = parseS3Url(what);
    if (url) {
      if (!c.backupRemote || url.bucket !== c.backupRemote.s3.bucket) return fail(`${what}: not in the inventory's bucket`);
      pick = { where: 'remote', location: url.key };
    } else if (what === 'latest') {
      const all = opts.remoteOnly ? [] : localCatalog(c.controllerBackupDir, c.name);
      if (opts.remoteOnly && !c.backupRemote) return fail('--remote: the inventory has no cluster.backup_remote');
      if (client && c.backupRemote) all.push(...(await remoteCatalog(client, c.backupRemote.s3, c.name)));
      const newest = newestFirst(all.filter((e) => e.verified))[0];
      if (!newest) return fail(`no verified snapshot of ${c.name}${opts.remoteOnly ? ' in the bucket' : ''}`);
      pick = newest;
    } else pick = { where: 'local', location: what };
    let file = pick.location;
    if (pick.where === 'remote') {
      const t = c.backupRemote?.s3;
      if (!client || !t) return fail('no cluster.backup_remote');
      io.out(`s3://${t.bucket}/${pick.location}: downloading (sha256 checked against its manifest)\n`);
      const text = await getText(client, t, `${pick.location}${MANIFEST_SUFFIX}`);
      if (text === null) return fail(`s3://${t.bucket}/${pick.location}: no manifest object, not a verified backup`);
      const manifest = parseManifest(text, `s3://${t.bucket}/${pick.location}${MANIFEST_SUFFIX}`);
      scratch = await mkdtemp(join(tmpdir(), 'runbook-drill-'));
      file = join(scratch, basename(pick.location));
      writeFileSync(`${file}${MANIFEST_SUFFIX}`, text, { mode: 0o600 });
      await downloadVerified(client, t, pick.location, file, manifest.sha256);
    }
    const code = await verify(file);
    writeMetrics(c.backupMetricsDir, c.name, { verifyLastSuccess: code === EXIT.OK ? 1 : 0 });
    return code;
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  } finally {
    client?.destroy();
    // Only the scratch copy this command downloaded.
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}
