// The five reproductions of issue 12, each seen with `runbook plan` (which renders exactly what
// would run): each now gives exit 2, or a quoted command that is harmless when a real shell runs it.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { runPlan } from '../../engine/cli/plan.js';
import { EXIT } from '../../engine/model/io.js';
import type { Action, Plan } from '../../engine/model/types.js';
import { DERIVE } from '../../engine/modules/derive-table.js';
import { Redactor } from '../../engine/execute/redaction.js';
import { REMOTE_OPS } from '../../engine/execute/remote-ops.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { captureIo } from '../support/io.js';

function plan(playbook: string, inventory: string, extra: string[]): { code: number; text: string } {
  const io = captureIo();
  const code = runPlan(playbook, { inventory, extraVars: extra }, io);
  return { code, text: io.all() };
}

function actions(p: Plan): Action[] {
  return p.plays.flatMap((pl) => pl.tasks.flatMap((t) => t.steps.flatMap((s) => s.actions)));
}

describe('security: the five reproductions of issue 12', () => {
  const cwd = process.cwd();
  let tmp: string;
  let canary: string;
  before(() => {
    process.chdir(PACKAGE_ROOT);
    tmp = mkdtempSync(join(tmpdir(), 'runbook-repro-'));
    canary = join(tmp, 'pwned');
  });
  after(() => {
    process.chdir(cwd);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('[injection] reproduction 1: restore-all -e snapshot=x"$(touch …)"y reaches no shell and runs nothing; the old "…{{snapshot}}…" form is exit 2', async () => {
    const value = `x"$(touch ${canary})"y`;
    const r = buildPlan({ playbook: 'restore-all', inventory: 'inventories/prod-3-https.yml', extraVars: [`snapshot=${value}`] });
    assert.ok(r.plan, JSON.stringify(r.diagnostics));
    const choose = r.plan.plays[0]?.tasks.flatMap((t) => t.steps[0]?.actions ?? []).find((a) => a.kind === 'remote' && a.op === 'locate');
    assert.ok(choose?.kind === 'remote' && choose.op === 'locate', JSON.stringify(choose));
    assert.equal(choose.args.snapshot, value, 'the value as data, not in a command');
    // Run what the plan says on this machine (it only reads): the value is a file name that does not exist.
    const env = { scope: { secrets: {} }, redact: new Redactor([]), signal: new AbortController().signal, say: () => undefined };
    await assert.rejects(REMOTE_OPS.locate?.({ ...choose.args, dir: tmp }, env) ?? Promise.resolve(), /no snapshot found at x"\$\(touch/);
    assert.equal(existsSync(canary), false, 'the value ran as a command');

    const old = join(tmp, 'old-restore.yml');
    writeFileSync(old, `- name: p\n  hosts: etcd\n  tasks:\n    - shell: echo "no snapshot found (looked for {{snapshot}})"\n      delegate_to: localhost\n`);
    const refused = plan(old, 'inventories/prod-3-https.yml', [`snapshot=${value}`]);
    assert.equal(refused.code, EXIT.INVALID, refused.text);
    assert.match(refused.text, /\[template-quoting\] \{\{snapshot\}\} is inside double quotes/);
    assert.match(refused.text, /hint: remove the quotes: \{\{snapshot\}\} is quoted for you/);
  });

  it('[injection] reproduction 2: force-new-cluster -e "survivor=x;touch /tmp/p" is exit 2 (endpoints must be member names)', () => {
    const r = plan('force-new-cluster', 'inventories/prod-3-https.yml', [`survivor=x;touch ${canary}`]);
    assert.equal(r.code, EXIT.INVALID, r.text);
    assert.match(
      r.text,
      /force-new-cluster\.yml:\d+:\d+: error \[schema-pattern\] the string "x;touch .*" is not valid: expected all, self, or inventory member names/,
    );
    const notMember = plan('force-new-cluster', 'inventories/prod-3-https.yml', ['survivor=etcd-9']);
    assert.equal(notMember.code, EXIT.INVALID, notMember.text);
    assert.match(notMember.text, /\[unknown-member\] etcd_member endpoints: "etcd-9" is not a member of inventories\/prod-3-https\.yml/);
  });

  it('[injection] reproduction 3: etcd_config initial_cluster with a quote is exit 2 at plan time, and a run-time one is checked before sed', () => {
    const pb = join(tmp, 'ic.yml');
    writeFileSync(pb, '- name: p\n  hosts: etcd\n  tasks:\n    - etcd_config:\n        state: existing\n        initial_cluster: "{{ic}}"\n');
    const r = plan(pb, 'inventories/kubeadm-static-pod.yml', [`ic=cp-1=https://10.1.0.11:2380'; touch ${canary}; '`]);
    assert.equal(r.code, EXIT.INVALID, r.text);
    assert.match(r.text, /initial_cluster|name=peer URL pairs/);
    // The shipped playbooks feed a run-time value (added.initial_cluster): the step checks it first.
    const fnc = buildPlan({ playbook: 'force-new-cluster', inventory: 'inventories/kubeadm-static-pod.yml', extraVars: ['survivor=cp-1'] });
    assert.ok(fnc.plan);
    const step = fnc.plan.plays
      .flatMap((p) => p.tasks)
      .find((t) => t.module === 'etcd_config')
      ?.steps.find((s) => s.actions.length > 0);
    assert.deepEqual(step?.actions[0], {
      kind: 'derive',
      fn: 'check_arg',
      args: ['etcd_config', 'initial_cluster', '⟨!added.initial_cluster⟩'],
      bind: 'checked_initial_cluster',
    });
    const sed = step?.actions.find((a) => a.kind === 'exec' && a.cmd.includes('--initial-cluster='));
    assert.ok(sed?.kind === 'exec' && sed.cmd.includes("\\1'⟨added.initial_cluster⟩'|"), 'the value is one quoted word in the sed expression');
  });

  it('[injection] reproduction 4: wait_for host "x/1; touch /tmp/p #" is exit 2, and --rev takes an integer parsed from the host output', () => {
    const pb = join(tmp, 'wait.yml');
    writeFileSync(pb, '- name: p\n  hosts: etcd\n  tasks:\n    - wait_for:\n        host: "{{h}}"\n        port: 2379\n');
    const r = plan(pb, 'inventories/prod-3-https.yml', [`h=x/1; touch ${canary} #`]);
    assert.equal(r.code, EXIT.INVALID, r.text);
    assert.match(r.text, /\[schema-pattern\] the string "x\/1; touch .*" is not valid: expected a host name or address \(after rendering\)/);

    const backup = buildPlan({ playbook: 'backup', inventory: 'inventories/prod-3-https.yml' });
    assert.ok(backup.plan);
    const all = actions(backup.plan);
    assert.ok(all.some((a) => a.kind === 'derive' && a.fn === 'revision'));
    assert.ok(all.some((a) => a.kind === 'exec' && a.cmd.includes('--rev=⟨_.revision⟩')));
    assert.ok(!all.some((a) => (a.kind === 'exec' || a.kind === 'local') && a.cmd.includes('⟨!')), 'no command takes a run-time value raw');
    assert.equal(DERIVE.revision?.('123'), 123);
    assert.throws(() => DERIVE.revision?.('1; touch /tmp/p'), /expected a whole number/);
  });

  it('[injection] reproduction 5: leading dashes from -e (file path, service name) are exit 2', () => {
    const pb = join(tmp, 'dash.yml');
    writeFileSync(
      pb,
      '- name: p\n  hosts: etcd\n  tasks:\n    - file:\n        path: "{{p}}"\n    - service:\n        name: "{{p}}"\n        state: restarted\n',
    );
    const r = plan(pb, 'inventories/prod-3-https.yml', ['p=--version']);
    assert.equal(r.code, EXIT.INVALID, r.text);
    assert.match(r.text, /dash\.yml:5:15: error \[schema-pattern\] the string "--version" is not valid: expected a path/);
    assert.match(r.text, /dash\.yml:7:15: error \[schema-pattern\] the string "--version" is not valid: expected a unit name/);
    assert.match(r.text, /a leading "-" would be read as an option/);
  });

  it('[injection] no command of any shipped playbook on any example inventory inserts a run-time value raw (⟨!…⟩)', () => {
    const inventories = ['prod-3-https', 'prod-5', 'kubeadm-static-pod'];
    const extra: Record<string, string[]> = { 'force-new-cluster': ['survivor=etcd-1'], 'replace-member': ['old=etcd-3', 'new=etcd-3'] };
    for (const pb of ['backup', 'compact-defrag', 'force-new-cluster', 'replace-member', 'restore-all', 'restore-all-no-backup', 'status']) {
      for (const inv of inventories) {
        const vars = (extra[pb] ?? []).map((v) => (inv === 'kubeadm-static-pod' ? v.replace('etcd-', 'cp-') : v));
        const r = buildPlan({ playbook: pb, inventory: `inventories/${inv}.yml`, extraVars: vars });
        assert.ok(r.plan, `${pb} on ${inv}: ${JSON.stringify(r.diagnostics)}`);
        const raw = actions(r.plan).filter((a) => (a.kind === 'exec' || a.kind === 'local' || a.kind === 'wait') && a.cmd.includes('⟨!'));
        assert.deepEqual(raw, [], `${pb} on ${inv}`);
      }
    }
  });
});
