// e2e: TLS faults on a real lab in the production shape (a) [3.5 tls systemd], 3 members
// (127.0.LAB_NET.226-228). Each fault is put on one member (etcd-2) by hand: an expired server
// certificate, a peer certificate from another CA, a server certificate whose SANs lack the
// member's address, a missing client key, a CA file etcd cannot read. restore-all.yml (with
// allow_healthy, so only the certificate preflight stands between it and the cluster) must refuse
// with the file and the problem named, before any change: no later step started (the journal),
// etcd's PID, data dir and config on every member unchanged, the member list unchanged. And
// certs.yml given a CA key that is not the cluster CA's refuses before issuing anything.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { labDown, type Lab } from '../lab/lab.js';
import { SHAPE_A } from '../lab/shapes.js';
import { address, apply, assertCluster, clientUrl, fingerprints, freshLab, journal, labDir, memberList, onHost, writeInventory } from './playbook-helpers.js';
import { LEAF_EXT, opensslIn, selfSignedCa, signCsr, type Openssl } from '../support/openssl.js';

const shape = SHAPE_A;
const MEMBERS = ['etcd-1', 'etcd-2', 'etcd-3'];
const HOST = 'etcd-2';
const PKI = '/etc/etcd/pki';

describe(`${shape.title} TLS faults: refused before any change, naming the file and the problem (127.0.0.226-228)`, function () {
  this.timeout(300_000);
  const DIR = labDir(`tls-faults-${shape.id}`);
  let lab: Lab;
  let work: string;
  let clusterId: string;

  const ssl: Openssl = (...args) => opensslIn(work)(...args);
  const labPki = (f: string): string => path.join(lab.dir, 'pki', f);
  /** The member's good server/peer SANs (as the lab issues them), or `sans`. */
  const ext = (name: string, sans: string): string => {
    const f = path.join(work, `${name}.ext`);
    writeFileSync(f, [...LEAF_EXT, `subjectAltName=${sans}`, ''].join('\n'));
    return f;
  };
  const goodSans = (): string => `DNS:${HOST},IP:${address(lab, HOST)},IP:127.0.0.1,DNS:localhost`;
  /** A CSR for etcd-2's own key (its certificate then still matches its key: only the fault differs). */
  const csr = (kind: 'server' | 'peer'): string => {
    ssl('req', '-new', '-key', labPki(`${HOST}/${kind}.key`), '-subj', `/CN=${HOST}`, '-out', `${kind}.csr`);
    return `${kind}.csr`;
  };
  /** Put a controller file at a path on etcd-2 (through its own /run/lab: a host's /tmp is its own). */
  const install = async (from: string, to: string): Promise<void> => {
    const runLab = path.join(lab.hosts.find((h) => h.name === HOST)?.stateDir ?? '', 'run-lab');
    copyFileSync(from, path.join(runLab, 'tls-fault'));
    await onHost(lab, HOST, `cp /run/lab/tls-fault ${to} && rm /run/lab/tls-fault`);
  };
  const restore = async (kind: string): Promise<void> => install(labPki(`${HOST}/${kind}.crt`), `${PKI}/${kind}.crt`);

  /** restore-all refuses with `why`; nothing on any member changed and no step after the check started. */
  async function refuses(why: RegExp): Promise<void> {
    const before = await fingerprints(lab, MEMBERS);
    const members = (await memberList(clientUrl(lab, 'etcd-1'))).map((m) => `${m.name} ${m.id}`);
    const r = await apply(lab, 'restore-all.yml', ['allow_healthy=true']);
    assert.equal(r.code, 1, r.all);
    assert.match(r.all, /refused: etcd would reject this member's certificates: /);
    assert.match(r.all, why);
    const later = journal(lab, r).filter((e) => e.type === 'step.start' && ((e.play ?? 0) > 1 || ((e.play ?? 0) === 1 && (e.task ?? 0) > 1)));
    assert.deepEqual(
      later.map((e) => e.stepId),
      [],
      'steps after the certificate check started',
    );
    assert.deepEqual(await fingerprints(lab, MEMBERS), before, 'a member changed');
    assert.deepEqual(
      (await memberList(clientUrl(lab, 'etcd-1'))).map((m) => `${m.name} ${m.id}`),
      members,
    );
    assert.equal((await assertCluster(lab, MEMBERS)).clusterId, clusterId);
  }

  before(async function () {
    lab = await freshLab('tls-faults', { shape, hosts: 3, firstOctet: 226 });
    clusterId = (await assertCluster(lab, MEMBERS)).clusterId;
    work = path.join(lab.dir, 'tls-faults');
    mkdirSync(work, { recursive: true });
  });

  after(async function () {
    await labDown(DIR);
  });

  it('[tls-fault] an expired server certificate: refused, naming the file and its expiry', async function () {
    // `openssl ca` can back-date: valid for one day in 2020.
    mkdirSync(path.join(work, 'db'), { recursive: true });
    writeFileSync(path.join(work, 'db/index.txt'), '');
    writeFileSync(path.join(work, 'db/serial'), '1000\n');
    const conf = path.join(work, 'ca.cnf');
    writeFileSync(
      conf,
      ['[ca]', 'default_ca=c', '[c]', 'database=db/index.txt', 'new_certs_dir=db', 'serial=db/serial', 'default_md=sha256', 'policy=p', 'unique_subject=no']
        .concat(['[p]', 'commonName=supplied', ''])
        .join('\n'),
    );
    const ca = ['-config', conf, '-cert', labPki('ca.crt'), '-keyfile', labPki('ca.key')];
    const dates = ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z'];
    ssl('ca', '-batch', ...ca, '-in', csr('server'), '-out', 'expired.crt', ...dates, '-extfile', ext('expired', goodSans()), '-notext');
    await install(path.join(work, 'expired.crt'), `${PKI}/server.crt`);
    try {
      await refuses(new RegExp(`${PKI}/server\\.crt: expired on 2020-01-02T00:00:00\\.000Z`));
    } finally {
      await restore('server');
    }
  });

  it('[tls-fault] a peer certificate from another CA: refused, naming the file, its issuer and the cluster CA', async function () {
    selfSignedCa(ssl, 'other-ca', 'other-ca');
    signCsr(ssl, csr('peer'), { crt: 'other-ca.crt', key: 'other-ca.key' }, ext('other', goodSans()), 'other.crt');
    await install(path.join(work, 'other.crt'), `${PKI}/peer.crt`);
    try {
      await refuses(new RegExp(`${PKI}/peer\\.crt: issued by "CN=other-ca", not signed by the cluster CA "CN=runbook-lab-ca"`));
    } finally {
      await restore('peer');
    }
  });

  it("[tls-fault] a server certificate whose SANs lack the member's address: refused, naming the missing SAN", async function () {
    ssl('req', '-new', '-key', labPki(`${HOST}/server.key`), '-subj', `/CN=${HOST}`, '-out', 'nosan.csr');
    signCsr(ssl, 'nosan.csr', { crt: labPki('ca.crt'), key: labPki('ca.key') }, ext('nosan', `DNS:${HOST},IP:127.0.0.1`), 'nosan.crt');
    await install(path.join(work, 'nosan.crt'), `${PKI}/server.crt`);
    try {
      await refuses(
        new RegExp(
          `${PKI}/server\\.crt: has no IP SAN for ${address(lab, HOST).replace(/\./g, '\\.')} \\(its SANs: DNS:${HOST}, IP Address:127\\.0\\.0\\.1\\)`,
        ),
      );
    } finally {
      await restore('server');
    }
  });

  it('[tls-fault] a missing client key: refused, naming the file and that it does not exist', async function () {
    await onHost(lab, HOST, `mv ${PKI}/etcdctl.key /run/lab/etcdctl.key.moved`);
    try {
      await refuses(new RegExp(`${PKI}/etcdctl\\.key: cannot be read \\(cat: ${PKI}/etcdctl\\.key: No such file or directory\\)`));
    } finally {
      await onHost(lab, HOST, `mv /run/lab/etcdctl.key.moved ${PKI}/etcdctl.key`);
    }
  });

  it("[tls-fault] certs.yml with a CA key that is not the cluster CA's: refused before anything is issued, naming the secret and the CA", async function () {
    if (!existsSync(path.join(work, 'other-ca.key'))) {
      selfSignedCa(ssl, 'other-ca', 'other-ca');
    }
    const inv = writeInventory(lab, 'inventory-wrong-ca-key.yml', (t) => `${t}\nsecrets:\n  etcd_ca_key: {file: ${path.join(work, 'other-ca.key')}}\n`);
    const before = await fingerprints(lab, MEMBERS);
    const pki = await Promise.all(MEMBERS.map((h) => onHost(lab, h, `ls -l --time-style=+%s ${PKI}`)));
    const r = await apply(lab, 'certs.yml', [], inv);
    assert.equal(r.code, 1, r.all);
    assert.match(r.all, new RegExp(`refused: the key in secret etcd_ca_key does not belong to the cluster CA ${PKI}/ca\\.crt \\(their public keys differ\\)`));
    assert.deepEqual(
      journal(lab, r)
        .filter((e) => e.type === 'step.start' && (e.play ?? 0) > 1)
        .map((e) => e.stepId),
      [],
      'a rotation step started',
    );
    assert.deepEqual(await fingerprints(lab, MEMBERS), before, 'a member changed');
    assert.deepEqual(await Promise.all(MEMBERS.map((h) => onHost(lab, h, `ls -l --time-style=+%s ${PKI}`))), pki, 'a file under /etc/etcd/pki changed');
  });

  it('[tls-fault] a CA file the etcd user cannot read: refused, naming the file, the user and the error', async function () {
    await onHost(lab, HOST, `chmod 0600 ${PKI}/ca.crt`);
    try {
      await refuses(new RegExp(`${PKI}/ca\\.crt: cannot be read by user etcd \\(cat: ${PKI}/ca\\.crt: Permission denied\\)`));
    } finally {
      await onHost(lab, HOST, `chmod 0644 ${PKI}/ca.crt`);
    }
  });
});
