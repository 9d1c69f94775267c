// e2e: upgrade.yml on real labs. Shape (d) [3.4 tls systemd] (3 members, 127.0.LAB_NET.221-223),
// upgraded to the cached etcd 3.5.30 build (test/lab/fetch-etcd.sh), given as a release-style
// tarball (etcd-v3.5.30-linux-amd64/{etcd,etcdctl,etcdutl}) or as a directory on the controller:
//   1. refused, cluster untouched: binaries that report 3.6 (a minor skipped). They are a stand-in:
//      a two-line script that prints `etcd Version: 3.6.5` and nothing else, made by this test, because
//      the lab has no 3.6 build; it is only ever asked for its version (the preflight refuses before
//      any member is stopped or any binary replaced);
//   1b. refused, cluster untouched: etcd_bin_dir pointing elsewhere than the running etcd's binary;
//   2. a half-upgraded cluster (--limit to one follower: it runs 3.5.30, the others 3.4.23, the
//      cluster version stays 3.4.0), then -e rollback=true puts 3.4.23 back;
//   3. the whole upgrade: followers first, the leader last, every member at 3.5.30, cluster version
//      3.5.0, the old binaries kept, the machine's own /usr/bin/etcd untouched;
//   4. the machine's 3.4 binaries refused on the 3.5.30 cluster (a downgrade), cluster untouched;
//   5. a rollback refused once every member runs 3.5.30 (it says restore-all), cluster untouched.
// After each: every member healthy, the member list equal to the inventory, one cluster ID (the
// first one), the canaries and the key count on every member.
// Then the static-pod shape [3.4 http static-pod] (127.0.LAB_NET.224-226): a half upgrade (one follower's
// pod) rolled back to the kept image, then the image tag changes to registry.k8s.io/etcd:3.5.30-0 on every
// member (the kubelet stand-in maps it to the cached 3.5.30 build).
// Last, [traffic]: the same upgrade on a fresh (d) lab (127.0.LAB_NET.227-229) while clients write, read and
// watch (test/lab/traffic.ts): no acknowledged write lost on any member, no stale read, the watch keeps up.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { runIdOf } from '../support/journal.js';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { labDown, labRequest, resolveEtcd, type Lab } from '../lab/lab.js';
import { SHAPE_B34, SHAPE_D } from '../lab/shapes.js';
import { startTraffic } from '../lab/traffic.js';
import { assertNoLoss, summary as trafficSummary, trafficTls } from './traffic-helpers.js';
import * as pb from './playbook-helpers.js';

const MEMBERS = ['etcd-1', 'etcd-2', 'etcd-3'];
const TARGET = '3.5.30';

/** The runs of this file: their controller scratch dirs (.runbook/upgrade-<run id>: the bundled binaries) go at the end. */
const runs: pb.CliRun[] = [];
after(() => {
  for (const r of runs) rmSync(path.join(process.cwd(), '.runbook', `upgrade-${runIdOf(r)}`), { recursive: true, force: true });
});

/** runbook apply upgrade.yml, as playbook-helpers' apply. */
async function upgrade(lab: Lab, extra: string[]): Promise<pb.CliRun> {
  const r = await pb.apply(lab, 'upgrade.yml', extra);
  runs.push(r);
  return r;
}

/** A member that does not lead right now, and the one that does. */
async function roles(lab: Lab): Promise<{ follower: string; leader: string }> {
  const leaderId = (await pb.status(pb.clientUrl(lab, 'etcd-1'))).leader;
  const ids = await Promise.all(MEMBERS.map(async (h) => ({ h, id: (await pb.status(pb.clientUrl(lab, h))).memberId })));
  const follower = ids.find((x) => x.id !== leaderId)?.h;
  const leader = ids.find((x) => x.id === leaderId)?.h;
  assert.ok(follower && leader, `no leader among ${JSON.stringify(ids)}`);
  return { follower, leader };
}

/** The server and cluster versions a member reports on /version. */
async function versions(lab: Lab, host: string): Promise<{ server: string; cluster: string }> {
  const r = await labRequest(lab, `${pb.clientUrl(lab, host)}/version`, undefined, 5000);
  const j = r.json as { etcdserver?: string; etcdcluster?: string };
  return { server: j.etcdserver ?? '', cluster: j.etcdcluster ?? '' };
}

async function serverVersions(lab: Lab): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const h of MEMBERS) out[h] = (await versions(lab, h)).server;
  return out;
}

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The hosts whose binaries (or image) were replaced (the install script exited 0), in the order the journal recorded them. */
function installs(lab: Lab, r: pb.CliRun): string[] {
  return pb
    .journal(lab, r)
    .filter((e) => e.type === 'step.end')
    .filter((e) =>
      ((e.result as unknown as { actions?: { cmd?: string; code?: number }[] }).actions ?? []).some(
        (a) => a.code === 0 && /upgrade-(install|image) /.test(a.cmd ?? ''),
      ),
    )
    .map((e) => e.host ?? '');
}

/** apply limited to some hosts (`--limit`), otherwise as playbook-helpers' apply. */
async function applyLimited(lab: Lab, extra: string[], limit: string): Promise<pb.CliRun> {
  const r = await pb.runbook([
    ...['apply', 'upgrade.yml', '-i', lab.inventoryPath, '--yes', '--output', 'text', '-v', '--journal-dir', path.join(lab.dir, 'runs')],
    ...['--limit', limit, ...extra.flatMap((x) => ['-e', x])],
  ]);
  console.log(`      runbook apply upgrade.yml --limit ${limit} ${extra.join(' ')}: exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s`);
  if (process.env.RUNBOOK_E2E_SHOW === '1') console.log(r.all);
  runs.push(r);
  return r;
}

describe(`${SHAPE_D.title} upgrade.yml on a real cluster: 3.4 → 3.5, refusal, half upgrade and rollback (127.0.0.221-223)`, function () {
  this.timeout(600_000);
  let lab: Lab;
  let clusterId: string;
  let keysBefore: number;
  let from: string;
  let binDir: string;
  let tarball: string;
  const machineEtcd = sha('/usr/bin/etcd');

  before(async function () {
    lab = await pb.freshLab('upgrade', { shape: SHAPE_D, hosts: 3, firstOctet: 221 });
    const build = await resolveEtcd('3.5');
    assert.ok(build.root, 'the 3.5 build has a root');
    binDir = path.join(build.root, 'usr/bin');
    // A release-style tarball of the cached build, as an operator downloads it from etcd's releases.
    const work = path.join(lab.dir, 'offered');
    mkdirSync(path.join(work, `etcd-v${TARGET}-linux-amd64`), { recursive: true });
    for (const f of ['etcd', 'etcdctl', 'etcdutl']) execFileSync('cp', ['-p', path.join(binDir, f), path.join(work, `etcd-v${TARGET}-linux-amd64`, f)]);
    tarball = path.join(work, `etcd-v${TARGET}-linux-amd64.tar.gz`);
    execFileSync('tar', ['-czf', tarball, '-C', work, `etcd-v${TARGET}-linux-amd64`]);
    await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
    const c = await pb.assertCluster(lab, MEMBERS);
    clusterId = c.clusterId;
    keysBefore = await pb.keyCount(pb.clientUrl(lab, 'etcd-1'));
    from = (await versions(lab, 'etcd-1')).server;
    assert.match(from, /^3\.4\./);
  });
  after(async () => {
    if (process.env.RUNBOOK_KEEP_LAB !== '1') await labDown(lab.dir);
  });

  async function assertData(): Promise<void> {
    const c = await pb.assertCluster(lab, MEMBERS);
    assert.equal(c.clusterId, clusterId, 'the cluster ID changed');
    for (const h of MEMBERS) {
      await pb.assertCanaries(pb.clientUrl(lab, h));
      // The snapshot probe keys aside, nothing else was written.
      assert.equal(await pb.keyCount(pb.clientUrl(lab, h)), keysBefore, h);
    }
  }

  it(`${SHAPE_D.title} refuses binaries that skip a minor (they report 3.6) and leaves the cluster untouched`, async () => {
    // The stand-in: only ever asked `--version` (see the header).
    const fake = path.join(lab.dir, 'etcd-3.6-version-only');
    mkdirSync(fake, { recursive: true });
    for (const f of ['etcd', 'etcdctl']) {
      writeFileSync(path.join(fake, f), '#!/bin/sh\n# test stand-in: reports a 3.6 version, runs nothing\necho "etcd Version: 3.6.5"\n');
      chmodSync(path.join(fake, f), 0o755);
    }
    const before = await pb.fingerprints(lab, MEMBERS);
    const bins: Record<string, string> = {};
    for (const h of MEMBERS) bins[h] = await pb.onHost(lab, h, 'sha256sum /usr/bin/etcd');
    const r = await upgrade(lab, [`etcd_binaries=${fake}`]);
    assert.equal(r.code, 1, r.all);
    assert.match(r.all, /refused: etcd 3\.6\.5 skips a minor version: the cluster runs .*3\.4\.\d+.*upgrade to the newest 3\.5\.x first/);
    assert.deepEqual(await pb.fingerprints(lab, MEMBERS), before, 'a refused upgrade changed a member');
    for (const h of MEMBERS) assert.equal(await pb.onHost(lab, h, 'sha256sum /usr/bin/etcd'), bins[h], `${h}: /usr/bin/etcd changed`);
    assert.deepEqual(await serverVersions(lab), Object.fromEntries(MEMBERS.map((h) => [h, from])));
    await assertData();
  });

  it(`${SHAPE_D.title} refuses when etcd_bin_dir is not where the running etcd comes from, cluster untouched`, async () => {
    // On each member (a lab host's /tmp is its own, so not the controller's checkout): a dir whose etcd
    // is the version-only stand-in of the test above, reporting 3.6.5.
    const wrong = '/run/lab/etcd-3.6-version-only';
    for (const h of MEMBERS)
      await pb.onHost(
        lab,
        h,
        `mkdir -p ${wrong} && printf '#!/bin/sh\\n# test stand-in: reports a 3.6 version, runs nothing\\necho "etcd Version: 3.6.5"\\n' > ${wrong}/etcd && chmod 755 ${wrong}/etcd`,
      );
    const before = await pb.fingerprints(lab, MEMBERS);
    const r = await upgrade(lab, [`etcd_binaries=${binDir}`, `etcd_bin_dir=${wrong}`]);
    assert.equal(r.code, 1, r.all);
    assert.match(r.all, /refused: \S+\/etcd-3\.6-version-only\/etcd is etcd 3\.6\.5 but https:\/\/\S+ 3\.4\.\d+ runs: set etcd_bin_dir/);
    assert.deepEqual(await pb.fingerprints(lab, MEMBERS), before);
    assert.deepEqual(await serverVersions(lab), Object.fromEntries(MEMBERS.map((h) => [h, from])));
    await assertData();
  });

  it(`${SHAPE_D.title} a half-upgraded cluster (one follower at ${TARGET}, from a directory) goes back with -e rollback=true`, async () => {
    const { follower } = await roles(lab);
    // Interrupted after one member: the run is limited to one follower, so its last check (every member at
    // the new version) fails, leaving a mixed cluster, as a run stopped by a fault after that member would.
    const half = await applyLimited(lab, [`etcd_binaries=${binDir}`], follower);
    assert.equal(half.code, 1, half.all);
    assert.match(half.all, /expected etcd 3\.5\.30/);
    const mixed = await serverVersions(lab);
    assert.deepEqual(mixed, Object.fromEntries(MEMBERS.map((h) => [h, h === follower ? TARGET : from])));
    assert.equal((await versions(lab, follower)).cluster, '3.4.0', 'a mixed cluster speaks the old minor');
    await assertData();
    // The old binaries were kept aside on the upgraded member, byte for byte.
    assert.equal((await pb.onHost(lab, follower, 'sha256sum /var/lib/runbook/etcd-binaries/etcd-' + from + '/etcd')).split(' ')[0], machineEtcd);

    const back = await upgrade(lab, ['rollback=true']);
    assert.equal(back.code, 0, back.all);
    assert.deepEqual(await serverVersions(lab), Object.fromEntries(MEMBERS.map((h) => [h, from])));
    assert.deepEqual(installs(lab, back), [follower], 'only the upgraded member goes back');
    // The 3.5.30 binaries it ran are kept too (nothing is deleted).
    assert.match(await pb.onHost(lab, follower, '/var/lib/runbook/etcd-binaries/etcd-3.5.30/etcd --version'), /etcd Version: 3\.5\.30/);
    assert.match(await pb.onHost(lab, follower, 'etcd --version'), new RegExp(`etcd Version: ${from.replace(/\./g, '\\.')}`));
    await assertData();
  });

  it(`${SHAPE_D.title} upgrades every member to ${TARGET} from a release tarball: followers first, the leader last`, async () => {
    const { leader } = await roles(lab);
    const r = await upgrade(lab, [`etcd_binaries=${tarball}`]);
    assert.equal(r.code, 0, r.all);
    assert.deepEqual(await serverVersions(lab), Object.fromEntries(MEMBERS.map((h) => [h, TARGET])));
    for (const h of MEMBERS) {
      assert.equal((await versions(lab, h)).cluster, '3.5.0', `${h}: cluster version`);
      assert.match(await pb.onHost(lab, h, 'etcd --version; etcdutl version'), /etcd Version: 3\.5\.30[\s\S]*etcdutl version: 3\.5\.30/);
      assert.equal((await pb.onHost(lab, h, `sha256sum /var/lib/runbook/etcd-binaries/etcd-${from}/etcd`)).split(' ')[0], machineEtcd, `${h}: old binary kept`);
    }
    const order = installs(lab, r);
    assert.equal(order.length, 3, `every member once: ${order.join(', ')}`);
    assert.equal(order[2], leader, `the leader goes last: ${order.join(', ')}`);
    // A snapshot was taken first and fetched to the controller with its manifest.
    assert.match(r.all, /Take a snapshot before the upgrade/);
    assert.equal(sha('/usr/bin/etcd'), machineEtcd, "the machine's own etcd is untouched");
    await assertData();
  });

  it(`${SHAPE_D.title} refuses the machine's 3.4 binaries on the ${TARGET} cluster (a downgrade) and leaves it untouched`, async () => {
    const before = await pb.fingerprints(lab, MEMBERS);
    // A directory holding etcd and etcdctl: the machine's own /usr/bin (only read: the bundle copies them).
    const r = await upgrade(lab, ['etcd_binaries=/usr/bin']);
    assert.equal(r.code, 1, r.all);
    assert.match(r.all, /refused: the offered binaries are etcd 3\.4\.\d+, older than 3\.5\.30 .*a downgrade/);
    assert.deepEqual(await pb.fingerprints(lab, MEMBERS), before);
    assert.deepEqual(await serverVersions(lab), Object.fromEntries(MEMBERS.map((h) => [h, TARGET])));
    await assertData();
  });

  it(`${SHAPE_D.title} refuses a rollback once every member runs ${TARGET} (restore-all from the snapshot instead)`, async () => {
    const before = await pb.fingerprints(lab, MEMBERS);
    const r = await upgrade(lab, ['rollback=true']);
    assert.equal(r.code, 1, r.all);
    assert.match(r.all, /refused: every member runs 3\.5\.30 .*restore-all\.yml from the pre-upgrade snapshot/);
    assert.deepEqual(await pb.fingerprints(lab, MEMBERS), before);
    await assertData();
  });
});

describe(`${SHAPE_B34.title} upgrade.yml on kubeadm static pods: the etcd image 3.4 → ${TARGET} (127.0.0.224-226)`, function () {
  this.timeout(600_000);
  let lab: Lab;
  let clusterId: string;

  before(async function () {
    lab = await pb.freshLab('upgrade', { shape: SHAPE_B34, hosts: 3, firstOctet: 224 });
    // The new image is "pulled" on every node: the kubelet stand-in maps its tag to the cached 3.5.30 build.
    const build = await resolveEtcd('3.5');
    for (const h of MEMBERS) appendFileSync(path.join(lab.dir, 'hosts', h, 'run-lab/kubelet/images.tsv'), `registry.k8s.io/etcd:${TARGET}-\t${build.root}\n`);
    await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
    clusterId = (await pb.assertCluster(lab, MEMBERS)).clusterId;
  });
  after(async () => {
    if (process.env.RUNBOOK_KEEP_LAB !== '1') await labDown(lab.dir);
  });

  it(`${SHAPE_B34.title} a half-upgraded cluster (one follower's pod at ${TARGET}) goes back to the kept image with -e rollback=true`, async () => {
    const from = (await versions(lab, 'etcd-1')).server;
    const { follower } = await roles(lab);
    const half = await applyLimited(lab, [`etcd_image=registry.k8s.io/etcd:${TARGET}-0`], follower);
    assert.equal(half.code, 1, half.all);
    assert.deepEqual(await serverVersions(lab), Object.fromEntries(MEMBERS.map((h) => [h, h === follower ? TARGET : from])));
    assert.equal((await versions(lab, follower)).cluster, '3.4.0', 'a mixed cluster speaks the old minor');
    const back = await upgrade(lab, ['rollback=true']);
    assert.equal(back.code, 0, back.all);
    assert.deepEqual(installs(lab, back), [follower], 'only the upgraded member goes back');
    assert.deepEqual(await serverVersions(lab), Object.fromEntries(MEMBERS.map((h) => [h, from])));
    assert.match(await pb.onHost(lab, follower, 'grep "image: registry.k8s.io/etcd:" /etc/kubernetes/manifests/etcd.yaml'), new RegExp(`etcd:${from}-0`));
    const c = await pb.assertCluster(lab, MEMBERS);
    assert.equal(c.clusterId, clusterId, 'the cluster ID changed');
    for (const h of MEMBERS) await pb.assertCanaries(pb.clientUrl(lab, h));
  });

  it(`${SHAPE_B34.title} upgrades every member's pod to registry.k8s.io/etcd:${TARGET}-0, followers first, the leader last`, async () => {
    const from = (await versions(lab, 'etcd-1')).server;
    const { leader } = await roles(lab);
    const r = await upgrade(lab, [`etcd_image=registry.k8s.io/etcd:${TARGET}-0`]);
    assert.equal(r.code, 0, r.all);
    assert.deepEqual(await serverVersions(lab), Object.fromEntries(MEMBERS.map((h) => [h, TARGET])));
    for (const h of MEMBERS) {
      assert.equal((await versions(lab, h)).cluster, '3.5.0', `${h}: cluster version`);
      assert.match(await pb.onHost(lab, h, 'grep "image: registry.k8s.io/etcd:" /etc/kubernetes/manifests/etcd.yaml'), new RegExp(`etcd:${TARGET}-0`));
      // The old image is kept where a rollback finds it.
      assert.equal((await pb.onHost(lab, h, `cat /var/lib/runbook/etcd-binaries/etcd-${from}/image`)).trim(), `registry.k8s.io/etcd:${from}-0`);
    }
    const order = installs(lab, r);
    assert.equal(order.length, 3, `every member once: ${order.join(', ')}`);
    assert.equal(order[2], leader, `the leader goes last: ${order.join(', ')}`);
    const c = await pb.assertCluster(lab, MEMBERS);
    assert.equal(c.clusterId, clusterId, 'the cluster ID changed');
    for (const h of MEMBERS) await pb.assertCanaries(pb.clientUrl(lab, h));
  });
});

describe(`[traffic] ${SHAPE_D.title} upgrade.yml under live client traffic (127.0.0.227-229)`, function () {
  this.timeout(600_000);
  let lab: Lab;

  before(async function () {
    lab = await pb.freshLab('upgrade-traffic', { shape: SHAPE_D, hosts: 3, firstOctet: 227 });
    await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
  });
  after(async () => {
    if (process.env.RUNBOOK_KEEP_LAB !== '1') await labDown(lab.dir);
  });

  it(`[traffic] ${SHAPE_D.title} 3.4 → ${TARGET} one member at a time: 0 acknowledged writes lost, reads consistent, the watch keeps up`, async () => {
    const build = await resolveEtcd('3.5');
    assert.ok(build.root);
    const prefix = '/traffic/upgrade/';
    const traffic = startTraffic({ endpoints: MEMBERS.map((h) => pb.clientUrl(lab, h)), tls: trafficTls(lab), prefix, ratePerSec: 40, maxMs: 240_000 });
    const r = await upgrade(lab, [`etcd_binaries=${path.join(build.root, 'usr/bin')}`]);
    const report = await traffic.stop();
    trafficSummary('upgrade', report);
    assert.equal(r.code, 0, r.all);
    assert.deepEqual(await serverVersions(lab), Object.fromEntries(MEMBERS.map((h) => [h, TARGET])));
    await assertNoLoss(lab, MEMBERS, report, prefix, 'upgrade');
    await pb.assertCluster(lab, MEMBERS);
    for (const h of MEMBERS) await pb.assertCanaries(pb.clientUrl(lab, h));
  });
});
