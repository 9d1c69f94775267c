// The realistic snapshot the restore-at-scale bench restores: made once (a 1-member lab filled by
// test/lab/k8s-fill.ts, then runbook's own backup.yml for the snapshot and its manifest) and kept
// in /var/cache/runbook-lab/restore-at-scale (RUNBOOK_LAB_CACHE overrides the base), outside the
// checkout, so later bench runs and fresh clones reuse it. `node dist/test/bench/k8s-snapshot.js MiB`
// makes it ahead of time.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { fillK8s } from '../lab/k8s-fill.js';
import { labDown, labUp } from '../lab/lab.js';
import { runbookChild } from './bench-util.js';

export interface CachedSnapshot {
  file: string;
  manifest: string;
}

export function snapshotCacheDir(): string {
  return join(process.env.RUNBOOK_LAB_CACHE ?? '/var/cache/runbook-lab', 'restore-at-scale');
}

/** The cached snapshot of about `mib` MiB of Kubernetes-like data for etcd 3.4 (the machine's), made when missing. */
export async function ensureK8sSnapshot(mib: number, log: (s: string) => void = () => undefined): Promise<CachedSnapshot> {
  const dir = snapshotCacheDir();
  const file = join(dir, `k8s-${mib}mib-etcd3.4.db`);
  const manifest = `${file}.manifest.json`;
  if (existsSync(file) && existsSync(manifest)) return { file, manifest };
  mkdirSync(dir, { recursive: true });
  log(`making ${file} (once; later runs reuse it)`);
  // A lab of its own per size, so that two sizes can be made at once.
  const fillLab = join(PACKAGE_ROOT, `.runbook/lab-fill-${mib}`);
  const lab = await labUp({ dir: fillLab, hosts: 1, firstOctet: mib >= 1024 ? 241 : 243, quotaBytes: 8 * 1024 * 1024 * 1024 });
  try {
    const rep = await fillK8s(lab.clientUrls[0] ?? '', mib * 1024 * 1024, { log });
    log(
      `filled: ${rep.keys} keys, ${rep.puts} puts, ${rep.deletes} deletes, compacted at ${rep.compactedAt} of ${rep.revision}, ` +
        `${(rep.dbBytes / 1024 / 1024).toFixed(0)} MiB in ${(rep.ms / 1000).toFixed(0)} s`,
    );
    await runbookChild(['apply', 'backup.yml', '-i', lab.inventoryPath, '--yes', '--output', 'json', '--journal-dir', join(fillLab, 'runs')], 1_800_000);
    const backups = join(fillLab, 'backups');
    const db = readdirSync(backups).find((f) => f.endsWith('.db'));
    if (!db) throw new Error(`k8s snapshot: backup.yml left no snapshot in ${backups}`);
    // Copied under temp names, renamed last: a half-made cache entry is never taken for a whole one.
    copyFileSync(join(backups, `${db}.manifest.json`), `${manifest}.part`);
    copyFileSync(join(backups, db), `${file}.part`);
    renameSync(`${manifest}.part`, manifest);
    renameSync(`${file}.part`, file);
  } finally {
    await labDown(fillLab);
  }
  return { file, manifest };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const mib = Number(process.argv[2] ?? 1024);
  const s = await ensureK8sSnapshot(mib, (l) => process.stdout.write(`${l}\n`));
  process.stdout.write(`${s.file}\n`);
}
