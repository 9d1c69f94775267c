// Benchmark (issue #16): restoring a realistic 1 GiB snapshot (test/bench/k8s-snapshot.ts:
// Kubernetes-like values under /registry/, revisions, a compaction) to a 5-member lab, with the
// controller's link to the members' sshd limited to 200 Mbit/s (test/lab/shaper.ts; member-to-member
// traffic at full speed) and again on unlimited loopback. Three ways, each from the same disaster
// (etcd killed, every data dir gone) to a healthy cluster holding the snapshot's keys:
//   - seed 000's procedure (test/bench/restore-baseline.sh RESTORE_COPY=seed000): stop, move aside,
//     `scp` to one member after the other, restore, start all;
//   - parallel `scp` + a remote sha256sum (RESTORE_COPY=scp), then the same restore;
//   - `runbook apply restore-all.yml` (relay between members, zstd when it pays).
// Reports distribution time (the copying alone) and the time to a healthy restored cluster, with
// the ratios the issue asks for. Long (minutes): only `npm run bench -- restore-at-scale` runs it.
// RUNBOOK_BENCH_SCALE_MIB sets the snapshot size (default 1024).
import { linkSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { hostExec, labDown, labUp, type Lab } from '../lab/lab.js';
import { shapeControllerLink } from '../lab/shaper.js';
import { fmtMs, fmtRatio, mustRunChild, runbookChild, table, verdict } from './bench-util.js';
import { ensureK8sSnapshot } from './k8s-snapshot.js';

const HOSTS = 5;
const RATE_MBIT = 200;
const LAB_DIR = join(PACKAGE_ROOT, '.runbook/lab-scale');
const FIRST_OCTET = 246;
const BASELINE = join(PACKAGE_ROOT, 'test/bench/restore-baseline.sh');

interface Result {
  distMs: number;
  totalMs: number;
  note: string;
}

/** The disaster, the same before every contender: etcd killed and stopped, data dirs, moved-aside copies and snapshot copies gone. */
async function wipe(lab: Lab): Promise<void> {
  const cmd =
    'systemctl kill -s KILL etcd >/dev/null 2>&1; systemctl stop etcd >/dev/null 2>&1; ' +
    'rm -rf /var/lib/etcd /var/lib/etcd.* /var/backups/etcd/restore-* /var/backups/etcd/.restore-*';
  const rs = await Promise.all(lab.hosts.map((h) => hostExec(lab, h.name, cmd, { timeoutMs: 120_000 })));
  const bad = rs.findIndex((r) => r.code !== 0);
  if (bad >= 0) throw new Error(`wipe failed on ${lab.hosts[bad]?.name ?? '?'}: ${rs[bad]?.stderr ?? ''}`);
}

/** Every member healthy, holding the snapshot's live keys (each member's own data: serializable). */
async function verifyRestored(lab: Lab, liveKeys: number): Promise<void> {
  for (const url of lab.clientUrls) {
    const r = await fetch(`${url}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({
        key: Buffer.from('\0').toString('base64'),
        range_end: Buffer.from('\0').toString('base64'),
        count_only: true,
        serializable: true,
      }),
      signal: AbortSignal.timeout(30_000),
    });
    const count = Number(((await r.json()) as { count?: string }).count ?? 0);
    if (count !== liveKeys) throw new Error(`restore check: ${url} has ${count} keys, the snapshot ${liveKeys}`);
  }
}

async function baseline(lab: Lab, mode: 'seed000' | 'scp', snapshot: string): Promise<Result> {
  const members = lab.hosts.map((h) => `${h.name}=${h.address}`);
  const r = await mustRunChild(
    `restore-baseline.sh (${mode})`,
    '/bin/bash',
    [BASELINE, lab.keyPath, lab.knownHostsPath, snapshot, 'lab-cluster-restore', ...members],
    {
      timeoutMs: 3_600_000,
      env: { ...process.env, RESTORE_COPY: mode },
    },
  );
  const dist = /copy-ms (\d+)/.exec(r.stdout);
  return { distMs: Number(dist?.[1] ?? NaN), totalMs: r.ms, note: '' };
}

interface JournalRecord {
  type: string;
  task?: number;
  play?: number;
  result?: { actions?: { kind: string; durationMs?: number; stdoutTail?: string }[] };
}

async function runbookRestore(lab: Lab, snapshot: string, journalDir: string): Promise<Result> {
  const before = new Set(readdirSync(journalDir));
  const r = await runbookChild(
    ['apply', 'restore-all.yml', '-i', lab.inventoryPath, '--yes', '-e', `snapshot=${snapshot}`, '--output', 'json', '--journal-dir', journalDir],
    3_600_000,
  );
  const j = readdirSync(journalDir).find((f) => !before.has(f));
  let distMs = NaN;
  let note = '';
  if (j) {
    for (const line of readFileSync(join(journalDir, j), 'utf8').trim().split('\n')) {
      const ev = JSON.parse(line) as JournalRecord;
      if (ev.type !== 'step.end' || ev.play !== 1 || ev.task !== 4) continue;
      const put = ev.result?.actions?.find((a) => a.kind === 'put');
      distMs = Number.isNaN(distMs) ? (put?.durationMs ?? NaN) : Math.max(distMs, put?.durationMs ?? 0);
      const tail = put?.stdoutTail ?? '';
      const comp = /relay: compression (on|off) \(([^)]*)\)/.exec(tail);
      const sent = /controller sent (\d+) bytes for a (\d+)-byte file \(ratio ([\d.]+)×\)/.exec(tail);
      if (comp || sent)
        note = [comp ? `zstd ${comp[1]}` : '', sent ? `sent ${(Number(sent[1]) / 1048576).toFixed(0)} MiB, ratio ${sent[3]}×` : ''].filter(Boolean).join(', ');
    }
  }
  return { distMs, totalMs: r.ms, note };
}

export async function benchRestoreAtScale(): Promise<string[]> {
  const mib = Number(process.env.RUNBOOK_BENCH_SCALE_MIB ?? 1024);
  const log = (s: string): void => void process.stderr.write(`  ${s}\n`);
  const snap = await ensureK8sSnapshot(mib, log);
  const manifest = JSON.parse(readFileSync(snap.manifest, 'utf8')) as { live_keys: number; size: number };
  const out = [
    `restore-all at scale: a ${(manifest.size / 1048576).toFixed(0)} MiB Kubernetes-like snapshot (${manifest.live_keys} live keys) ` +
      `to ${HOSTS} lab members (etcd 3.4), ` +
      `from a wiped cluster to a healthy one holding every key; one run each`,
  ];
  const lab = await labUp({ dir: LAB_DIR, hosts: HOSTS, etcd: true, firstOctet: FIRST_OCTET, quotaBytes: 8 * 1024 * 1024 * 1024 });
  try {
    // The cached snapshot and its manifest, linked (not copied) into this lab's backups dir.
    const backups = join(lab.dir, 'backups');
    rmSync(backups, { recursive: true, force: true });
    mkdirSync(backups, { recursive: true });
    const snapshot = join(backups, basename(snap.file));
    linkSync(snap.file, snapshot);
    linkSync(snap.manifest, `${snapshot}.manifest.json`);
    const journalDir = join(lab.dir, 'runs');
    mkdirSync(journalDir, { recursive: true });
    for (const rate of [RATE_MBIT, undefined]) {
      const link = rate === undefined ? 'unlimited loopback' : `controller link ${rate} Mbit/s (member to member unlimited)`;
      const res: Record<string, Result> = {};
      const contenders: [string, () => Promise<Result>][] = [
        ['seed 000: sequential scp', () => baseline(lab, 'seed000', snapshot)],
        ['parallel scp + sha256sum', () => baseline(lab, 'scp', snapshot)],
        ['runbook restore-all (relay)', () => runbookRestore(lab, snapshot, journalDir)],
      ];
      for (const [name, run] of contenders) {
        await wipe(lab);
        log(`${link}: ${name}…`);
        const shaper = rate === undefined ? undefined : shapeControllerLink(rate);
        try {
          res[name] = await run();
        } finally {
          shaper?.remove();
        }
        await verifyRestored(lab, manifest.live_keys);
        log(`  distribution ${fmtMs(res[name]?.distMs ?? NaN)}, restored in ${fmtMs(res[name]?.totalMs ?? NaN)}`);
      }
      const seed = res['seed 000: sequential scp'] as Result;
      const par = res['parallel scp + sha256sum'] as Result;
      const rb = res['runbook restore-all (relay)'] as Result;
      out.push('', `  ${link}:`);
      out.push(
        ...table(
          ['way', 'distribution', 'restored (healthy)', 'notes'],
          Object.entries(res).map(([n, r]) => [n, fmtMs(r.distMs), fmtMs(r.totalMs), r.note]),
          '    ',
        ),
      );
      const distRatio = par.distMs / rb.distMs;
      const totalRatio = rb.totalMs / seed.totalMs;
      const goal = (met: boolean): string => (rate === undefined ? ', slow link only' : `: ${verdict(met)}`);
      out.push(
        `    distribution: runbook ${fmtRatio(distRatio)} faster than parallel scp (goal ≥ 4×${goal(distRatio >= 4)}), ` +
          `${fmtRatio(seed.distMs / rb.distMs)} faster than sequential scp`,
        `    restore end to end: runbook takes ${fmtRatio(totalRatio)} of seed 000's time (goal ≤ 0.33×${goal(totalRatio <= 1 / 3)}), ` +
          `${fmtRatio(rb.totalMs / par.totalMs)} of parallel scp's`,
      );
    }
  } finally {
    await labDown(LAB_DIR);
  }
  return out;
}
