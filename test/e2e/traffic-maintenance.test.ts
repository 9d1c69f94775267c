// Maintenance under live traffic on the production shape (lab: 4 hosts, 3 members, etcd 3.5 + TLS,
// systemd; client certificates for the traffic too): client writes (unique keys),
// reads and a watch run while compact-defrag and then replace-member run. Afterwards every
// acknowledged write is on every member with its value, no read returned another value, and the
// watch saw the writes. The longest write stall and the time without writes are printed (speed
// belongs in the bench: measured here, not asserted).
import assert from 'node:assert/strict';
import { labDown, type Lab } from '../lab/lab.js';
import { SHAPE_A } from '../lab/shapes.js';
import { startTraffic } from '../lab/traffic.js';
import { apply, assertCanaries, assertCluster, clientUrl, freshLab, labDir, onHost, writeCanaries, writeInventory } from './playbook-helpers.js';
import { assertNoLoss, summary, trafficTls as tls } from './traffic-helpers.js';

const NAME = 'traffic-maintenance';
const DIR = labDir(`${NAME}-${SHAPE_A.id}`);

describe(`[traffic] ${SHAPE_A.title} maintenance under live client traffic (lab, 4 hosts)`, function () {
  this.timeout(300_000);
  let lab: Lab;

  before(async () => {
    lab = await freshLab(NAME, { hosts: 4, members: 3, firstOctet: 221, shape: SHAPE_A });
    await writeCanaries(clientUrl(lab, 'etcd-1'));
  });

  after(async () => {
    await labDown(DIR);
  });

  it('[traffic] compact-defrag (followers first, leader last): 0 acknowledged writes lost, reads consistent, the watch keeps up', async () => {
    const members = ['etcd-1', 'etcd-2', 'etcd-3'];
    const prefix = '/traffic/defrag/';
    const traffic = startTraffic({ endpoints: members.map((h) => clientUrl(lab, h)), tls: tls(lab), prefix, ratePerSec: 40, maxMs: 120_000 });
    await new Promise((res) => setTimeout(res, 1000)); // traffic before the playbook starts, too
    const r = await apply(lab, 'compact-defrag.yml');
    const report = await traffic.stop();
    summary('compact-defrag', report);
    assert.equal(r.code, 0, r.all);
    await assertNoLoss(lab, members, report, prefix, 'compact-defrag');
    await assertCluster(lab, members);
  });

  it('[traffic] replace-member (etcd-3 → etcd-4): 0 acknowledged writes lost on the new membership', async () => {
    const inventory = writeInventory(lab, 'inventory-traffic-replace.yml', (t) =>
      t
        .replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-4]')
        .replace(/ {2}spare:\n {4}hosts: \[etcd-4\]/, '  retired:\n    hosts: [etcd-3]'),
    );
    const prefix = '/traffic/replace/';
    // Clients know the old members; writes to etcd-3 fail once it is removed and go to the next.
    const traffic = startTraffic({
      endpoints: ['etcd-1', 'etcd-2', 'etcd-3'].map((h) => clientUrl(lab, h)),
      tls: tls(lab),
      prefix,
      ratePerSec: 40,
      maxMs: 150_000,
    });
    await new Promise((res) => setTimeout(res, 1000));
    const r = await apply(lab, 'replace-member.yml', ['old=etcd-3', 'new=etcd-4', 'old_host=etcd-3'], inventory);
    const report = await traffic.stop();
    summary('replace-member', report);
    assert.equal(r.code, 0, r.all);
    const now = ['etcd-1', 'etcd-2', 'etcd-4'];
    await assertNoLoss(lab, now, report, prefix, 'replace-member');
    await assertCluster(lab, now);
    for (const h of now) await assertCanaries(clientUrl(lab, h));
  });

  it('[traffic] force-new-cluster (survivor etcd-1, etcd-2 and etcd-4 destroyed): every write acknowledged by the survivor is on every re-added member', async () => {
    const members = ['etcd-1', 'etcd-2', 'etcd-4'];
    const inventory = writeInventory(lab, 'inventory-traffic-fnc.yml', (t) =>
      t
        .replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-4]')
        .replace(/ {2}spare:\n {4}hosts: \[etcd-4\]/, '  retired:\n    hosts: [etcd-3]'),
    );
    // The disaster: two of three members gone (quorum lost), their machines rebuilt empty.
    await Promise.all(
      ['etcd-2', 'etcd-4'].map((h) =>
        onHost(lab, h, 'systemctl stop etcd && mv /var/lib/etcd /root/lost-etcd && install -d -m 0700 -o etcd -g etcd /var/lib/etcd'),
      ),
    );
    const prefix = '/traffic/fnc/';
    // Clients keep writing to the survivor: nothing is acknowledged until it serves alone, then every
    // acknowledged write must reach each member re-added after it.
    const traffic = startTraffic({ endpoints: [clientUrl(lab, 'etcd-1')], tls: tls(lab), prefix, ratePerSec: 40, maxMs: 240_000, requestTimeoutMs: 1000 });
    const r = await apply(lab, 'force-new-cluster.yml', ['survivor=etcd-1'], inventory);
    const report = await traffic.stop();
    summary('force-new-cluster', report);
    assert.equal(r.code, 0, r.all);
    await assertNoLoss(lab, members, report, prefix, 'force-new-cluster');
    await assertCluster(lab, members);
    for (const h of members) await assertCanaries(clientUrl(lab, h));
  });
});
