// Benchmark: distributing a 200 MiB snapshot-sized file to 3 lab hosts, hash verification included.
//   - runbook through the executor: a one-task playbook with `etcd_snapshot op: distribute`
//     (mkdir, SshTransport.putFile = stream into `cat` with the sha256 computed on both sides,
//     then `sha256sum --check` of the installed file), applied as a child process (as users run it);
//   - the raw transport call: SshTransport.putFile to every host in parallel (connect included;
//     local and remote sha256 compared, no second check);
//   - baselines in the same run: parallel OpenSSH `scp` plus a remote `sha256sum` compared with
//     the local hash (the fair comparison), and plain parallel `scp` without any hash (reference).
// The file is generated in a temp dir and removed afterwards, as are the remote copies (before
// every round too, so every contender writes a new file).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SshSettings } from '../../engine/model/types.js';
import { SshTransport } from '../../engine/transports/ssh/transport.js';
import { hostExec, labDown, labUp, sshArgs, type Lab } from '../lab/lab.js';
import { BENCH_FIRST_OCTET, BENCH_LAB_DIR, fmtMs, fmtRatio, makeRandomFile, median, mustRunChild, runbookChild, table, timed, verdict } from './bench-util.js';

const SIZE = 200 * 1024 * 1024;
const DEST = '/var/backups/bench-distribute.db';

function playbook(): string {
  return [
    '- name: distribute',
    '  hosts: etcd',
    '  tasks:',
    '    - name: Copy the snapshot to every member and check its sha256 there',
    '      etcd_snapshot:',
    '        op: distribute',
    '        src: "{{src}}"',
    `        dest: ${DEST}`,
    '        sha256: "{{sha}}"',
    '      timeout: 600',
    '',
  ].join('\n');
}

async function cleanRemote(lab: Lab): Promise<void> {
  await Promise.all(lab.hosts.map((h) => hostExec(lab, h.name, `rm -f ${DEST} /var/backups/.bench-distribute.db.runbook-tmp-*`, { timeoutMs: 30_000 })));
}

/** After a transfer (untimed): every host has the file with the right hash. */
async function checkRemote(lab: Lab, sha: string): Promise<void> {
  await Promise.all(
    lab.hosts.map(async (h) => {
      const r = await hostExec(lab, h.name, `sha256sum ${DEST}`, { timeoutMs: 60_000 });
      if (!r.stdout.startsWith(sha))
        throw new Error(`distribute check: ${h.name}: ${DEST} has sha256 ${r.stdout.slice(0, 64) || '(missing)'}, expected ${sha}`);
    }),
  );
}

/** Per action of the distribute step (mkdir, put, verify): durations from the run journals. */
function actionTimes(journalDir: string): number[][] {
  const per: number[][] = [];
  for (const f of readdirSync(journalDir)) {
    for (const line of readFileSync(join(journalDir, f), 'utf8').split('\n')) {
      if (!line.includes('"type":"step.end"')) continue;
      const ev = JSON.parse(line) as { result?: { actions?: { durationMs?: number }[] } };
      (ev.result?.actions ?? []).forEach((a, i) => (per[i] ??= []).push(a.durationMs ?? NaN));
    }
  }
  return per;
}

function scpArgs(lab: Lab, address: string): string[] {
  // sshArgs ends with root@ADDRESS; scp takes the same -i/-o options.
  return sshArgs(lab, address).slice(0, -1);
}

async function scpAll(lab: Lab, file: string, sha?: string): Promise<void> {
  await Promise.all(
    lab.hosts.map(async (h) => {
      await mustRunChild(`scp to ${h.name}`, '/usr/bin/scp', ['-q', ...scpArgs(lab, h.address), file, `root@${h.address}:${DEST}`]);
      if (sha !== undefined) {
        const r = await mustRunChild(`sha256sum on ${h.name}`, '/usr/bin/ssh', [...sshArgs(lab, h.address), `sha256sum ${DEST}`]);
        if (r.stdout.slice(0, 64) !== sha) throw new Error(`${h.name}: sha256 mismatch after scp`);
      }
    }),
  );
}

async function transportAll(lab: Lab, file: string, sha: string): Promise<void> {
  const settings: SshSettings = {
    user: 'root',
    port: 22,
    identityFile: lab.keyPath,
    knownHosts: lab.knownHostsPath,
    hostKeyChecking: 'strict',
    connectTimeoutSec: 10,
    keepaliveSec: 5,
  };
  await Promise.all(
    lab.hosts.map(async (h) => {
      const t = new SshTransport(h.name, h.address, settings);
      try {
        const r = await t.putFile(file, DEST, { mode: '0600', expectedSha256: sha });
        if (r.sha256 !== sha) throw new Error(`${h.name}: putFile reported sha256 ${r.sha256}, expected ${sha}`);
      } finally {
        await t.close();
      }
    }),
  );
}

export async function benchDistribute(rounds = 3): Promise<string[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'runbook-bench-distribute-'));
  const out = [
    `snapshot distribution: ${SIZE / 1024 / 1024} MiB to 3 lab hosts in parallel (127.0.0.${BENCH_FIRST_OCTET}–${BENCH_FIRST_OCTET + 2}), median of ${rounds} rounds`,
  ];
  try {
    const file = join(tmp, 'snapshot.db');
    const sha = makeRandomFile(file, SIZE);
    const pb = join(tmp, 'distribute.yml');
    writeFileSync(pb, playbook());
    const lab = await labUp({ dir: BENCH_LAB_DIR, hosts: 3, etcd: false, firstOctet: BENCH_FIRST_OCTET });
    try {
      const args = ['apply', pb, '-i', lab.inventoryPath, '-e', `src=${file}`, '-e', `sha=${sha}`, '--output', 'json', '--journal-dir', join(tmp, 'runs')];
      const contenders: [string, () => Promise<number>][] = [
        ['scp, parallel, + remote sha256sum: baseline', () => timed(() => scpAll(lab, file, sha))],
        ['scp, parallel, no hash (reference)', () => timed(() => scpAll(lab, file))],
        ['runbook apply, etcd_snapshot distribute (child)', async () => (await runbookChild(args)).ms],
        ['SshTransport.putFile ×3 (raw transport call)', () => timed(() => transportAll(lab, file, sha))],
      ];
      // Warm-up (untimed): the page cache holds the file for everyone alike.
      await cleanRemote(lab);
      await scpAll(lab, file);
      const times = contenders.map(() => [] as number[]);
      for (let r = 0; r < rounds; r++) {
        for (const [i, [, run]] of contenders.entries()) {
          await cleanRemote(lab);
          times[i]?.push(await run());
          if (r === 0) await checkRemote(lab, sha);
        }
      }
      await cleanRemote(lab);
      const med = times.map((t) => median(t));
      const base = med[0] ?? NaN;
      const mibps = (ms: number): string => `${((3 * SIZE) / 1024 / 1024 / (ms / 1000)).toFixed(0)} MiB/s`;
      out.push(
        ...table(
          ['transfer (3 × 200 MiB)', 'median', 'aggregate', 'vs scp+hash'],
          contenders.map(([name], i) => [name, fmtMs(med[i] ?? NaN), mibps(med[i] ?? NaN), fmtRatio((med[i] ?? NaN) / base)]),
        ),
      );
      const rbChild = med[2] ?? NaN;
      const raw = med[3] ?? NaN;
      out.push(
        `  target at least as fast as scp with the hash checked: executor (child) ${fmtRatio(rbChild / base)} ${verdict(rbChild <= base)}; raw putFile ${fmtRatio(raw / base)} ${verdict(raw <= base)}`,
      );
      const acts = actionTimes(join(tmp, 'runs')).map((t) => fmtMs(median(t)));
      out.push(
        `  executor step, per host (median from the journals): mkdir ${acts[0] ?? '?'}, put (stream, then remote sha256 against the manifest's) ${acts[1] ?? '?'}`,
      );
      out.push('  runbook, like scp+hash, hashes each copy once on the host after writing it and compares it with the known sha256');
      out.push("  (the manifest's for a snapshot; computed once outside the timing here, for every contender).");
    } finally {
      await labDown(BENCH_LAB_DIR);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}
