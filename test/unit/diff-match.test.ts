// Matching two plans (engine/diff/match.ts): plays by name, tasks by name, steps by host; what is a
// change and what is not; grouping of hosts with the same change.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { diffPlans } from '../../engine/diff/match.js';
import type { Plan } from '../../engine/model/types.js';
import { stableStringify } from '../../engine/report/stable-json.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';

const BASE = `
- name: Look
  hosts: etcd
  tasks:
    - name: One
      shell: echo one {{member.name}}
    - name: Two
      shell: echo two
      timeout: 60
    - name: Three
      shell: echo three
    - name: Three
      shell: echo three again
- name: Finish
  hosts: etcd
  any_errors_fatal: true
  tasks:
    - name: Done
      command: echo done
      run_once: true
`;

const INVENTORY = readFileSync(join(PACKAGE_ROOT, 'test/fixtures/good/inventory.yml'), 'utf8');

describe('diff: matching plans', () => {
  let dir: string;
  let n = 0;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'runbook-diff-match-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function plan(playbook: string, inventory = INVENTORY): Plan {
    n++;
    const pb = join(dir, `pb-${n}.yml`);
    const inv = join(dir, `inv-${n}.yml`);
    writeFileSync(pb, playbook);
    writeFileSync(inv, inventory);
    const r = buildPlan({ playbook: pb, inventory: inv });
    assert.ok(r.plan, JSON.stringify(r.diagnostics, null, 2));
    return r.plan;
  }
  const diff = (a: Plan, b: Plan): ReturnType<typeof diffPlans> => diffPlans(a, b, { old: 'old', new: 'new' });

  it('the same inputs in other files: no change', () => {
    const d = diff(plan(BASE), plan(BASE));
    assert.equal(d.changed, false);
    assert.deepEqual(d.plays, []);
    assert.equal(d.summary.line, `pb-${n} on test: no changes`);
  });

  it('a saved plan (sorted keys, through JSON) against a fresh one: no change', () => {
    const a = plan(BASE);
    const saved = JSON.parse(stableStringify(a)) as Plan;
    assert.equal(diff(saved, plan(BASE)).changed, false);
  });

  it('an inserted task is one added task, not a cascade of changed ones', () => {
    const inserted = BASE.replace('    - name: Two\n', '    - name: New check\n      shell: echo new\n    - name: Two\n');
    const d = diff(plan(BASE), plan(inserted));
    assert.equal(d.plays.length, 1);
    const tasks = d.plays[0]?.tasks ?? [];
    assert.deepEqual(
      tasks.map((t) => [t.name, t.status, t.index, t.unchangedBefore]),
      [['New check', 'added', 2, 1]],
    );
    assert.equal(d.plays[0]?.unchangedTasksAfter, 3);
    // Identical lines on every host: one group with the three hosts.
    assert.deepEqual(
      tasks[0]?.steps.map((g) => [g.status, g.hosts]),
      [['added', ['etcd-1', 'etcd-2', 'etcd-3']]],
    );
    assert.deepEqual(d.summary.steps, { added: 3, removed: 0, modified: 0 });
    assert.deepEqual(d.summary.tasks, { added: 1, removed: 0, modified: 0 });
    assert.equal(d.summary.line, `pb-${n} on test: 3 hosts, 3 steps changed (3 added)`);
  });

  it('a removed task, and two tasks swapped (reported as moved, not as changed commands)', () => {
    const removed = BASE.replace('    - name: Two\n      shell: echo two\n      timeout: 60\n', '');
    assert.deepEqual(
      diff(plan(BASE), plan(removed)).plays[0]?.tasks.map((t) => [t.name, t.status, t.index]),
      [['Two', 'removed', 2]],
    );
    const swapped = BASE.replace(
      '    - name: One\n      shell: echo one {{member.name}}\n    - name: Two\n      shell: echo two\n      timeout: 60\n',
      '    - name: Two\n      shell: echo two\n      timeout: 60\n    - name: One\n      shell: echo one {{member.name}}\n',
    );
    const d = diff(plan(BASE), plan(swapped));
    assert.deepEqual(
      d.plays[0]?.tasks.map((t) => [t.name, t.status, t.moved, t.steps.length]),
      [['One', 'modified', true, 0]],
    );
    assert.match(d.summary.line, /1 moved$/);
  });

  it('repeated task names are matched in order', () => {
    const d = diff(plan(BASE), plan(BASE.replace('echo three again', 'echo three once more')));
    const t = d.plays[0]?.tasks ?? [];
    assert.deepEqual(
      t.map((x) => [x.name, x.index, x.status]),
      [['Three', 4, 'modified']],
    );
    assert.deepEqual(t[0]?.steps[0]?.actions[0]?.lines[0]?.words, [{ old: 'again' }, { new: 'once' }, { new: 'more' }]);
    assert.deepEqual(t[0]?.steps[0]?.hosts, ['etcd-1', 'etcd-2', 'etcd-3']);
  });

  it('a task setting (timeout) changes every step of the task: shown once, counted per host', () => {
    const d = diff(plan(BASE), plan(BASE.replace('timeout: 60', 'timeout: 120')));
    const t = d.plays[0]?.tasks[0];
    assert.deepEqual(t?.fields, [{ field: 'timeout', old: '60s', new: '120s' }]);
    assert.deepEqual(t?.steps, []);
    assert.deepEqual(d.summary.steps, { added: 0, removed: 0, modified: 3 });
  });

  it('play settings, and host connection settings', () => {
    const d = diff(plan(BASE), plan(BASE.replace('any_errors_fatal: true', 'any_errors_fatal: false'), INVENTORY.replace('10.0.0.2', '10.0.0.22')));
    assert.deepEqual(
      d.plays.map((p) => [p.name, p.fields]),
      [['Finish', [{ field: 'any_errors_fatal', old: 'yes', new: 'no' }]]],
    );
    assert.deepEqual(d.connections, [{ host: 'etcd-2', fields: [{ field: 'address', old: '10.0.0.2', new: '10.0.0.22' }] }]);
    assert.equal(d.summary.line, `pb-${n} on test: 2 settings changed on 1 host`);
  });

  it('a change on some hosts only: the other hosts are counted, not listed', () => {
    const d = diff(plan(BASE), plan(BASE.replace('echo one {{member.name}}', 'echo one {{member.name}}{{#if (eq member.name "etcd-2")}} twice{{/if}}')));
    const t = d.plays[0]?.tasks[0];
    assert.deepEqual(
      t?.steps.map((g) => g.hosts),
      [['etcd-2']],
    );
    assert.equal(t?.unchangedHosts, 2);
  });

  it('hosts with the same change but different commands are grouped, with whose commands are shown', () => {
    const d = diff(plan(BASE), plan(BASE.replace('echo one {{member.name}}', 'echo one {{member.name}} --verbose')));
    const g = d.plays[0]?.tasks[0]?.steps[0];
    assert.deepEqual([g?.hosts, g?.shownFor], [['etcd-1', 'etcd-2', 'etcd-3'], 'etcd-1']);
    assert.deepEqual(g?.actions[0]?.lines[0]?.words, [{ new: '--verbose' }]);
  });

  it('a run_once task that moves to another host: that host replaces the old one', () => {
    const reordered = INVENTORY.replace('[etcd-1, etcd-2, etcd-3]', '[etcd-2, etcd-1, etcd-3]');
    const d = diff(plan(BASE), plan(BASE, reordered));
    assert.deepEqual(
      d.plays.flatMap((p) => p.tasks.map((t) => [p.name, t.name, t.steps.map((g) => [g.status, g.was, g.hosts, g.actions.length])])),
      [['Finish', 'Done', [['replaced', ['etcd-1'], ['etcd-2'], 0]]]],
    );
  });
});
