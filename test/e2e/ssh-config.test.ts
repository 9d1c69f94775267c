// Issue #17, "Why" item 2 (~/.ssh/config ignored, one known_hosts file, @cert-authority ignored,
// identity_file switching ssh-agent off), on the lab's real sshd hosts: an apply whose only
// connection settings are in an OpenSSH config file (-F), a ProxyJump through another lab host,
// ssh-agent beside an identity file, a second known_hosts file, and a CA-only host refused.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import type { SshSettings } from '../../engine/model/types.js';
import { SshTransport } from '../../engine/transports/ssh/transport.js';
import { UnreachableError } from '../../engine/transports/transport.js';
import { labDown, type Lab } from '../lab/lab.js';
import { suiteLab } from '../support/lab.js';
import { waitFor } from './fault-helpers.js';
import { freshLab, labDir, runbook } from './playbook-helpers.js';

let lab: Lab;
let tmp: string;

/** An inventory with no connection settings at all: hosts are ssh config aliases; member URLs spelled out (not connection settings). */
function aliasInventory(aliases: Record<string, string>): string {
  const inv = parse(readFileSync(lab.inventoryPath, 'utf8')) as Record<string, unknown>;
  delete inv.ssh;
  inv.hosts = Object.fromEntries(
    lab.hosts.map((h) => [
      h.name,
      { address: aliases[h.name], etcd: { peer_url: `${lab.scheme}://${h.address}:2380`, client_url: `${lab.scheme}://${h.address}:2379` } },
    ]),
  );
  const file = path.join(lab.dir, 'alias-inventory.yml');
  writeFileSync(file, stringify(inv));
  return file;
}

function sshConfig(name: string, jumpPort = 22): string {
  const [a, b] = lab.hosts;
  assert.ok(a && b);
  const common = [
    '  User root',
    `  IdentityFile ${lab.keyPath}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${lab.knownHostsPath}`,
    '  StrictHostKeyChecking yes',
  ];
  const file = path.join(tmp, name);
  writeFileSync(
    file,
    [
      '# only here: how to reach the lab hosts',
      'Host first',
      `  HostName ${a.address}`,
      `  Port ${jumpPort}`,
      ...common,
      'Host second',
      `  HostName ${b.address}`,
      '  Port 22',
      '  ProxyJump first',
      ...common,
      '',
    ].join('\n'),
  );
  return file;
}

function settings(over: Partial<SshSettings>): SshSettings {
  return { user: 'root', port: 22, knownHosts: lab.knownHostsPath, hostKeyChecking: 'strict', connectTimeoutSec: 5, keepaliveSec: 15, ...over };
}

describe('Why: ~/.ssh/config is ignored (Host aliases, User, Port, IdentityFile, ProxyJump, ProxyCommand), only one known_hosts file is read, @cert-authority lines are ignored, and setting identity_file switches ssh-agent off', function () {
  this.timeout(600_000);
  const open: SshTransport[] = [];
  suiteLab(
    {
      up: () => freshLab('ssh-config', { hosts: 2 }),
      down: () => labDown(labDir('ssh-config')),
      tmpPrefix: 'runbook-ssh-config-',
      beforeDown: async () => void (await Promise.allSettled(open.map((t) => t.close()))),
      timeoutMs: 300_000,
    },
    (l, t) => {
      lab = l;
      tmp = t;
    },
  );

  it('a lab run whose only connection settings are in an ssh config file (alias, user, port, identity, ProxyJump through another lab host) applies backup.yml', async () => {
    const inv = aliasInventory({ 'etcd-1': 'first', 'etcd-2': 'second' });
    const text = readFileSync(inv, 'utf8');
    assert.ok(!/^ssh:|identity_file|known_hosts|user:|port:|jump:/m.test(text), `no connection settings in the inventory:\n${text}`);
    const cfg = sshConfig('ssh_config');
    const journal = path.join(lab.dir, 'runs');
    const r = await runbook(['apply', 'backup.yml', '-i', inv, '-F', cfg, '--yes', '--output', 'text', '--journal-dir', journal]);
    assert.equal(r.code, 0, r.all);
    const backups = readdirSync(path.join(lab.dir, 'backups')).filter((f) => f.endsWith('.db'));
    assert.equal(backups.length, 1, `one snapshot fetched to the controller: ${backups.join(', ')}`);
    const st = await runbook(['status', '-i', inv, '-F', cfg]);
    assert.equal(st.code, 0, st.all);
    assert.match(st.out, /etcd-1[\s\S]*etcd-2/);
    // etcd-2 is reached through `first` (ProxyJump): with first's port wrong, etcd-2 is unreachable as a jump host, not directly.
    const broken = sshConfig('ssh_config_broken_jump', 1);
    const s = await runbook(['apply', 'status.yml', '-i', inv, '-F', broken, '-l', 'etcd-2', '--yes', '--output', 'text', '--journal-dir', journal]);
    assert.equal(s.code, 1, s.all);
    assert.match(s.all, /etcd-2: jump host unreachable/);
    // Without the config file the aliases mean nothing: the run cannot connect (proof the settings came from it).
    writeFileSync(path.join(tmp, 'empty_config'), '');
    const none = await runbook(['apply', 'status.yml', '-i', inv, '-F', path.join(tmp, 'empty_config'), '--yes', '--output', 'text', '--journal-dir', journal]);
    assert.equal(none.code, 1, none.all);
    assert.match(none.all, /first|second/);
  });

  it('ProxyCommand in the ssh config is refused with the reason (runbook runs no local command for a connection)', async () => {
    const cfg = path.join(tmp, 'ssh_config_proxycommand');
    writeFileSync(cfg, `Host etcd-one\n  HostName ${lab.hosts[0]!.address}\n  User nobody\n  ProxyCommand nc %h %p\n`);
    const r = await runbook([
      'apply',
      'status.yml',
      '-i',
      aliasInventory({ 'etcd-1': 'etcd-one', 'etcd-2': lab.hosts[1]!.address }),
      '-F',
      cfg,
      '--yes',
      '--output',
      'text',
      '--journal-dir',
      path.join(lab.dir, 'runs'),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.all, /ProxyCommand for etcd-one, which runbook cannot run/);
  });

  it('ssh-agent keys are tried as well as an identity file, unless IdentitiesOnly', async function () {
    // A key the hosts do not accept as the identity file; the lab key only in a real ssh-agent.
    const wrong = path.join(tmp, 'wrong_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
    const sock = path.join(tmp, 'agent.sock');
    const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    const before = process.env.SSH_AUTH_SOCK;
    try {
      await waitFor('the ssh-agent socket', () => existsSync(sock), 10_000);
      execFileSync('ssh-add', ['-q', lab.keyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      process.env.SSH_AUTH_SOCK = sock;
      const h = lab.hosts[0]!;
      const both = new SshTransport(h.name, h.address, settings({ identityFile: wrong }));
      open.push(both);
      const r = await both.exec('echo via-agent');
      assert.equal(r.stdout.trim(), 'via-agent');
      const only = new SshTransport(h.name, h.address, settings({ identityFile: wrong, identitiesOnly: true }));
      open.push(only);
      await assert.rejects(only.connect(), (e: unknown) => e instanceof UnreachableError && e.reason === 'auth');
    } finally {
      if (before === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = before;
      if (agent.pid) process.kill(agent.pid, 'SIGTERM');
    }
  });

  it('a second known_hosts file (as /etc/ssh/ssh_known_hosts) is read; a host known only through @cert-authority is refused, naming the line and why', async () => {
    const h = lab.hosts[0]!;
    const empty = path.join(tmp, 'empty_known_hosts');
    writeFileSync(empty, '');
    const viaGlobal = new SshTransport(h.name, h.address, settings({ knownHosts: empty, knownHostsExtra: [lab.knownHostsPath], identityFile: lab.keyPath }));
    open.push(viaGlobal);
    assert.equal((await viaGlobal.exec('echo known')).stdout.trim(), 'known');
    assert.equal(readFileSync(empty, 'utf8'), '', 'the primary file is not written to');

    const ca = path.join(tmp, 'host_ca');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', ca]);
    const caOnly = path.join(tmp, 'ca_known_hosts');
    writeFileSync(caOnly, `@cert-authority ${h.address} ${readFileSync(`${ca}.pub`, 'utf8').trim()}\n`);
    for (const mode of ['strict', 'accept-new'] as const) {
      const t = new SshTransport(h.name, h.address, settings({ knownHosts: caOnly, identityFile: lab.keyPath, hostKeyChecking: mode }));
      open.push(t);
      await assert.rejects(t.connect(), (e: unknown) => {
        assert.ok(e instanceof UnreachableError && e.reason === 'host-key', String(e));
        assert.match(e.message, /known only through a @cert-authority line \(.*ca_known_hosts line 1\)/);
        assert.match(e.message, /cannot verify SSH host certificates/);
        return true;
      });
    }
    assert.equal(readFileSync(caOnly, 'utf8').split('\n').filter(Boolean).length, 1, 'accept-new recorded nothing');
  });
});
