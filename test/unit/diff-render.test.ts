// Rendering a PlanDiff: text (colour only when asked), markdown (summary first, <details> per play,
// within GitHub's comment size) and JSON (stable). Built from real plans of the shipped playbooks.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { diffPlans } from '../../engine/diff/match.js';
import type { PlanDiff } from '../../engine/diff/model.js';
import { segments } from '../../engine/diff/render-common.js';
import { renderDiffJson } from '../../engine/diff/render-json.js';
import { renderDiffMarkdown } from '../../engine/diff/render-markdown.js';
import { renderDiffText } from '../../engine/diff/render-text.js';
import { stableStringify } from '../../engine/report/stable-json.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';

const PROD3 = readFileSync(join(PACKAGE_ROOT, 'inventories/prod-3-https.yml'), 'utf8');

describe('diff: rendering', () => {
  let dir: string;
  let replaced: PlanDiff;
  let none: PlanDiff;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-diff-render-'));
    const plan = (name: string, text: string): NonNullable<ReturnType<typeof buildPlan>['plan']> => {
      writeFileSync(join(dir, name), text);
      const r = buildPlan({ playbook: join(PACKAGE_ROOT, 'playbooks/restore-all.yml'), inventory: join(dir, name) });
      assert.ok(r.plan, JSON.stringify(r.diagnostics));
      return r.plan;
    };
    const a = plan('a.yml', PROD3);
    const b = plan(
      'b.yml',
      PROD3.replace('  etcd-3:\n    address: 10.0.1.13\n', '  etcd-4:\n    address: 10.0.1.14\n').replace(
        '[etcd-1, etcd-2, etcd-3]',
        '[etcd-1, etcd-2, etcd-4]',
      ),
    );
    replaced = diffPlans(a, b, { old: 'git:main', new: 'working tree' });
    none = diffPlans(a, a, { old: 'git:main', new: 'working tree' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('text: summary line first, plays and tasks with unchanged ones collapsed, no colour by default', () => {
    const out = renderDiffText(replaced);
    const lines = out.split('\n');
    assert.match(lines[0] ?? '', /^restore-all on prod: 4 hosts, \d+ steps changed \(\d+ added, \d+ removed, \d+ modified\)$/);
    assert.equal(lines[1], `git:main → working tree · playbook ${replaced.new.playbook} · inventory ${replaced.new.inventory}`);
    assert.ok(lines.includes('PLAY 3 · Restore every member from the snapshot'));
    assert.ok(lines.includes('  … 2 unchanged tasks'));
    assert.ok(
      lines.some((l) => /^ {2}TASK 3\.2 · Move the old data dir aside .* — etcd-3 → etcd-4: same steps$/.test(l)),
      out,
    );
    assert.ok(!out.includes('\x1b['));
    assert.equal(
      renderDiffText(none),
      `restore-all on prod: no changes\ngit:main → working tree · playbook ${none.new.playbook} · inventory ${none.new.inventory}\n`,
    );
  });

  it('text with colour: red/green lines, changed stretches in reverse video, everything reset', () => {
    const out = renderDiffText(replaced, { color: true });
    assert.ok(out.includes('\x1b[31m- $ etcdutl'));
    assert.ok(out.includes('\x1b[32m+ $ etcdutl'));
    assert.ok(out.includes('\x1b[7metcd-4=https://10.0.1.14:2380\x1b[27m'));
    // Every line ends with its colours switched off.
    for (const l of out.split('\n')) {
      const count = (code: string): number => l.split(`\x1b[${code}m`).length - 1;
      const opened = count('31') + count('32') + count('33');
      const closed = count('39');
      assert.equal(opened, closed, l);
    }
  });

  it('markdown: the summary line first, one <details> per changed play, diff fences, flags as code', () => {
    const out = renderDiffMarkdown(replaced);
    assert.equal(out.split('\n')[0], `**${replaced.summary.line}**`);
    assert.equal(out.split('<details>\n<summary>PLAY').length - 1, replaced.plays.length);
    // Blocks are balanced: one per play, and one per step change with an intent (its commands collapsed).
    assert.equal(out.split('<details>').length, out.split('</details>').length);
    assert.ok(out.includes('<summary>PLAY 3 · Restore every member from the snapshot — 6 of 6 tasks changed</summary>'));
    assert.ok(out.includes('\n```diff\n- $ etcdutl snapshot restore'));
    // Why: plans print long generated bash where a reviewer wants the intent — the step says what it does,
    // its exact commands are one click down.
    assert.match(out, /: etcd\\_snapshot restore: restore .* as this member .*\n\n<details><summary>commands<\/summary>\n\n```diff\n/);
    assert.ok(out.includes('- `--initial-cluster`: +`etcd-4=https://10.0.1.14:2380`  −`etcd-3=https://10.0.1.13:2380`'));
    // Fences are balanced.
    assert.equal((out.match(/^```/gm) ?? []).length % 2, 0);
    assert.equal(renderDiffMarkdown(none).split('\n')[0], '**restore-all on prod: no changes**');
  });

  it('markdown stays under the comment size limit, saying what was left out', () => {
    const out = renderDiffMarkdown(replaced, { maxChars: 3000 });
    assert.ok(out.length < 4000, String(out.length));
    assert.match(out, /_… \d+ more changed plays? not shown \(comment size limit\): run `runbook diff` locally for the rest\._/);
  });

  it('json: the PlanDiff as stable JSON with sorted keys', () => {
    const out = renderDiffJson(replaced);
    assert.equal(out, stableStringify(JSON.parse(out)));
    const d = JSON.parse(out) as PlanDiff;
    assert.equal(d.format, 'runbook-diff');
    assert.equal(d.version, 2);
    // One naming style: snake_case keys, as in the files (unchanged_actions, not unchangedActions).
    assert.doesNotMatch(out, /"[a-z]+[A-Z][A-Za-z]*":/);
    assert.match(out, /"unchanged_actions":/);
    assert.equal(d.summary.line, replaced.summary.line);
  });

  it('long unchanged stretches are shortened, changed ones never', () => {
    const long = `--initial-cluster=${Array.from({ length: 200 }, (_, i) => `m${i}=https://10.0.0.${i}:2380`).join(',')}`;
    const line = `$ etcdutl snapshot restore ${long} --name=x`;
    const at = line.indexOf('m150=');
    const segs = segments(line, [[at, at + 4]]);
    assert.deepEqual(
      segs.filter((s) => s.changed).map((s) => s.text),
      ['m150'],
    );
    assert.match(segs[0]?.text ?? '', /…\(\d+ characters\)…/);
    assert.ok(segs.map((s) => s.text).join('').length < 1000);
  });
});
