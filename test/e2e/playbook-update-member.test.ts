// e2e: update-member.yml on a real lab in the production shape (a) [3.5 tls systemd], 3 members on
// 127.0.LAB_NET.231-233, and on kubeadm's static pods (b) [3.5 tls static-pod], 3 members on
// .251-253. etcd-2 moves its peer and client URLs to a new address, 127.0.LAB_NET.239 (.254 on b)
// (every lab host shares the machine's loopback, so etcd on etcd-2 can listen there; its SSH
// address stays, as when only etcd moves to another interface: the playbook connects wherever the
// inventory says). Refused first and untouched: its certificates do not name the new IP. Then,
// with certificates that do: moved; every member healthy, the member list naming the new URLs, one
// cluster ID (the first one), the canaries on every member, the configs naming the new peer URL,
// nothing listening at the old peer address, the operator settings kept (on b: the manifest's URL
// flags and kubeadm's annotation, the running members' pods not restarted). A second run continues
// (no second `member update`).
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { hostExec, labAddress, labDown, type Lab } from '../lab/lab.js';
import { SHAPE_A, SHAPE_B, type Shape } from '../lab/shapes.js';
import * as pb from './playbook-helpers.js';
import { issueLeaf } from '../support/openssl.js';
import { containers } from './static-pod-helpers.js';

const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];

for (const [shape, first, moveTo] of [
  [SHAPE_A, 231, 239],
  [SHAPE_B, 251, 254],
] as [Shape, number, number][])
  describe(`${shape.title} playbooks on a real cluster: update-member (127.0.0.${first}-${first + 2}, moving to .${moveTo})`, function () {
    this.timeout(240_000);
    const DIR = pb.labDir(`update-member-${shape.id}`);
    const NEW = labAddress(moveTo);
    const pod = shape.deployment === 'static-pod';
    const PKI = pod ? '/etc/kubernetes/pki/etcd' : '/etc/etcd/pki';
    const MANIFEST = '/etc/kubernetes/manifests/etcd.yaml';
    let running: string[][] = [];
    const newPeer = `https://${NEW}:2380`;
    const newClient = `https://${NEW}:2379`;
    let lab: Lab;
    let clusterId: string;
    let keysBefore: number;
    let inventory: string;

    /** Where each member serves after the move. */
    const urls = (h: string): { peer: string; client: string } =>
      h === 'etcd-2' ? { peer: newPeer, client: newClient } : { peer: pb.peerUrl(lab, h), client: pb.clientUrl(lab, h) };

    /** The commands of a run that exited 0 on `host`, from its journal. */
    const succeeded = (r: pb.CliRun, host: string): string[] =>
      pb
        .journal(lab, r)
        .filter((e) => e.type === 'step.end' && e.host === host)
        .flatMap((e) => ((e.result as unknown as { actions?: { cmd?: string; code?: number }[] }).actions ?? []).filter((a) => a.code === 0))
        .map((a) => a.cmd ?? '');

    /** Issue etcd-2 a server and a peer certificate from the lab CA with these SANs and install them (through its /run/lab). */
    function installCerts(tag: string, sans: string[]): Promise<string> {
      const dir = path.join(lab.dir, `pki-${tag}`);
      mkdirSync(dir, { recursive: true });
      const pki = path.join(lab.dir, 'pki');
      const runLab = path.join(lab.hosts.find((h) => h.name === 'etcd-2')?.stateDir ?? '', 'run-lab');
      for (const kind of ['server', 'peer']) {
        issueLeaf(dir, kind, 'etcd-2', sans, pki);
        for (const x of ['crt', 'key']) copyFileSync(path.join(dir, `${kind}.${x}`), path.join(runLab, `${kind}.${x}`));
      }
      const mv = ['server', 'peer'].map((k) => `mv /run/lab/${k}.crt ${PKI}/${k}.crt && mv /run/lab/${k}.key ${PKI}/${k}.key`).join(' && ');
      // etcd runs as User=etcd under systemd; the kubelet stand-in runs it as root.
      const own = pod ? 'true' : `chown etcd:etcd ${PKI}/server.* ${PKI}/peer.*`;
      return pb.onHost(lab, 'etcd-2', `${mv} && ${own} && chmod 600 ${PKI}/server.key ${PKI}/peer.key`);
    }

    before(async function () {
      lab = await pb.freshLab('update-member', { shape, hosts: 3, members: 3, firstOctet: first });
      pb.trustEndpoint(lab, newClient);
      await pb.writeCanaries(pb.clientUrl(lab, 'etcd-1'));
      keysBefore = await pb.keyCount(pb.clientUrl(lab, 'etcd-1'));
      clusterId = (await pb.status(pb.clientUrl(lab, 'etcd-1'))).clusterId;
      // The end state: etcd-2's member at the new address (its SSH address unchanged).
      inventory = pb.writeInventory(lab, 'inventory-moved.yml', (t) => {
        const host = `  etcd-2:\n    address: ${pb.address(lab, 'etcd-2')}\n`;
        assert.ok(t.includes(host), t);
        return t.replace(host, `${host}    etcd:\n      peer_url: ${newPeer}\n      client_url: ${newClient}\n`);
      });
    });

    after(async function () {
      await labDown(DIR);
    });

    it('refuses to move etcd-2 while its certificates lack the new IP, naming the SAN; nothing changes', async function () {
      const before = pod ? await Promise.all(HOSTS.map((h) => containers(lab, h, 'etcd'))) : await pb.fingerprints(lab, HOSTS);
      const r = await pb.apply(lab, 'update-member.yml', ['name=etcd-2'], inventory);
      assert.equal(r.code, 1, r.all);
      const ip = NEW.replace(/\./g, '\\.');
      const dir = PKI.replace(/\./g, '\\.');
      assert.match(r.all, new RegExp(`refused: etcd would reject this member's certificates: ${dir}/server\\.crt: has no IP SAN for ${ip}`));
      assert.match(r.all, new RegExp(`${dir}/peer\\.crt: has no IP SAN for ${ip}`));
      const after = pod ? await Promise.all(HOSTS.map((h) => containers(lab, h, 'etcd'))) : await pb.fingerprints(lab, HOSTS);
      assert.deepEqual(after, before, 'a host changed (etcd restarted or its files)');
      const list = await pb.memberList(pb.clientUrl(lab, 'etcd-1'));
      assert.deepEqual(list.find((m) => m.name === 'etcd-2')?.peerURLs, [pb.peerUrl(lab, 'etcd-2')]);
    });

    it('moves etcd-2 to the new address: one cluster, data everywhere, every config names the new peer URL', async function () {
      const idBefore = (await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).find((m) => m.name === 'etcd-2')?.id;
      await installCerts('moved', ['DNS:etcd-2', `IP:${pb.address(lab, 'etcd-2')}`, `IP:${NEW}`, 'IP:127.0.0.1', 'DNS:localhost']);
      running = await Promise.all(['etcd-1', 'etcd-3'].map((h) => (pod ? containers(lab, h, 'etcd') : Promise.resolve([]))));
      const r = await pb.apply(lab, 'update-member.yml', ['name=etcd-2'], inventory);
      assert.equal(r.code, 0, r.all);
      const ran = succeeded(r, 'etcd-2');
      assert.ok(
        // the gateway's IDs are decimal, etcdctl's hex
        ran.some((c) => c.endsWith(` member update ${BigInt(idBefore ?? '0').toString(16)} --peer-urls=${newPeer}`)),
        ran.join('\n'),
      );
      await assertMoved(idBefore ?? '');
    });

    it('a second run continues from the moved member: no second `member update`, the cluster as before', async function () {
      const idBefore = (await pb.memberList(pb.clientUrl(lab, 'etcd-1'))).find((m) => m.name === 'etcd-2')?.id;
      const r = await pb.apply(lab, 'update-member.yml', ['name=etcd-2'], inventory);
      assert.equal(r.code, 0, r.all);
      const ran = succeeded(r, 'etcd-2');
      assert.ok(!ran.some((c) => / member update /.test(c)), ran.join('\n'));
      await assertMoved(idBefore ?? '');
    });

    /** Later restarts agree: every etcd.conf names the new peer URL; etcd-2's own listens there; operator settings kept. */
    async function assertConfigs(): Promise<void> {
      const ic = HOSTS.map((h) => `${h}=${urls(h).peer}`).sort();
      for (const h of HOSTS) {
        const conf = (await pb.onHost(lab, h, 'cat /etc/etcd/etcd.conf')).split('\n');
        const got = conf.find((l) => l.startsWith('ETCD_INITIAL_CLUSTER='));
        assert.deepEqual(got?.slice('ETCD_INITIAL_CLUSTER='.length).split(',').sort(), ic, `${h}: ${got}`);
        await pb.assertOperatorSettings(lab, h);
      }
      const conf2 = (await pb.onHost(lab, 'etcd-2', 'cat /etc/etcd/etcd.conf')).split('\n');
      for (const l of [
        `ETCD_LISTEN_PEER_URLS=${newPeer}`,
        `ETCD_INITIAL_ADVERTISE_PEER_URLS=${newPeer}`,
        `ETCD_LISTEN_CLIENT_URLS=${newClient}`,
        `ETCD_ADVERTISE_CLIENT_URLS=${newClient}`,
      ]) {
        assert.ok(conf2.includes(l), `etcd-2's etcd.conf lacks ${l}`);
      }
    }

    /** etcd-2's manifest carries the new URL flags and kubeadm's annotation; the running members' pods were not restarted. */
    async function assertManifests(): Promise<void> {
      const m = (await pb.onHost(lab, 'etcd-2', `cat ${MANIFEST}`)).split('\n').map((l) => l.trim());
      for (const l of [
        `- --listen-peer-urls=${newPeer}`,
        `- --initial-advertise-peer-urls=${newPeer}`,
        `- --listen-client-urls=${newClient}`,
        `- --advertise-client-urls=${newClient}`,
        `kubeadm.kubernetes.io/etcd.advertise-client-urls: ${newClient}`,
      ]) {
        assert.ok(m.includes(l), `etcd-2's manifest lacks ${l}`);
      }
      const ic = m.find((l) => l.startsWith('- --initial-cluster='));
      assert.ok(ic?.includes(`etcd-2=${newPeer}`), ic);
      const now = await Promise.all(['etcd-1', 'etcd-3'].map((h) => containers(lab, h, 'etcd')));
      assert.deepEqual(now, running, 'a running member was restarted');
    }

    /** The cluster after the move: every member healthy, the list with the new URLs and the same IDs, data and configs. */
    async function assertMoved(id: string): Promise<void> {
      const want = HOSTS.map((h) => ({ name: h, peer: urls(h).peer, client: urls(h).client }));
      const ids = new Set<string>();
      for (const h of HOSTS) {
        const ep = urls(h).client;
        assert.equal(await pb.healthy(ep), true, `${h} is not healthy at ${ep}`);
        const list = await pb.memberList(ep);
        assert.deepEqual(
          list.map((m) => ({ name: m.name, peer: m.peerURLs.join(','), client: m.clientURLs.join(',') })),
          want,
          `member list seen by ${h}`,
        );
        assert.equal(list.find((m) => m.name === 'etcd-2')?.id, id, 'etcd-2 is the same member (same ID)');
        ids.add((await pb.status(ep)).clusterId);
        await pb.assertCanaries(ep);
        assert.equal(await pb.keyCount(ep), keysBefore, h);
      }
      assert.deepEqual([...ids], [clusterId], 'the cluster ID changed');
      if (pod) await assertManifests();
      else await assertConfigs();
      // Nothing answers at the old addresses' etcd ports any more.
      const old = pb.address(lab, 'etcd-2');
      const closed = await hostExec(lab, 'etcd-1', `! (exec 3<>/dev/tcp/${old}/2380) 2>/dev/null && ! (exec 3<>/dev/tcp/${old}/2379) 2>/dev/null`);
      assert.equal(closed.code, 0, `etcd still listens at ${old}`);
    }
  });
