// The backup metrics contract of monitoring/README.md: a Prometheus textfile-collector file
// `runbook_backup.<cluster>.prom`, written to a temp name in the same directory and renamed, so
// node_exporter never reads half a file. A failed run keeps the last success's values (time, size,
// revision) from the file it replaces: the alerts need both "the last run failed" and "the newest
// good backup is N hours old".
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BackupMetrics {
  lastSuccessTimestamp?: number;
  lastRunSuccess?: 0 | 1;
  sizeBytes?: number;
  revision?: number;
  verifyLastSuccess?: 0 | 1;
  lastRunTimestamp?: number;
}

const NAMES: [keyof BackupMetrics, string, string][] = [
  ['lastSuccessTimestamp', 'runbook_backup_last_success_timestamp_seconds', 'Unix time of the newest snapshot that was saved, hashed and verified.'],
  ['lastRunSuccess', 'runbook_backup_last_run_success', '1 when the last backup run succeeded, 0 when it failed.'],
  ['sizeBytes', 'runbook_backup_size_bytes', 'Size of the newest verified snapshot.'],
  ['revision', 'runbook_backup_revision', 'etcd revision of the newest verified snapshot.'],
  ['verifyLastSuccess', 'runbook_backup_verify_last_success', '1/0: the last restore drill (runbook snapshot verify of the newest snapshot).'],
  ['lastRunTimestamp', 'runbook_backup_last_run_timestamp_seconds', 'Unix time the last backup run ended (success or not).'],
];

export function metricsFile(dir: string, cluster: string): string {
  return join(dir, `runbook_backup.${cluster}.prom`);
}

/** The values of a file this module wrote (missing or unreadable: none). */
export function readMetrics(file: string, cluster: string): BackupMetrics {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const out: BackupMetrics = {};
  for (const [key, name] of NAMES) {
    const m = new RegExp(`^${name}\\{cluster="${cluster.replace(/[.]/g, '\\.')}"\\} (\\S+)$`, 'm').exec(text);
    const v = m?.[1] !== undefined ? Number(m[1]) : NaN;
    if (Number.isFinite(v)) (out as Record<string, number>)[key] = v;
  }
  return out;
}

export function renderMetrics(cluster: string, m: BackupMetrics): string {
  const lines: string[] = [];
  for (const [key, name, help] of NAMES) {
    const v = m[key];
    if (v === undefined) continue;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}{cluster="${cluster}"} ${v}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Merge `update` into the file's current values and replace it atomically; returns what was written. */
export function writeMetrics(dir: string, cluster: string, update: BackupMetrics): BackupMetrics {
  mkdirSync(dir, { recursive: true });
  const file = metricsFile(dir, cluster);
  const next = { ...readMetrics(file, cluster), ...update };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, renderMetrics(cluster, next), { mode: 0o644 });
  renameSync(tmp, file);
  return next;
}
