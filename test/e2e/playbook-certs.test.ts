// e2e: certs.yml on a real lab in the production shape (a) [3.5 tls systemd], 3 members
// (127.0.LAB_NET.231-233). Every member's server, peer and client certificates are rotated from
// the lab CA, whose key the inventory names as a secret. After the run: one cluster ID, the member
// list equal to the inventory, the canaries on every member; each member's client and peer URLs
// serve a certificate with a new serial, the one now in the file (checked from the controller
// with Node's TLS client, not with runbook); the old files still on disk beside the new ones, byte
// for byte; keys 0600 with the old owner; members restarted one at a time (the journal's order);
// the CA key nowhere in the output, the journal or any process's command line on the controller.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { labDown, type Lab } from '../lab/lab.js';
import { SHAPE_A, SHAPE_B } from '../lab/shapes.js';
import * as pb from './playbook-helpers.js';
import { servedSerial } from './certs-helpers.js';

const shape = SHAPE_A;
const MEMBERS = ['etcd-1', 'etcd-2', 'etcd-3'];
const FILES = ['server.crt', 'server.key', 'peer.crt', 'peer.key', 'etcdctl.crt', 'etcdctl.key'];

/** Serials served on each member's client and peer port. */
async function served(lab: Lab): Promise<Record<string, [string, string]>> {
  const out: Record<string, [string, string]> = {};
  for (const h of MEMBERS) out[h] = [await servedSerial(lab, pb.address(lab, h), 2379), await servedSerial(lab, pb.address(lab, h), 2380)];
  return out;
}

/** The serial of a certificate file on a host (openssl prints it upper-case hex). */
async function fileSerial(lab: Lab, host: string, file: string): Promise<string> {
  return (await pb.onHost(lab, host, `openssl x509 -noout -serial -in ${file}`)).trim().replace(/^serial=/, '');
}

describe(`${shape.title} certs.yml: rotate every member's certificates one at a time (127.0.0.231-233)`, function () {
  this.timeout(600_000);
  const DIR = pb.labDir(`certs-${shape.id}`);
  let lab: Lab;

  after(async function () {
    await labDown(DIR);
  });

  it(`${shape.title} certs.yml rotates server, peer and client certificates: new serials served, old files kept, one cluster, data everywhere`, async function () {
    lab = await pb.freshLab('certs', { shape, hosts: 3, firstOctet: 231 });
    await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
    const keysBefore = await pb.keyCount(pb.clientUrl(lab, 'etcd-1'));
    const { clusterId } = await pb.assertCluster(lab, MEMBERS);
    const caKeyFile = path.join(lab.dir, 'pki', 'ca.key');
    const inv = pb.writeInventory(lab, 'inventory-certs.yml', (t) => {
      assert.doesNotMatch(t, /^secrets:/m);
      return `${t}\nsecrets:\n  etcd_ca_key: {file: ${caKeyFile}}\n`;
    });
    const before = await served(lab);
    const sums = async (h: string): Promise<string> => pb.onHost(lab, h, `cd /etc/etcd/pki && sha256sum ${FILES.join(' ')}`);
    const oldSums: Record<string, string> = {};
    for (const h of MEMBERS) oldSums[h] = await sums(h);

    // While it runs, every process's argv on the controller (ps) is read every 20 ms: the CA key
    // reaches openssl on a pipe, never on a command line.
    const caKeyLines = readFileSync(caKeyFile, 'utf8')
      .split('\n')
      .filter((l) => l.length > 40);
    let psReads = 0;
    const leaks: string[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const ps = (await promisify(execFile)('ps', ['-eo', 'args', '--no-headers'], { encoding: 'utf8', maxBuffer: 16 << 20 })).stdout;
        psReads++;
        for (const l of caKeyLines) if (ps.includes(l)) leaks.push(l);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    const r = await pb.apply(lab, 'certs.yml', ['days=30'], inv);
    polling = false;
    await poll;
    assert.ok(psReads > 10, `ps read only ${psReads} times`);
    assert.deepEqual(leaks, [], 'the CA key was on a command line');
    assert.equal(r.code, 0, r.all);

    // One cluster, the same members, the data on every member.
    const c = await pb.assertCluster(lab, MEMBERS);
    assert.equal(c.clusterId, clusterId, 'the cluster ID changed');
    for (const h of MEMBERS) {
      await pb.assertData(lab, h, keysBefore);
      await pb.assertOperatorSettings(lab, h);
    }

    const after = await served(lab);
    for (const h of MEMBERS) {
      // A new serial on both ports, and it is the one in the file the config names.
      assert.notEqual(after[h]?.[0], before[h]?.[0], `${h}: client port serves the old certificate`);
      assert.notEqual(after[h]?.[1], before[h]?.[1], `${h}: peer port serves the old certificate`);
      assert.equal(after[h]?.[0], await fileSerial(lab, h, '/etc/etcd/pki/server.crt'), h);
      assert.equal(after[h]?.[1], await fileSerial(lab, h, '/etc/etcd/pki/peer.crt'), h);
      // The new certificates: 30 days, signed by the cluster CA, naming the member's address.
      const text = await pb.onHost(
        lab,
        h,
        'openssl x509 -noout -text -in /etc/etcd/pki/peer.crt && openssl verify -CAfile /etc/etcd/pki/ca.crt /etc/etcd/pki/*.crt',
      );
      assert.match(text, new RegExp(`IP Address:${pb.address(lab, h).replace(/\./g, '\\.')}`));
      assert.match(text, /server\.crt: OK/);
      assert.match(text, /etcdctl\.crt: OK/);
      const days = Number(
        await pb.onHost(
          lab,
          h,
          'echo $(( ($(date -d "$(openssl x509 -noout -enddate -in /etc/etcd/pki/server.crt | cut -d= -f2)" +%s) - $(date +%s)) / 86400 ))',
        ),
      );
      assert.ok(days >= 29 && days <= 30, `${h}: server.crt valid for ${days} more days`);
      // Every file replaced, every old one still on disk, unchanged, beside it.
      const now = await sums(h);
      for (const f of FILES) assert.ok(!now.includes(oldSums[h]?.split('\n').find((l) => l.endsWith(` ${f}`)) ?? '-'), `${h}: ${f} not replaced`);
      const asideSums = await pb.onHost(lab, h, `cd /etc/etcd/pki && for f in ${FILES.join(' ')}; do sha256sum "$f".bak-* | sed "s/\\.bak-[0-9TZ]*$//"; done`);
      assert.equal(asideSums, oldSums[h], `${h}: the old files are not all kept aside`);
      assert.equal(await pb.onHost(lab, h, 'ls /etc/etcd/pki | grep -c "\\.new-" || true'), '0\n', `${h}: a .new- file left over`);
      // Keys owner-only, owned as before (etcd reads its own; etcdctl's stays root's).
      const modes = await pb.onHost(lab, h, 'cd /etc/etcd/pki && stat -c "%n %a %U" server.key peer.key etcdctl.key');
      assert.equal(modes, 'server.key 600 etcd\npeer.key 600 etcd\netcdctl.key 600 root\n', h);
    }

    // One member at a time: in play 2 every step of a member ends before the next member's first starts.
    const events = pb.journal(lab, r).filter((e) => e.type === 'step.start' && e.play === 2);
    const order = events.map((e) => String(e.host));
    assert.ok(order.length > 0, 'no play 2 steps in the journal');
    const firstSeen = [...new Set(order)];
    assert.deepEqual(firstSeen, MEMBERS);
    assert.deepEqual(
      order,
      [...order].sort((a, b) => MEMBERS.indexOf(a) - MEMBERS.indexOf(b)),
      `members interleaved: ${order.join(' ')}`,
    );

    // The CA key never shows: not in the output, not in the journal.
    const caKey = readFileSync(caKeyFile, 'utf8');
    const secretLine = caKey.split('\n').find((l) => l.length > 40) ?? caKey;
    const journalText = JSON.stringify(pb.journal(lab, r));
    assert.ok(!r.all.includes(secretLine), 'the CA key is in the output');
    assert.ok(!journalText.includes(secretLine), 'the CA key is in the journal');
    assert.match(journalText, /⟨secrets\.etcd_ca_key⟩|\*\*\*\*\*\*/);
  });
});

// The same rotation on kubeadm's static pods (shape b, 127.0.LAB_NET.241-243): certificates under
// /etc/kubernetes/pki/etcd, each member restarted by parking its manifest and bringing it back.
describe(`${SHAPE_B.title} certs.yml: rotate every member's certificates one at a time (127.0.0.241-243)`, function () {
  this.timeout(600_000);
  const DIR = pb.labDir(`certs-${SHAPE_B.id}`);
  let lab: Lab;
  const KPKI = '/etc/kubernetes/pki/etcd';
  const KFILES = ['server.crt', 'server.key', 'peer.crt', 'peer.key', 'healthcheck-client.crt', 'healthcheck-client.key'];

  after(async function () {
    await labDown(DIR);
  });

  it(`${SHAPE_B.title} certs.yml rotates every certificate: new serials served, old files kept aside, one cluster, data everywhere`, async function () {
    lab = await pb.freshLab('certs', { shape: SHAPE_B, hosts: 3, firstOctet: 241 });
    await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
    const { clusterId } = await pb.assertCluster(lab, MEMBERS);
    const inv = pb.writeInventory(lab, 'inventory-certs.yml', (t) => `${t}\nsecrets:\n  etcd_ca_key: {file: ${path.join(lab.dir, 'pki', 'ca.key')}}\n`);
    const before = await served(lab);
    const sums: Record<string, string> = {};
    for (const h of MEMBERS) sums[h] = await pb.onHost(lab, h, `cd ${KPKI} && sha256sum ${KFILES.join(' ')}`);

    const r = await pb.apply(lab, 'certs.yml', [], inv);
    assert.equal(r.code, 0, r.all);

    assert.equal((await pb.assertCluster(lab, MEMBERS)).clusterId, clusterId, 'the cluster ID changed');
    const after = await served(lab);
    for (const h of MEMBERS) {
      await pb.assertCanaries(pb.clientUrl(lab, h));
      assert.notEqual(after[h]?.[0], before[h]?.[0], `${h}: client port serves the old certificate`);
      assert.notEqual(after[h]?.[1], before[h]?.[1], `${h}: peer port serves the old certificate`);
      assert.equal(after[h]?.[0], await fileSerial(lab, h, `${KPKI}/server.crt`), h);
      const aside = await pb.onHost(lab, h, `cd ${KPKI} && for f in ${KFILES.join(' ')}; do sha256sum "$f".bak-* | sed "s/\\.bak-[0-9TZ]*$//"; done`);
      assert.equal(aside, sums[h], `${h}: the old files are not all kept aside`);
      assert.equal(await pb.onHost(lab, h, `stat -c "%a %U" ${KPKI}/server.key ${KPKI}/healthcheck-client.key`), '600 root\n600 root\n', h);
    }
  });
});
