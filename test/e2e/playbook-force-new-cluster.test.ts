// e2e: force-new-cluster.yml on a real 3-member lab per shape (127.0.0.61-63): refused while the
// other members live; after two of three members were destroyed, the survivor becomes a
// one-member cluster and the other two rejoin (learner first) with the data intact.
import assert from 'node:assert/strict';
import { shapesFor } from '../lab/shapes.js';
import {
  apply,
  asideDirs,
  assertCluster,
  assertData,
  assertOperatorSettings,
  clientUrl,
  fingerprints,
  healthy,
  onHost,
  seededLab,
  status,
} from './playbook-helpers.js';

const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];

for (const shape of shapesFor('force-new-cluster'))
  describe(`${shape.title} playbooks on a real cluster: force-new-cluster (127.0.0.61-63)`, function () {
    this.timeout(90_000);

    const seeded = seededLab('force-new-cluster', { shape, hosts: 3, firstOctet: 61 }, HOSTS);

    it('refuses without a survivor, and while the other members are alive; nothing changes', async function () {
      const before = await fingerprints(seeded.lab, HOSTS);
      const none = await apply(seeded.lab, 'force-new-cluster.yml');
      // A missing survivor is bad input: refused when the plan is built (exit 2), before any host is asked.
      assert.equal(none.code, 2, none.all);
      assert.match(none.all, /"survivor" is required by play "Preflight" and was not given[\s\S]*pass -e survivor=/);

      const alive = await apply(seeded.lab, 'force-new-cluster.yml', ['survivor=etcd-1']);
      assert.equal(alive.code, 1, alive.all);
      const s = seeded.lab.scheme;
      const others = `${s}://127\\.0\\.\\d+\\.62:2379, ${s}://127\\.0\\.\\d+\\.63:2379`;
      assert.match(alive.all, new RegExp(`refused: ${others} still running; force-new-cluster would split the cluster`));
      assert.deepEqual(await fingerprints(seeded.lab, HOSTS), before, 'a host changed');
      await assertCluster(seeded.lab, HOSTS);
    });

    it('-e survivor=etcd-1 after two of three members were destroyed: all three back, same cluster, data intact', async function () {
      const survivorId = (await status(clientUrl(seeded.lab, 'etcd-1'))).memberId;
      // Disaster: etcd-2 and etcd-3 lose their data (moved out of reach); the rebuilt machines have
      // a fresh, empty /var/lib/etcd again (a marker shows it is moved aside, not deleted).
      await Promise.all(
        ['etcd-2', 'etcd-3'].map((h) =>
          onHost(
            seeded.lab,
            h,
            'systemctl stop etcd && mv /var/lib/etcd /root/lost-etcd && install -d -m 0700 -o etcd -g etcd /var/lib/etcd && echo rebuilt > /var/lib/etcd/rebuilt-by-test',
          ),
        ),
      );
      assert.equal(await healthy(clientUrl(seeded.lab, 'etcd-1')), false, 'etcd-1 alone has no quorum');

      const r = await apply(seeded.lab, 'force-new-cluster.yml', ['survivor=etcd-1']);
      assert.equal(r.code, 0, r.all);

      const { clusterId } = await assertCluster(seeded.lab, HOSTS);
      assert.equal(clusterId, seeded.clusterIdBefore, 'force-new-cluster keeps the cluster ID');
      assert.equal((await status(clientUrl(seeded.lab, 'etcd-1'))).memberId, survivorId, 'the survivor keeps its member ID');
      for (const h of HOSTS) {
        await assertData(seeded.lab, h, seeded.keysBefore);
      }
      // The survivor's data before --force-new-cluster is kept; it runs without the flag now.
      const [copy] = await asideDirs(seeded.lab, 'etcd-1');
      assert.ok(copy, 'no copy of the survivor data dir');
      await onHost(seeded.lab, 'etcd-1', `test -f ${copy}/member/snap/db`);
      const env = await onHost(seeded.lab, 'etcd-1', 'tr "\\0" "\\n" < /proc/$(systemctl show -p MainPID --value etcd)/environ; cat /etc/etcd/etcd.conf');
      assert.doesNotMatch(env, /FORCE_NEW_CLUSTER/);
      for (const h of ['etcd-2', 'etcd-3']) {
        const aside = await asideDirs(seeded.lab, h);
        assert.equal(aside.length, 1, `${h}: ${aside.join(', ')}`);
        assert.equal((await onHost(seeded.lab, h, `cat ${aside[0] ?? ''}/rebuilt-by-test`)).trim(), 'rebuilt');
        assert.match(await onHost(seeded.lab, h, 'cat /etc/etcd/etcd.conf'), /^ETCD_INITIAL_CLUSTER_STATE=existing$/m);
      }
      // The rejoined members' configs were edited, not rewritten: the operator's settings are all still there.
      for (const h of HOSTS) await assertOperatorSettings(seeded.lab, h);
    });
  });
