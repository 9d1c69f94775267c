// e2e: restore-all-no-backup.yml on a real 3-member lab per shape (127.0.0.51-53): no snapshot
// exists, the members' own dbs differ in revision, and the newest one must win (restored with
// --skip-hash-check, a raw db has no snapshot hash).
import assert from 'node:assert/strict';
import { labDown, type Lab } from '../lab/lab.js';
import { shapesFor, type Shape } from '../lab/shapes.js';
import {
  apply,
  asideDirs,
  assertOperatorSettings,
  assertCanaries,
  assertCluster,
  CANARIES,
  clientUrl,
  fingerprints,
  freshLab,
  journal,
  keyCount,
  labDir,
  onHost,
  snapshotTool,
  status,
  writeCanaries,
} from './playbook-helpers.js';

const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];
const LATE = 40;

async function dbRevision(shape: Shape, lab: Lab, host: string, db = '/var/lib/etcd/member/snap/db'): Promise<number> {
  return (JSON.parse(await onHost(lab, host, `${snapshotTool(shape)} --write-out=json snapshot status ${db}`)) as { revision: number }).revision;
}

for (const shape of shapesFor('restore-no-backup'))
  describe(`${shape.title} playbooks on a real cluster: restore-all-no-backup (127.0.0.51-53)`, function () {
    this.timeout(90_000);
    const DIR = labDir(`restore-no-backup-${shape.id}`);
    let lab: Lab;
    let clusterIdBefore: string;

    before(async function () {
      lab = await freshLab('restore-no-backup', { shape, hosts: 3, firstOctet: 51 });
      await writeCanaries(clientUrl(lab, 'etcd-1'));
      clusterIdBefore = (await assertCluster(lab, HOSTS)).clusterId;
    });

    after(async function () {
      await labDown(DIR);
    });

    it('refuses while a quorum still serves, and changes nothing', async function () {
      const before = await fingerprints(lab, HOSTS);
      const r = await apply(lab, 'restore-all-no-backup.yml');
      assert.equal(r.code, 1, r.all);
      assert.match(r.all, /refused: 3 of 3 members are healthy \(quorum 2\)/);
      assert.deepEqual(await fingerprints(lab, HOSTS), before);
      await assertCluster(lab, HOSTS);
    });

    it('restores every member from the member db with the highest revision (--skip-hash-check)', async function () {
      // etcd-1 stops first and misses the last writes; then quorum is lost for good.
      await onHost(lab, 'etcd-1', 'systemctl stop etcd');
      const ep2 = clientUrl(lab, 'etcd-2');
      await writeCanaries(ep2, LATE, '/late/');
      const revision = (await status(ep2)).revision;
      const keys = await keyCount(ep2);
      assert.equal(keys, CANARIES + LATE);
      await Promise.all(['etcd-2', 'etcd-3'].map((h) => onHost(lab, h, 'systemctl stop etcd')));
      const revs = await Promise.all(HOSTS.map((h) => dbRevision(shape, lab, h)));
      assert.ok((revs[0] ?? 0) < revision && revs[1] === revision && revs[2] === revision, `db revisions ${revs.join(', ')}, cluster was at ${revision}`);

      const r = await apply(lab, 'restore-all-no-backup.yml');
      assert.equal(r.code, 0, r.all);

      // The newest db was chosen (etcd-2 and etcd-3 tie; the first in name order), fetched from that host.
      const ends = journal(lab, r).filter((e) => e.type === 'step.end');
      const chosen = ends.find((e) => e.stepId?.startsWith('3.3@'));
      assert.deepEqual(chosen?.result?.value, { host: 'etcd-2', revision });
      assert.equal(ends.find((e) => e.stepId?.startsWith('3.4@'))?.target, 'etcd-2', 'the db was not fetched from the chosen host');
      const restore = new RegExp(`\\$ ${snapshotTool(shape)} snapshot restore \\S+ --name=etcd-\\d .*--skip-hash-check`, 'g');
      assert.equal((r.out.match(restore) ?? []).length, 3, 'every member restored with --skip-hash-check');

      const { clusterId, statuses } = await assertCluster(lab, HOSTS);
      assert.notEqual(clusterId, clusterIdBefore, 'a restore must use a new cluster token');
      for (const s of statuses) assert.ok(s.revision >= revision, `${s.endpoint}: revision ${s.revision} < ${revision}`);
      for (const h of HOSTS) {
        const ep = clientUrl(lab, h);
        await assertCanaries(ep);
        await assertCanaries(ep, LATE, '/late/');
        assert.equal(await keyCount(ep), keys, h);
        // The old data dir is kept, with its own (possibly stale) db.
        const aside = await asideDirs(lab, h);
        assert.equal(aside.length, 1, `${h}: ${aside.join(', ')}`);
        assert.equal(await dbRevision(shape, lab, h, `${aside[0] ?? ''}/member/snap/db`), revs[HOSTS.indexOf(h)]);
        await assertOperatorSettings(lab, h);
      }
    });
  });
