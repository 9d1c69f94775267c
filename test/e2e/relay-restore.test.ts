// e2e: restore-all's relayed distribution (engine/transports/relay) on a real 3-member lab
// (127.0.LAB_NET.231-233, etcd 3.4 + http; two members behind a jump host), with the controller's link to the hosts' sshd slowed
// by test/lab/shaper.ts so that the transfer is still running when a member is hit:
//   - a member's relay agent killed mid-transfer: the run heals (the member starts again from an
//     earlier member, the next one resumes from an earlier member) and restores; every member has
//     the exact bytes of the snapshot;
//   - a member host killed mid-transfer: the run fails clearly before anything is stopped, and the
//     members left have the exact bytes.
// Either way nothing of the relay is left running, listening or on disk on any member.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { hostExec, labDown, type Lab } from '../lab/lab.js';
import { shapeControllerLink, type Shaper } from '../lab/shaper.js';
import * as pb from './playbook-helpers.js';

const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];
/** A pgrep -f pattern for what only the relay agent's command line holds (python3 -c AGENT); the brackets keep it from matching the shell that runs pgrep. */
const AGENT_MARK = '[i]mport hashlib, hmac, json';
/** Slow enough that a few MiB take seconds to reach the first member. */
const RATE_MBIT = 8;

/** Incompressible values, so that the snapshot is a few MiB and compression does not pay. */
async function fill(endpoint: string, mib: number): Promise<void> {
  const { randomBytes } = await import('node:crypto');
  for (let i = 0; i < mib * 8; i++) await pb.put(endpoint, `/registry/bulk/${i}`, randomBytes(96 * 1024).toString('base64'));
}

/** On a host: nothing of the relay left (no agent process, no listener besides sshd and etcd's client, peer and metrics ports, no temp file). */
async function assertNothingLeft(lab: Lab, host: string): Promise<void> {
  const h = lab.hosts.find((x) => x.name === host);
  assert.ok(h);
  const procs = await hostExec(lab, host, `pgrep -f ${JSON.stringify(AGENT_MARK)} || true`);
  assert.equal(procs.stdout.trim(), '', `${host}: relay agent still running`);
  const listeners = (await pb.onHost(lab, host, 'ss -Hltn'))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[3] ?? '')
    .filter((a) => a.startsWith(`${h.address}:`) && !/:(22|2379|2380|2381)$/.test(a));
  assert.deepEqual(listeners, [], `${host}: something besides sshd and etcd (client, peer, metrics) listens on its address`);
  const tmp = await pb.onHost(lab, host, 'ls -a /var/backups/etcd');
  assert.ok(!tmp.includes('runbook-relay'), `${host}: relay temp files left:\n${tmp}`);
}

async function sha(lab: Lab, host: string, file: string): Promise<string> {
  return (await pb.onHost(lab, host, `sha256sum ${file}`)).slice(0, 64);
}

/** A command inside a lab host's mount and PID namespaces without SSH (the controller's link to sshd is slowed). */
function inHost(lab: Lab, host: string, cmd: string): Promise<{ code: number | null; stdout: string }> {
  const h = lab.hosts.find((x) => x.name === host);
  assert.ok(h);
  // Asynchronous: the run under test shares this process's event loop.
  return new Promise((resolve) => {
    execFile('/usr/bin/nsenter', ['--target', String(h.initPid), '--mount', '--pid', '--', '/bin/sh', '-c', cmd], { encoding: 'utf8' }, (err, stdout) =>
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
        stdout: err && typeof err.code !== 'number' ? `${stdout}${err.message}` : stdout,
      }),
    );
  });
}

/** Wait until the host's relay agent has written some bytes but not installed the copy, then run `act` there (both in one command). */
async function whenMidTransfer(lab: Lab, host: string, act: string, running: Promise<pb.CliRun>): Promise<void> {
  let finished = false;
  void running.then(() => (finished = true));
  for (;;) {
    assert.ok(!finished, `the run ended before ${host} was seen mid-transfer`);
    const cmd = [
      'cd /var/backups/etcd 2>/dev/null || exit 3',
      'if ls restore-*.db >/dev/null 2>&1; then ls -la; exit 4; fi',
      'got=; for f in .*.runbook-relay-*; do if [ -s "$f" ]; then got=1; fi; done',
      '[ -n "$got" ] || exit 3',
      act,
    ].join('\n');
    const r = await inHost(lab, host, cmd);
    if (r.code === 0) return;
    assert.notEqual(r.code, 4, `${host} had its copy before it could be hit mid-transfer:\n${r.stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('[3.4 http systemd] restore-all relays the snapshot between members (127.0.LAB_NET.231-233)', function () {
  this.timeout(300_000);
  const DIR = pb.labDir('relay');
  let lab: Lab;
  let shaper: Shaper | undefined;
  let manifest: { sha256: string; file: string };

  before(async function () {
    lab = await pb.freshLab('relay', { hosts: 3, firstOctet: 231 });
    // A host's /var/backups outlives a lab (its state dir is kept): no copy of an earlier run may count.
    for (const h of HOSTS) await pb.onHost(lab, h, 'rm -f /var/backups/etcd/restore-*.db');
    await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
    await fill(pb.clientUrl(lab, 'etcd-1'), 3);
    const r = await pb.apply(lab, 'backup.yml');
    assert.equal(r.code, 0, r.all);
    const dir = path.join(lab.dir, 'backups');
    const m = readdirSync(dir).find((f) => f.endsWith('.manifest.json'));
    assert.ok(m);
    manifest = JSON.parse(readFileSync(path.join(dir, m), 'utf8')) as { sha256: string; file: string };
    shaper = shapeControllerLink(RATE_MBIT);
  });

  after(async function () {
    shaper?.remove();
    await labDown(DIR);
  });

  it('-e transfer_compress=zstd: the relay carries zstd, every member decompresses its own copy to the exact bytes', async function () {
    const r = await pb.apply(lab, 'restore-all.yml', ['allow_healthy=true', 'transfer_compress=zstd']);
    assert.equal(r.code, 0, r.all);
    assert.match(r.all, /relay: etcd-1 → etcd-2 → etcd-3, zstd, controller sends to etcd-1 only/);
    assert.match(r.all, /relay: 3\/3 verified/);
    const copies = (await pb.onHost(lab, 'etcd-1', 'ls /var/backups/etcd')).split('\n').filter((f) => f.startsWith('restore-'));
    for (const h of HOSTS) assert.equal(await sha(lab, h, `/var/backups/etcd/${copies.at(-1) ?? ''}`), manifest.sha256, `${h}: copy differs from the snapshot`);
    await pb.assertCluster(lab, HOSTS);
    for (const h of HOSTS) await pb.assertCanaries(pb.clientUrl(lab, h));
    for (const h of HOSTS) await assertNothingLeft(lab, h);
    for (const h of HOSTS) await pb.onHost(lab, h, 'rm -f /var/backups/etcd/restore-*.db');
  });

  it('through a jump host, a member whose relay agent is killed mid-transfer is healed around: the run restores and every copy has the exact bytes', async function () {
    // etcd-2 and etcd-3 are reached through etcd-1 (ssh.jump): the relay rides on the run's own connections.
    const inventory = pb.writeInventory(lab, 'inventory-jump.yml', (t) => t.replace(/^( {2}etcd-[23]:\n {4}address: .*)$/gm, '$1\n    ssh: {jump: etcd-1}'));
    assert.equal((readFileSync(inventory, 'utf8').match(/jump: etcd-1/g) ?? []).length, 2);
    const running = pb.apply(lab, 'restore-all.yml', ['allow_healthy=true'], inventory);
    // etcd-2 both receives (from etcd-1) and serves (etcd-3): killing its agent breaks the chain.
    await whenMidTransfer(lab, 'etcd-2', `pid=$(pgrep -f ${JSON.stringify(AGENT_MARK)}); kill -9 $pid`, running);
    const r = await running;
    assert.equal(r.code, 0, r.all);
    assert.match(r.all, /relay: etcd-2 dropped out \(/);
    assert.match(r.all, /relay: etcd-3 lost etcd-2 .*resumes at byte \d+ from (etcd-1|the controller)/);
    assert.match(r.all, /relay: 3\/3 verified/);
    const copies = (await pb.onHost(lab, 'etcd-1', 'ls /var/backups/etcd')).split('\n').filter((f) => f.startsWith('restore-'));
    assert.equal(copies.length, 1, copies.join(', '));
    for (const h of HOSTS) assert.equal(await sha(lab, h, `/var/backups/etcd/${copies[0]}`), manifest.sha256, `${h}: copy differs from the snapshot`);
    await pb.assertCluster(lab, HOSTS);
    for (const h of HOSTS) await pb.assertCanaries(pb.clientUrl(lab, h));
    for (const h of HOSTS) await assertNothingLeft(lab, h);
  });

  it('a member host killed mid-transfer: the run fails clearly before anything is stopped; the others have the exact bytes', async function () {
    await pb.onHost(lab, 'etcd-1', 'rm -f /var/backups/etcd/restore-*.db');
    await pb.onHost(lab, 'etcd-2', 'rm -f /var/backups/etcd/restore-*.db');
    await pb.onHost(lab, 'etcd-3', 'rm -f /var/backups/etcd/restore-*.db');
    const running = pb.apply(lab, 'restore-all.yml', ['allow_healthy=true']);
    const victim = lab.hosts.find((h) => h.name === 'etcd-2');
    assert.ok(victim);
    // The host's PID 1 (its namespace init): every process of the host ends with it, sshd included.
    await whenMidTransfer(lab, 'etcd-2', ':', running);
    process.kill(victim.initPid, 'SIGKILL');
    const r = await running;
    assert.equal(r.code, 1, r.all);
    assert.match(r.all, /etcd-2/);
    assert.match(r.all, /any_errors_fatal/);
    // Nothing was stopped: the two members left still serve (as a cluster that lost one member).
    for (const h of ['etcd-1', 'etcd-3']) {
      const copies = (await pb.onHost(lab, h, 'ls /var/backups/etcd')).split('\n').filter((f) => f.startsWith('restore-'));
      assert.equal(copies.length, 1, `${h}: ${copies.join(', ')}`);
      assert.equal(await sha(lab, h, `/var/backups/etcd/${copies[0]}`), manifest.sha256, `${h}: copy differs from the snapshot`);
      await pb.assertCanaries(pb.clientUrl(lab, h));
      await assertNothingLeft(lab, h);
    }
  });
});
