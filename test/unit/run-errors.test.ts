// Run-time failures carry a code from model/errors.ts; callers branch on it, never on the text.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { RunError } from '../../engine/model/errors.js';
import { normalizeMode } from '../../engine/transports/common.js';
import { LocalTransport } from '../../engine/transports/local.js';
import { isEncryptedKey } from '../../engine/transports/ssh/auth.js';
import { BecomeError, UnreachableError } from '../../engine/transports/transport.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof RunError ? e.code : `not a RunError: ${String(e)}`;
  }
  return undefined;
}

describe('run-time errors have codes', () => {
  it('unreachable hosts: one code per reason; become failures their own', () => {
    const codes = (['connect', 'timeout', 'auth', 'host-key', 'dropped'] as const).map((r) => new UnreachableError('h', 'm', r).code);
    assert.deepEqual(codes, ['CONNECT_FAILED', 'CONNECT_TIMEOUT', 'AUTH_FAILED', 'HOST_KEY_REJECTED', 'CONNECTION_DROPPED']);
    assert.equal(new BecomeError('h', 'm').code, 'BECOME_FAILED');
    assert.ok(new BecomeError('h', 'm') instanceof RunError);
  });

  it('a bad file mode and a closed transport', async () => {
    assert.equal(
      code(() => normalizeMode('u+x')),
      'BAD_FILE_MODE',
    );
    const t = new LocalTransport();
    await t.close();
    await assert.rejects(t.exec('true'), (e: unknown) => e instanceof RunError && e.code === 'TRANSPORT_CLOSED');
  });

  it('an aborted transfer is an ABORTED RunError named AbortError', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'runbook-errors-'));
    try {
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(new LocalTransport().putContent('x', path.join(dir, 'f'), { signal: ac.signal }), (e: unknown) => {
        return e instanceof RunError && e.code === 'ABORTED' && e.name === 'AbortError';
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('encrypted identity files are recognised from the file, not from a parser message', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'runbook-keys-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [type, format] of [
    ['ed25519', 'OpenSSH'],
    ['ecdsa', 'OpenSSH'],
    ['rsa', 'PEM'],
  ] as const) {
    it(`${type} (${format === 'PEM' ? 'PEM' : 'OpenSSH'} format), with and without a passphrase`, () => {
      for (const passphrase of ['', 'pass phrase']) {
        const file = path.join(dir, `${type}-${passphrase ? 'enc' : 'plain'}`);
        const args = ['-q', '-t', type, '-N', passphrase, '-f', file, ...(format === 'PEM' ? ['-m', 'PEM'] : []), ...(type === 'rsa' ? ['-b', '2048'] : [])];
        execFileSync('/usr/bin/ssh-keygen', args);
        assert.equal(isEncryptedKey(readFileSync(file)), passphrase !== '', `${file}: ${readFileSync(file, 'utf8').split('\n')[1] ?? ''}`);
      }
    });
  }
  it('a public key or garbage is not "encrypted"', () => {
    assert.equal(isEncryptedKey(Buffer.from('ssh-ed25519 AAAA comment\n')), false);
    assert.equal(isEncryptedKey(Buffer.from('-----BEGIN OPENSSH PRIVATE KEY-----\n!!!\n-----END OPENSSH PRIVATE KEY-----\n')), false);
  });
});
