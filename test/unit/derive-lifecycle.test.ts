// The decisions add-member and remove-member make from live etcd output (engine/modules/derive.ts):
// may a name join at a peer URL (a learner left by an interrupted run continues), never shrink a
// 2-member cluster, and the member's certificates judged through engine/tls/check.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addPreflight, shrinkPreflight } from '../../engine/modules/derive-membership.js';
import { memberCerts } from '../../engine/modules/derive-certs.js';
import { DERIVE } from '../../engine/modules/derive-table.js';
import type { Json } from '../../engine/model/types.js';

const m = (id: string, name: string, peer: string, client: string | null, learner = false): Json => ({
  ID: id,
  name,
  peerURLs: [peer],
  ...(client ? { clientURLs: [client] } : {}),
  ...(learner ? { isLearner: true } : {}),
});
const P = (n: number): string => `https://10.0.1.1${n}:2380`;
const C = (n: number): string => `https://10.0.1.1${n}:2379`;
const three = [m('11', 'etcd-1', P(1), C(1)), m('12', 'etcd-2', P(2), C(2)), m('13', 'etcd-3', P(3), C(3))];
const list = (...extra: Json[]): Json => ({ members: [...three, ...extra] });

describe('add-member preflight (derive add_preflight)', () => {
  it('a new name at a new peer URL: absent, add it', () => {
    assert.deepEqual(addPreflight(list(), 'etcd-4', P(4)), { state: 'absent', members_before: 3 });
  });

  it('refuses a peer URL another member uses, naming it', () => {
    assert.throws(() => addPreflight(list(), 'etcd-4', P(3)), /refused: peer URL https:\/\/10\.0\.1\.13:2380 is already used by member "etcd-3" \(ID d\)/);
  });

  it('refuses a name that is a member at another peer URL (that is replace-member)', () => {
    assert.throws(() => addPreflight(list(), 'etcd-3', P(4)), /refused: a member named "etcd-3" already exists at https:\/\/10\.0\.1\.13:2380.*replace-member/);
  });

  it('refuses a name that already is a voting member at that URL: nothing to add', () => {
    assert.throws(() => addPreflight(list(), 'etcd-3', P(3)), /refused: "etcd-3" is already a voting member/);
  });

  it('an interrupted run continues: an unnamed (added, never started) member at the URL', () => {
    assert.deepEqual(addPreflight(list(m('14', '', P(4), null, true)), 'etcd-4', P(4)), { state: 'added', id: 'e', members_before: 3 });
  });

  it('an interrupted run continues: a started learner of the same name keeps its data', () => {
    assert.deepEqual(DERIVE.add_preflight!(list(m('14', 'etcd-4', P(4), C(4), true)), 'etcd-4', P(4)), { state: 'started', id: 'e', members_before: 3 });
  });
});

describe('remove-member preflight (derive shrink_preflight)', () => {
  const healthy = (...n: number[]): Json => n.map((i) => ({ endpoint: C(i), health: true }));

  it('never shrinks a 2-member cluster, even with both healthy', () => {
    const two = { members: three.slice(0, 2) };
    const want = /refused: the cluster has 2 member\(s\); removing etcd-2 from a 2-member cluster is never done/;
    assert.throws(() => shrinkPreflight(two, healthy(1, 2), 'etcd-2'), want);
  });

  it('5 → 4 with all healthy passes, with the arithmetic', () => {
    const five = list(m('14', 'etcd-4', P(4), C(4)), m('15', 'etcd-5', P(5), C(5)));
    const want = { members: 5, healthy: 5, quorum: 3, members_after: 4, healthy_after: 4, quorum_after: 3 };
    assert.deepEqual(shrinkPreflight(five, healthy(1, 2, 3, 4, 5), 'etcd-5'), want);
  });

  it('refuses when the remaining healthy members would be fewer than the new quorum', () => {
    assert.throws(() => shrinkPreflight(list(), healthy(1, 3), 'etcd-3'), /refused: removing etcd-3 leaves 1 healthy of 2 members, but quorum would be 2/);
  });

  it('counts voting members only: a learner does not make 2 voters shrinkable, and is not removed this way', () => {
    const withLearner = { members: [...three.slice(0, 2), m('14', 'etcd-4', P(4), C(4), true)] };
    assert.throws(() => shrinkPreflight(withLearner, healthy(1, 2, 4), 'etcd-2'), /the cluster has 2 member\(s\)/);
    const fourWithLearner = list(m('14', 'etcd-4', P(4), C(4), true));
    assert.throws(() => shrinkPreflight(fourWithLearner, healthy(1, 2, 3, 4), 'etcd-4'), /refused: "etcd-4" is a learner, not a voting member/);
    // 3 voters + a learner, one voter down: removing a healthy voter leaves 1 healthy of 2 (quorum 2).
    assert.throws(() => shrinkPreflight(fourWithLearner, healthy(1, 2, 4), 'etcd-2'), /removing etcd-2 leaves 1 healthy of 2 members, but quorum would be 2/);
  });

  it('refuses an unknown name', () => {
    assert.throws(() => shrinkPreflight(list(), healthy(1, 2, 3), 'etcd-9'), /refused: no member named "etcd-9"/);
  });
});

describe("add-member's certificate preflight (derive member_certs)", function () {
  this.timeout(30_000);
  let dir: string;
  const ssl = (...args: string[]): string => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const leaf = (name: string, san: string): void => {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    const ca = ['-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'];
    ssl('x509', '-req', '-in', `${name}.csr`, ...ca, '-out', `${name}.crt`, '-days', '365', '-extfile', `${name}.ext`);
  };
  const pub = (name: string): string => ssl('pkey', '-in', `${name}.key`, '-pubout');
  const stamp = (d: Date): string =>
    d
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
  const certs = (server: string, peer: string, now = new Date(Date.now() + 2000)): Json =>
    memberCerts({
      ca: read('ca.crt'),
      server: { file: '/etc/etcd/pki/server.crt', pem: read(`${server}.crt`), publicKey: pub(server) },
      peer: { file: '/etc/etcd/pki/peer.crt', pem: read(`${peer}.crt`), publicKey: pub(peer) },
      peerUrl: P(4),
      clientUrl: C(4),
      now: stamp(now),
    });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-lifecycle-'));
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    ssl('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=ca');
    leaf('server', 'IP:10.0.1.14,DNS:etcd-4');
    leaf('peer', 'IP:10.0.1.14,DNS:etcd-4');
    leaf('peer-no-ip', 'DNS:etcd-4,IP:127.0.0.1');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('good certificates pass, checked against the host of both URLs', () => {
    assert.deepEqual(certs('server', 'peer'), { hosts: ['10.0.1.14'], warnings: [] });
  });

  it('a peer certificate without the member IP is refused, naming the file and the missing SAN', () => {
    const want = /^DeriveError: refused: etcd would reject this member's certificates: \/etc\/etcd\/pki\/peer\.crt: has no IP SAN for 10\.0\.1\.14/;
    assert.throws(() => certs('server', 'peer-no-ip'), want);
  });

  it("a certificate with another certificate's key is refused (key mismatch)", () => {
    const swapped = {
      ca: read('ca.crt'),
      server: { file: 's.crt', pem: read('server.crt'), publicKey: pub('peer') },
      peer: { file: 'p.crt', pem: read('peer.crt'), publicKey: pub('peer') },
      peerUrl: P(4),
      clientUrl: C(4),
      now: stamp(new Date(Date.now() + 2000)),
    };
    assert.throws(() => memberCerts(swapped), /s\.crt: does not belong to its private key/);
  });

  it('judged at the run time it is given: a year on, both are expired', () => {
    assert.throws(() => certs('server', 'peer', new Date(Date.now() + 400 * 86_400_000)), /server\.crt: expired on .*peer\.crt: expired on/);
  });
});
