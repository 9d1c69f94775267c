// The pure judgements behind etcd_cert (derive tls_check, served_certs, ca_key_matches), on real
// certificates made with openssl: what a member's files read as (exit code, output, stderr) in,
// a refusal naming the file and the problem, or serials and expiries, out.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caKeyMatches, servedCerts, tlsCheck, type TlsSpec } from '../../engine/modules/derive-certs.js';
import type { JsonObject } from '../../engine/model/types.js';
import { NEW_EC_KEY, opensslIn, selfSignedCa, signCsr, type Openssl } from '../support/openssl.js';

describe('etcd_cert judgements (derive tls_check, served_certs, ca_key_matches)', function () {
  this.timeout(30_000);
  let dir: string;
  const ssl: Openssl = (...args) => opensslIn(dir)(...args);
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const ok = (text: string): JsonObject => ({ rc: 0, stdout: text.trim(), stderr: '' });
  const failed = (stderr: string): JsonObject => ({ rc: 1, stdout: '', stderr });
  const leaf = (name: string, by: string, san: string, eku: string): void => {
    ssl('req', ...NEW_EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `${san ? `subjectAltName=${san}\n` : ''}extendedKeyUsage=${eku}\n`);
    signCsr(ssl, `${name}.csr`, { crt: `${by}.crt`, key: `${by}.key` }, `${name}.ext`, `${name}.crt`, { days: 365 });
  };
  const pub = (name: string): string => ssl('pkey', '-in', `${name}.key`, '-pubout');
  const serial = (name: string): string =>
    ssl('x509', '-noout', '-serial', '-in', `${name}.crt`)
      .trim()
      .replace(/^serial=/, '');
  const stamp = (d: Date): string =>
    d
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
  const now = (): string => stamp(new Date(Date.now() + 2000));

  /** One certificate of a member as etcd_cert check reads it (/pki/<role>.crt and .key, under the CA), its file and key read as given or as made. */
  const cert = (role: 'server' | 'peer' | 'client', as: string, crt?: JsonObject, key?: JsonObject): TlsSpec['certs'][number] => ({
    roles: [role],
    file: `/pki/${role}.crt`,
    key: `/pki/${role}.key`,
    read: crt ?? ok(read(`${role}.crt`)),
    pub: key ?? ok(pub(role)),
    ca: 0,
    as,
  });
  /** A member's files as etcd_cert check reads them: server, peer and client, all good unless replaced. */
  const spec = (over: Partial<Record<'ca' | 'server' | 'serverPub' | 'client' | 'clientPub', JsonObject>> = {}, fresh = false): TlsSpec => ({
    hosts: ['10.0.1.14'],
    cas: [{ file: '/pki/ca.crt', read: over.ca ?? ok(read('ca.crt')), as: 'etcd' }],
    certs: [cert('server', 'etcd', over.server, over.serverPub), cert('peer', 'etcd'), cert('client', '', over.client, over.clientPub)],
    ...(fresh ? { fresh: true } : {}),
  });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-derive-certs-'));
    selfSignedCa(ssl, 'ca', 'ca', 3650);
    selfSignedCa(ssl, 'other', 'other', 3650);
    leaf('server', 'ca', 'IP:10.0.1.14,DNS:etcd-4', 'serverAuth,clientAuth');
    leaf('peer', 'ca', 'IP:10.0.1.14,DNS:etcd-4', 'serverAuth,clientAuth');
    leaf('client', 'ca', '', 'clientAuth');
    leaf('foreign', 'other', 'IP:10.0.1.14', 'serverAuth,clientAuth');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('good files pass: every certificate with its serial and expiry; a client certificate needs no SAN', () => {
    const r = tlsCheck(spec(), now());
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(
      (r.certs as { file: string; serial: string }[]).map((c) => [c.file, c.serial]),
      [
        ['/pki/server.crt', serial('server')],
        ['/pki/peer.crt', serial('peer')],
        ['/pki/client.crt', serial('client')],
      ],
    );
  });

  it('a file that cannot be read is named with the user it was read as and the reader’s own error', () => {
    assert.throws(
      () => tlsCheck(spec({ ca: failed('cat: /pki/ca.crt: Permission denied') }), now()),
      /refused: etcd would reject this member's certificates: \/pki\/ca\.crt: cannot be read by user etcd \(cat: \/pki\/ca\.crt: Permission denied\)$/,
    );
    assert.throws(
      () => tlsCheck(spec({ clientPub: failed('cat: /pki/client.key: No such file or directory') }), now()),
      /\/pki\/client\.key: cannot be read \(cat: \/pki\/client\.key: No such file or directory\)$/,
    );
    assert.throws(
      () => tlsCheck(spec({ server: { rc: 0, stdout: '', stderr: '' } }), now()),
      /\/pki\/server\.crt: cannot be read by user etcd \(the file is empty\)/,
    );
  });

  it('every problem is named, each with its file: another CA, a key that is not its own', () => {
    assert.throws(
      () => tlsCheck(spec({ server: ok(read('foreign.crt')), clientPub: ok(pub('peer')) }), now()),
      /\/pki\/server\.crt: issued by "CN=other", not signed by the cluster CA "CN=ca".*\/pki\/client\.crt: does not belong to its private key/,
    );
  });

  it('files signed during the run are not refused as "not yet valid" (the run started before they were); others are', () => {
    const started = stamp(new Date(Date.now() - 3_600_000 * 24 * 2));
    assert.throws(() => tlsCheck(spec(), started), /server\.crt: not valid before/);
    assert.deepEqual(tlsCheck(spec({}, true), started).warnings, []);
  });

  it('served_certs: the URL must present exactly the installed file', () => {
    const r = servedCerts({
      checks: [{ url: 'https://10.0.1.14:2379', file: '/pki/server.crt', served: ok(read('server.crt')), installed: ok(read('server.crt')) }],
    });
    assert.deepEqual(
      (r.served as { serial: string }[]).map((s) => s.serial),
      [serial('server')],
    );
    assert.throws(
      () =>
        servedCerts({ checks: [{ url: 'https://10.0.1.14:2380', file: '/pki/peer.crt', served: ok(read('server.crt')), installed: ok(read('peer.crt')) }] }),
      new RegExp(`https://10\\.0\\.1\\.14:2380 serves serial ${serial('server')} \\(not after .*\\), not /pki/peer\\.crt's serial ${serial('peer')}`),
    );
    assert.throws(
      () =>
        servedCerts({
          checks: [{ url: 'https://10.0.1.14:2380', file: '/pki/peer.crt', served: failed('connect: Connection refused'), installed: ok(read('peer.crt')) }],
        }),
      /https:\/\/10\.0\.1\.14:2380: no certificate received/,
    );
  });

  it('ca_key_matches: the secret must be the cluster CA’s key', () => {
    assert.deepEqual(caKeyMatches(ok(read('ca.crt')), '/pki/ca.crt', ok(pub('ca')), 'etcd_ca_key'), { ca: '/pki/ca.crt', subject: 'CN=ca' });
    assert.throws(
      () => caKeyMatches(ok(read('ca.crt')), '/pki/ca.crt', ok(pub('other')), 'etcd_ca_key'),
      /refused: the key in secret etcd_ca_key does not belong to the cluster CA \/pki\/ca\.crt \(their public keys differ\)/,
    );
    assert.throws(
      () => caKeyMatches(failed('cat: /pki/ca.crt: No such file or directory'), '/pki/ca.crt', ok(pub('ca')), 'k'),
      /refused: \/pki\/ca\.crt: cannot be read/,
    );
  });
});
