// e2e: replace-member.yml on a real lab of 4 hosts, 3 members, per shape (127.0.0.71-74): refused
// when removing the old member would lose quorum; then etcd-3 is swapped for the new host etcd-4;
// then etcd-4 is replaced by a rebuilt machine of the same name.
import assert from 'node:assert/strict';
import { labDown, type Lab } from '../lab/lab.js';
import { shapesFor } from '../lab/shapes.js';
import * as pb from './playbook-helpers.js';

const OLD = ['etcd-1', 'etcd-2', 'etcd-3'];
const NEW = ['etcd-1', 'etcd-2', 'etcd-4'];
// No old_host: the old machine is the inventory host named like the old member (issue 14 item 6).
const SWAP = ['old=etcd-3', 'new=etcd-4'];

for (const shape of shapesFor('replace-member'))
  describe(`${shape.title} playbooks on a real cluster: replace-member (127.0.0.71-74)`, function () {
    this.timeout(90_000);
    const DIR = pb.labDir(`replace-member-${shape.id}`);
    let lab: Lab;
    let inventory: string;
    let clusterIdBefore: string;
    let keysBefore: number;

    before(async function () {
      lab = await pb.freshLab('replace-member', { shape, hosts: 4, members: 3, firstOctet: 71 });
      await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
      keysBefore = await pb.keyCount(pb.clientUrl(lab, 'etcd-1'));
      clusterIdBefore = (await pb.assertCluster(lab, OLD)).clusterId;
      // The end state, as the operator writes it: etcd-4 in group etcd, etcd-3 kept under hosts: in a group of its own.
      inventory = pb.writeInventory(lab, 'inventory-replace.yml', (t) => {
        const edited = t
          .replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-4]')
          .replace(/ {2}spare:\n {4}hosts: \[etcd-4\]/, '  retired:\n    hosts: [etcd-3]');
        assert.notEqual(edited, t);
        assert.match(edited, /retired:\n {4}hosts: \[etcd-3\]/);
        return edited;
      });
    });

    after(async function () {
      await labDown(DIR);
    });

    it('refuses to replace etcd-3 while etcd-2 is down (quorum would be lost); nothing changes', async function () {
      await pb.onHost(lab, 'etcd-2', 'systemctl stop etcd');
      const hosts = ['etcd-1', 'etcd-2', 'etcd-3', 'etcd-4'];
      const before = await pb.fingerprints(lab, hosts);

      // runbook status sees it too: etcd-2 unhealthy, exit 1.
      const st = await pb.runbook(['status', '-i', lab.inventoryPath, '--format', 'json']);
      assert.equal(st.code, 1, st.all);
      const rows = (JSON.parse(st.out) as { members: { name: string; health: string; revision: number | null }[] }).members;
      assert.deepEqual(
        rows.map((m) => [m.name, m.health]),
        [
          ['etcd-1', 'healthy'],
          ['etcd-2', 'unhealthy'],
          ['etcd-3', 'healthy'],
        ],
      );
      assert.equal(rows[1]?.revision, null);

      const r = await pb.apply(lab, 'replace-member.yml', SWAP, inventory);
      await pb.assertRefusedUntouched(lab, r, /refused: removing etcd-3 leaves 1 healthy of 2 members, but quorum would be 2/, {
        fingerprints: before,
        members: OLD,
      });

      await pb.onHost(lab, 'etcd-2', 'systemctl start etcd');
      await pb.assertCluster(lab, OLD);
    });

    it('swaps etcd-3 for the new host etcd-4: members etcd-1, etcd-2, etcd-4, data intact, etcd-3 retired', async function () {
      const oldId = (await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).find((m) => m.name === 'etcd-3')?.id;
      const r = await pb.apply(lab, 'replace-member.yml', SWAP, inventory);
      assert.equal(r.code, 0, r.all);

      const { clusterId } = await pb.assertCluster(lab, NEW);
      assert.equal(clusterId, clusterIdBefore);
      assert.ok(oldId && !(await pb.memberList(pb.clientUrl(lab, 'etcd-4'))).some((m) => m.id === oldId), 'the old member ID is still listed');
      for (const h of NEW) {
        await pb.assertData(lab, h, keysBefore);
      }
      // The old machine: etcd stopped, its data dir moved aside (kept).
      assert.equal((await pb.onHost(lab, 'etcd-3', 'systemctl is-active etcd || true')).trim(), 'inactive');
      const aside = await pb.asideDirs(lab, 'etcd-3');
      assert.equal(aside.length, 1, aside.join(', '));
      await pb.onHost(lab, 'etcd-3', `test -f ${aside[0] ?? ''}/member/snap/db && test ! -e /var/lib/etcd`);
      // Later restarts agree on the membership: the others' configs name the new member set.
      const ic = `ETCD_INITIAL_CLUSTER=${NEW.map((h) => `${h}=${pb.peerUrl(lab, h)}`).join(',')}`;
      for (const h of ['etcd-1', 'etcd-2']) {
        const conf = await pb.onHost(lab, h, 'cat /etc/etcd/etcd.conf; ls /etc/etcd');
        assert.ok(conf.split('\n').includes(ic), `${h}:\n${conf}`);
        assert.match(conf, /^ETCD_INITIAL_CLUSTER_STATE=existing$/m);
        assert.match(conf, /^etcd\.conf\.bak-\d{8}T\d{6}Z$/m, 'the previous config is kept');
      }
      assert.match(await pb.onHost(lab, 'etcd-4', 'cat /etc/etcd/etcd.conf'), /^ETCD_INITIAL_CLUSTER_STATE=existing$/m);
      // The members that stayed keep every operator setting (only membership keys were edited).
      for (const h of ['etcd-1', 'etcd-2']) await pb.assertOperatorSettings(lab, h);
    });

    it('replaces etcd-4 by a rebuilt machine of the same name (its disk lost): a new member ID, same cluster, data intact', async function () {
      const before = await pb.memberList(pb.clientUrl(lab, 'etcd-1'));
      const oldId = before.find((m) => m.name === 'etcd-4')?.id;
      assert.ok(oldId, JSON.stringify(before));
      // The machine dies and comes back rebuilt: etcd stopped, the data dir gone (kept here, outside
      // etcd's reach, as the test's stand-in for a lost disk).
      await pb.onHost(lab, 'etcd-4', 'systemctl stop etcd && mv /var/lib/etcd /root/lost-disk');
      const r = await pb.apply(lab, 'replace-member.yml', ['old=etcd-4', 'new=etcd-4'], inventory);
      assert.equal(r.code, 0, r.all);

      const { clusterId } = await pb.assertCluster(lab, NEW);
      assert.equal(clusterId, clusterIdBefore);
      const after = await pb.memberList(pb.clientUrl(lab, 'etcd-1'));
      const newId = after.find((m) => m.name === 'etcd-4')?.id;
      assert.ok(newId && newId !== oldId, `etcd-4 has a new member ID (old ${oldId}, now ${String(newId)})`);
      assert.equal(after.length, 3);
      for (const h of NEW) {
        await pb.assertData(lab, h, keysBefore);
      }
    });
  });
