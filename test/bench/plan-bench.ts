// Benchmark: `runbook plan` of restore-all on a generated 1,000-member inventory, as a user runs it
// (a fresh CLI process), against baselines measured in the same run: CLI start-up alone
// (`runbook --version`) and the 3-member example inventory.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/package/root.js';

export function generateInventory(members: number): string {
  const lines = [
    'cluster:',
    '  name: bench',
    '  etcd_version: "3.4.23"',
    '  deployment: systemd',
    '  scheme: https',
    '  tls: {ca: /etc/etcd/ca.crt, cert: /etc/etcd/client.crt, key: /etc/etcd/client.key}',
    'ssh: {user: root, known_hosts: ./known_hosts}',
    'hosts:',
  ];
  const names: string[] = [];
  for (let i = 0; i < members; i++) {
    const name = `etcd-${i + 1}`;
    names.push(name);
    lines.push(`  ${name}: {address: 10.${Math.floor(i / 250)}.${(i % 250) + 1}.1}`);
  }
  lines.push('groups:', '  etcd:', `    hosts: [${names.join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

interface Sample {
  ms: number;
  maxRssMiB: number;
}

/** Run the CLI once in a child process; wall time and the child's peak RSS (from /proc via a wrapper). */
function runCli(args: string[]): Sample {
  const script =
    `const t=process.hrtime.bigint();process.argv=['node','runbook',...${JSON.stringify(args)}];` +
    `const m=await import(${JSON.stringify(join(PACKAGE_ROOT, 'dist/engine/cli/main.js'))});` +
    `const c=await m.main(process.argv,{out:()=>{},err:(s)=>process.stderr.write(s),isTTY:false});` +
    `process.stdout.write(JSON.stringify({c,ms:Number(process.hrtime.bigint()-t)/1e6,rss:process.resourceUsage().maxRSS}))`;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: PACKAGE_ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`runbook ${args.join(' ')} failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { c: number; rss: number };
  if (out.c !== 0) throw new Error(`runbook ${args.join(' ')} exited ${out.c}: ${r.stderr}`);
  return { ms: wall, maxRssMiB: out.rss / 1024 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export function benchPlan(rounds = 5): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-bench-'));
  try {
    const inv = join(dir, 'inventory-1000.yml');
    writeFileSync(inv, generateInventory(1000));
    const measure = (args: string[]): { ms: number; rss: number } => {
      const s = Array.from({ length: rounds }, () => runCli(args));
      return { ms: median(s.map((x) => x.ms)), rss: Math.max(...s.map((x) => x.maxRssMiB)) };
    };
    const startup = measure(['--version']);
    const small = measure(['plan', 'restore-all.yml', '-i', 'inventories/prod-3-https.yml']);
    const big = measure(['plan', 'restore-all.yml', '-i', inv]);
    const bigJson = measure(['plan', 'restore-all.yml', '-i', inv, '--format', 'json']);
    const row = (name: string, m: { ms: number; rss: number }): string =>
      `  ${name.padEnd(44)} ${m.ms.toFixed(0).padStart(6)} ms  ${(m.ms / startup.ms).toFixed(2).padStart(6)}× start-up  peak RSS ${m.rss.toFixed(0)} MiB`;
    return [
      `runbook plan (median of ${rounds} fresh CLI processes)`,
      row('start-up only (runbook --version): baseline', startup),
      row('plan restore-all, 3 members (example)', small),
      row('plan restore-all, 1,000 members (text)', big),
      row('plan restore-all, 1,000 members (json)', bigJson),
      `  1,000 members vs 3 members: ${(big.ms / small.ms).toFixed(2)}×; target under 1,000 ms: ${big.ms < 1000 ? 'met' : 'NOT met'}`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
