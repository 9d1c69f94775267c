// Compile-time refusals of issue 14: vars_required (a playbook run without the variables it needs
// is refused before anything runs: exit 2, the position, a hint) and the quorum timeline (each step
// that changes membership or stops a member is marked with the members before/after, quorum and
// tolerance; a step that leaves fewer running voting members than quorum is refused at the task).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { renderPlanText } from '../../engine/report/plan-text.js';
import { scratchDirEach } from '../support/scratch.js';

const INV = join(PACKAGE_ROOT, 'inventories/prod-3-https.yml');
const shipped = (name: string): string => join(PACKAGE_ROOT, 'playbooks', name);

describe('compile: vars_required', () => {
  it('remove-member without -e name: refused at the vars_required entry, with a hint', () => {
    const r = buildPlan({ playbook: shipped('remove-member.yml'), inventory: INV, extraVars: [] });
    assert.equal(r.plan, undefined);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.code, d.message, d.hint]),
      [['missing-var', '"name" is required by play "Remove the member" and was not given', "pass -e name=… (see the playbook's header for what each means)"]],
    );
    const d = r.diagnostics[0];
    assert.ok(d);
    assert.match(d.file, /playbooks\/remove-member\.yml$/);
    // The line of `vars_required: [name]`, at `name`.
    const line = (readLines(shipped('remove-member.yml'))[d.line - 1] ?? '').slice(d.col - 1);
    assert.match(line, /^name\]/);
  });

  it('replace-member with only -e old: the missing new is named; an empty value counts as missing', () => {
    const r = buildPlan({ playbook: shipped('replace-member.yml'), inventory: INV, extraVars: ['old=etcd-3', 'new='] });
    assert.deepEqual(
      r.diagnostics.map((d) => d.message),
      ['"new" is required by play "Swap the member" and was not given (it is empty)'],
    );
  });

  it('given, the plan compiles', () => {
    const r = buildPlan({ playbook: shipped('remove-member.yml'), inventory: INV, extraVars: ['name=etcd-4'] });
    assert.deepEqual(r.diagnostics, []);
  });
});

function readLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n');
}

describe('compile: the quorum timeline', () => {
  let dir = '';
  scratchDirEach('runbook-quorum-', (d) => (dir = d));
  const playbook = (play: string): string => {
    const f = join(dir, 'pb.yml');
    writeFileSync(f, play);
    return f;
  };

  it('stopping every member at once is refused at the task, with the arithmetic and a hint', () => {
    const pb = playbook(
      ['- name: Maintenance', '  hosts: etcd', '  tasks:', '    - name: Stop etcd', '      etcd_service:', '        state: stopped', ''].join('\n'),
    );
    const r = buildPlan({ playbook: pb, inventory: INV, extraVars: [] });
    assert.equal(r.plan, undefined);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.code, d.line, d.col, d.message]),
      [
        [
          'quorum-lost',
          4,
          7,
          'this step leaves 0 of 3 voting members running, below the quorum of 2 (etcd-1 stopped, etcd-2 stopped, etcd-3 stopped): the cluster stops serving',
        ],
      ],
    );
    assert.match(r.diagnostics[0]?.hint ?? '', /one member at a time \(serial: 1/);
  });

  it('a restart one member at a time (serial: 1) passes, each batch marked with the member down while it restarts', () => {
    const pb = playbook(
      [
        '- name: Rolling restart',
        '  hosts: etcd',
        '  serial: 1',
        '  tasks:',
        '    - name: Restart etcd',
        '      etcd_service:',
        '        state: restarted',
        '',
      ].join('\n'),
    );
    const r = buildPlan({ playbook: pb, inventory: INV, extraVars: [] });
    assert.deepEqual(r.diagnostics, []);
    assert.ok(r.plan);
    const marks = r.plan.plays[0]?.tasks[0]?.quorum ?? [];
    assert.deepEqual(
      marks.map((m) => [m.hosts, m.change, m.during?.up, m.during?.tolerance, m.after.up]),
      [
        [['etcd-1'], 'etcd-1 restarted', 2, 0, 3],
        [['etcd-2'], 'etcd-2 restarted', 2, 0, 3],
        [['etcd-3'], 'etcd-3 restarted', 2, 0, 3],
      ],
    );
    assert.match(
      renderPlanText(r.plan),
      new RegExp(
        '\\n {4}quorum: etcd-1 restarted: 3 of 3 voting running \\(quorum 2, tolerates 1 more failure\\) → ' +
          'while it restarts 2 of 3 voting running \\(quorum 2, tolerates 0 more failures\\) → 3 of 3 voting running',
      ),
    );
  });

  it('two of three stopped one after the other is refused at the second', () => {
    const pb = playbook(
      [
        '- name: Maintenance',
        '  hosts: etcd',
        '  tasks:',
        '    - name: Stop etcd-1',
        '      etcd_service: {state: stopped}',
        '      when: inventory_hostname == "etcd-1"',
        '    - name: Stop etcd-2',
        '      etcd_service: {state: stopped}',
        '      when: inventory_hostname == "etcd-2"',
        '',
      ].join('\n'),
    );
    const r = buildPlan({ playbook: pb, inventory: INV, extraVars: [] });
    assert.deepEqual(
      r.diagnostics.map((d) => [d.line, d.message]),
      [[7, 'this step leaves 1 of 3 voting members running, below the quorum of 2 (etcd-2 stopped): the cluster stops serving']],
    );
  });

  it('a play for a cluster without quorum (quorum_lost: true) shows the timeline and is not refused', () => {
    const pb = playbook(
      [
        '- name: Restore',
        '  hosts: etcd',
        '  quorum_lost: true',
        '  tasks:',
        '    - name: Stop etcd',
        '      etcd_service:',
        '        state: stopped',
        '',
      ].join('\n'),
    );
    const r = buildPlan({ playbook: pb, inventory: INV, extraVars: [] });
    assert.deepEqual(r.diagnostics, []);
    assert.match(
      renderPlanText(r.plan!),
      /quorum: etcd-1 stopped, etcd-2 stopped, etcd-3 stopped: 3 of 3 voting running .* → 0 of 3 voting running \(quorum 2, NO QUORUM\)/,
    );
  });

  it('remove-member: the removal marked 4 → 3 voting members (the inventory is the end state)', () => {
    const r = buildPlan({ playbook: shipped('remove-member.yml'), inventory: INV, extraVars: ['name=etcd-4'] });
    const marks = r.plan?.plays[0]?.tasks.flatMap((t) => t.quorum ?? []) ?? [];
    assert.deepEqual(
      marks.map((m) => [m.change, m.before.voting, m.before.quorum, m.after.voting, m.after.quorum, m.after.tolerance]),
      [['etcd-4 removed', 4, 3, 3, 2, 1]],
    );
  });
});

describe('replace-member: what happens to the old machine, in the plan', () => {
  const INV5 = join(PACKAGE_ROOT, 'inventories/prod-5.yml');
  const retire = (extra: string[]): Record<string, string> => {
    const r = buildPlan({ playbook: shipped('replace-member.yml'), inventory: INV5, extraVars: extra });
    assert.deepEqual(r.diagnostics, []);
    const play = r.plan?.plays[1];
    assert.ok(play);
    const out: Record<string, string> = {};
    for (const t of play.tasks) for (const s of t.steps) if (!s.skip) out[`${t.index}@${s.host}`] = t.name;
    return out;
  };

  it('by default, the inventory host named like the old member (outside group etcd) is stopped and its data moved aside', () => {
    assert.deepEqual(Object.keys(retire(['old=etcd-5-old', 'new=etcd-5'])), ['2@etcd-5-old', '3@etcd-5-old']);
  });

  it('no such host (the old name is the new member, or not a host): the plan says the old machine is left as it is', () => {
    const steps = retire(['old=etcd-5', 'new=etcd-5']);
    assert.deepEqual(Object.keys(steps), ['1@bastion']);
    assert.match(steps['1@bastion'] ?? '', /^No old machine to retire/);
  });

  it('-e old_host names it explicitly', () => {
    assert.deepEqual(Object.keys(retire(['old=etcd-9', 'new=etcd-5', 'old_host=etcd-5-old'])), ['2@etcd-5-old', '3@etcd-5-old']);
  });
});
