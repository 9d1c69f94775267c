// Benchmark: `runbook diff --base` on the generated 1,000-member inventory, as CI runs it (a fresh
// CLI process in a git repository with two commits: a member replaced), against a baseline from the
// same run: one `runbook plan` of the same inputs. diff --base compiles two plans (one from
// `git show` copies) and compares them, so about 2× a plan plus the comparison is expected.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { generateInventory } from './plan-bench.js';

interface Sample {
  ms: number;
  code: number;
  rssMiB: number;
}

/** Run the CLI once in a child process in `cwd`; wall time, exit code and the child's peak RSS. */
function runCli(cwd: string, args: string[]): Sample {
  const script =
    `process.argv=['node','runbook',...${JSON.stringify(args)}];` +
    `const m=await import(${JSON.stringify(join(PACKAGE_ROOT, 'dist/engine/cli/main.js'))});` +
    `const c=await m.main(process.argv,{out:()=>{},err:(s)=>process.stderr.write(s),isTTY:false});` +
    `process.stdout.write(JSON.stringify({c,rss:process.resourceUsage().maxRSS}))`;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`runbook ${args.join(' ')} failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { c: number; rss: number };
  return { ms, code: out.c, rssMiB: out.rss / 1024 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export function benchDiff(rounds = 5): string[] {
  const repo = realpathSync(mkdtempSync(join(tmpdir(), 'runbook-bench-diff-')));
  const git = (...args: string[]): void => void execFileSync('git', args, { cwd: repo, stdio: 'ignore' });
  try {
    git('init', '-q');
    git('config', 'user.email', 'bench@example.invalid');
    git('config', 'user.name', 'runbook bench');
    git('config', 'commit.gpgsign', 'false');
    mkdirSync(join(repo, 'playbooks'));
    mkdirSync(join(repo, 'inventories'));
    cpSync(join(PACKAGE_ROOT, 'playbooks', 'restore-all.yml'), join(repo, 'playbooks', 'restore-all.yml'));
    const inventory = generateInventory(1000);
    writeFileSync(join(repo, 'inventories', 'bench.yml'), inventory);
    git('add', '-A');
    git('commit', '-q', '-m', 'bench: 1,000 members');
    // The second commit replaces the last member: every member's --initial-cluster changes.
    const replaced = inventory.replace(/ {2}etcd-1000: \{address: [^}]+\}\n/, '  etcd-1001: {address: 10.9.9.1}\n').replace(', etcd-1000]', ', etcd-1001]');
    if (replaced === inventory) throw new Error('bench: the member replacement did not apply');
    writeFileSync(join(repo, 'inventories', 'bench.yml'), replaced);
    git('commit', '-q', '-am', 'bench: replace etcd-1000 by etcd-1001');

    const measure = (args: string[], expect: number): { ms: number; rss: number } => {
      const s = Array.from({ length: rounds }, () => runCli(repo, args));
      const wrong = s.find((x) => x.code !== expect);
      if (wrong) throw new Error(`runbook ${args.join(' ')} exited ${wrong.code}, expected ${expect}`);
      return { ms: median(s.map((x) => x.ms)), rss: Math.max(...s.map((x) => x.rssMiB)) };
    };
    const inputs = ['playbooks/restore-all.yml', '-i', 'inventories/bench.yml'];
    const plan = measure(['plan', ...inputs], 0);
    const text = measure(['diff', '--base', 'HEAD~1', ...inputs], 3);
    const markdown = measure(['diff', '--base', 'HEAD~1', ...inputs, '--format', 'markdown'], 3);
    const json = measure(['diff', '--base', 'HEAD~1', ...inputs, '--format', 'json'], 3);
    const same = measure(['diff', '--base', 'HEAD', ...inputs], 0);
    const row = (name: string, m: { ms: number; rss: number }): string =>
      `  ${name.padEnd(52)} ${m.ms.toFixed(0).padStart(6)} ms  ${(m.ms / plan.ms).toFixed(2).padStart(6)}× plan  peak RSS ${m.rss.toFixed(0)} MiB`;
    return [
      `runbook diff --base, restore-all on 1,000 members (median of ${rounds} fresh CLI processes)`,
      row('plan restore-all, 1,000 members: baseline', plan),
      row('diff --base HEAD~1 (a member replaced), text', text),
      row('diff --base HEAD~1 (a member replaced), markdown', markdown),
      row('diff --base HEAD~1 (a member replaced), json', json),
      row('diff --base HEAD (no change)', same),
      `  target under 2,000 ms for diff --base: ${Math.max(text.ms, markdown.ms, json.ms) < 2000 ? 'met' : 'NOT met'}`,
    ];
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}
