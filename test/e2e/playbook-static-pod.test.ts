// e2e: the shipped playbooks on a kubeadm-shaped lab (`deployment: static-pod`): etcd and
// kube-apiserver run as static pods from /etc/kubernetes/manifests, started and stopped by the
// lab's kubelet stand-in, which notices a manifest change only every few seconds, like kubelet.
// Same data checks as the systemd shapes (canaries on every member, one cluster ID, member list
// = inventory), plus what only static pods have: dependents (the kube-apiserver stand-in, which
// writes to etcd all the time) are stopped around a restore, and members not being changed are
// never restarted by a manifest edit.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { labDown, type Lab } from '../lab/lab.js';
import { shapesFor } from '../lab/shapes.js';
import { KUBEADM_TLS } from '../lab/static-pod.js';
import * as pb from './playbook-helpers.js';
import { apiserverWrites, containerPid, containers, finishedAt, playTimes, stepStart, until } from './static-pod-helpers.js';

const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];
const MANIFEST = '/etc/kubernetes/manifests/etcd.yaml';
const PARKED = '/etc/kubernetes/manifests-stopped-by-runbook/etcd.yaml';

/**
 * A member whose data is gone: the test stops its pod (manifest moved out of the kubelet's reach
 * and back), keeps the old data dir out of reach, and leaves a data dir etcd cannot use (a file
 * where member/ must be), with a marker, so the member crash-loops as on a node whose disk died.
 */
async function loseData(lab: Lab, host: string): Promise<void> {
  await pb.onHost(lab, host, `mv ${MANIFEST} /root/etcd.yaml.held-by-test`);
  await until(`the etcd container on ${host} is gone`, async () => (await containers(lab, host, 'etcd')).length === 0);
  await pb.onHost(
    lab,
    host,
    'mv /var/lib/etcd /root/lost-etcd && install -d -m 0700 /var/lib/etcd && echo lost > /var/lib/etcd/lost-by-test && echo garbage > /var/lib/etcd/member' +
      ` && mv /root/etcd.yaml.held-by-test ${MANIFEST}`,
  );
}

/** The manifest's flag lines other than membership (what operators set: quota, timeouts, ...), from wherever it is. */
async function operatorFlags(lab: Lab, host: string): Promise<string[]> {
  const text = await pb.onHost(lab, host, `cat ${MANIFEST} 2>/dev/null || cat ${PARKED}`);
  return text.split('\n').filter((l) => /^\s*- --/.test(l) && !/--(initial-cluster|initial-cluster-state|force-new-cluster)=?/.test(l));
}

for (const shape of shapesFor('static-pod')) {
  describe(`${shape.title} restore-all (127.0.N.151-153)`, function () {
    this.timeout(180_000);
    let lab: Lab;
    let clusterIdBefore: string;
    let manifest: { revision: number; live_keys: number };

    pb.seededLab('sp-restore-all', { shape, hosts: 3, firstOctet: 151 }, HOSTS, (s) => {
      lab = s.lab;
      clusterIdBefore = s.clusterIdBefore;
    });

    const shipped = shape.shipped;
    if (shipped) {
      it(`${shape.title} what ships is what ran: the lab inventory has the cluster settings of ${shipped}`, function () {
        const keys = pb.assertSameClusterSettings(lab.inventoryPath, shipped);
        for (const k of ['deployment', 'manifestFile', 'tls', 'dependents', 'bumpRevision']) {
          assert.ok(keys.includes(k), `${k} not compared: ${keys.join(', ')}`);
        }
      });
    }

    it(`${shape.title} restore-all: every member's data lost → all back from the backup, old data dirs kept, settings intact`, async function () {
      const b = await pb.apply(lab, 'backup.yml');
      assert.equal(b.code, 0, b.all);
      const dbs = readdirSync(path.join(lab.dir, 'backups')).filter((f) => /^lab-\d{8}T\d{6}Z\.db$/.test(f));
      assert.equal(dbs.length, 1);
      manifest = JSON.parse(readFileSync(path.join(lab.dir, 'backups', `${dbs[0] ?? ''}.manifest.json`), 'utf8')) as { revision: number; live_keys: number };
      const flagsBefore = await Promise.all(HOSTS.map((h) => operatorFlags(lab, h)));

      await Promise.all(HOSTS.map((h) => loseData(lab, h)));
      for (const h of HOSTS) assert.equal(await pb.healthy(pb.clientUrl(lab, h)), false, `${h} still serves`);

      const r = await pb.apply(lab, 'restore-all.yml');
      assert.equal(r.code, 0, r.all);

      const { clusterId, statuses } = await pb.assertCluster(lab, HOSTS);
      assert.notEqual(clusterId, clusterIdBefore, 'a restore with a new token makes a new cluster ID');
      // etcd 3.5: restored with --bump-revision, so every revision is past the snapshot's plus the bump.
      const bump = pb.bumpOf(shape);
      for (const s of statuses) assert.ok(s.revision >= manifest.revision + bump, `${s.endpoint}: revision ${s.revision} < ${manifest.revision} + ${bump}`);
      pb.assertRestoreCommands(r.out, shape, 3);
      for (const [i, h] of HOSTS.entries()) {
        await pb.assertData(lab, h, manifest.live_keys);
        const aside = await pb.asideDirs(lab, h);
        assert.equal(aside.length, 1, `${h}: ${aside.join(', ')}`);
        assert.equal((await pb.onHost(lab, h, `cat ${aside[0] ?? ''}/lost-by-test`)).trim(), 'lost', `${h}: the old data dir was not kept`);
        assert.deepEqual(await operatorFlags(lab, h), flagsBefore[i], `${h}: the manifest's other settings changed`);
        await pb.onHost(lab, h, `test -e ${MANIFEST} && test ! -e ${PARKED} && test -e /etc/kubernetes/manifests/kube-apiserver.yaml`);
      }

      assert.equal(pb.journal(lab, r).filter((e) => e.type === 'step.end' && e.result?.status === 'failed').length, 0);
    });

    if (pb.bumpOf(shape) > 0) {
      it(`${shape.title} after the restore, old revisions are compacted: a watch from the snapshot's revision is cancelled as "compacted"`, async function () {
        await pb.assertOldRevisionsCompacted(lab, shape, manifest.revision, `--cacert=${KUBEADM_TLS.ca} --cert=${KUBEADM_TLS.cert} --key=${KUBEADM_TLS.key}`);
      });
    }

    it(`${shape.title} runbook status and status.yml: every member healthy, one leader, one cluster ID`, async function () {
      await pb.assertStatusReport(lab);
      const run = await pb.apply(lab, 'status.yml');
      assert.equal(run.code, 0, run.all);
    });

    const rollback = 'restore-all -e allow_healthy=true (roll a serving cluster back): kube-apiserver stopped before, started after, no write in between';
    it(`${shape.title} ${rollback}`, async function () {
      // Here etcd serves until the restore stops it, so a kube-apiserver still running after its
      // stop step would get writes through: the stop must wait until its container is gone.
      const t0 = Date.now();
      const b = await pb.apply(lab, 'backup.yml');
      assert.equal(b.code, 0, b.all);
      await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'), 10, '/after-backup/');
      for (const h of HOSTS) await until(`kube-apiserver on ${h} writes`, async () => (await apiserverWrites(lab, h)).some((w) => w.at > t0));
      const etcdBefore = await Promise.all(HOSTS.map((h) => containers(lab, h, 'etcd')));

      const r = await pb.apply(lab, 'restore-all.yml', ['allow_healthy=true']);
      assert.equal(r.code, 0, r.all);

      // etcd's process had exited before its data dir was moved aside (task 3.2), on every member.
      for (const [i, h] of HOSTS.entries()) {
        const aside = stepStart(lab, r, 3, 2, h);
        for (const id of etcdBefore[i] ?? []) {
          const finished = await finishedAt(lab, h, id);
          assert.ok(finished > 0 && finished <= aside, `${h}: etcd container ${id.slice(0, 13)} finished ${finished}, data dir moved at ${aside}`);
        }
      }

      await pb.assertCluster(lab, HOSTS);
      for (const h of HOSTS) {
        await pb.assertCanaries(pb.clientUrl(lab, h));
        assert.equal((await pb.readPrefix(pb.clientUrl(lab, h), '/after-backup/')).size, 0, `${h}: keys written after the backup survived the restore`);
      }
      for (const h of HOSTS) {
        const stopped = playTimes(lab, r, 2, h).end;
        const started = playTimes(lab, r, 4, h).start;
        await until(`kube-apiserver on ${h} writes again`, async () => (await apiserverWrites(lab, h)).some((w) => w.at > started));
        const writes = await apiserverWrites(lab, h);
        assert.ok(
          writes.some((w) => w.at > t0 && w.at < stopped),
          `${h}: no kube-apiserver write before its stop`,
        );
        const between = writes.filter((w) => w.at > stopped && w.at < started);
        const window = `its stop (${new Date(stopped).toISOString()}) and start (${new Date(started).toISOString()})`;
        assert.deepEqual(between, [], `${h}: kube-apiserver writes between ${window}`);
      }
    });
  });

  describe(`${shape.title} force-new-cluster (127.0.N.161-163)`, function () {
    this.timeout(180_000);
    let lab: Lab;

    pb.seededLab('sp-force-new-cluster', { shape, hosts: 3, firstOctet: 161 }, HOSTS, (s) => {
      lab = s.lab;
    });

    const fnc = 'force-new-cluster -e survivor=etcd-1 after two members lost their data: all back, same cluster, data and settings intact';
    it(`${shape.title} ${fnc}`, async function () {
      const { clusterId: idBefore } = await pb.assertCluster(lab, HOSTS);
      const keysBefore = await pb.keyCount(pb.clientUrl(lab, 'etcd-1'));
      const survivorId = (await pb.status(pb.clientUrl(lab, 'etcd-1'))).memberId;
      const flagsBefore = await Promise.all(HOSTS.map((h) => operatorFlags(lab, h)));
      await Promise.all(['etcd-2', 'etcd-3'].map((h) => loseData(lab, h)));
      assert.equal(await pb.healthy(pb.clientUrl(lab, 'etcd-1')), false, 'etcd-1 alone has no quorum');

      const r = await pb.apply(lab, 'force-new-cluster.yml', ['survivor=etcd-1']);
      assert.equal(r.code, 0, r.all);

      const { clusterId } = await pb.assertCluster(lab, HOSTS);
      assert.equal(clusterId, idBefore, 'force-new-cluster keeps the cluster ID');
      assert.equal((await pb.status(pb.clientUrl(lab, 'etcd-1'))).memberId, survivorId, 'the survivor keeps its member ID');
      for (const [i, h] of HOSTS.entries()) {
        await pb.assertData(lab, h, keysBefore);
        assert.deepEqual(await operatorFlags(lab, h), flagsBefore[i], `${h}: the manifest's other settings changed`);
        // The running etcd has no --force-new-cluster, and neither has its manifest.
        const pid = await containerPid(lab, h, 'etcd');
        assert.ok(pid > 0, `${h}: no running etcd container`);
        assert.doesNotMatch(await pb.onHost(lab, h, `tr '\\0' ' ' < /proc/${pid}/cmdline; cat ${MANIFEST}`), /force-new-cluster/);
      }
      const [copy] = await pb.asideDirs(lab, 'etcd-1');
      assert.ok(copy, 'no copy of the survivor data dir');
      await pb.onHost(lab, 'etcd-1', `test -f ${copy}/member/snap/db`);
      for (const h of ['etcd-2', 'etcd-3']) {
        const aside = await pb.asideDirs(lab, h);
        assert.equal(aside.length, 1, `${h}: ${aside.join(', ')}`);
        assert.equal((await pb.onHost(lab, h, `cat ${aside[0] ?? ''}/lost-by-test`)).trim(), 'lost');
        assert.match(await pb.onHost(lab, h, `cat ${MANIFEST}`), /^ {4}- --initial-cluster-state=existing$/m);
        await pb.onHost(lab, h, 'ls /etc/kubernetes/runbook-backups/etcd.yaml.bak-*');
      }
    });
  });

  describe(`${shape.title} replace-member (127.0.N.171-174)`, function () {
    this.timeout(180_000);
    const DIR = pb.labDir(`sp-replace-member-${shape.id}`);
    const NEW = ['etcd-1', 'etcd-2', 'etcd-4'];
    let lab: Lab;
    let inventory: string;

    before(async function () {
      // etcd-4 is a prepared control-plane node: its etcd manifest waits in the parked dir.
      lab = await pb.freshLab('sp-replace-member', { shape, hosts: 4, members: 3, firstOctet: 171 });
      await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
      inventory = pb.writeInventory(lab, 'inventory-replace.yml', (t) => {
        const edited = t
          .replace('  etcd:\n    hosts: [etcd-1, etcd-2, etcd-3]', '  etcd:\n    hosts: [etcd-1, etcd-2, etcd-4]')
          .replace(/ {2}spare:\n {4}hosts: \[etcd-4\]/, '  retired:\n    hosts: [etcd-3]');
        assert.match(edited, /etcd:\n {4}hosts: \[etcd-1, etcd-2, etcd-4\]/);
        assert.match(edited, /retired:\n {4}hosts: \[etcd-3\]/);
        return edited;
      });
    });

    after(async function () {
      await labDown(DIR);
    });

    it(`${shape.title} replace-member swaps etcd-3 for the new node etcd-4; the other members are not restarted`, async function () {
      const { clusterId: idBefore } = await pb.assertCluster(lab, HOSTS);
      const keysBefore = await pb.keyCount(pb.clientUrl(lab, 'etcd-1'));
      const oldId = (await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).find((m) => m.name === 'etcd-3')?.id;
      const running = await Promise.all(['etcd-1', 'etcd-2'].map((h) => containers(lab, h, 'etcd')));
      const flagsBefore = await Promise.all(['etcd-1', 'etcd-2'].map((h) => operatorFlags(lab, h)));

      const r = await pb.apply(lab, 'replace-member.yml', ['old=etcd-3', 'new=etcd-4', 'old_host=etcd-3'], inventory);
      assert.equal(r.code, 0, r.all);

      const { clusterId } = await pb.assertCluster(lab, NEW);
      assert.equal(clusterId, idBefore);
      assert.ok(oldId && !(await pb.memberList(pb.clientUrl(lab, 'etcd-4'))).some((m) => m.id === oldId), 'the old member ID is still listed');
      for (const h of NEW) {
        await pb.assertData(lab, h, keysBefore);
      }
      // Same containers on etcd-1 and etcd-2: no manifest edit restarted them; their settings unchanged.
      assert.deepEqual(await Promise.all(['etcd-1', 'etcd-2'].map((h) => containers(lab, h, 'etcd'))), running);
      assert.deepEqual(await Promise.all(['etcd-1', 'etcd-2'].map((h) => operatorFlags(lab, h))), flagsBefore);
      // The new member runs from its (formerly parked) manifest, joined as "existing".
      const m4 = await pb.onHost(lab, 'etcd-4', `cat ${MANIFEST}`);
      assert.match(m4, /^ {4}- --initial-cluster-state=existing$/m);
      assert.match(m4, /^ {4}- --initial-cluster=.*etcd-4=/m);
      // The old machine: no etcd container left, its manifest parked, its data dir moved aside (kept).
      assert.deepEqual(await containers(lab, 'etcd-3', 'etcd'), []);
      await pb.onHost(lab, 'etcd-3', `test ! -e ${MANIFEST} && test -e ${PARKED}`);
      const aside = await pb.asideDirs(lab, 'etcd-3');
      assert.equal(aside.length, 1, aside.join(', '));
      await pb.onHost(lab, 'etcd-3', `test -f ${aside[0] ?? ''}/member/snap/db && test ! -e /var/lib/etcd`);
    });
  });

  describe(`${shape.title} compact-defrag (127.0.N.181-183)`, function () {
    this.timeout(180_000);
    const QUOTA = 16 * 1024 * 1024;
    let lab: Lab;
    let eps: string[];

    pb.seededLab('sp-compact-defrag', { shape, hosts: 3, firstOctet: 181, quotaBytes: QUOTA }, HOSTS, (s) => {
      lab = s.lab;
      eps = HOSTS.map((h) => pb.clientUrl(lab, h));
    });

    it(`${shape.title} compact-defrag after heavy churn: compacted once, every DB shrinks, data intact, no pod restarted`, async function () {
      const ep = eps[0] ?? '';
      await pb.churn(ep, 8);
      const before: pb.MemberStatus[] = await Promise.all(eps.map((e) => pb.status(e)));
      for (const s of before) assert.ok(s.dbSize > 5 * 1024 * 1024, `${s.endpoint}: DB only ${s.dbSize} bytes after churn`);
      const revision = Math.max(...before.map((s) => s.revision));
      const pods = await Promise.all(HOSTS.map((h) => containers(lab, h, 'etcd')));

      const r = await pb.apply(lab, 'compact-defrag.yml');
      assert.equal(r.code, 0, r.all);

      const after = await Promise.all(eps.map((e) => pb.status(e)));
      for (const [i, s] of after.entries()) assert.ok(s.dbSize < (before[i]?.dbSize ?? 0) / 2, `${s.endpoint}: DB ${before[i]?.dbSize} → ${s.dbSize} bytes`);
      await pb.assertCluster(lab, HOSTS);
      for (const e of eps) {
        await pb.assertCanaries(e);
        assert.ok(
          [...(await pb.readPrefix(e, '/churn/')).values()].every((v) => v.startsWith('7:')),
          `${e}: churn keys lost their last value`,
        );
      }
      // kube-apiserver keeps writing meanwhile, so the compaction is at the revision the run read, not older.
      const compacted = pb.journal(lab, r).find((e) => e.type === 'step.end' && e.stepId?.startsWith('1.2@'))?.result?.value;
      assert.equal(typeof compacted, 'number');
      assert.ok((compacted as number) >= revision, `compacted at ${String(compacted)}, before the run the revision was ${revision}`);
      await assert.rejects(pb.rpc(ep, 'kv/range', { key: Buffer.from('/churn/0').toString('base64'), revision: (compacted as number) - 1 }), /compacted/);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => containers(lab, h, 'etcd'))), pods, 'an etcd pod was restarted');
    });

    it(`${shape.title} compact-defrag with a NOSPACE alarm: disarmed, writes work again (kube-apiserver's too), data intact`, async function () {
      const ep = eps[0] ?? '';
      await pb.fillUntilNospace(ep);
      assert.ok((await pb.alarms(ep)).includes('NOSPACE'));

      const r = await pb.apply(lab, 'compact-defrag.yml');
      assert.equal(r.code, 0, r.all);
      assert.deepEqual(await pb.alarms(ep), []);
      const t = Date.now();
      await pb.put(ep, '/after-nospace', 'written');
      for (const h of HOSTS) await until(`kube-apiserver on ${h} writes again`, async () => (await apiserverWrites(lab, h)).some((w) => w.at > t));
      await pb.assertCluster(lab, HOSTS);
      for (const e of eps) {
        await pb.assertCanaries(e, pb.CANARIES);
        assert.equal((await pb.readPrefix(e, '/after-nospace')).get('/after-nospace'), 'written');
      }
    });
  });
}

/** Stop a member's etcd as an interrupted earlier run leaves it: manifest parked, container gone. */
async function park(lab: Lab, host: string): Promise<void> {
  await pb.onHost(lab, host, `mkdir -p ${path.posix.dirname(PARKED)} && mv ${MANIFEST} ${PARKED}`);
  await until(`the etcd container on ${host} is gone`, async () => (await containers(lab, host, 'etcd')).length === 0);
}

for (const shape of shapesFor('static-pod-more')) {
  describe(`${shape.title} restore-all-no-backup (127.0.N.156-158)`, function () {
    this.timeout(180_000);
    const LATE = 40;
    let lab: Lab;

    pb.seededLab('sp-restore-no-backup', { shape, hosts: 3, firstOctet: 156 }, HOSTS, (s) => {
      lab = s.lab;
    });

    it(`${shape.title} restore-all-no-backup: every member restored from the member db with the highest revision`, async function () {
      // etcd-1 stops first and misses the last writes; then quorum is lost for good.
      await park(lab, 'etcd-1');
      const ep2 = pb.clientUrl(lab, 'etcd-2');
      await pb.writeCanaries(ep2, LATE, '/late/');
      const revision = (await pb.status(ep2)).revision;
      await Promise.all(['etcd-2', 'etcd-3'].map((h) => park(lab, h)));

      const r = await pb.apply(lab, 'restore-all-no-backup.yml');
      assert.equal(r.code, 0, r.all);
      const restore = new RegExp(`\\$ ${pb.snapshotTool(shape)} snapshot restore \\S+ --name=etcd-\\d .*--skip-hash-check`, 'g');
      assert.equal((r.out.match(restore) ?? []).length, 3, 'every member restored with --skip-hash-check');
      const { statuses } = await pb.assertCluster(lab, HOSTS);
      for (const s of statuses) assert.ok(s.revision >= revision, `${s.endpoint}: revision ${s.revision} < ${revision}`);
      for (const h of HOSTS) {
        await pb.assertCanaries(pb.clientUrl(lab, h));
        await pb.assertCanaries(pb.clientUrl(lab, h), LATE, '/late/');
        assert.equal((await pb.asideDirs(lab, h)).length, 1, h);
        await pb.onHost(lab, h, `test -e ${MANIFEST} && test ! -e ${PARKED}`);
      }
    });
  });
}
