// e2e: SshTransport and LocalTransport against real OpenSSH sshd hosts of the test lab.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { SshSettings } from '../../engine/model/types.js';
import { fingerprintSha256, parseKnownHosts } from '../../engine/transports/known-hosts.js';
import { LocalTransport } from '../../engine/transports/local.js';
import { SshTransport } from '../../engine/transports/ssh/transport.js';
import { UnreachableError } from '../../engine/transports/transport.js';
import { hostExec, labAddress, labDown, labUp, type Lab } from '../lab/lab.js';
import { hostPids, installStandIn, removeStandIns, standInScript, waitFor } from './fault-helpers.js';
import { labSsh, suiteLab } from '../support/lab.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIR = path.join(REPO, '.runbook/lab-ssh-test');

let lab: Lab;
let tmp: string;
const open: SshTransport[] = [];

/** A pgrep -f pattern for `marker` that does not match the command line of the pgrep looking for it. */
function markerPattern(marker: string): string {
  return `${marker.slice(0, 2)}[${marker[2]}]${marker.slice(3)}`;
}

function settings(over: Partial<SshSettings> = {}): SshSettings {
  return labSsh(lab, over);
}

function transport(hostIdx: number, over: Partial<SshSettings> = {}, opts: ConstructorParameters<typeof SshTransport>[3] = {}): SshTransport {
  const h = lab.hosts[hostIdx];
  if (!h) throw new Error(`no host ${hostIdx}`);
  const t = new SshTransport(h.name, h.address, settings(over), opts);
  open.push(t);
  return t;
}

/** The lab's known key for an address (from the lab known_hosts). */
function labKey(address: string): Buffer {
  const kh = parseKnownHosts(readFileSync(lab.knownHostsPath, 'utf8'));
  const e = kh.entries.find((x) => x.hosts === address);
  if (!e) throw new Error(`no lab key for ${address}`);
  return e.key;
}

async function rejectsUnreachable(p: Promise<unknown>, reason: UnreachableError['reason'], check?: (e: UnreachableError) => void): Promise<UnreachableError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof UnreachableError, `expected UnreachableError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    check?.(err);
    return err;
  }
  assert.fail(`expected UnreachableError(${reason})`);
}

/** Established TCP connections to address:22 owned by this process (ss runs in the same net namespace). */
function ourConnections(address: string): number {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', 'dst', `${address}:22`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(`pid=${process.pid},`)).length;
}

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout))));
}

describe('SshTransport (real sshd)', function () {
  this.timeout(60_000);

  suiteLab(
    {
      up: () => labUp({ dir: DIR, hosts: 2, etcd: false, firstOctet: 21 }),
      down: () => labDown(DIR),
      tmpPrefix: 'runbook-ssh-test-',
      beforeDown: async () => {
        for (const t of open) await t.close();
      },
    },
    (l, t) => {
      lab = l;
      tmp = t;
    },
  );

  describe('exec', () => {
    let t: SshTransport;
    before(() => {
      t = transport(0);
    });

    it('returns stdout, stderr and the exit code', async () => {
      const r = await t.exec('echo out; echo err >&2; hostname; exit 7');
      assert.equal(r.code, 7);
      assert.equal(r.stdout, 'out\netcd-1\n');
      assert.equal(r.stderr, 'err\n');
      assert.equal(r.timedOut, false);
      assert.equal(r.aborted, false);
      assert.equal(r.truncated, false);
      const ok = await t.exec('true');
      assert.equal(ok.code, 0);
      assert.equal(ok.stdout, '');
      assert.equal(ok.stderr, '');
    });

    it('passes commands with quotes, $, backticks and newlines through the remote shell intact', async () => {
      const r = await t.exec(`x='a b'; printf '%s|' "$x" "it's" '$HOME' \`echo tick\`\nprintf 'line2\\n'`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "a b|it's|$HOME|tick|line2\n");
    });

    it('reuses one connection for many execs (and measures per-exec latency)', async () => {
      const addr = lab.hosts[0]!.address;
      const n = 100;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = await t.exec('true');
        assert.equal(r.code, 0);
      }
      const per = (performance.now() - t0) / n;
      console.log(`      ${n} × \`true\` over one connection: ${per.toFixed(2)} ms per exec`);
      const parallel = await Promise.all(Array.from({ length: 30 }, (_, i) => t.exec(`echo ${i}`)));
      parallel.forEach((r, i) => assert.equal(r.stdout, `${i}\n`));
      assert.equal(t.stats.connects, 1);
      assert.equal(ourConnections(addr), 1);
      const onHost = await hostExec(lab, 'etcd-1', "pgrep -c -f '^sshd: root@notty' || true");
      assert.equal(onHost.stdout.trim(), '1', 'one ssh session process on the host');
    });

    it('streams output to callbacks and bounds what it keeps (truncation marker, bounded memory)', async () => {
      let streamed = 0;
      let peak = 0;
      const base = process.memoryUsage();
      const total = 96 * 1024 * 1024;
      const r = await t.exec(`head -c ${total} /dev/zero | tr '\\0' x; echo done >&2`, {
        maxOutputBytes: 100_000,
        onStdout: (c) => {
          streamed += c.length;
          if ((streamed & 0xfffff) < c.length) {
            const m = process.memoryUsage();
            peak = Math.max(peak, m.heapUsed + m.arrayBuffers - (base.heapUsed + base.arrayBuffers));
          }
        },
      });
      assert.equal(r.code, 0);
      assert.equal(streamed, total);
      assert.equal(r.truncated, true);
      assert.ok(r.stdout.startsWith('x'.repeat(100_000)));
      assert.match(r.stdout, /\n\[runbook: output truncated after 100000 bytes, \d+ more bytes dropped\]$/);
      assert.ok(r.stdout.length < 100_200);
      assert.equal(r.stderr, 'done\n');
      assert.ok(peak < 48 * 1024 * 1024, `memory grew by ${peak} bytes while ${total} bytes streamed`);
    });

    it('decodes non-UTF-8 output with replacement characters', async () => {
      const r = await t.exec("printf 'a\\377\\376b\\n'; printf '\\300\\n' >&2; printf 'ż\\n'");
      assert.equal(r.code, 0);
      assert.equal(r.stdout, 'a\uFFFD\uFFFDb\nż\n');
      assert.equal(r.stderr, '\uFFFD\n');
    });

    it('pipes stdin (string, Buffer, Readable) and sends EOF', async () => {
      assert.equal((await t.exec('cat', { stdin: 'hello\n' })).stdout, 'hello\n');
      const bin = randomBytes(300_000);
      const r = await t.exec('sha256sum', { stdin: bin });
      assert.equal(r.stdout.slice(0, 64), createHash('sha256').update(bin).digest('hex'));
      const chunks = Array.from({ length: 50 }, () => randomBytes(100_000));
      const r2 = await t.exec('wc -c', { stdin: Readable.from(chunks) });
      assert.equal(r2.stdout.trim(), '5000000');
      // No stdin: the command sees EOF at once instead of hanging.
      const r3 = await t.exec('cat; echo eof', { timeoutMs: 5000 });
      assert.equal(r3.stdout, 'eof\n');
    });

    it('a failing stdin stream stops the command (code null), it never runs on partial input', async () => {
      let reads = 0;
      const failing = new Readable({
        read() {
          if (reads++ === 0) this.push('partial\n');
          else setTimeout(() => this.destroy(new Error('disk on fire')), 100);
        },
      });
      const r = await t.exec('cat > /dev/null; echo finished', { stdin: failing, timeoutMs: 10_000 });
      assert.equal(r.code, null);
      assert.equal(r.timedOut, false);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /stdin stream failed: disk on fire/);
    });

    it('become as root runs the command directly (no sudo needed)', async () => {
      const r = await t.exec('id -u', { become: true });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '0\n');
    });

    it('timeout stops the remote command and everything it started (even if it ignores TERM)', async () => {
      const marker = `rbtimeout${randomBytes(4).toString('hex')}`;
      const r = await t.exec(`sh -c 'trap "" TERM; sleep 300' ${marker}-a & sh -c 'sleep 301' ${marker}-b; echo never`, {
        timeoutMs: 700,
      });
      assert.equal(r.timedOut, true);
      assert.equal(r.code, null);
      assert.equal(r.stdout, '');
      const left = await hostExec(lab, 'etcd-1', `pgrep -af '${markerPattern(marker)}' || true`);
      assert.equal(left.stdout.trim(), '', 'no process of the command is left');
    });

    it("nine commands timing out at once on one host are all stopped, within sshd's default MaxSessions (10)", async () => {
      // This host's sshd gets the default session limit for the test (the lab allows 100).
      const limit = (n: number): Promise<unknown> =>
        hostExec(lab, 'etcd-1', `sed -i 's/^MaxSessions .*/MaxSessions ${n}/' /run/lab/ssh/sshd_config && kill -HUP "$(cat /run/lab/sshd.pid)" && sleep 0.3`);
      await limit(10);
      try {
        const logs: string[] = [];
        const t = transport(0, {}, { log: (m) => logs.push(m) });
        const marker = `rbmany${randomBytes(4).toString('hex')}`;
        const rs = await Promise.all(
          Array.from({ length: 9 }, (_, i) => t.exec(`sh -c 'trap "" TERM; sleep 300' ${marker}-${i}; echo never`, { timeoutMs: 600 })),
        );
        assert.deepEqual(
          rs.map((r) => [r.timedOut, r.code, r.stdout]),
          rs.map(() => [true, null, '']),
        );
        assert.equal(t.stats.shellCommands, 1, 'one in the session shell, the others on channels');
        assert.ok(t.stats.killChannels < 9, `kills share channels (${t.stats.killChannels} for 9 commands)`);
        const left = await hostExec(lab, 'etcd-1', `pgrep -af '${markerPattern(marker)}' || true`);
        assert.equal(left.stdout.trim(), '', `commands left running; transport log:\n${logs.join('\n')}`);
        await t.close();
      } finally {
        await limit(100);
      }
    });

    it('abort signal stops the remote command too', async () => {
      const marker = `rbabort${randomBytes(4).toString('hex')}`;
      const ac = new AbortController();
      const running = t.exec(`sh -c 'sleep 300' ${marker}; echo never`, { signal: ac.signal });
      await waitFor(`${marker} running on etcd-1`, () => hostPids(lab, 'etcd-1', markerPattern(marker)));
      ac.abort();
      const r = await running;
      assert.equal(r.aborted, true);
      assert.equal(r.timedOut, false);
      assert.equal(r.code, null);
      assert.deepEqual(await hostPids(lab, 'etcd-1', markerPattern(marker)), [], 'the remote command outlived the abort');
      // Already aborted: nothing runs.
      const pre = await t.exec('echo should-not-run', { signal: AbortSignal.abort() });
      assert.equal(pre.aborted, true);
      assert.equal(pre.stdout, '');
      // The connection is still fine afterwards.
      assert.equal((await t.exec('echo ok')).stdout, 'ok\n');
    });
  });

  describe('host keys', () => {
    it('strict refuses an unknown host key (empty known_hosts), naming the fingerprint and file', async () => {
      const kh = path.join(tmp, 'empty_known_hosts');
      writeFileSync(kh, '');
      const t = transport(0, { knownHosts: kh });
      const fp = fingerprintSha256(labKey(lab.hosts[0]!.address));
      await rejectsUnreachable(t.connect(), 'host-key', (e) => {
        assert.ok(e.message.includes(fp), e.message);
        assert.ok(e.message.includes(kh), e.message);
        assert.ok(e.message.includes('etcd-1'), e.message);
        assert.match(e.message, /unknown host key/);
      });
      assert.equal(readFileSync(kh, 'utf8'), '', 'strict never writes known_hosts');
      // The failure is cached: no reconnect storm.
      await rejectsUnreachable(t.exec('true'), 'host-key');
      assert.equal(t.stats.connects, 1);
    });

    it('strict refuses a changed key', async () => {
      const kh = path.join(tmp, 'changed_known_hosts');
      const other = path.join(tmp, 'otherkey');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      const pub = readFileSync(`${other}.pub`, 'utf8').split(' ');
      writeFileSync(kh, `${lab.hosts[0]!.address} ${pub[0]} ${pub[1]}\n`);
      const t = transport(0, { knownHosts: kh });
      const fp = fingerprintSha256(labKey(lab.hosts[0]!.address));
      await rejectsUnreachable(t.connect(), 'host-key', (e) => {
        assert.match(e.message, /HOST KEY CHANGED/);
        assert.ok(e.message.includes(fp), e.message);
        assert.ok(e.message.includes('ssh-keygen -R'), e.message);
      });
    });

    it('accept-new records an unknown key (and then matches it), but refuses a changed one', async () => {
      const kh = path.join(tmp, 'acceptnew', 'known_hosts');
      const logs: string[] = [];
      const t = transport(0, { knownHosts: kh, hostKeyChecking: 'accept-new' }, { log: (m) => logs.push(m) });
      await t.connect();
      assert.equal((await t.exec('hostname')).stdout, 'etcd-1\n');
      const written = parseKnownHosts(readFileSync(kh, 'utf8'));
      assert.equal(written.entries.length, 1);
      assert.ok(written.entries[0]!.key.equals(labKey(lab.hosts[0]!.address)));
      assert.ok(logs.some((l) => l.includes('accepted new host key')));
      // Strict now works with that file.
      const strict = transport(0, { knownHosts: kh });
      await strict.connect();
      // Changed key under accept-new: refused, file untouched.
      const changed = path.join(tmp, 'acceptnew', 'changed');
      copyFileSync(path.join(tmp, 'changed_known_hosts'), changed);
      const before = readFileSync(changed, 'utf8');
      const t2 = transport(0, { knownHosts: changed, hostKeyChecking: 'accept-new' });
      await rejectsUnreachable(t2.connect(), 'host-key', (e) => assert.match(e.message, /HOST KEY CHANGED/));
      assert.equal(readFileSync(changed, 'utf8'), before);
    });

    it('works with hashed known_hosts entries, and accept-new appends hashed entries to a hashed file', async () => {
      const kh = path.join(tmp, 'hashed_known_hosts');
      copyFileSync(lab.knownHostsPath, kh);
      execFileSync('ssh-keygen', ['-q', '-H', '-f', kh], { stdio: 'ignore' });
      assert.ok(!readFileSync(kh, 'utf8').includes(lab.hosts[0]!.address));
      const t = transport(0, { knownHosts: kh });
      assert.equal((await t.exec('hostname')).stdout, 'etcd-1\n');

      // Only host 2 known (hashed): accept-new for host 1 writes a hashed line.
      const only2 = path.join(tmp, 'hashed_only2');
      writeFileSync(
        only2,
        readFileSync(lab.knownHostsPath, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith(`${lab.hosts[1]!.address} `))
          .join('\n') + '\n',
      );
      execFileSync('ssh-keygen', ['-q', '-H', '-f', only2], { stdio: 'ignore' });
      const t2 = transport(0, { knownHosts: only2, hostKeyChecking: 'accept-new' });
      await t2.connect();
      const lines = readFileSync(only2, 'utf8').trim().split('\n');
      assert.equal(lines.length, 2);
      assert.ok(lines.every((l) => l.startsWith('|1|')));
      const found = await sh('ssh-keygen', ['-F', lab.hosts[0]!.address, '-f', only2]);
      assert.match(found, /ssh-ed25519/);
    });

    it('off accepts an unknown key with a loud warning', async () => {
      const kh = path.join(tmp, 'off_known_hosts');
      const logs: string[] = [];
      const t = transport(0, { knownHosts: kh, hostKeyChecking: 'off' }, { log: (m) => logs.push(m) });
      assert.equal((await t.exec('echo ok')).stdout, 'ok\n');
      assert.ok(
        logs.some((l) => /WARNING.*host key checking is OFF/.test(l)),
        logs.join('\n'),
      );
      assert.equal(existsSync(kh), false, 'off does not write known_hosts');
    });

    it('refuses a @revoked key in every mode', async () => {
      const kh = path.join(tmp, 'revoked_known_hosts');
      const key = labKey(lab.hosts[0]!.address);
      writeFileSync(kh, readFileSync(lab.knownHostsPath, 'utf8') + `@revoked * ssh-ed25519 ${key.toString('base64')}\n`);
      for (const mode of ['strict', 'accept-new', 'off'] as const) {
        const t = transport(0, { knownHosts: kh, hostKeyChecking: mode });
        await rejectsUnreachable(t.connect(), 'host-key', (e) => assert.match(e.message, /@revoked/));
      }
    });
  });

  describe('auth and connect failures', () => {
    it('auth failure with a key the host does not accept: UnreachableError auth, once', async () => {
      const k = path.join(tmp, 'stranger');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', k]);
      const t = transport(0, { identityFile: k });
      await rejectsUnreachable(t.connect(), 'auth', (e) => assert.match(e.message, /authentication failed/));
      await rejectsUnreachable(t.exec('true'), 'auth');
      assert.equal(t.stats.connects, 1, 'no retry');
    });

    it('encrypted identity file: clear error without passphrase, works with it', async () => {
      const k = path.join(tmp, 'encrypted');
      copyFileSync(lab.keyPath, k);
      execFileSync('ssh-keygen', ['-q', '-p', '-N', 'sekrit', '-f', k]);
      const t = transport(0, { identityFile: k });
      await rejectsUnreachable(t.connect(), 'auth', (e) => assert.match(e.message, /encrypted and no passphrase/));
      assert.equal(t.stats.connects, 0, 'fails before connecting');
      const bad = transport(0, { identityFile: k }, { passphrase: 'wrong' });
      await rejectsUnreachable(bad.connect(), 'auth', (e) => assert.match(e.message, /passphrase|decrypt/));
      const good = transport(0, { identityFile: k }, { passphrase: 'sekrit' });
      assert.equal((await good.exec('echo in')).stdout, 'in\n');
    });

    it('connection refused: UnreachableError connect, quickly', async () => {
      const t = new SshTransport('nowhere', labAddress(99), settings({ connectTimeoutSec: 5 }));
      open.push(t);
      await rejectsUnreachable(t.connect(), 'connect', (e) => assert.match(e.message, /ECONNREFUSED/));
    });

    it('a listener that never sends a banner fails within the connect timeout', async () => {
      const sockets: net.Socket[] = [];
      const server = net.createServer((s) => sockets.push(s));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(22, labAddress(98), () => resolve());
      });
      try {
        // Measured against the two timeouts in play: this transport's 1 s, and the 5 s of settings()'
        // default. Not cut short (a lower bound that load cannot break), and not the default's.
        const connectTimeoutMs = 1000;
        const t = new SshTransport('silent', labAddress(98), settings({ connectTimeoutSec: connectTimeoutMs / 1000 }));
        open.push(t);
        const t0 = performance.now();
        await rejectsUnreachable(t.connect(), 'timeout');
        const took = performance.now() - t0;
        const defaultMs = settings().connectTimeoutSec * 1000;
        assert.ok(took >= connectTimeoutMs - 50, `gave up after ${took} ms, before its ${connectTimeoutMs} ms connect timeout`);
        assert.ok(took < defaultMs, `took ${took} ms: not the ${connectTimeoutMs} ms given, the ${defaultMs} ms default?`);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });

  describe('files', () => {
    let t: SshTransport;
    before(() => {
      t = transport(0);
    });

    it('putContent writes atomically with mode and verified hash', async () => {
      const content = 'name: etcd-1\nquote: "it\'s"\n';
      const r = await t.putContent(content, '/tmp/put test.conf', { mode: '0640' });
      assert.equal(r.bytes, Buffer.byteLength(content));
      assert.equal(r.sha256, createHash('sha256').update(content).digest('hex'));
      const check = await hostExec(
        lab,
        'etcd-1',
        "stat -c %a '/tmp/put test.conf'; sha256sum < '/tmp/put test.conf'; ls -a /tmp | grep -c runbook-tmp || true",
      );
      const [mode, sum, tmps] = check.stdout.trim().split('\n');
      assert.equal(mode, '640');
      assert.equal(sum?.slice(0, 64), r.sha256);
      assert.equal(tmps, '0', 'no temp file left');
      // Without a mode an existing file keeps its mode.
      await t.putContent('v2\n', '/tmp/put test.conf');
      assert.equal((await hostExec(lab, 'etcd-1', "stat -c %a '/tmp/put test.conf'; cat '/tmp/put test.conf'")).stdout, '640\nv2\n');
      // A new file without a mode gets the umask default.
      await t.putContent('new\n', '/tmp/new-default');
      assert.equal((await hostExec(lab, 'etcd-1', 'stat -c %a /tmp/new-default')).stdout.trim(), '644');
    });

    it('putFile / getFile round-trip a binary file with hashes', async () => {
      const local = path.join(tmp, 'blob.bin');
      const data = randomBytes(3 * 1024 * 1024 + 17);
      writeFileSync(local, data);
      const sha = createHash('sha256').update(data).digest('hex');
      const up = await t.putFile(local, '/root/blob.bin', { mode: '600' });
      assert.deepEqual(up, { bytes: data.length, sha256: sha });
      assert.equal((await hostExec(lab, 'etcd-1', 'stat -c %a /root/blob.bin')).stdout.trim(), '600');
      const back = path.join(tmp, 'blob.back');
      const down = await t.getFile('/root/blob.bin', back);
      assert.deepEqual(down, { bytes: data.length, sha256: sha });
      assert.ok(readFileSync(back).equals(data));
      assert.deepEqual(
        readdirSync(tmp).filter((n) => n.includes('runbook-tmp')),
        [],
      );
    });

    it('putFile with an expected sha256 checks the copy against it, and a mismatch leaves nothing at the destination', async () => {
      const local = path.join(tmp, 'expected.bin');
      const data = randomBytes(512 * 1024);
      writeFileSync(local, data);
      const sha = createHash('sha256').update(data).digest('hex');
      const ok = await t.putFile(local, '/root/expected.bin', { mode: '600', expectedSha256: sha });
      assert.deepEqual(ok, { bytes: data.length, sha256: sha });
      const wrong = 'f'.repeat(64);
      await assert.rejects(
        t.putFile(local, '/root/expected-bad.bin', { expectedSha256: wrong }),
        /checksum mismatch after upload \(expected sha256 f{64}, remote [0-9a-f]{64}\)/,
      );
      const left = await hostExec(lab, 'etcd-1', 'ls -a /root | grep -c "expected-bad" || true');
      assert.equal(left.stdout.trim(), '0', 'neither the file nor its temp copy may remain');
    });

    it('fails clearly when the remote parent directory is missing, or the remote file is', async () => {
      await assert.rejects(t.putContent('x', '/nonexistent-dir/x.conf'), /directory \/nonexistent-dir does not exist/);
      await assert.rejects(t.getFile('/nonexistent-file', path.join(tmp, 'nf')), /No such file/);
      assert.equal(existsSync(path.join(tmp, 'nf')), false);
      assert.deepEqual(
        readdirSync(tmp).filter((n) => n.includes('runbook-tmp')),
        [],
      );
      await assert.rejects(t.putContent('x', '/tmp/x', { mode: 'u+x' }), /invalid file mode/);
      await assert.rejects(t.getFile('/root/blob.bin', path.join(tmp, 'no-such-dir', 'f')), /does .*no-such-dir exist/);
      await assert.rejects(t.putFile(path.join(tmp, 'no-such-local-file'), '/tmp/x'), /ENOENT/);
    });
  });

  describe('jump host', () => {
    it('reaches host 2 through host 1 (forwardOut), not directly', async () => {
      const jump = transport(0);
      const t = transport(1, {}, { jumpTransport: jump });
      const r = await t.exec('hostname');
      assert.equal(r.stdout, 'etcd-2\n');
      assert.equal(ourConnections(lab.hosts[1]!.address), 0, 'no direct TCP connection to host 2');
      assert.equal(ourConnections(lab.hosts[0]!.address) >= 1, true);
      // Host key of host 2 is verified as usual through the tunnel.
      const kh = path.join(tmp, 'empty2');
      writeFileSync(kh, '');
      const t2 = transport(1, { knownHosts: kh }, { jumpTransport: jump });
      await rejectsUnreachable(t2.connect(), 'host-key');
      await t.close();
      await t2.close();
      await jump.close();
    });
  });

  describe('dropped connection', () => {
    it('a connection killed mid-command gives code null, then UnreachableError dropped until reconnect()', async () => {
      const t = transport(1);
      assert.equal((await t.exec('echo up')).stdout, 'up\n');
      const running = t.exec('sleep 30; echo never');
      await waitFor('sleep 30 running on etcd-2', () => hostPids(lab, 'etcd-2', '^slee[p] 30$'));
      const k = await hostExec(lab, 'etcd-2', "pkill -KILL -f '^sshd: root@notty'");
      assert.equal(k.code, 0, k.stderr);
      const r = await running;
      assert.equal(r.code, null);
      assert.equal(r.timedOut, false);
      assert.equal(r.aborted, false);
      await rejectsUnreachable(t.exec('true'), 'dropped', (e) => assert.match(e.message, /dropped/));
      await t.reconnect();
      assert.equal((await t.exec('echo back')).stdout, 'back\n');
      await hostExec(lab, 'etcd-2', "pkill -f 'sleep 3[0]' || true");
    });
  });

  describe('become through sudo', () => {
    // The lab has no sudo and logs in as root: a stand-in `sudo` (test/fixtures/standins/sudo.sh) goes into host 1's private /root
    // (on PATH through its private /root/.bashrc) and `alwaysSudo` makes root use it. It parses
    // -n/-k/-S/-p/--, checks the password read from stdin, and runs the command either in the
    // caller's process group (sudo without use_pty) or in a new session (use_pty).
    const FAKE_SUDO = standInScript('sudo');
    async function setMode(mode: string): Promise<void> {
      const r = await hostExec(lab, 'etcd-1', `printf %s '${mode}' > /root/fakesudo.mode; : > /root/fakesudo.log`);
      assert.equal(r.code, 0, r.stderr);
    }

    before(async () => {
      await installStandIn(lab, 'etcd-1', 'sudo', FAKE_SUDO);
    });
    after(async () => {
      await removeStandIns(lab, 'etcd-1');
      await hostExec(lab, 'etcd-1', 'rm -f /root/fakesudo.*');
    });

    for (const mode of ['nopasswd', 'pty-nopasswd']) {
      it(`sudo -n (${mode}): runs the command, quotes survive, timeout kills it`, async () => {
        await setMode(mode);
        const t = transport(0, {}, { alwaysSudo: true });
        const r = await t.exec(`printf '%s|' "it's" '$x'; echo; exit 5`, { become: true });
        assert.equal(r.code, 5, r.stderr);
        assert.equal(r.stdout, "it's|$x|\n");
        assert.equal(r.stderr, '');
        const log = (await hostExec(lab, 'etcd-1', 'cat /root/fakesudo.log')).stdout;
        assert.match(log, /^true\n/, 'probed with sudo -n true');
        const marker = `rbsudo${randomBytes(4).toString('hex')}`;
        const s = await t.exec(`sh -c 'trap "" TERM; sleep 300' ${marker}; echo never`, { become: true, timeoutMs: 600 });
        assert.equal(s.timedOut, true);
        const left = await hostExec(lab, 'etcd-1', `pgrep -af '${markerPattern(marker)}' || true`);
        assert.equal(left.stdout.trim(), '');
      });
    }

    it('sudo -S with the right password: password never reaches the command, stdin does', async () => {
      await setMode('password:s3cr3t pw');
      const t = transport(0, {}, { alwaysSudo: true, sudoPassword: 's3cr3t pw' });
      const r = await t.exec('cat', { become: true, stdin: 'payload\n' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'payload\n');
      const put = await t.putContent('as root\n', '/root/sudo-put.txt', { mode: '0600', become: true });
      assert.equal(put.bytes, 8);
      assert.equal((await hostExec(lab, 'etcd-1', 'cat /root/sudo-put.txt')).stdout, 'as root\n');
    });

    it('a wrong sudo password fails fast with BecomeError, once (no retries)', async () => {
      await setMode('password:right');
      const t = transport(0, {}, { alwaysSudo: true, sudoPassword: 'wrong' });
      await assert.rejects(t.exec('id', { become: true }), (e: Error) => e.name === 'BecomeError' && /rejected the given password/.test(e.message));
      await assert.rejects(t.exec('id', { become: true }), (e: Error) => e.name === 'BecomeError');
      const tries = (await hostExec(lab, 'etcd-1', 'cat /root/fakesudo.log; echo')).stdout.trim();
      assert.equal(tries, '', 'the command never ran');
      // Non-become execs still work on that connection.
      assert.equal((await t.exec('echo plain')).stdout, 'plain\n');
      const none = transport(0, {}, { alwaysSudo: true });
      await assert.rejects(none.exec('id', { become: true }), /needs a password and none was given/);
    });
  });

  describe('noisy login shell', () => {
    after(async () => {
      await hostExec(lab, 'etcd-2', 'rm -f /root/.bashrc');
    });

    it('one SSH session per command: finds the PID report behind ~/.bashrc noise on stderr (even mid-line) and keeps the noise', async () => {
      await hostExec(lab, 'etcd-2', `printf '%s\\n' "echo bashrc-line >&2" "printf bashrc-partial >&2" > /root/.bashrc`);
      const t = transport(1, { sessionShell: false });
      const r = await t.exec('echo real >&2; echo out');
      assert.equal(r.stdout, 'out\n');
      assert.equal(r.stderr, 'bashrc-line\nbashrc-partialreal\n');
      const marker = `rbnoisy${randomBytes(4).toString('hex')}`;
      const s = await t.exec(`sh -c 'sleep 300' ${marker}`, { timeoutMs: 500 });
      assert.equal(s.timedOut, true);
      const left = await hostExec(lab, 'etcd-2', `pgrep -af '${markerPattern(marker)}' || true`);
      assert.equal(left.stdout.trim(), '');
      assert.equal(t.stats.shellCommands, 0);
      await t.close();
    });

    it('session shell: commands behave as on their own SSH session, but ~/.bashrc runs once per connection', async () => {
      await hostExec(lab, 'etcd-2', `printf '%s\\n' "echo bashrc-line >&2" "printf bashrc-partial" "export RB_FROM_BASHRC=yes" > /root/.bashrc`);
      const viaShell = transport(1);
      const viaChannels = transport(1, { sessionShell: false });
      // The same results, but for the login noise, which only a new session per command repeats.
      const cmds = [
        'echo real >&2; echo "out $RB_FROM_BASHRC"',
        'printf no-newline; exit 7',
        'cat; echo "stdin was empty"',
        'cd /tmp; pwd',
        'trap "echo bye" EXIT; false',
      ];
      for (const c of cmds) {
        const a = await viaShell.exec(c);
        const b = await viaChannels.exec(c);
        assert.deepEqual([a.code, a.stdout, a.stderr], [b.code, b.stdout.replace(/^bashrc-partial/, ''), b.stderr.replace(/^bashrc-line\n/, '')], c);
      }
      assert.equal((await viaShell.exec('pwd')).stdout, '/root\n', 'cd in one command does not move the next');
      // A signal: "exit-signal" (no code) on a channel, 128+N in the shell, as in any shell.
      assert.equal((await viaShell.exec('kill -9 $BASHPID')).code, 137);
      assert.equal((await viaChannels.exec('kill -9 $$')).signal, 'SIGKILL');
      // Each command is its own process (and process group), in the session shell too.
      const pid1 = (await viaShell.exec('echo $BASHPID')).stdout;
      assert.notEqual((await viaShell.exec('echo $BASHPID')).stdout, pid1);
      assert.equal(viaShell.stats.shellCommands, cmds.length + 4);
      // While the shell is busy, another command gets a channel of its own.
      const channelsBefore = viaShell.stats.channels;
      const both = await Promise.all([viaShell.exec('sleep 0.3; echo slow'), viaShell.exec('echo quick')]);
      assert.deepEqual(
        both.map((r) => [r.code, r.stdout]),
        [
          [0, 'slow\n'],
          [0, 'bashrc-partialquick\n'],
        ],
        'the second ran on a channel (a new login shell)',
      );
      assert.equal(viaShell.stats.shellCommands, cmds.length + 5);
      assert.equal(viaShell.stats.channels, channelsBefore + 1);
      assert.equal(viaChannels.stats.shellCommands, 0);
      await viaShell.close();
      await viaChannels.close();
    });
  });

  describe('session shell', () => {
    after(async () => {
      await hostExec(lab, 'etcd-2', 'rm -f /root/.bashrc');
    });

    it('a shell that dies mid-command leaves that command without exit status (unknown); the next gets a new shell', async () => {
      const t = transport(1);
      const agent = (await t.exec('echo $$')).stdout.trim();
      const other = transport(1, { sessionShell: false });
      const running = t.exec('sleep 3; echo never');
      // Kill the shell only once the command runs in it (its sleep is a child of that shell).
      await waitFor('sleep 3 running under the session shell', () => hostPids(lab, 'etcd-2', '^slee[p] 3$'));
      assert.equal((await other.exec(`kill -9 ${agent}`)).code, 0);
      const r = await running;
      assert.equal(r.code, null, 'outcome unknown');
      // Its job outlives the shell, and what it prints still arrives (the channel stays open for it).
      assert.equal(r.stdout, 'never\n');
      const next = await t.exec('echo $$; echo fine');
      assert.equal(next.code, 0);
      assert.notEqual(next.stdout.split('\n')[0], agent, 'a new session shell');
      assert.equal(next.stdout.split('\n')[1], 'fine');
      await t.close();
      await other.close();
    });

    it('falls back to one SSH session per command when the login shell is not bash (and says so once)', async () => {
      await hostExec(lab, 'etcd-2', `echo 'export SHELL=/bin/sh' > /root/.bashrc`);
      const logs: string[] = [];
      const t = transport(1, {}, { log: (m) => logs.push(m) });
      for (let i = 0; i < 3; i++) assert.equal((await t.exec('echo $((1+i))'.replace('i', String(i)))).stdout, `${1 + i}\n`);
      assert.equal(t.stats.shellCommands, 0);
      assert.equal(logs.filter((l) => /no session shell/.test(l)).length, 1, logs.join('\n'));
      await t.close();
      await hostExec(lab, 'etcd-2', 'rm -f /root/.bashrc');
    });

    it('output a background job writes after its command ended is never taken for a later command’s end', async () => {
      const t = transport(1);
      const a = await t.exec('(sleep 0.3; echo late; echo late-err >&2) & echo first');
      const b = await t.exec('sleep 1; echo second; exit 3');
      assert.deepEqual([a.code, b.code], [0, 3]);
      // The command ends when its job does (on its own channel it would wait for the background
      // job to close the output); the late lines land in the command running when they are written.
      assert.ok(a.stdout.startsWith('first\n') && b.stdout.endsWith('second\n'), `${a.stdout}|${b.stdout}`);
      assert.equal(a.stdout + b.stdout, 'first\nlate\nsecond\n');
      assert.equal(a.stderr + b.stderr, 'late-err\n');
      await t.close();
    });
  });

  describe('close', () => {
    it('is idempotent and refuses further use', async () => {
      const t = transport(0);
      await t.exec('true');
      await t.close();
      await t.close();
      await assert.rejects(t.exec('true'), /closed/);
    });
  });
});

describe('LocalTransport', function () {
  this.timeout(30_000);
  const lt = new LocalTransport();
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'runbook-local-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs through /bin/sh with exit code, stdout, stderr and stdin', async () => {
    const r = await lt.exec('read x; echo "got $x"; echo e >&2; exit 4', { stdin: 'in\n' });
    assert.deepEqual([r.code, r.stdout, r.stderr, r.timedOut], [4, 'got in\n', 'e\n', false]);
  });

  it('bounds output with a marker', async () => {
    const r = await lt.exec("head -c 3000000 /dev/zero | tr '\\0' y", { maxOutputBytes: 1000 });
    assert.equal(r.truncated, true);
    assert.match(r.stdout, /^y{1000}\n\[runbook: output truncated after 1000 bytes/);
  });

  it('timeout kills the whole process group (even TERM-ignoring children)', async () => {
    const marker = `rblocal${randomBytes(4).toString('hex')}`;
    const r = await lt.exec(`sh -c 'trap "" TERM; sleep 300' ${marker}-a & sh -c 'sleep 300' ${marker}-b; echo never`, { timeoutMs: 500 });
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
    const left = execFileSync('sh', ['-c', `pgrep -af '${markerPattern(marker)}' || true`], { encoding: 'utf8' });
    assert.equal(left.trim(), '');
  });

  it('abort kills the process group', async () => {
    const marker = `rblocalab${randomBytes(4).toString('hex')}`;
    const ac = new AbortController();
    const local = (): string => execFileSync('sh', ['-c', `pgrep -af '${markerPattern(marker)}' || true`], { encoding: 'utf8' }).trim();
    const running = lt.exec(`sh -c 'sleep 300' ${marker}; echo never`, { signal: ac.signal });
    await waitFor(`${marker} running here`, () => local() !== '');
    ac.abort();
    const r = await running;
    assert.equal(r.aborted, true);
    assert.equal(r.code, null);
    assert.equal(local(), '', 'a process of the group outlived the abort');
  });

  it('put/get copy files with hashes, modes and no temp leftovers', async () => {
    const r = await lt.putContent('hello\n', path.join(dir, 'a.txt'), { mode: '0640' });
    assert.equal(r.sha256, createHash('sha256').update('hello\n').digest('hex'));
    const back = await lt.getFile(path.join(dir, 'a.txt'), path.join(dir, 'b.txt'));
    assert.equal(back.sha256, r.sha256);
    assert.equal(readFileSync(path.join(dir, 'b.txt'), 'utf8'), 'hello\n');
    const put = await lt.putFile(path.join(dir, 'b.txt'), path.join(dir, 'c.txt'));
    assert.equal(put.bytes, 6);
    await assert.rejects(lt.putContent('x', path.join(dir, 'missing', 'x')), /does not exist/);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('runbook-tmp')),
      [],
    );
  });
});
