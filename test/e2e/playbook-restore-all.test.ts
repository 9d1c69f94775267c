// e2e: backup.yml → every data dir wiped → restore-all.yml, on a real 3-member lab (127.0.0.41-43)
// in each shape of test/lab/shapes.ts; the refusal when one member's copy of the snapshot is bad;
// then the read-only `runbook status` and `runbook snapshot verify` on the result. On etcd 3.5 the
// restore must be etcdutl's with --bump-revision and --mark-compacted, proven on the cluster.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { resolveEtcd } from '../lab/lab.js';
import { shapesFor } from '../lab/shapes.js';
import {
  apply,
  asideDirs,
  assertCanaries,
  assertCluster,
  assertData,
  assertOldRevisionsCompacted,
  assertOperatorSettings,
  assertRestoreCommands,
  assertSameClusterSettings,
  assertStatusReport,
  bumpOf,
  CANARIES,
  clientUrl,
  fingerprints,
  healthy,
  journal,
  onHost,
  runbook,
  seededLab,
} from './playbook-helpers.js';

const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];

interface Manifest {
  file: string;
  sha256: string;
  revision: number;
  live_keys: number;
  source_member: string;
  source_endpoint: string;
}

for (const shape of shapesFor('restore-all'))
  describe(`${shape.title} playbooks on a real cluster: backup + restore-all (127.0.0.41-43)`, function () {
    this.timeout(90_000);
    let manifest: Manifest;
    let snapshotFile: string;

    const seeded = seededLab('restore-all', { shape, hosts: 3, firstOctet: 41 }, HOSTS);

    const shipped = shape.shipped;
    if (shipped) {
      it(`what ships is what ran: the lab inventory has the cluster settings of ${shipped}`, function () {
        const keys = assertSameClusterSettings(seeded.lab.inventoryPath, shipped);
        assert.ok(keys.includes('tls') && keys.includes('bumpRevision') && keys.includes('deployment'), keys.join(', '));
      });
    }

    it('backup.yml: a snapshot with sha256, revision and live key count, fetched to the controller', async function () {
      const r = await apply(seeded.lab, 'backup.yml');
      assert.equal(r.code, 0, r.all);
      const dir = path.join(seeded.lab.dir, 'backups');
      const dbs = readdirSync(dir).filter((f) => /^lab-\d{8}T\d{6}Z\.db$/.test(f));
      assert.equal(dbs.length, 1, dbs.join(', '));
      snapshotFile = path.join(dir, dbs[0] ?? '');
      manifest = JSON.parse(readFileSync(`${snapshotFile}.manifest.json`, 'utf8')) as Manifest;
      assert.equal(manifest.live_keys, seeded.keysBefore);
      // The manifest names the member the snapshot was read from, and its client URL.
      const src = seeded.lab.hosts.find((h) => h.name === manifest.source_member);
      assert.ok(src && manifest.source_endpoint === clientUrl(seeded.lab, src.name), `${manifest.source_member} ${manifest.source_endpoint}`);
      assert.equal(seeded.keysBefore, CANARIES);
      const sha = (await onHost(seeded.lab, 'etcd-1', `sha256sum /var/backups/etcd/${manifest.file} | cut -d' ' -f1`)).trim();
      assert.equal(sha, manifest.sha256, 'the copy kept on the member');
    });

    it("restore-all refuses before stopping anything when one member's copy does not match the manifest", async function () {
      // A leftover directory where etcd-2's copy must go (say, an operator unpacked an old backup
      // there; -e restore_file pins the path, which otherwise holds the run id): the transfer lands
      // inside it and reports success, so only the re-hash on the host can notice that the file at
      // the path is not the snapshot. The cluster is healthy, so allow_healthy=true gets past the
      // "quorum lost" check and the copy check is what refuses.
      const restoreFile = '/var/backups/etcd/restore-e2e.db';
      await onHost(seeded.lab, 'etcd-2', `mkdir -p ${restoreFile}`);
      const before = await fingerprints(seeded.lab, HOSTS);

      const r = await apply(seeded.lab, 'restore-all.yml', ['allow_healthy=true', `restore_file=${restoreFile}`]);

      assert.equal(r.code, 1, r.all);
      // Today the re-hash on etcd-2 refuses; once SshTransport stops installing a put inside an
      // existing directory (test/e2e/transport-put-directory.test.ts), the copy itself fails there.
      assert.match(
        r.all,
        /FAILED +etcd-2 .*(sha256 of \/var\/backups\/etcd\/restore-e2e\.db does not match the manifest|put \/var\/backups\/etcd\/restore-e2e\.db: could not install the file)/,
      );
      const events = journal(seeded.lab, r);
      const started = events.filter((e) => e.type === 'step.start').map((e) => e.stepId ?? '');
      assert.deepEqual(
        started.filter((id) => !id.startsWith('1.')),
        [],
        'a step after the checks ran',
      );
      assert.deepEqual(await fingerprints(seeded.lab, HOSTS), before, 'a host changed');
      await assertCluster(seeded.lab, HOSTS);
      for (const h of HOSTS) await assertCanaries(clientUrl(seeded.lab, h));
      // The good copies were checked on the other members (that is all that happened there).
      for (const h of ['etcd-1', 'etcd-3']) assert.equal((await onHost(seeded.lab, h, `sha256sum ${restoreFile} | cut -d' ' -f1`)).trim(), manifest.sha256);
      await onHost(seeded.lab, 'etcd-2', `rm -rf ${restoreFile}`);
    });

    it('restore-all brings every member back after every data dir was wiped', async function () {
      // Disaster: etcd stopped and the data gone on every member (a marker shows the dir is kept aside).
      await Promise.all(
        HOSTS.map((h) => onHost(seeded.lab, h, 'systemctl stop etcd && rm -rf /var/lib/etcd/member && echo wiped > /var/lib/etcd/wiped-by-test')),
      );
      for (const h of HOSTS) assert.equal(await healthy(clientUrl(seeded.lab, h)), false);

      const r = await apply(seeded.lab, 'restore-all.yml');
      assert.equal(r.code, 0, r.all);

      const { clusterId, statuses } = await assertCluster(seeded.lab, HOSTS);
      // A new --initial-cluster-token: a new cluster ID, so no member of the old cluster can join it.
      assert.notEqual(clusterId, seeded.clusterIdBefore);
      // etcd 3.5: restored with --bump-revision, so every revision is past the snapshot's plus the bump.
      const bump = bumpOf(shape);
      for (const s of statuses) assert.ok(s.revision >= manifest.revision + bump, `${s.endpoint}: revision ${s.revision} < ${manifest.revision} + ${bump}`);
      for (const h of HOSTS) {
        await assertData(seeded.lab, h, seeded.keysBefore);
        const aside = await asideDirs(seeded.lab, h);
        assert.equal(aside.length, 1, `${h}: ${aside.join(', ')}`);
        assert.equal((await onHost(seeded.lab, h, `cat ${aside[0] ?? ''}/wiped-by-test`)).trim(), 'wiped', `${h}: the old data dir was not kept`);
        assert.equal((await onHost(seeded.lab, h, 'stat -c %U /var/lib/etcd')).trim(), 'etcd');
      }
      assert.match(r.out, /--initial-cluster-token=lab-cluster-restore-/);
      assertRestoreCommands(r.out, shape, 3);
      for (const h of HOSTS) await assertOperatorSettings(seeded.lab, h);
    });

    if (bumpOf(shape) > 0) {
      it('after the restore, old revisions are compacted: a watch from the snapshot\'s revision is cancelled as "compacted"', async function () {
        await assertOldRevisionsCompacted(
          seeded.lab,
          shape,
          manifest.revision,
          '--cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/etcdctl.crt --key=/etc/etcd/pki/etcdctl.key',
        );
      });
    }

    it('runbook status: one row per member with ID, leader, revision, raft index, DB size and health', async function () {
      const s = await assertStatusReport(seeded.lab);
      for (const m of s.members) assert.ok(m.revision >= manifest.revision && m.raft_index > 0 && m.db_size > 0, JSON.stringify(m));
      const text = await runbook(['status', '-i', seeded.lab.inventoryPath]);
      assert.equal(text.code, 0);
      assert.match(text.out, /^NAME +ID +ENDPOINT +LEADER +REVISION +RAFT INDEX +DB SIZE +HEALTH$/m);
      assert.match(text.out, new RegExp(`^etcd-2 +[0-9a-f]+ +${seeded.lab.scheme}://127\\.0\\.\\d+\\.42:2379 .* healthy$`, 'm'));
      // The shipped status.yml applied like any playbook: its report names every member, all healthy.
      const pb = await apply(seeded.lab, 'status.yml');
      assert.equal(pb.code, 0, pb.all);
      const end = journal(seeded.lab, pb).find((e) => e.type === 'step.end' && e.stepId?.startsWith('1.1'));
      const rows = end?.result?.value as { name: string; health: string }[] | undefined;
      assert.deepEqual(
        rows?.map((m) => [m.name, m.health]),
        HOSTS.map((h) => [h, 'healthy']),
        JSON.stringify(rows),
      );
    });

    it('runbook snapshot verify: restores the backup and serves it on a private unix socket, then cleans up', async function () {
      // The controller runs the shape's etcd: an operator verifying 3.5 snapshots has 3.5's tools first on PATH.
      const build = await resolveEtcd(shape.etcdVersion);
      const savedPath = process.env.PATH;
      if (build.root) process.env.PATH = `${path.join(build.root, 'usr/bin')}:${savedPath ?? ''}`;
      try {
        await verifyChecks();
      } finally {
        process.env.PATH = savedPath;
      }
    });

    async function verifyChecks(): Promise<void> {
      const scratchBefore = readdirSync(tmpdir()).filter((f) => f.startsWith('runbook-snapshot-verify-'));
      const r = await runbook(['snapshot', 'verify', snapshotFile, '--format', 'json']);
      assert.equal(r.code, 0, r.all);
      const v = JSON.parse(r.out) as { ok: boolean; restored: { revision: number; keys: number; endpoint: string }; manifest: { problems: string[] } };
      assert.equal(v.restored.revision, manifest.revision);
      assert.equal(v.restored.keys, manifest.live_keys);
      assert.deepEqual(v.manifest.problems, []);
      // It served on a unix socket in its scratch dir (test/e2e/security-snapshot-verify.test.ts), now gone.
      const ep = /^unix:(\/.*\/client:2379)$/.exec(v.restored.endpoint);
      assert.ok(ep, v.restored.endpoint);
      assert.equal(existsSync(ep[1]!), false, 'the throwaway etcd still listens');
      assert.deepEqual(
        readdirSync(tmpdir()).filter((f) => f.startsWith('runbook-snapshot-verify-')),
        scratchBefore,
        'scratch dir left behind',
      );

      // A damaged copy is not restorable.
      const bad = path.join(seeded.lab.dir, 'damaged.db');
      copyFileSync(snapshotFile, bad);
      const bytes = readFileSync(bad);
      bytes.fill(0x5a, 4096, 8192);
      writeFileSync(bad, bytes);
      const broken = await runbook(['snapshot', 'verify', bad]);
      assert.equal(broken.code, 1, broken.all);
      assert.match(broken.err, /runbook snapshot verify: /);
      assert.equal(existsSync(`${bad}.manifest.json`), false);
    }
  });
