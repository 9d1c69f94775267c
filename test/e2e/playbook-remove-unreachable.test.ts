// e2e: remove-member.yml when the removed machine cannot be reached, on a real lab in the
// production shape (a) [3.5 tls systemd]: 4 members on 127.0.LAB_NET.241-244. etcd-4's sshd is
// frozen (SIGSTOP inside the host, by its PID file: the machine answers no SSH, as a hung one), then
// etcd-4 is removed. The run completes (exit 0): the member is removed, the others' configs name
// the three left, every member healthy with one cluster ID and the canaries; the retire step is
// reported unreachable, ignored, in the output and the journal, saying its next steps did not run.
// Then etcd's own refusal of a membership change (its strict reconfiguration check: removing etcd-2
// while etcd-3 is stopped; etcd answers "unhealthy cluster", and etcd-3 is) fails the step at once,
// naming the unhealthy member, not after its retries.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { hostExec, labDown, type Lab } from '../lab/lab.js';
import { SHAPE_A } from '../lab/shapes.js';
import * as pb from './playbook-helpers.js';

const shape = SHAPE_A;
const LEFT = ['etcd-1', 'etcd-2', 'etcd-3'];

describe(`${shape.title} playbooks on a real cluster: remove-member of an unreachable machine (127.0.0.241-244)`, function () {
  this.timeout(180_000);
  const DIR = pb.labDir(`remove-unreachable-${shape.id}`);
  let lab: Lab;

  before(async function () {
    lab = await pb.freshLab('remove-unreachable', { shape, hosts: 4, members: 4, firstOctet: 241 });
    await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
  });

  after(async function () {
    await labDown(DIR);
  });

  it('removes etcd-4 while its machine answers no SSH: exit 0, the others updated, the retire step unreachable (ignored)', async function () {
    const { clusterId } = await pb.assertCluster(lab, [...LEFT, 'etcd-4']);
    const keysBefore = await pb.keyCount(pb.clientUrl(lab, 'etcd-1'));
    const inventory = pb.writeInventory(lab, 'inventory-3.yml', (t) => {
      const edited = t.replace(
        '  etcd:\n    hosts: [etcd-1, etcd-2, etcd-3, etcd-4]\n',
        '  etcd:\n    hosts: [etcd-1, etcd-2, etcd-3]\n  retired:\n    hosts: [etcd-4]\n',
      );
      assert.notEqual(edited, t);
      return edited;
    });
    // Freeze etcd-4's sshd (the lab's host init would restart a killed one): its port still takes a
    // TCP connection but no SSH answer comes, as from a hung machine; runbook gives up after the
    // inventory's connect_timeout.
    const pid = (await pb.onHost(lab, 'etcd-4', 'cat /run/lab/sshd.pid')).trim();
    assert.match(pid, /^\d+$/);
    await pb.onHost(lab, 'etcd-4', `kill -STOP ${pid}`);
    let r;
    try {
      r = await pb.apply(lab, 'remove-member.yml', ['name=etcd-4'], inventory);
    } finally {
      await hostExec(lab, 'etcd-4', `kill -CONT ${pid}`, { timeoutMs: 10_000 });
    }
    assert.equal(r.code, 0, r.all);
    assert.match(r.all, /ignore_unreachable: the run goes on without etcd-4; its next steps do not run/);

    const c = await pb.assertCluster(lab, LEFT);
    assert.equal(c.clusterId, clusterId);
    for (const h of LEFT) {
      await pb.assertData(lab, h, keysBefore);
      const conf = await pb.onHost(lab, h, 'cat /etc/etcd/etcd.conf');
      const ic = conf.split('\n').find((l) => l.startsWith('ETCD_INITIAL_CLUSTER='));
      assert.deepEqual(ic?.slice('ETCD_INITIAL_CLUSTER='.length).split(',').sort(), LEFT.map((x) => `${x}=${pb.peerUrl(lab, x)}`).sort(), `${h}: ${ic}`);
    }
    assert.ok(!(await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).some((m) => m.name === 'etcd-4'));
    // The journal says so: the retire step unreachable and ignored, nothing after it on etcd-4.
    const ends = pb.journal(lab, r).filter((e) => e.type === 'step.end' && e.host === 'etcd-4');
    const results = ends.map((e) => e.result as unknown as { status: string; ignored?: boolean; message?: string });
    assert.deepEqual(
      results.filter((x) => x.status !== 'skipped').map((x) => [x.status, x.ignored]),
      [['unreachable', true]],
    );
  });

  it("etcd's refusal of a removal (strict reconfiguration check, a member down) fails at once: one attempt, no retries, nothing changed", async function () {
    // A bare removal with retries, no preflight: what etcd itself answers is under test.
    const bare = path.join(lab.dir, 'bare-remove.yml');
    writeFileSync(
      bare,
      [
        '- name: Remove etcd-2 without a preflight',
        '  hosts: etcd',
        '  tasks:',
        '    - name: Remove it',
        '      etcd_member: {op: remove, name: etcd-2, endpoints: "etcd-1,etcd-2"}',
        '      run_once: true',
        '      retries: 5',
        '      delay: 10',
        '',
      ].join('\n'),
    );
    const inventory = path.join(lab.dir, 'inventory-3.yml');
    await pb.onHost(lab, 'etcd-3', 'systemctl stop etcd');
    try {
      const r = await pb.apply(lab, bare, [], inventory);
      assert.equal(r.code, 1, r.all);
      const ip = pb.address(lab, 'etcd-3').replace(/\./g, '\\.');
      assert.match(r.all, new RegExp(`refused: etcd refused the change \\(strict reconfiguration check[^\\n]*unhealthy: https://${ip}:2379`));
      assert.match(r.all, /\(etcd: Error: etcdserver: unhealthy cluster\)/);
      // Against the thing under test: 5 retries 10 s apart; none made.
      assert.equal(pb.journal(lab, r).filter((e) => e.type === 'step.retry').length, 0);
      const end = pb.journal(lab, r).find((e) => e.type === 'step.end' && e.stepId === '1.1@etcd-1');
      assert.equal((end?.result as unknown as { attempts?: number } | undefined)?.attempts, 1);
      assert.deepEqual(
        (await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).map((m) => m.name),
        LEFT,
      );
    } finally {
      await pb.onHost(lab, 'etcd-3', 'systemctl start etcd');
    }
    await pb.assertCluster(lab, LEFT);
  });
});
