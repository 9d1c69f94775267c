// `runbook snapshot verify` serves restored data only to runbook: its throwaway etcd listens on
// unix sockets inside a 0700 scratch dir, never on TCP. Proven with a real etcd and a real
// snapshot (no SSH, no lab addresses): while verify runs, the etcd process has no TCP listener,
// another user (nobody) cannot read a key through the socket, and root — this test — can (so the
// check can fail). And the output of the tools it runs is bounded: a child that writes 100 MB
// leaves at most the bound in memory, marked as truncated.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSnapshotVerify, runTool, MAX_TOOL_OUTPUT_BYTES } from '../../engine/cli/snapshot.js';
import type { Io } from '../../engine/model/io.js';

const SECRET = 'secret-value-only-for-runbook';

function captureIo(): Io & { all: () => string } {
  let text = '';
  return { out: (s) => void (text += s), err: (s) => void (text += s), isTTY: false, all: () => text };
}

/** PIDs of processes with a listening TCP socket (ss -ltnp), on any address. */
function tcpListenerPids(): Set<number> {
  const r = spawnSync('ss', ['-H', '-ltnp'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return new Set([...r.stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

describe('snapshot verify: restored data reachable only by runbook, child output bounded', function () {
  this.timeout(180_000);
  let dir: string;
  let snapshot: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-verify-sec-'));
    // A real snapshot with a key in it, from an etcd that itself only listens on a unix socket.
    const src = join(dir, 'src');
    mkdirSync(src, { mode: 0o700 });
    const etcd: ChildProcess = spawn(
      'etcd',
      [
        '--name=s',
        `--data-dir=${join(src, 'data')}`,
        '--listen-client-urls=unix://c:1',
        '--advertise-client-urls=unix://c:1',
        '--listen-peer-urls=unix://p:2',
        '--initial-advertise-peer-urls=unix://p:2',
        '--initial-cluster=s=unix://p:2',
      ],
      { cwd: src, stdio: 'ignore' },
    );
    try {
      const ctl = (...a: string[]): ReturnType<typeof spawnSync> =>
        spawnSync('etcdctl', ['--endpoints=unix://c:1', '--dial-timeout=2s', ...a], { cwd: src, encoding: 'utf8' });
      const t0 = Date.now();
      while (ctl('put', 'app/password', SECRET).status !== 0) {
        assert.ok(Date.now() - t0 < 60_000, 'the source etcd did not serve');
        await new Promise((r) => setTimeout(r, 200));
      }
      snapshot = join(dir, 'snap.db');
      const saved = ctl('snapshot', 'save', snapshot);
      assert.equal(saved.status, 0, String(saved.stderr));
    } finally {
      etcd.kill('SIGTERM');
      await new Promise((r) => (etcd.exitCode !== null ? r(undefined) : etcd.once('exit', r)));
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // The system's etcd (3.4 on Debian bookworm), and etcd 3.5 too where the lab cached one
  // (test/lab: /var/cache/runbook-lab/etcd-3.5.*): both accept unix socket URLs in host:port form.
  const builds: { name: string; bin?: string }[] = [{ name: 'the system etcd' }];
  const cache = '/var/cache/runbook-lab';
  const cached = existsSync(cache)
    ? readdirSync(cache)
        .filter((x) => /^etcd-3\.5\./.test(x))
        .sort()
    : [];
  for (const d of cached) builds.push({ name: d, bin: join(cache, d, 'usr', 'bin') });
  for (const build of builds) {
    it(`[snapshot-verify] ${build.name}: while it serves no TCP listener; another user cannot read keys; runbook can`, async () => {
      const saved = process.env.PATH;
      if (build.bin) process.env.PATH = `${build.bin}:${saved ?? ''}`;
      try {
        await verifyIsolated();
      } finally {
        process.env.PATH = saved;
      }
    });
  }

  async function verifyIsolated(): Promise<void> {
    let checked = false;
    const io = captureIo();
    const code = await runSnapshotVerify(
      snapshot,
      {
        format: 'json',
        whileServing: async ({ scratch, pid }) => {
          assert.equal(tcpListenerPids().has(pid), false, 'the throwaway etcd listens on a TCP port');
          const sock = `unix://${join(scratch, 'client:2379')}`;
          const get = ['etcdctl', `--endpoints=${sock}`, '--dial-timeout=2s', '--command-timeout=5s', 'get', 'app/password', '--print-value-only'];
          const asRoot = spawnSync(get[0]!, get.slice(1), { encoding: 'utf8' });
          assert.equal(asRoot.stdout.trim(), SECRET, `root reads the restored key (control): ${asRoot.stderr}`);
          const asNobody = spawnSync('runuser', ['-u', 'nobody', '--', ...get], { encoding: 'utf8', cwd: '/' });
          assert.equal(asNobody.error, undefined, 'runuser ran');
          assert.notEqual(asNobody.status, 0, 'nobody could read the restored data');
          // etcdctl hides why it could not connect (a deadline); a plain connect says it: EACCES.
          const probe = `require('net').connect(${JSON.stringify(join(scratch, 'client:2379'))}).on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(3); })`;
          const connect = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', probe], { encoding: 'utf8', cwd: '/' });
          assert.equal(connect.stdout.trim(), 'EACCES', `nobody connecting to the socket: ${connect.stdout}${connect.stderr}`);
          assert.ok(!asNobody.stdout.includes(SECRET), 'the secret was served to another user');
          checked = true;
          return Promise.resolve();
        },
      },
      io,
    );
    assert.equal(code, 0, io.all());
    assert.ok(checked, 'the checks ran while the etcd served');
    const v = JSON.parse(io.all()) as { restored: { keys: number; endpoint: string } };
    assert.equal(v.restored.keys, 1);
    assert.match(v.restored.endpoint, /^unix:\/.*\/client:2379$/);
    assert.equal(existsSync(v.restored.endpoint.slice('unix:'.length)), false, 'the socket and scratch dir are gone');
  }

  it('[snapshot-verify] a child writing 100 MB keeps at most the bound, marked truncated', async () => {
    const r = await runTool('sh', ['-c', 'head -c 50000000 /dev/zero | tr "\\000" x; head -c 50000000 /dev/zero | tr "\\000" y >&2']);
    assert.equal(r.code, 0);
    assert.equal(r.truncated, true);
    assert.ok(r.stdout.length < MAX_TOOL_OUTPUT_BYTES + 200, `stdout kept ${r.stdout.length} bytes`);
    assert.ok(r.stderr.length < MAX_TOOL_OUTPUT_BYTES + 200, `stderr kept ${r.stderr.length} bytes`);
    assert.match(r.stdout, /output truncated after/);
  });

  it('[snapshot-verify] a noisy restore tool (100 MB on stderr) gives a bounded refusal', async () => {
    const bin = join(dir, 'noisy-bin');
    mkdirSync(bin, { recursive: true });
    // A stand-in etcdutl first on PATH: answers `snapshot status` with 100 MB of noise and exit 1.
    writeFileSync(join(bin, 'etcdutl'), '#!/bin/sh\nhead -c 100000000 /dev/zero | tr "\\000" z >&2\nexit 1\n');
    chmodSync(join(bin, 'etcdutl'), 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved ?? ''}`;
    try {
      const io = captureIo();
      const code = await runSnapshotVerify(snapshot, {}, io);
      assert.equal(code, 1, io.all().slice(0, 500));
      assert.match(io.all(), /is not a readable snapshot/);
      assert.ok(io.all().length < 4096, `the message is bounded (${io.all().length} bytes)`);
    } finally {
      process.env.PATH = saved;
    }
  });
});
