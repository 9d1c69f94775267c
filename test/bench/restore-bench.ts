// Benchmark: restore-all on the 3-member lab with real etcd. `runbook apply backup.yml` once
// (after writing canary keys), then per round: wipe every member through hostExec (etcd killed
// and stopped, data dir and earlier restore copies removed: quorum is lost), then time
// `runbook apply restore-all.yml --yes` as a fresh child process (what users run), against
// test/bench/restore-baseline.sh, a hand-written bash script doing the same core steps with plain
// OpenSSH (ControlMaster), wiped and timed the same way in the same run. After every restore
// (untimed) every member must be healthy and hold all canary keys.
// runbook's time is also split into phases from its run journal, to show where it goes.
import { readdirSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { hostExec, labDown, labUp, type Lab } from '../lab/lab.js';
import { BENCH_FIRST_OCTET, BENCH_LAB_DIR, fmtMs, fmtRatio, median, mustRunChild, runbookChild, table, verdict } from './bench-util.js';

const CANARY_KEYS = 500;
const BASELINE = join(PACKAGE_ROOT, 'test/bench/restore-baseline.sh');

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function etcdPost(url: string, path: string, body: object): Promise<unknown> {
  const r = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`${url}${path}: HTTP ${r.status}`);
  return r.json();
}

async function writeCanaries(lab: Lab): Promise<void> {
  const url = lab.clientUrls[0] ?? '';
  for (let i = 0; i < CANARY_KEYS; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, CANARY_KEYS - i) }, (_, j) =>
        etcdPost(url, '/v3/kv/put', { key: b64(`/bench/canary/${i + j}`), value: b64(`value-${i + j}-${'x'.repeat(200)}`) }),
      ),
    );
  }
}

/** Every member healthy and holding every canary key (serializable reads: each member's own data). */
async function verifyRestored(lab: Lab): Promise<void> {
  for (const url of lab.clientUrls) {
    const res = (await etcdPost(url, '/v3/kv/range', {
      key: b64('/bench/canary/'),
      range_end: b64('/bench/canary0'),
      count_only: true,
      serializable: true,
    })) as { count?: string };
    if (Number(res.count ?? 0) !== CANARY_KEYS) throw new Error(`restore check: ${url} has ${res.count ?? 0} canary keys, expected ${CANARY_KEYS}`);
    const h = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
    if (!h.ok) throw new Error(`restore check: ${url} is not healthy`);
  }
}

/** The disaster: etcd killed and stopped on every member, data dir and earlier restore copies gone. */
async function wipe(lab: Lab): Promise<void> {
  const cmd =
    'systemctl kill -s KILL etcd >/dev/null 2>&1; systemctl stop etcd >/dev/null 2>&1; rm -rf /var/lib/etcd /var/lib/etcd.* /var/backups/etcd/restore-*';
  const rs = await Promise.all(lab.hosts.map((h) => hostExec(lab, h.name, cmd, { timeoutMs: 60_000 })));
  const bad = rs.findIndex((r) => r.code !== 0);
  if (bad >= 0) throw new Error(`wipe failed on ${lab.hosts[bad]?.name ?? '?'}: ${rs[bad]?.stderr ?? ''}`);
}

interface JournalLine {
  type: string;
  at?: string;
  play?: number;
  task?: number;
}

/** Phase → ms, from the task.start times of one run journal. */
function phases(journal: string): Record<string, number> {
  const lines = readFileSync(journal, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as JournalLine);
  const t = (l: JournalLine | undefined): number => (l?.at ? Date.parse(l.at) : NaN);
  const starts = lines.filter((l) => l.type === 'task.start');
  const end = t(lines.find((l) => l.type === 'run.end'));
  const at = (play: number, task: number): number => t(starts.find((l) => l.play === play && l.task === task));
  return {
    'quorum-lost check (1.1)': at(1, 2) - at(1, 1),
    'pick + manifest + distribute + verify (1.2–1.5)': at(2, 1) - at(1, 2),
    'stop, aside, restore (2.1–3.3)': at(3, 4) - at(2, 1),
    'start all members (3.4)': at(3, 5) - at(3, 4),
    'wait healthy + prove data (3.5–4.1)': end - at(3, 5),
    'executor total (run.start → run.end)': end - t(lines.find((l) => l.type === 'run.start')),
  };
}

export async function benchRestore(rounds = 5): Promise<string[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'runbook-bench-restore-'));
  const out = [
    `restore-all on 3 lab members with etcd 3.4 (127.0.0.${BENCH_FIRST_OCTET}–${BENCH_FIRST_OCTET + 2}), ${CANARY_KEYS} canary keys; median of ${rounds} rounds each, wipe before every round`,
  ];
  try {
    const lab = await labUp({ dir: BENCH_LAB_DIR, hosts: 3, etcd: true, firstOctet: BENCH_FIRST_OCTET });
    try {
      // Our own lab dir: old snapshots from earlier bench runs go, so "the snapshot" is this run's.
      rmSync(join(lab.dir, 'backups'), { recursive: true, force: true });
      await writeCanaries(lab);
      const journalDir = join(tmp, 'runs');
      await runbookChild(['apply', 'backup.yml', '-i', lab.inventoryPath, '--output', 'json', '--journal-dir', journalDir]);
      const snapshot = readdirSync(join(lab.dir, 'backups')).find((f) => f.endsWith('.db'));
      if (!snapshot) throw new Error('backup.yml left no snapshot in the lab backups dir');
      const snapPath = join(lab.dir, 'backups', snapshot);
      const members = lab.hosts.map((h) => `${h.name}=${h.address}`);

      const rb: number[] = [];
      const sh: number[] = [];
      const ph: Record<string, number>[] = [];
      for (let r = 0; r < rounds; r++) {
        await wipe(lab);
        const before = new Set(readdirSync(journalDir));
        rb.push(
          (
            await runbookChild(
              ['apply', 'restore-all.yml', '-i', lab.inventoryPath, '--yes', '-e', `snapshot=${snapPath}`, '--output', 'json', '--journal-dir', journalDir],
              600_000,
            )
          ).ms,
        );
        const j = readdirSync(journalDir).find((f) => !before.has(f));
        if (j) ph.push(phases(join(journalDir, j)));
        await verifyRestored(lab);

        await wipe(lab);
        sh.push(
          (
            await mustRunChild('restore-baseline.sh', '/bin/bash', [BASELINE, lab.keyPath, lab.knownHostsPath, snapPath, 'lab-cluster-restore', ...members], {
              timeoutMs: 600_000,
            })
          ).ms,
        );
        await verifyRestored(lab);
      }
      const rbMed = median(rb);
      const shMed = median(sh);
      out.push(
        ...table(
          ['restore-all', 'median', 'rounds', 'vs bash'],
          [
            ['bash + OpenSSH (restore-baseline.sh): baseline', fmtMs(shMed), sh.map((x) => fmtMs(x)).join(', '), '1.00×'],
            ['runbook apply restore-all.yml --yes (child process)', fmtMs(rbMed), rb.map((x) => fmtMs(x)).join(', '), fmtRatio(rbMed / shMed)],
          ],
        ),
      );
      out.push(`  target runbook ≤ 1.2× bash: ${fmtRatio(rbMed / shMed)} ${verdict(rbMed / shMed <= 1.2)}`);
      if (ph.length > 0) {
        const names = Object.keys(ph[0] ?? {});
        out.push('  where runbook spends it (from its journal, median per phase):');
        out.push(
          ...table(
            ['phase', 'median'],
            names.map((n) => [n, fmtMs(median(ph.map((p) => p[n] ?? NaN)))]),
            '    ',
          ),
        );
        const exec = median(ph.map((p) => p['executor total (run.start → run.end)'] ?? NaN));
        const quorum = median(ph.map((p) => p['quorum-lost check (1.1)'] ?? NaN));
        out.push(`    process start-up, plan and exit (child wall − executor): ${fmtMs(rbMed - exec)}`);
        out.push(
          `    without the quorum-lost check (a step the bash script does not have): ${fmtMs(rbMed - quorum)} = ${fmtRatio((rbMed - quorum) / shMed)} bash`,
        );
      }
      out.push('  runbook also checks what the bash script does not: quorum really lost, the snapshot against its manifest, `snapshot status` of every copy,');
      out.push('  etcd stopped (port closed), the member list, revision and key count versus the manifest, and it writes a journal.');
    } finally {
      await labDown(BENCH_LAB_DIR);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}
