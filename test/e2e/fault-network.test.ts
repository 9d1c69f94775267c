// Fault injection on the network path (lab on 127.0.0.151-153, no etcd; test-owned listeners on
// 127.0.0.157-159): nothing listening, a TCP server that never sends an SSH banner, and a proxy
// to a lab sshd that silently stops forwarding mid-run. Each must be detected within the
// inventory's connect_timeout / keepalive and reported as unreachable while the others finish.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hostExec, labAddress, labDown, type Lab } from '../lab/lab.js';
import { buildPlan } from '../../engine/cli/inputs.js';
import { formatDiagnostics } from '../../engine/report/diagnostics-text.js';
import { SshTransport } from '../../engine/transports/ssh/transport.js';
import { EventLog } from '../unit/executor-fakes.js';
import { freshLab, labDir, runbook, type CliRun } from './playbook-helpers.js';
import { hostPids, installStandIn, lineCount, readJournalFile, removeStandIns, runIdOf, standInScript, stepEnds, waitFor } from './fault-helpers.js';
import { playbookText } from '../support/playbooks.js';
import { executeForTest } from '../support/execute.js';
import { tcpOpen } from '../support/wait.js';

const NAME = 'fault-network';
const PROXY = labAddress(157);
const MUTE = labAddress(158);
const DEAD = labAddress(159);
const CONNECT_TIMEOUT_S = 3;
const KEEPALIVE_S = 1;

function listen(server: net.Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
}

describe('fault injection: network (lab, 127.0.0.151-153; listeners on .157-.159)', function () {
  this.timeout(60_000);
  let lab: Lab;
  let tmp: string;
  let journalDir: string;
  const sockets = new Set<net.Socket>();
  let blackhole = false;
  const mute = net.createServer((s) => {
    // Accepts TCP, never says a word.
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  let upstream = '';
  const proxy = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    client.on('close', () => sockets.delete(client));
    if (blackhole) return; // a new connection into the hole: accepted, never answered
    const up = net.connect({ host: upstream, port: 22 });
    sockets.add(up);
    up.on('error', () => undefined);
    up.on('close', () => (sockets.delete(up), blackhole ? undefined : client.destroy()));
    client.on('close', () => (blackhole ? undefined : up.destroy()));
    client.on('data', (d: Buffer) => void (blackhole ? undefined : up.write(d)));
    up.on('data', (d: Buffer) => void (blackhole ? undefined : client.write(d)));
  });

  before(async function () {
    lab = await freshLab(NAME, { hosts: 3, etcd: false, firstOctet: 151 });
    upstream = lab.hosts.find((h) => h.name === 'etcd-3')?.address ?? '';
    tmp = mkdtempSync(path.join(tmpdir(), 'runbook-fault-network-'));
    journalDir = path.join(lab.dir, 'runs');
    assert.equal(await tcpOpen(DEAD, 22), false, `${DEAD}:22 must not answer`);
    await listen(mute, MUTE, 22);
    await listen(proxy, PROXY, 22);
  });

  after(async function () {
    for (const s of sockets) s.destroy();
    await new Promise((r) => mute.close(r));
    await new Promise((r) => proxy.close(r));
    await labDown(labDir(NAME));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  // Each test starts from the same state, whatever ran before it (or alone, with --grep): the proxy
  // forwards, no proxied connection is left over, and no run lock is left on a host. A run whose
  // path went silent cannot give back its lock there; removing it is what its message tells the
  // operator to do.
  beforeEach(async function () {
    blackhole = false;
    for (const s of sockets) s.destroy();
    await Promise.all(lab.hosts.map((h) => hostExec(lab, h.name, 'rm -rf /run/runbook-lock.lab', { timeoutMs: 10_000 })));
  });

  /** The lab's inventory with keepalive/connect_timeout set, edited further by `edit`. */
  function inventory(name: string, edit: (t: string) => string): string {
    const base = readFileSync(lab.inventoryPath, 'utf8').replace(/^ssh:\n/m, `ssh:\n  keepalive: ${KEEPALIVE_S}\n  connect_timeout: ${CONNECT_TIMEOUT_S}\n`);
    const file = path.join(lab.dir, name);
    writeFileSync(file, edit(base));
    return file;
  }

  /** etcd-3 reached through the proxy (its host key known under the proxy's address). */
  function proxyInventory(): string {
    const hostKey = readFileSync(path.join(lab.dir, 'keys', 'etcd-3_host_ed25519_key.pub'), 'utf8')
      .split(' ')
      .slice(0, 2)
      .join(' ');
    writeFileSync(path.join(lab.dir, 'known_hosts_proxy'), `${readFileSync(lab.knownHostsPath, 'utf8')}${PROXY} ${hostKey}\n`);
    return inventory('inv-blackhole.yml', (t) =>
      t.replace('known_hosts: ./known_hosts', 'known_hosts: ./known_hosts_proxy').replace(/(etcd-3:\n {4}address: )\S+/, `$1${PROXY}`),
    );
  }

  function playbook(name: string, yaml: string): string {
    const file = path.join(tmp, name);
    writeFileSync(file, yaml);
    return file;
  }

  /**
   * Applies fixture playbook `name` with etcd-3 behind the proxy; once a process matching `pattern`
   * runs on `host`, the path to etcd-3 goes silent. Returns the run and when the hole opened.
   */
  async function applyIntoBlackhole(name: string, host: string, pattern: string): Promise<{ r: CliRun; holed: number }> {
    const running = apply(playbook(`${name}.yml`, playbookText(name)), proxyInventory());
    await waitFor(`${pattern} on ${host}`, async () => (await hostPids(lab, host, pattern)).length > 0, 20_000);
    blackhole = true;
    const holed = Date.now();
    return { r: await running, holed };
  }

  function apply(pb: string, inv: string): Promise<CliRun> {
    return runbook(['apply', pb, '-i', inv, '--yes', '--output', 'text', '--journal-dir', journalDir]);
  }

  it('[fault] nothing listening / TCP accepted but no banner: unreachable within connect_timeout, the other hosts finish', async () => {
    const inv = inventory('inv-dead-mute.yml', (t) =>
      t
        .replace(/^hosts:\n/m, `hosts:\n  dead:\n    address: ${DEAD}\n  mute:\n    address: ${MUTE}\n`)
        .replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-3, dead, mute]'),
    );
    const pb = playbook('dead-mute.yml', playbookText('net-dead-mute'));
    const r = await apply(pb, inv);
    assert.equal(r.code, 1, r.all);
    assert.ok(r.ms < (CONNECT_TIMEOUT_S + 4) * 1000, `took ${r.ms} ms with connect_timeout ${CONNECT_TIMEOUT_S} s`);
    const events = readJournalFile(journalDir, runIdOf(r));
    const unreachable = events
      .filter((e) => e.type === 'host.unreachable')
      .map((e) => e.host)
      .sort();
    assert.deepEqual(unreachable, ['dead', 'mute'], r.all);
    const ends = stepEnds(events);
    for (const h of ['dead', 'mute']) {
      const mine = ends.filter((e) => e.host === h);
      assert.deepEqual(
        mine.map((e) => e.status),
        ['unreachable'],
        `${h}: ${JSON.stringify(mine)}`,
      );
    }
    assert.match(ends.find((e) => e.host === 'mute')?.message ?? '', /no SSH handshake .* within 3 s|timed? ?out/i);
    for (const h of ['etcd-1', 'etcd-2', 'etcd-3']) {
      assert.deepEqual(
        ends.filter((e) => e.host === h).map((e) => e.status),
        ['changed', 'changed'],
        h,
      );
      assert.equal(await lineCount(lab, h, '/root/dm-1'), 1);
      assert.equal(await lineCount(lab, h, '/root/dm-2'), 1);
    }
    const end = events.find((e) => e.type === 'run.end');
    const recap = end?.['recap'] as Record<string, { unreachable: number }>;
    assert.equal(recap['dead']?.unreachable, 1);
    assert.equal(recap['mute']?.unreachable, 1);
  });

  it('[fault] silent blackhole mid-run (proxy stops forwarding after the first step): detected by keepalive, unreachable, the others finish', async () => {
    // Play 2 runs: the first step is finished everywhere. Now the path to etcd-3 goes silent.
    const { r, holed } = await applyIntoBlackhole('net-blackhole', 'etcd-1', 'slee[p] 6');
    const after = Date.now() - holed;
    assert.equal(r.code, 1, r.all);
    // Play 2 lasts 6 s; then etcd-3 must be found dead by keepalive (1 s × 3) or a 3 s handshake timeout.
    assert.ok(after < 6000 + (CONNECT_TIMEOUT_S + 3 * KEEPALIVE_S + 3) * 1000, `run ended ${after} ms after the blackhole`);
    const events = readJournalFile(journalDir, runIdOf(r));
    const ends = stepEnds(events);
    assert.deepEqual(
      ends.filter((e) => e.host === 'etcd-3').map((e) => e.status),
      ['changed', 'unreachable'],
      JSON.stringify(ends),
    );
    assert.deepEqual(
      events.filter((e) => e.type === 'host.unreachable').map((e) => e.host),
      ['etcd-3'],
    );
    for (const h of ['etcd-1', 'etcd-2']) {
      assert.deepEqual(
        ends.filter((e) => e.host === h).map((e) => e.status),
        ['changed', 'changed', 'changed'],
        h,
      );
      assert.deepEqual([await lineCount(lab, h, '/root/bh-1'), await lineCount(lab, h, '/root/bh-2'), await lineCount(lab, h, '/root/bh-3')], [1, 1, 1], h);
    }
    // etcd-3 did its first step, and nothing after the path went silent.
    assert.deepEqual([await lineCount(lab, 'etcd-3', '/root/bh-1'), await lineCount(lab, 'etcd-3', '/root/bh-3')], [1, 0]);
    assert.match(
      ends.find((e) => e.host === 'etcd-3' && e.status === 'unreachable')?.message ?? '',
      /connection to root@127\.0\.\d+\.157:22 dropped \(Keepalive timeout\)/,
    );
  });

  it('[fault] silent blackhole while a command runs: detected by keepalive, the step is unknown (never ok), the others finish', async () => {
    const { r, holed } = await applyIntoBlackhole('net-blackhole-mid', 'etcd-3', 'slee[p] 8');
    assert.equal(r.code, 1, r.all);
    const events = readJournalFile(journalDir, runIdOf(r));
    const ends = stepEnds(events);
    const mine = ends.filter((e) => e.host === 'etcd-3');
    assert.deepEqual(
      mine.map((e) => e.status),
      ['changed', 'unknown'],
      JSON.stringify(mine),
    );
    assert.match(mine[1]?.message ?? '', /connection may have dropped: whether it took effect is unknown|dropped \(Keepalive timeout\)/);
    const detected = Date.parse(String(events.find((e) => e.type === 'step.end' && e.host === 'etcd-3' && e.result?.status === 'unknown')?.['at'])) - holed;
    assert.ok(detected < (3 * KEEPALIVE_S + 3) * 1000, `the silent path was noticed ${detected} ms after it went silent`);
    for (const h of ['etcd-1', 'etcd-2']) {
      assert.deepEqual(
        ends.filter((e) => e.host === h).map((e) => e.status),
        ['changed', 'changed', 'changed'],
        h,
      );
      assert.deepEqual([await lineCount(lab, h, '/root/bm-1'), await lineCount(lab, h, '/root/bm-2-end'), await lineCount(lab, h, '/root/bm-3')], [1, 1, 1], h);
    }
    assert.equal(await lineCount(lab, 'etcd-3', '/root/bm-3'), 0, 'nothing after the unknown step ran on etcd-3');
    const end = events.find((e) => e.type === 'run.end');
    assert.equal((end?.['recap'] as Record<string, { unknown: number }>)['etcd-3']?.unknown, 1);
  });

  /** TCP connections (distinct client ports) a host's sshd logged after `from` bytes of its log. */
  function sshdConnections(host: string, from: number): Set<string> {
    const h = lab.hosts.find((x) => x.name === host);
    assert.ok(h);
    const log = readFileSync(path.join(h.stateDir, 'run-lab/sshd.log')).subarray(from).toString('utf8');
    return new Set([...log.matchAll(/ port (\d+)/g)].map((m) => m[1] ?? ''));
  }

  function sshdLogSizes(): Record<string, number> {
    return Object.fromEntries(lab.hosts.map((h) => [h.name, readFileSync(path.join(h.stateDir, 'run-lab/sshd.log')).length]));
  }

  const AUTH_PB = playbookText('net-auth');

  it('[fault] auth failure (a key the hosts do not accept): one attempt per host, no retry storm, a clear message, nothing ran', async () => {
    const key = path.join(lab.dir, 'stranger_ed25519');
    rmSync(key, { force: true });
    rmSync(`${key}.pub`, { force: true });
    execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const inv = inventory('inv-stranger.yml', (t) => t.replace('identity_file: ./id_ed25519', 'identity_file: ./stranger_ed25519'));
    const before = sshdLogSizes();
    const r = await apply(playbook('auth.yml', AUTH_PB), inv);
    assert.equal(r.code, 1, r.all);
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
    const events = readJournalFile(journalDir, runIdOf(r));
    const unreachable = events.filter((e) => e.type === 'host.unreachable');
    assert.deepEqual(unreachable.map((e) => e.host).sort(), ['etcd-1', 'etcd-2', 'etcd-3']);
    for (const e of unreachable) assert.match(String(e['message']), /authentication failed/, String(e['message']));
    assert.match(r.all, /authentication failed/);
    for (const h of ['etcd-1', 'etcd-2', 'etcd-3']) {
      assert.deepEqual(
        stepEnds(events)
          .filter((e) => e.host === h)
          .map((e) => e.status),
        ['unreachable'],
        `${h}: one failure, no more steps`,
      );
      // Give sshd a moment to log the closed connection, then count connections: exactly one.
      await waitFor(`${h}: sshd logs the attempt`, () => Promise.resolve(sshdConnections(h, before[h] ?? 0).size > 0), 5000);
      assert.equal(sshdConnections(h, before[h] ?? 0).size, 1, `${h}: connections seen by sshd`);
      assert.equal(await lineCount(lab, h, '/root/auth-1'), 0, `${h}: nothing ran`);
    }
  });

  it('[fault] encrypted identity key without a passphrase: a clear error, fails fast, no host contacted, nothing ran', async () => {
    const key = path.join(lab.dir, 'encrypted_ed25519');
    copyFileSync(lab.keyPath, key);
    execFileSync('/usr/bin/ssh-keygen', ['-q', '-p', '-N', 'sekrit', '-f', key]);
    const inv = inventory('inv-encrypted.yml', (t) => t.replace('identity_file: ./id_ed25519', 'identity_file: ./encrypted_ed25519'));
    const before = sshdLogSizes();
    const r = await apply(playbook('auth-enc.yml', AUTH_PB), inv);
    assert.notEqual(r.code, 0, r.all);
    assert.ok(r.ms < 5000, `took ${r.ms} ms`);
    assert.match(r.all, /encrypted and no passphrase/);
    await new Promise((res) => setTimeout(res, 200));
    for (const h of ['etcd-1', 'etcd-2', 'etcd-3']) {
      assert.equal(sshdConnections(h, before[h] ?? 0).size, 0, `${h}: no connection attempted`);
      assert.equal(await lineCount(lab, h, '/root/auth-1'), 0, `${h}: nothing ran`);
    }
  });

  // The lab logs in as root and has no sudo: as in test/e2e/ssh-transport.test.ts, a stand-in
  // `sudo` (test/fixtures/standins/sudo.sh, on PATH through root's private .bashrc) checks the
  // password read from stdin ('right'), and the transports get `alwaysSudo` so that root uses it.
  // Every call is counted in /root/fakesudo.calls.
  const FAKE_SUDO = standInScript('sudo');

  it('[fault] wrong sudo password: fails fast once per host (no retries, even with retries:), a clear message, the command never runs', async () => {
    const HOSTS3 = ['etcd-1', 'etcd-2', 'etcd-3'];
    for (const h of HOSTS3) {
      await installStandIn(lab, h, 'sudo', FAKE_SUDO);
      await hostExec(lab, h, "printf %s 'password:right' > /root/fakesudo.mode; : > /root/fakesudo.calls", { timeoutMs: 10_000 });
    }
    try {
      const pb = playbook('sudo.yml', playbookText('net-sudo'));
      const built = buildPlan({ playbook: pb, inventory: lab.inventoryPath });
      assert.ok(built.plan, formatDiagnostics(built.diagnostics, built.texts));
      const plan = built.plan;
      const made: SshTransport[] = [];
      const log = new EventLog();
      const t0 = Date.now();
      try {
        const r = await executeForTest(plan, {
          transports: (h) => {
            const c = plan.hosts[h];
            assert.ok(c, h);
            const t = new SshTransport(h, c.address, c.ssh, { alwaysSudo: true, sudoPassword: 'wrong' });
            made.push(t);
            return t;
          },
          emit: log.emit,
        });
        assert.equal(r.exitCode, 1);
      } finally {
        await Promise.all(made.map((t) => t.close()));
      }
      const ms = Date.now() - t0;
      // Against the thing under test: one retry alone would wait its 30 s delay.
      const seen = `${JSON.stringify(log.stepEnd('1.1@etcd-1')?.result)} ${JSON.stringify(log.of('step.retry'))}`;
      assert.ok(ms < 30_000, `took ${ms} ms (a retry waits its delay: 30 s first): ${seen}`);
      for (const h of HOSTS3) {
        const end = log.stepEnd(`1.1@${h}`);
        assert.equal(end?.result.status, 'failed', `${h}: ${JSON.stringify(end?.result)}`);
        assert.match(end?.result.message ?? '', /rejected the given password/);
        assert.ok((end?.result.attempts ?? 0) <= 1, `${h}: ${end?.result.attempts} attempts`);
        assert.equal(log.stepEnd(`1.2@${h}`), undefined, `${h}: went on after the failure`);
        const calls = (await hostExec(lab, h, 'cat /root/fakesudo.calls', { timeoutMs: 10_000 })).stdout.trim().split('\n').filter(Boolean);
        assert.ok(calls.length <= 2, `${h}: sudo was called ${calls.length} times: ${calls.join(' | ')}`);
        assert.equal(await lineCount(lab, h, '/root/sudo-ran'), 0, `${h}: the command ran`);
        assert.equal(await lineCount(lab, h, '/root/sudo-after'), 0);
      }
    } finally {
      for (const h of HOSTS3) {
        await removeStandIns(lab, h);
        await hostExec(lab, h, 'rm -f /root/fakesudo.*', { timeoutMs: 10_000 });
      }
    }
  });
});
