import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appendKnownHost,
  checkHostKey,
  entryMatches,
  fingerprintSha256,
  formatKnownHostsLine,
  keyTypeOfBlob,
  knownHostsName,
  knownKeyTypes,
  loadKnownHosts,
  matchPattern,
  matchPatternList,
  parseKnownHosts,
} from '../../engine/transports/known-hosts.js';

interface Key {
  type: string;
  b64: string;
  blob: Buffer;
  pubPath: string;
}

let dir: string;
let ed1: Key;
let ed2: Key;
let ecdsa: Key;

function makeKey(name: string, type: string): Key {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', path]);
  const pub = readFileSync(`${path}.pub`, 'utf8').trim().split(' ');
  const [t, b64] = pub as [string, string];
  return { type: t, b64, blob: Buffer.from(b64, 'base64'), pubPath: `${path}.pub` };
}

const line = (hosts: string, k: Key, extra = ''): string => `${hosts} ${k.type} ${k.b64}${extra}`;

describe('known_hosts', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-kh-'));
    ed1 = makeKey('ed1', 'ed25519');
    ed2 = makeKey('ed2', 'ed25519');
    ecdsa = makeKey('ec1', 'ecdsa');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the key type from a blob and fingerprints like ssh-keygen -l', () => {
    assert.equal(keyTypeOfBlob(ed1.blob), 'ssh-ed25519');
    assert.equal(keyTypeOfBlob(ecdsa.blob), 'ecdsa-sha2-nistp256');
    assert.equal(keyTypeOfBlob(Buffer.from('xx')), undefined);
    const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', ed1.pubPath], { encoding: 'utf8' });
    assert.equal(out.split(' ')[1], fingerprintSha256(ed1.blob));
  });

  it('matches a plain host, and reports a different key for it as mismatch', () => {
    const kh = parseKnownHosts(line('127.0.0.21', ed1));
    assert.equal(checkHostKey(kh, '127.0.0.21', 22, ed1.blob).status, 'match');
    const changed = checkHostKey(kh, '127.0.0.21', 22, ed2.blob);
    assert.equal(changed.status, 'mismatch');
    assert.equal(changed.known.length, 1);
    assert.equal(changed.fingerprint, fingerprintSha256(ed2.blob));
    assert.equal(checkHostKey(kh, '127.0.0.22', 22, ed1.blob).status, 'unknown');
  });

  it('treats a host known only with a key of another type as changed (mismatch)', () => {
    const kh = parseKnownHosts(line('db1', ecdsa));
    assert.equal(checkHostKey(kh, 'db1', 22, ed1.blob).status, 'mismatch');
    assert.deepEqual(knownKeyTypes(kh, 'db1', 22), ['ecdsa-sha2-nistp256']);
  });

  it('accepts any of several keys listed for a host', () => {
    const kh = parseKnownHosts([line('db1', ecdsa), line('db1', ed1)].join('\n'));
    assert.equal(checkHostKey(kh, 'db1', 22, ed1.blob).status, 'match');
    assert.equal(checkHostKey(kh, 'db1', 22, ecdsa.blob).status, 'match');
    assert.equal(checkHostKey(kh, 'db1', 22, ed2.blob).status, 'mismatch');
    assert.deepEqual(knownKeyTypes(kh, 'db1', 22), ['ecdsa-sha2-nistp256', 'ssh-ed25519']);
  });

  it('handles comma lists, comments, blank lines and trailing comments', () => {
    const text = ['# a comment', '', `   ${line('etcd-1,10.0.0.1,etcd-1.example', ed1, ' root@etcd-1 extra words')}`, '  # indented comment', ''].join('\n');
    const kh = parseKnownHosts(text);
    assert.equal(kh.entries.length, 1);
    assert.equal(kh.entries[0]?.line, 3);
    assert.equal(kh.entries[0]?.comment, 'root@etcd-1 extra words');
    for (const h of ['etcd-1', '10.0.0.1', 'ETCD-1.example']) assert.equal(checkHostKey(kh, h, 22, ed1.blob).status, 'match', h);
    assert.deepEqual(kh.problems, []);
  });

  it('uses [host]:port for non-default ports and the bare name for port 22', () => {
    assert.equal(knownHostsName('10.0.0.2', 22), '10.0.0.2');
    assert.equal(knownHostsName('10.0.0.2', 2222), '[10.0.0.2]:2222');
    const kh = parseKnownHosts([line('[10.0.0.2]:2222', ed1), line('10.0.0.3', ed2)].join('\n'));
    assert.equal(checkHostKey(kh, '10.0.0.2', 2222, ed1.blob).status, 'match');
    assert.equal(checkHostKey(kh, '10.0.0.2', 22, ed1.blob).status, 'unknown');
    assert.equal(checkHostKey(kh, '10.0.0.2', 2200, ed1.blob).status, 'unknown');
    // A bare entry is for port 22 only.
    assert.equal(checkHostKey(kh, '10.0.0.3', 22, ed2.blob).status, 'match');
    assert.equal(checkHostKey(kh, '10.0.0.3', 2222, ed2.blob).status, 'unknown');
    // `[host]:22` (not what OpenSSH writes) is accepted for port 22.
    const kh22 = parseKnownHosts(line('[10.0.0.4]:22', ed1));
    assert.equal(checkHostKey(kh22, '10.0.0.4', 22, ed1.blob).status, 'match');
  });

  it('matches entries hashed by ssh-keygen -H (plain and [host]:port)', () => {
    const path = join(dir, 'hashed_known_hosts');
    writeFileSync(path, [line('127.0.0.21', ed1), line('[127.0.0.22]:2222', ed2), line('etcd-3,10.1.1.3', ecdsa)].join('\n') + '\n');
    execFileSync('ssh-keygen', ['-q', '-H', '-f', path], { stdio: 'ignore' });
    const text = readFileSync(path, 'utf8');
    assert.ok(!text.includes('127.0.0.21'), 'ssh-keygen -H hashed the names');
    const kh = parseKnownHosts(text);
    assert.equal(kh.hashed, true);
    assert.ok(kh.entries.every((e) => e.hashed));
    assert.equal(checkHostKey(kh, '127.0.0.21', 22, ed1.blob).status, 'match');
    assert.equal(checkHostKey(kh, '127.0.0.21', 22, ed2.blob).status, 'mismatch');
    assert.equal(checkHostKey(kh, '127.0.0.22', 2222, ed2.blob).status, 'match');
    assert.equal(checkHostKey(kh, '127.0.0.22', 22, ed2.blob).status, 'unknown');
    assert.equal(checkHostKey(kh, '10.1.1.3', 22, ecdsa.blob).status, 'match');
    assert.equal(checkHostKey(kh, 'etcd-3', 22, ecdsa.blob).status, 'match');
    assert.equal(checkHostKey(kh, 'etcd-4', 22, ecdsa.blob).status, 'unknown');
  });

  it('matches a hashed entry computed by hand (HMAC-SHA1 of the name keyed with the salt)', () => {
    const salt = Buffer.from('0123456789abcdefghij');
    const mac = createHmac('sha1', salt).update('[db.example]:2022').digest();
    const kh = parseKnownHosts(`|1|${salt.toString('base64')}|${mac.toString('base64')} ${ed1.type} ${ed1.b64}`);
    assert.equal(checkHostKey(kh, 'db.example', 2022, ed1.blob).status, 'match');
    assert.equal(checkHostKey(kh, 'db.example', 22, ed1.blob).status, 'unknown');
  });

  it('refuses a key listed under @revoked, even when it is also listed as known', () => {
    const kh = parseKnownHosts([line('etcd-1', ed1), line('@revoked *', ed1), line('etcd-2', ed2)].join('\n'));
    const r = checkHostKey(kh, 'etcd-1', 22, ed1.blob);
    assert.equal(r.status, 'revoked');
    assert.equal(r.entry?.line, 2);
    assert.equal(checkHostKey(kh, 'etcd-2', 22, ed2.blob).status, 'match');
    // A revoked key presented by an unknown host is still revoked.
    assert.equal(checkHostKey(kh, 'other', 22, ed1.blob).status, 'revoked');
    // Revocation limited by its host pattern (OpenSSH semantics).
    const scoped = parseKnownHosts([line('@revoked etcd-9', ed2), line('etcd-2', ed2)].join('\n'));
    assert.equal(checkHostKey(scoped, 'etcd-2', 22, ed2.blob).status, 'match');
    assert.equal(checkHostKey(scoped, 'etcd-9', 22, ed2.blob).status, 'revoked');
  });

  it('ignores @cert-authority lines (host certificates are not supported)', () => {
    const kh = parseKnownHosts(line('@cert-authority *.example', ed1));
    assert.equal(kh.entries[0]?.marker, 'cert-authority');
    assert.equal(checkHostKey(kh, 'a.example', 22, ed1.blob).status, 'unknown');
    assert.deepEqual(knownKeyTypes(kh, 'a.example', 22), []);
  });

  it('supports * and ? wildcards and !negation', () => {
    assert.ok(matchPattern('etcd-1.prod.example', '*.prod.example'));
    assert.ok(matchPattern('10.0.0.7', '10.0.0.?'));
    assert.ok(!matchPattern('10.0.0.17', '10.0.0.?'));
    assert.ok(matchPattern('anything', '*'));
    assert.ok(matchPattern('a', 'a*'));
    assert.ok(matchPattern('abcbd', 'a*b?'));
    assert.ok(!matchPattern('abc', 'a*d'));
    assert.ok(matchPatternList('good.example', '*.example,!bad.example'));
    assert.ok(!matchPatternList('bad.example', '*.example,!bad.example'));
    assert.ok(!matchPatternList('x.other', '*.example,!bad.example'));
    // A negation alone matches nothing.
    assert.ok(!matchPatternList('x', '!y'));
    const kh = parseKnownHosts(line('*.example,!bad.example', ed1));
    assert.equal(checkHostKey(kh, 'good.example', 22, ed1.blob).status, 'match');
    assert.equal(checkHostKey(kh, 'bad.example', 22, ed1.blob).status, 'unknown');
    assert.ok(entryMatches(kh.entries[0]!, 'good.example', 22));
  });

  it('skips malformed lines and reports them', () => {
    const text = [
      'onlyhost',
      `host ssh-ed25519 !!notbase64!!`,
      `host ssh-rsa ${ed1.b64}`, // type does not match the blob
      'host 2048 65537 12345', // SSH-1
      '@bogus host ssh-ed25519 AAAA',
      '|1|bad|hash ssh-ed25519 ' + ed1.b64,
      line('good', ed1),
    ].join('\n');
    const kh = parseKnownHosts(text);
    assert.equal(kh.entries.length, 1);
    assert.deepEqual(
      kh.problems.map((p) => p.line),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(checkHostKey(kh, 'good', 22, ed1.blob).status, 'match');
  });

  it('treats a missing file as empty', async () => {
    const kh = await loadKnownHosts(join(dir, 'does-not-exist'));
    assert.equal(kh.entries.length, 0);
    assert.equal(checkHostKey(kh, 'x', 22, ed1.blob).status, 'unknown');
  });

  it('appends plain entries to a new file (mode 0600) that OpenSSH can find', async () => {
    const path = join(dir, 'sub', 'new_known_hosts');
    await appendKnownHost(path, '127.0.0.21', 22, ed1.blob);
    await appendKnownHost(path, '127.0.0.22', 2222, ed2.blob);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const text = readFileSync(path, 'utf8');
    assert.equal(text, `127.0.0.21 ssh-ed25519 ${ed1.b64}\n[127.0.0.22]:2222 ssh-ed25519 ${ed2.b64}\n`);
    const kh = await loadKnownHosts(path);
    assert.equal(checkHostKey(kh, '127.0.0.22', 2222, ed2.blob).status, 'match');
    const found = execFileSync('ssh-keygen', ['-F', '[127.0.0.22]:2222', '-f', path], { encoding: 'utf8' });
    assert.match(found, /\[127\.0\.0\.22\]:2222 ssh-ed25519/);
  });

  it('appends hashed entries when the file already uses hashing, after a missing final newline', async () => {
    const path = join(dir, 'hashed2');
    writeFileSync(path, line('127.0.0.30', ed2) + '\n');
    execFileSync('ssh-keygen', ['-q', '-H', '-f', path], { stdio: 'ignore' });
    writeFileSync(path, readFileSync(path, 'utf8').trimEnd()); // no trailing newline
    const written = await appendKnownHost(path, '127.0.0.31', 2200, ed1.blob);
    assert.match(written, /^\|1\|/);
    const text = readFileSync(path, 'utf8');
    assert.equal(text.split('\n').filter((l) => l.startsWith('|1|')).length, 2);
    const kh = await loadKnownHosts(path);
    assert.equal(kh.problems.length, 0);
    assert.equal(checkHostKey(kh, '127.0.0.31', 2200, ed1.blob).status, 'match');
    assert.equal(checkHostKey(kh, '127.0.0.30', 22, ed2.blob).status, 'match');
    // OpenSSH agrees with our HMAC.
    const found = execFileSync('ssh-keygen', ['-F', '[127.0.0.31]:2200', '-f', path], { encoding: 'utf8' });
    assert.match(found, /ssh-ed25519/);
  });

  it('formats a hashed line that only matches its own host', () => {
    const kh = parseKnownHosts(formatKnownHostsLine('h1', 22, ed1.blob, { hashed: true }));
    assert.equal(kh.hashed, true);
    assert.equal(checkHostKey(kh, 'h1', 22, ed1.blob).status, 'match');
    assert.equal(checkHostKey(kh, 'h2', 22, ed1.blob).status, 'unknown');
  });
});
