// Certificate rotation under live traffic on the production shape (lab: 3 members, etcd 3.5 + TLS,
// systemd, 127.0.LAB_NET.236-238): client writes (unique keys), reads and a watch run through
// every member's client URL while certs.yml rotates each member's certificates and restarts it.
// The clients keep the lab's client certificate, from the same CA: a rotation must not lock them
// out. Afterwards every acknowledged write is on every member with its value, no read returned
// another value, the watch saw the writes, and every member serves a new certificate. The longest
// write stall is printed (measured, not asserted: speed belongs in the bench).
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { labDown, type Lab } from '../lab/lab.js';
import { SHAPE_A } from '../lab/shapes.js';
import { missingOn, startTraffic, type TrafficTls } from '../lab/traffic.js';
import { address, apply, assertCanaries, assertCluster, clientUrl, freshLab, labDir, writeCanaries, writeInventory } from './playbook-helpers.js';
import { servedSerial } from './certs-helpers.js';

const NAME = 'traffic-certs';
const DIR = labDir(`${NAME}-${SHAPE_A.id}`);
const MEMBERS = ['etcd-1', 'etcd-2', 'etcd-3'];

describe(`[traffic] ${SHAPE_A.title} certificate rotation under live client traffic (lab, 127.0.0.236-238)`, function () {
  this.timeout(300_000);
  let lab: Lab;

  after(async () => {
    await labDown(DIR);
  });

  it('[traffic] certs.yml (every member rotated and restarted in turn): 0 acknowledged writes lost, reads consistent, the watch keeps up', async () => {
    lab = await freshLab(NAME, { hosts: 3, firstOctet: 236, shape: SHAPE_A });
    await writeCanaries(clientUrl(lab, 'etcd-1'));
    const { clusterId } = await assertCluster(lab, MEMBERS);
    const inv = writeInventory(lab, 'inventory-traffic-certs.yml', (t) => `${t}\nsecrets:\n  etcd_ca_key: {file: ${path.join(lab.dir, 'pki', 'ca.key')}}\n`);
    assert.ok(lab.tls);
    const tls: TrafficTls = { ca: lab.tls.ca, cert: lab.tls.cert, key: lab.tls.key };
    const before = await Promise.all(MEMBERS.map((h) => servedSerial(lab, address(lab, h), 2379)));

    const prefix = '/traffic/certs/';
    const traffic = startTraffic({ endpoints: MEMBERS.map((h) => clientUrl(lab, h)), tls, prefix, ratePerSec: 40, maxMs: 150_000 });
    await new Promise((res) => setTimeout(res, 1000)); // traffic before the playbook starts, too
    const r = await apply(lab, 'certs.yml', [], inv);
    const report = await traffic.stop();
    console.log(
      `      [traffic] certs: ${report.acked.length} acknowledged of ${report.attempts} writes (${report.unacked} unacknowledged), ${report.reads} reads, ` +
        `watch ${report.watch.events} events (${report.watch.restarts} restarts); ` +
        `longest write stall ${report.longestStallMs} ms, ${report.unavailableMs} ms without writes`,
    );
    assert.equal(r.code, 0, r.all);

    assert.ok(report.acked.length >= 20, `too little traffic to prove anything: ${report.acked.length} acknowledged writes`);
    assert.deepEqual(report.staleReads, [], 'a read returned a value other than the acknowledged one');
    for (const h of MEMBERS) {
      // A follower applies the last entries a moment after the leader acknowledged them.
      let missing = await missingOn(clientUrl(lab, h), report, prefix, tls);
      for (let i = 0; i < 30 && missing.length > 0; i++) {
        await new Promise((res) => setTimeout(res, 100));
        missing = await missingOn(clientUrl(lab, h), report, prefix, tls);
      }
      assert.deepEqual(missing.slice(0, 5), [], `${h} lost ${missing.length} acknowledged write(s)`);
      await assertCanaries(clientUrl(lab, h));
    }
    assert.ok(report.watch.events >= report.acked.length, `the watch saw ${report.watch.events} events for ${report.acked.length} acknowledged writes`);
    assert.equal((await assertCluster(lab, MEMBERS)).clusterId, clusterId);
    const after = await Promise.all(MEMBERS.map((h) => servedSerial(lab, address(lab, h), 2379)));
    MEMBERS.forEach((h, i) => assert.notEqual(after[i], before[i], `${h} still serves its old certificate`));
  });
});
