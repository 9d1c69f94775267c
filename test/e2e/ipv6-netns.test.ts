// Issue #17, "Why" item 1 (IPv6 addresses are refused outright), proven over IPv6 end to end: a
// network namespace this test creates holds fd00::11 on its own loopback (never on the machine's
// interfaces); a real sshd and a real etcd (the machine's 3.4) listen on [fd00::11] inside it, and
// runbook's controller side runs inside it too (`ip netns exec`), so every connection is IPv6:
// the SSH connection and its strict host-key lookup, etcdctl's --endpoints=http://[fd00::11]:2379.
// sshd and the session commands get a private tmpfs on /run (the machine's /run is not touched).
// Everything is stopped by PID and the namespace deleted afterwards.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { labNet } from '../lab/lab.js';
import { waitFor } from '../support/wait.js';
import { BIN } from '../support/fixtures.js';

const ADDR = 'fd00::11';

describe('Why: IPv6 addresses are refused outright — over IPv6 in a network namespace (sshd + etcd on [fd00::11])', function () {
  this.timeout(300_000);
  const ns = `rb${labNet()}v6-${process.pid}`;
  let dir: string;
  const procs: ChildProcess[] = [];

  const inNs = (args: string[], opts: { cwd?: string } = {}): string =>
    execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

  const start = (name: string, args: string[]): ChildProcess => {
    const log = openSync(path.join(dir, `${name}.log`), 'a');
    const p = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', log, log] });
    procs.push(p);
    return p;
  };

  before(async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'runbook-ipv6-'));
    execFileSync('ip', ['netns', 'add', ns]);
    inNs(['ip', 'link', 'set', 'lo', 'up']);
    inNs(['ip', '-6', 'addr', 'add', `${ADDR}/128`, 'dev', 'lo', 'nodad']);
    // Keys: the host's, the controller's; known_hosts names the host by its IPv6 address (port 22: bare).
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'id_ed25519')]);
    writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'id_ed25519.pub')));
    const hostPub = readFileSync(path.join(dir, 'host_key.pub'), 'utf8').split(' ');
    writeFileSync(path.join(dir, 'known_hosts'), `${ADDR} ${hostPub[0]} ${hostPub[1]}\n`);
    writeFileSync(
      path.join(dir, 'sshd_config'),
      [
        `ListenAddress [${ADDR}]:22`,
        `HostKey ${dir}/host_key`,
        `PidFile ${dir}/sshd.pid`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'UseDNS no',
        'AllowTcpForwarding yes',
        '',
      ].join('\n'),
    );
    // sshd wants /run/sshd: a private tmpfs on /run inside the namespace's own mount namespace.
    start('sshd', ['sh', '-c', `mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -f ${dir}/sshd_config`]);
    mkdirSync(path.join(dir, 'data'), { mode: 0o700 });
    const url = (port: number): string => `http://[${ADDR}]:${port}`;
    start('etcd', [
      'etcd',
      '--name=v6-1',
      `--data-dir=${dir}/data/v6-1`,
      `--listen-client-urls=${url(2379)}`,
      `--advertise-client-urls=${url(2379)}`,
      `--listen-peer-urls=${url(2380)}`,
      `--initial-advertise-peer-urls=${url(2380)}`,
      `--initial-cluster=v6-1=${url(2380)}`,
      '--initial-cluster-token=v6',
    ]);
    await waitFor(
      'etcd on [fd00::11]:2379 healthy',
      () => {
        try {
          inNs(['etcdctl', `--endpoints=${url(2379)}`, 'endpoint', 'health']); // exit 0 when healthy (3.4 prints to stderr)
          return true;
        } catch {
          return false;
        }
      },
      60_000,
    );
    await waitFor('sshd on [fd00::11]:22', () => existsSync(path.join(dir, 'sshd.pid')), 30_000);
    writeFileSync(
      path.join(dir, 'inventory.yml'),
      [
        'cluster:',
        '  name: v6',
        '  etcd_version: "3.4.23"',
        '  token: v6',
        `  data_dir: ${dir}/data/v6-1`,
        `  backup_dir: ${dir}/host-backups`,
        '  controller_backup_dir: ./backups',
        `  config_file: ${dir}/etcd.conf`,
        'ssh: {user: root, port: 22, identity_file: ./id_ed25519, known_hosts: ./known_hosts, host_key_checking: strict}',
        'hosts:',
        `  v6-1: {address: "${ADDR}"}`,
        'groups: {etcd: {hosts: [v6-1]}}',
        '',
      ].join('\n'),
    );
  });

  after(async function () {
    for (const p of procs) if (p.pid !== undefined && p.exitCode === null) p.kill('SIGTERM');
    await waitFor('sshd and etcd to stop', () => procs.every((p) => p.exitCode !== null || p.signalCode !== null), 30_000).catch(() => {
      for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    });
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('fd00::11 exists only inside the namespace, never on the machine', () => {
    assert.match(inNs(['ip', '-6', 'addr', 'show', 'dev', 'lo']), /fd00::11/);
    assert.doesNotMatch(execFileSync('ip', ['-6', 'addr', 'show'], { encoding: 'utf8' }), /fd00::11/);
  });

  it('plan and apply of status.yml and backup.yml over IPv6: strict host key for fd00::11, etcdctl --endpoints=http://[fd00::11]:2379, snapshot fetched', () => {
    const plan = inNs(['node', BIN, 'plan', 'backup.yml', '-i', 'inventory.yml', '--verbose'], { cwd: dir });
    // Quoted by construction: [ and ] are glob characters to the shell.
    assert.match(plan, /--endpoints='http:\/\/\[fd00::11\]:2379'/);
    const run = (pb: string): string =>
      inNs(['node', BIN, 'apply', pb, '-i', 'inventory.yml', '--yes', '--output', 'text', '--journal-dir', 'runs', '-v'], { cwd: dir });
    const status = run('status.yml');
    assert.match(status, /v6-1/);
    const backup = run('backup.yml');
    assert.match(backup, /ok=|changed=/);
    const snaps = readdirSync(path.join(dir, 'backups')).filter((f) => f.endsWith('.db'));
    assert.equal(snaps.length, 1, `one snapshot on the controller: ${snaps.join(', ')}`);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'backups', `${snaps[0]}.manifest.json`), 'utf8')) as Record<string, unknown>;
    assert.equal(JSON.stringify(manifest).includes('[fd00::11]'), true, `the manifest names the IPv6 member URL: ${JSON.stringify(manifest)}`);
  });

  it('a changed host key for [fd00::11] is refused (known_hosts lookup by the IPv6 address)', () => {
    const kh = path.join(dir, 'known_hosts');
    const good = readFileSync(kh, 'utf8');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'other_key')]);
    const other = readFileSync(path.join(dir, 'other_key.pub'), 'utf8').split(' ');
    writeFileSync(kh, `${ADDR} ${other[0]} ${other[1]}\n`);
    try {
      let out = '';
      try {
        inNs(['node', BIN, 'apply', 'status.yml', '-i', 'inventory.yml', '--yes', '--output', 'text', '--journal-dir', 'runs'], { cwd: dir });
      } catch (e) {
        out = `${String((e as { stdout?: string }).stdout)}${String((e as { stderr?: string }).stderr)}`;
      }
      assert.match(out, /HOST KEY CHANGED for fd00::11/);
    } finally {
      writeFileSync(kh, good);
    }
  });
});
