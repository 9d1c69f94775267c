// e2e: add-member.yml and remove-member.yml on a real lab in the production shape (a) [3.5 tls
// systemd]: 5 hosts, 3 members, spares etcd-4 and etcd-5 (127.0.LAB_NET.211-215). Refused first
// and untouched: a new member whose peer certificate lacks its IP. Then grow 3 → 4 → 5, a removal
// refused because the rest would lose quorum (two members stopped), and shrink 5 → 4 → 3. After
// each change: every member healthy, the member list equal to the inventory, one cluster ID (the
// first one), the canaries on every member, and the configs naming the new member set.
// Then add-member on shape (b), kubeadm's static pods (4 hosts, 127.0.LAB_NET.216-219). About 45 s in all.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { hostExec, labDown, type Lab } from '../lab/lab.js';
import { SHAPE_A, SHAPE_B } from '../lab/shapes.js';
import * as pb from './playbook-helpers.js';
import { issueLeaf } from '../support/openssl.js';
import { containers } from './static-pod-helpers.js';

const ALL = ['etcd-1', 'etcd-2', 'etcd-3', 'etcd-4', 'etcd-5'];
const shape = SHAPE_A;

describe(`${shape.title} playbooks on a real cluster: add-member and remove-member (127.0.0.211-215)`, function () {
  this.timeout(120_000);
  const DIR = pb.labDir(`add-remove-member-${shape.id}`);
  let lab: Lab;
  let clusterId: string;
  let keysBefore: number;

  /** An inventory whose group etcd is `members` (the end state); the other hosts stay under hosts: in group `retired`. */
  const inventory = (members: string[]): string =>
    pb.writeInventory(lab, `inventory-${members.length}.yml`, (t) => {
      const rest = ALL.filter((h) => !members.includes(h));
      const groups = `  etcd:\n    hosts: [${members.join(', ')}]\n${rest.length ? `  retired:\n    hosts: [${rest.join(', ')}]\n` : ''}`;
      const edited = t.replace(/ {2}etcd:\n {4}hosts: \[[^\]]*\]\n {2}spare:\n {4}hosts: \[[^\]]*\]\n/, groups);
      assert.notEqual(edited, t);
      return edited;
    });

  /** The cluster is exactly `members`: healthy, lists them, the first cluster ID, canaries and key count on each. */
  async function assertMembers(members: string[]): Promise<void> {
    const c = await pb.assertCluster(lab, members);
    assert.equal(c.clusterId, clusterId, 'the cluster ID changed');
    for (const h of members) {
      await pb.assertData(lab, h, keysBefore);
    }
    // Later restarts agree on the membership: every config names exactly these members.
    const ic = `ETCD_INITIAL_CLUSTER=${[...members]
      .sort()
      .map((h) => `${h}=${pb.peerUrl(lab, h)}`)
      .join(',')}`;
    for (const h of members) {
      const conf = (await pb.onHost(lab, h, 'cat /etc/etcd/etcd.conf')).split('\n');
      const got = conf.find((l) => l.startsWith('ETCD_INITIAL_CLUSTER='));
      assert.deepEqual(got?.split('=').slice(1).join('=').split(',').sort(), ic.split('=').slice(1).join('=').split(',').sort(), `${h}: ${got}`);
      assert.ok(conf.includes('ETCD_INITIAL_CLUSTER_STATE=existing'), `${h}: not state existing`);
    }
  }

  /** The commands of a run that exited 0 on `host`, from its journal. */
  const succeeded = (r: pb.CliRun, host: string): string[] =>
    pb
      .journal(lab, r)
      .filter((e) => e.type === 'step.end' && e.host === host)
      .flatMap((e) => ((e.result as unknown as { actions?: { cmd?: string; code?: number }[] }).actions ?? []).filter((a) => a.code === 0))
      .map((a) => a.cmd ?? '');

  before(async function () {
    lab = await pb.freshLab('add-remove-member', { shape, hosts: 5, members: 3, firstOctet: 211 });
    await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
    keysBefore = await pb.keyCount(pb.clientUrl(lab, 'etcd-1'));
    clusterId = (await pb.assertCluster(lab, ['etcd-1', 'etcd-2', 'etcd-3'])).clusterId;
  });

  after(async function () {
    await labDown(DIR);
  });

  it('refuses to add etcd-4 while its peer certificate lacks its IP, naming the SAN; nothing changes', async function () {
    // Re-issue etcd-4's peer certificate from the lab CA without its address (its name and 127.0.0.1 kept).
    const bad = path.join(lab.dir, 'pki-bad-etcd-4');
    mkdirSync(bad, { recursive: true });
    const pki = path.join(lab.dir, 'pki');
    issueLeaf(bad, 'peer', 'etcd-4', ['DNS:etcd-4', 'IP:127.0.0.1', 'DNS:localhost'], pki);
    // The files go through the host's own /run/lab (its state dir's run-lab): a path below the
    // controller's /tmp (a checkout there) is hidden inside the host, whose /tmp is its own.
    const runLab = path.join(lab.hosts.find((h) => h.name === 'etcd-4')?.stateDir ?? '', 'run-lab');
    const install = (from: string): string => {
      for (const f of ['peer.crt', 'peer.key']) copyFileSync(path.join(from, f), path.join(runLab, f));
      return 'mv /run/lab/peer.crt /etc/etcd/pki/peer.crt && mv /run/lab/peer.key /etc/etcd/pki/peer.key && chown etcd:etcd /etc/etcd/pki/peer.* && chmod 600 /etc/etcd/pki/peer.key';
    };
    await pb.onHost(lab, 'etcd-4', install(bad));

    const hosts = ALL.slice(0, 4);
    const before = await pb.fingerprints(lab, hosts);
    const r = await pb.apply(lab, 'add-member.yml', ['new=etcd-4'], inventory(hosts));
    assert.equal(r.code, 1, r.all);
    const ip = pb.address(lab, 'etcd-4').replace(/\./g, '\\.');
    assert.match(r.all, new RegExp(`refused: etcd would reject this member's certificates: /etc/etcd/pki/peer\\.crt: has no IP SAN for ${ip}`));
    assert.doesNotMatch(r.all, /server\.crt: has no/, 'its server certificate is fine');
    assert.deepEqual(await pb.fingerprints(lab, hosts), before, 'a host changed');
    assert.deepEqual(
      (await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).map((m) => m.name),
      ['etcd-1', 'etcd-2', 'etcd-3'],
    );

    // Its good certificate back (the lab's own, from the same CA).
    await pb.onHost(lab, 'etcd-4', install(path.join(pki, 'etcd-4')));
  });

  it('grows 3 → 4 (continuing an interrupted add; warning that an even count adds no fault tolerance) → 5: one cluster, data everywhere', async function () {
    const four = ALL.slice(0, 4);
    // An earlier run was interrupted right after `member add`: etcd-4 is listed, unnamed, a learner.
    const tls = '--cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/etcdctl.crt --key=/etc/etcd/pki/etcdctl.key';
    const ctl = `etcdctl ${tls} --endpoints=${pb.clientUrl(lab, 'etcd-1')}`;
    // etcd refuses membership changes ("unhealthy cluster") until every member has been connected
    // for 5 s: retry that answer only, until a deadline.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const add = await hostExec(lab, 'etcd-1', `${ctl} member add etcd-4 --peer-urls=${pb.peerUrl(lab, 'etcd-4')} --learner`, { timeoutMs: 20_000 });
      if (add.code === 0) break;
      assert.ok(/unhealthy cluster/.test(add.stderr) && Date.now() < deadline, `member add: ${add.stdout}\n${add.stderr}`);
      await new Promise((res) => setTimeout(res, 500));
    }
    const half = await pb.memberList(pb.clientUrl(lab, 'etcd-1'));
    assert.deepEqual(
      half.map((m) => [m.name, m.isLearner]),
      [
        ['', true],
        ['etcd-1', false],
        ['etcd-2', false],
        ['etcd-3', false],
      ],
    );
    let r = await pb.apply(lab, 'add-member.yml', ['new=etcd-4'], inventory(four));
    assert.equal(r.code, 0, r.all);
    assert.match(r.all, /even number of members: its quorum grows but it tolerates\s+no more failures than before/);
    // It joined as a learner and was promoted (what ran, from the run's journal).
    const ran = succeeded(r, 'etcd-4');
    // It continued from the listed learner (no second `member add`), and promoted it.
    assert.ok(!ran.some((c) => / member add /.test(c)), ran.join('\n'));
    assert.ok(
      ran.some((c) => / member promote [0-9a-f]+$/.test(c)),
      ran.join('\n'),
    );
    await assertMembers(four);
    assert.equal(
      (await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).find((m) => m.name === 'etcd-4')?.id,
      half[0]?.id,
      'the learner added before is the member now',
    );

    r = await pb.apply(lab, 'add-member.yml', ['new=etcd-5'], inventory(ALL));
    assert.equal(r.code, 0, r.all);
    // A fresh add: as a learner, then promoted (what ran, from the run's journal).
    const ran5 = succeeded(r, 'etcd-5');
    assert.ok(
      ran5.some((c) => / member add etcd-5 --peer-urls=\S+ --learner$/.test(c)),
      ran5.join('\n'),
    );
    assert.ok(
      ran5.some((c) => / member promote [0-9a-f]+$/.test(c)),
      ran5.join('\n'),
    );
    assert.doesNotMatch(r.all, /even number of members/);
    await assertMembers(ALL);
    // The members that were there keep every operator setting (only membership keys were edited).
    for (const h of ['etcd-1', 'etcd-2', 'etcd-3']) await pb.assertOperatorSettings(lab, h);
  });

  it('refuses to remove etcd-5 while etcd-2 and etcd-3 are down (2 healthy of 4, quorum 3); nothing changes', async function () {
    await pb.onHost(lab, 'etcd-2', 'systemctl stop etcd');
    await pb.onHost(lab, 'etcd-3', 'systemctl stop etcd');
    const before = await pb.fingerprints(lab, ALL);
    const r = await pb.apply(lab, 'remove-member.yml', ['name=etcd-5'], inventory(ALL.slice(0, 4)));
    await pb.assertRefusedUntouched(lab, r, /refused: removing etcd-5 leaves 2 healthy of 4 members, but quorum would be 3/, {
      fingerprints: before,
      members: ALL,
    });

    await pb.onHost(lab, 'etcd-2', 'systemctl start etcd');
    await pb.onHost(lab, 'etcd-3', 'systemctl start etcd');
    await assertMembers(ALL);
  });

  it('shrinks 5 → 4 → 3: each removed member stopped, its data moved aside (kept)', async function () {
    for (const [name, left] of [
      ['etcd-5', ALL.slice(0, 4)],
      ['etcd-4', ALL.slice(0, 3)],
    ] as const) {
      const id = (await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).find((m) => m.name === name)?.id;
      assert.ok(id, name);
      // add-member moved the spare's old data dir aside already: the removal adds one more.
      const asideBefore = await pb.asideDirs(lab, name);
      const r = await pb.apply(lab, 'remove-member.yml', [`name=${name}`], inventory([...left]));
      assert.equal(r.code, 0, r.all);
      await assertMembers([...left]);
      assert.ok(!(await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).some((m) => m.id === id), `${name}'s member ID is still listed`);
      assert.equal((await pb.onHost(lab, name, 'systemctl is-active etcd || true')).trim(), 'inactive');
      const aside = (await pb.asideDirs(lab, name)).filter((d) => !asideBefore.includes(d));
      assert.equal(aside.length, 1, aside.join(', '));
      await pb.onHost(lab, name, `test -f ${aside[0] ?? ''}/member/snap/db && test ! -e /var/lib/etcd`);
    }
  });
});

// add-member on kubeadm's static pods (shape b): the new control-plane node's manifest waits in the
// parked dir (as the lab prepares a spare); it joins, and the running members' pods are not restarted
// (their manifests are left alone: kubelet would restart a pod on any manifest change).
describe(`${SHAPE_B.title} playbooks on a real cluster: add-member (127.0.0.216-219)`, function () {
  this.timeout(180_000);
  const DIR = pb.labDir(`add-remove-member-${SHAPE_B.id}`);
  const MANIFEST = '/etc/kubernetes/manifests/etcd.yaml';
  const OLD = ['etcd-1', 'etcd-2', 'etcd-3'];
  const FOUR = [...OLD, 'etcd-4'];
  let lab: Lab;

  before(async function () {
    lab = await pb.freshLab('add-remove-member', { shape: SHAPE_B, hosts: 4, members: 3, firstOctet: 216 });
    await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
  });

  after(async function () {
    await labDown(DIR);
  });

  it(`${SHAPE_B.title} add-member grows 3 → 4 with the new node's parked manifest; the running members are not restarted`, async function () {
    const { clusterId } = await pb.assertCluster(lab, OLD);
    const keysBefore = await pb.keyCount(pb.clientUrl(lab, 'etcd-1'));
    const running = await Promise.all(OLD.map((h) => containers(lab, h, 'etcd')));
    const inventory = pb.writeInventory(lab, 'inventory-add.yml', (t) => {
      const edited = t
        .replace('  etcd:\n    hosts: [etcd-1, etcd-2, etcd-3]', '  etcd:\n    hosts: [etcd-1, etcd-2, etcd-3, etcd-4]')
        .replace(/ {2}spare:\n {4}hosts: \[etcd-4\]\n/, '');
      assert.match(edited, /etcd:\n {4}hosts: \[etcd-1, etcd-2, etcd-3, etcd-4\]/);
      return edited;
    });
    const r = await pb.apply(lab, 'add-member.yml', ['new=etcd-4'], inventory);
    assert.equal(r.code, 0, r.all);

    const c = await pb.assertCluster(lab, FOUR);
    assert.equal(c.clusterId, clusterId);
    for (const h of FOUR) {
      await pb.assertData(lab, h, keysBefore);
    }
    assert.deepEqual(await Promise.all(OLD.map((h) => containers(lab, h, 'etcd'))), running, 'a running member was restarted');
    const m4 = await pb.onHost(lab, 'etcd-4', `cat ${MANIFEST}`);
    assert.match(m4, /^ {4}- --initial-cluster-state=existing$/m);
    assert.match(m4, /^ {4}- --initial-cluster=.*etcd-4=/m);
  });
});
