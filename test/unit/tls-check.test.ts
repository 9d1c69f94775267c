// Certificate checks against real certificates made with openssl: signed by the cluster CA or not,
// SANs covering the member's addresses (IPv4, IPv6, DNS) or missing one, extended key usage per role,
// validity (expired, not yet valid, expiring soon) and the private key it belongs to.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCertificate, urlHost, type CertCheck } from '../../engine/tls/check.js';
import { NEW_EC_KEY, opensslIn, selfSignedCa, signCsr, type Openssl } from '../support/openssl.js';

let dir: string;
const ssl: Openssl = (...args) => opensslIn(dir)(...args);
const read = (f: string): string => readFileSync(join(dir, f), 'utf8');

/** A CA named `name` (key + self-signed cert). */
const ca = (name: string): void => selfSignedCa(ssl, name, name, 3650);

/** A leaf certificate signed by `by`, with `san` and `eku`, valid for `days`. */
function leaf(name: string, by: string, san: string, eku: string, days = 365): void {
  ssl('req', '-new', ...NEW_EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${eku}\n`);
  signCsr(ssl, `${name}.csr`, { crt: `${by}.crt`, key: `${by}.key` }, `${name}.ext`, `${name}.crt`, { days, createSerial: true });
}

const pub = (name: string): string => ssl('pkey', '-in', `${name}.key`, '-pubout');
/** After the certificates were made (their notBefore is the moment openssl signed them). */
let NOW: Date;
const codes = (c: Partial<CertCheck> & Pick<CertCheck, 'certPem'>): string[] =>
  checkCertificate({ file: 'x.crt', role: 'peer', caPem: read('ca.crt'), hosts: ['10.0.1.11'], now: NOW, ...c }).map((p) => `${p.severity}:${p.code}`);

describe('TLS certificate checks (engine/tls/check.ts)', function () {
  this.timeout(30_000);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-tls-'));
    ca('ca');
    ca('other-ca');
    leaf('good', 'ca', 'IP:10.0.1.11,IP:127.0.0.1,IP:fd00::11,DNS:etcd-1', 'serverAuth,clientAuth');
    leaf('no-ip', 'ca', 'IP:10.0.1.12,DNS:etcd-1', 'serverAuth,clientAuth');
    leaf('foreign', 'other-ca', 'IP:10.0.1.11', 'serverAuth,clientAuth');
    leaf('server-only', 'ca', 'IP:10.0.1.11', 'serverAuth');
    leaf('short', 'ca', 'IP:10.0.1.11', 'serverAuth,clientAuth', 10);
    NOW = new Date(Date.now() + 1000);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a good peer certificate passes: CA, SANs for IPv4, IPv6 and a name, usages, its own key', () => {
    assert.deepEqual(codes({ certPem: read('good.crt'), hosts: ['10.0.1.11', 'fd00::11', 'etcd-1'], publicKeyPem: pub('good') }), []);
  });

  it("names the missing IP SAN (the new member's address) and lists the SANs it has", () => {
    const p = checkCertificate({
      file: '/etc/etcd/pki/peer.crt',
      role: 'peer',
      certPem: read('no-ip.crt'),
      caPem: read('ca.crt'),
      hosts: ['10.0.1.11', '10.0.1.12'],
      now: NOW,
    });
    assert.deepEqual(
      p.map((x) => x.code),
      ['missing-san'],
    );
    assert.match(
      p[0]?.message ?? '',
      /^\/etc\/etcd\/pki\/peer\.crt: has no IP SAN for 10\.0\.1\.11 \(its SANs: .*IP Address:10\.0\.1\.12.*\); etcd rejects it there$/,
    );
  });

  it('a certificate from another CA is refused, naming both', () => {
    const p = checkCertificate({ file: 'peer.crt', role: 'peer', certPem: read('foreign.crt'), caPem: read('ca.crt'), hosts: ['10.0.1.11'], now: NOW });
    assert.deepEqual(
      p.map((x) => x.code),
      ['not-signed-by-ca'],
    );
    assert.match(p[0]?.message ?? '', /issued by "CN=other-ca", not signed by the cluster CA "CN=ca"/);
  });

  it('validity: expired, not yet valid, a warning under 30 days', () => {
    const later = new Date(NOW.getTime() + 400 * 86_400_000);
    assert.deepEqual(codes({ certPem: read('good.crt'), now: later }), ['error:expired']);
    assert.deepEqual(codes({ certPem: read('good.crt'), now: new Date(NOW.getTime() - 2 * 86_400_000) }), ['error:not-yet-valid']);
    assert.deepEqual(codes({ certPem: read('short.crt') }), ['warning:expires-soon']);
    assert.deepEqual(codes({ certPem: read('short.crt'), warnDays: 5 }), []);
  });

  it('usages per role: a serverAuth-only certificate cannot be a peer or a server certificate, nor a client one', () => {
    assert.deepEqual(codes({ certPem: read('server-only.crt'), role: 'peer' }), ['error:missing-usage']);
    assert.deepEqual(codes({ certPem: read('server-only.crt'), role: 'server' }), ['error:missing-usage']);
    assert.deepEqual(codes({ certPem: read('server-only.crt'), role: 'client', hosts: [] }), ['error:missing-usage']);
    assert.deepEqual(codes({ certPem: read('good.crt'), role: 'client', hosts: [] }), []);
  });

  it("a certificate that is not its key's is refused; garbage is unreadable, not a crash", () => {
    assert.deepEqual(codes({ certPem: read('good.crt'), publicKeyPem: pub('no-ip') }), ['error:key-mismatch']);
    assert.deepEqual(codes({ certPem: read('good.crt'), publicKeyPem: 'not a key' }), ['error:key-mismatch']);
    assert.deepEqual(codes({ certPem: 'hello' }), ['error:unreadable']);
    assert.deepEqual(codes({ certPem: read('good.crt'), caPem: '' }), ['error:unreadable']);
  });

  it('urlHost takes the host of a member URL, IPv6 without brackets', () => {
    assert.equal(urlHost('https://10.0.1.11:2380'), '10.0.1.11');
    assert.equal(urlHost('https://[fd00::11]:2380'), 'fd00::11');
    assert.equal(urlHost('https://etcd-1.example:2379'), 'etcd-1.example');
  });
});
