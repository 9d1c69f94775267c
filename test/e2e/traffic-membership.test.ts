// Membership changes under live client traffic on the production shape (lab: 4 hosts, 3 members,
// etcd 3.5 + TLS, systemd): add-member grows the cluster to 4 while clients write, read and watch,
// remove-member shrinks it back to 3. Afterwards every acknowledged write is on every member with its
// value (the new member included), no read returned another value, the watch saw the writes; the
// longest write stall is printed (the bench's write-stall table has these playbooks too).
import { labDown, type Lab } from '../lab/lab.js';
import { SHAPE_A } from '../lab/shapes.js';
import { assertCanaries, clientUrl, freshLab, labDir, memberList, writeCanaries, writeInventory } from './playbook-helpers.js';
import { playbookUnderTraffic } from './traffic-helpers.js';

const NAME = 'traffic-membership';
const DIR = labDir(`${NAME}-${SHAPE_A.id}`);
const THREE = ['etcd-1', 'etcd-2', 'etcd-3'];
const FOUR = [...THREE, 'etcd-4'];

describe(`[traffic] ${SHAPE_A.title} membership changes under live client traffic (lab, 4 hosts)`, function () {
  this.timeout(300_000);
  let lab: Lab;
  let grown: string;

  before(async () => {
    lab = await freshLab(NAME, { hosts: 4, members: 3, firstOctet: 236, shape: SHAPE_A });
    await writeCanaries(clientUrl(lab, 'etcd-1'));
    // The inventory at add-member's end state: etcd-4 in group etcd.
    grown = writeInventory(lab, 'inventory-traffic-grown.yml', (t) =>
      t.replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-3, etcd-4]').replace(/ {2}spare:\n {4}hosts: \[etcd-4\]\n/, ''),
    );
  });

  after(async () => {
    await labDown(DIR);
  });

  it('[traffic] add-member (etcd-4 joins as a learner, promoted): 0 acknowledged writes lost, the new member holds every one', async () => {
    await playbookUnderTraffic(lab, { what: 'add-member', playbook: 'add-member.yml', extra: ['new=etcd-4'], inventory: grown, members: THREE, after: FOUR });
    for (const h of FOUR) await assertCanaries(clientUrl(lab, h));
  });

  it('[traffic] remove-member (etcd-4 leaves): 0 acknowledged writes lost on the remaining members', async () => {
    // Alone, this test grows the cluster first (without traffic): it shrinks what add-member grew.
    if (!(await memberList(clientUrl(lab, 'etcd-1'))).some((m) => m.name === 'etcd-4')) {
      await playbookUnderTraffic(lab, { what: 'add-member', playbook: 'add-member.yml', extra: ['new=etcd-4'], inventory: grown, members: THREE, after: FOUR });
    }
    // Clients know all four members; writes to etcd-4 fail once it is gone and move on to the next.
    await playbookUnderTraffic(lab, {
      what: 'remove-member',
      playbook: 'remove-member.yml',
      extra: ['name=etcd-4', 'old_host=etcd-4'],
      members: FOUR,
      after: THREE,
    });
    for (const h of THREE) await assertCanaries(clientUrl(lab, h));
  });
});
