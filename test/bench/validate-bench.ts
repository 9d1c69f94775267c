// Benchmark: `runbook validate` of generated playbooks of 5,000 / 10,000 / 20,000 tasks (a fresh CLI
// process each, as a user runs it), valid and with an error in every task. Validation must grow
// linearly with the task count: 20,000 tasks took many minutes when position lookups were
// quadratic. Not a test: nothing here fails on a time; the ratio column shows the growth.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmtMs, fmtRatio, RUNBOOK_BIN, runChild, table, verdict } from './bench-util.js';

/**
 * A playbook of `tasks` tasks: each a templated shell command that registers a result the next
 * one's `when` reads (so conditions, templates and register order are all checked). With
 * `broken`, every task names an unknown module (one diagnostic per task).
 */
export function generatePlaybook(tasks: number, broken = false): string {
  const lines = ['- name: generated', '  hosts: etcd', '  tasks:'];
  for (let i = 0; i < tasks; i++) {
    lines.push(`    - name: task ${i}`, `      ${broken ? 'shelx' : 'shell'}: echo {{greeting}} ${i}`, `      register: r${i}`);
    if (i > 0) lines.push(`      when: r${i - 1}.rc == 0 or true`);
  }
  return `${lines.join('\n')}\n`;
}

export async function benchValidate(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-bench-validate-'));
  try {
    const sizes = [5_000, 10_000, 20_000];
    const rows: string[][] = [];
    let at20k = 0;
    let linear = true;
    for (const broken of [false, true]) {
      let first: { n: number; ms: number } | undefined;
      for (const n of sizes) {
        const file = join(dir, `pb-${n}${broken ? '-broken' : ''}.yml`);
        writeFileSync(file, generatePlaybook(n, broken));
        const r = await runChild(process.execPath, [RUNBOOK_BIN, 'validate', file], { timeoutMs: 600_000 });
        const expect = broken ? 2 : 0;
        if (r.code !== expect) throw new Error(`runbook validate ${file} exited ${String(r.code)}, expected ${expect}: ${r.stderr.slice(-2000)}`);
        first ??= { n, ms: r.ms };
        // Time per task relative to the smallest file: ~1.00× when linear, growing with n when not.
        const perTask = r.ms / n / (first.ms / first.n);
        if (perTask > 2) linear = false;
        if (!broken && n === 20_000) at20k = r.ms;
        rows.push([`${n.toLocaleString('en')} tasks${broken ? ', an error in each' : ''}`, fmtMs(r.ms), fmtRatio(perTask)]);
      }
    }
    return [
      'runbook validate on generated playbooks (a fresh CLI process each; no inventory)',
      ...table(['playbook', 'time', 'time per task vs 5,000'], rows),
      `  linear (time per task within 2× of the smallest): ${verdict(linear)}; 20,000 valid tasks under 10 s: ${verdict(at20k < 10_000)}`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
