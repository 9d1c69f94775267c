// The pure judgements behind etcd_cert (derive tls_check, served_certs, ca_key_matches), on real
// certificates made with openssl: what a member's files read as (exit code, output, stderr) in,
// a refusal naming the file and the problem, or serials and expiries, out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caKeyMatches, servedCerts, tlsCheck, type TlsSpec } from '../../engine/modules/derive-certs.js';
import type { JsonObject } from '../../engine/model/types.js';

describe('etcd_cert judgements (derive tls_check, served_certs, ca_key_matches)', function () {
  this.timeout(30_000);
  let dir: string;
  const ssl = (...args: string[]): string => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const ok = (text: string): JsonObject => ({ rc: 0, stdout: text.trim(), stderr: '' });
  const failed = (stderr: string): JsonObject => ({ rc: 1, stdout: '', stderr });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const leaf = (name: string, by: string, san: string, eku: string): void => {
    ssl('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `${san ? `subjectAltName=${san}\n` : ''}extendedKeyUsage=${eku}\n`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.crt`, '-CAkey', `${by}.key`, '-out', `${name}.crt`, '-days', '365', '-extfile', `${name}.ext`);
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

  /** A member's files as etcd_cert check reads them: server, peer and client, all good unless replaced. */
  const spec = (over: Partial<Record<'ca' | 'server' | 'serverPub' | 'client' | 'clientPub', JsonObject>> = {}, fresh = false): TlsSpec => ({
    hosts: ['10.0.1.14'],
    cas: [{ file: '/pki/ca.crt', read: over.ca ?? ok(read('ca.crt')), as: 'etcd' }],
    certs: [
      {
        roles: ['server'],
        file: '/pki/server.crt',
        key: '/pki/server.key',
        read: over.server ?? ok(read('server.crt')),
        pub: over.serverPub ?? ok(pub('server')),
        ca: 0,
        as: 'etcd',
      },
      { roles: ['peer'], file: '/pki/peer.crt', key: '/pki/peer.key', read: ok(read('peer.crt')), pub: ok(pub('peer')), ca: 0, as: 'etcd' },
      {
        roles: ['client'],
        file: '/pki/client.crt',
        key: '/pki/client.key',
        read: over.client ?? ok(read('client.crt')),
        pub: over.clientPub ?? ok(pub('client')),
        ca: 0,
        as: '',
      },
    ],
    ...(fresh ? { fresh: true } : {}),
  });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-derive-certs-'));
    ssl('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=ca');
    ssl('req', '-x509', ...key, '-keyout', 'other.key', '-out', 'other.crt', '-days', '3650', '-subj', '/CN=other');
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
