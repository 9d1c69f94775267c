// Issue #17, "Why" item 2: OpenSSH client config resolution (transports/ssh/ssh-config.ts), without
// a network: aliases, first value wins, the inventory's own settings win, Include, tokens,
// IdentitiesOnly, known_hosts files, and what cannot be honoured refused with a reason.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadInventory } from '../../engine/inventory/load.js';
import type { SshSettings } from '../../engine/model/types.js';
import { applySshConfig } from '../../engine/transports/ssh/ssh-config.js';

describe('Why: ~/.ssh/config is ignored (Host aliases, User, Port, IdentityFile, ProxyJump, ProxyCommand), only one known_hosts file is read — resolution', () => {
  let home: string;
  const sys = (): string => path.join(home, 'etc_ssh_config');
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'runbook-sshcfg-'));
    mkdirSync(path.join(home, '.ssh', 'conf.d'), { recursive: true });
    writeFileSync(sys(), 'Host *\n  User system-default\n  Port 2999\n');
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  /** SshSettings as the inventory loader makes them from an inventory's ssh: block. */
  function fromInventory(ssh: string): SshSettings {
    const f = path.join(home, 'inv.yml');
    writeFileSync(f, `cluster: {name: t, etcd_version: "3.4.23"}\nssh: ${ssh}\nhosts: {e1: {address: db1}}\ngroups: {etcd: {hosts: [e1]}}\n`);
    const r = loadInventory(f);
    assert.ok(r.inventory, JSON.stringify(r.diagnostics));
    return r.inventory.hosts.e1!.ssh;
  }

  it('an alias gets HostName, User, Port, IdentityFile (all of them, tokens expanded), IdentitiesOnly, ProxyJump, known_hosts files and StrictHostKeyChecking; first value wins; Include is read', () => {
    writeFileSync(
      path.join(home, '.ssh', 'config'),
      [
        'Include conf.d/*.conf',
        'Host db*',
        '  User ops',
        '  IdentityFile ~/.ssh/id_%h',
        '  IdentityFile %d/.ssh/second',
        'Host *',
        '  User never-used',
        '  StrictHostKeyChecking accept-new',
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(home, '.ssh', 'conf.d', 'db.conf'),
      'Host db1\n  HostName fd00::11\n  Port 2222\n  IdentitiesOnly yes\n  ProxyJump bastion\n  UserKnownHostsFile ~/kh1 ~/kh2\n',
    );
    const r = applySshConfig('db1', fromInventory('{}'), { home, systemFile: sys() });
    assert.equal(r.refusal, undefined);
    assert.equal(r.address, 'fd00::11');
    assert.deepEqual(
      [r.ssh.user, r.ssh.port, r.ssh.identityFile, r.ssh.identityFiles, r.ssh.identitiesOnly, r.ssh.jump, r.ssh.hostKeyChecking],
      ['ops', 2222, path.join(home, '.ssh', 'id_fd00::11'), [path.join(home, '.ssh', 'second')], true, 'bastion', 'accept-new'],
    );
    assert.equal(r.ssh.knownHosts, path.join(home, 'kh1'));
    assert.deepEqual(
      r.ssh.knownHostsExtra,
      [path.join(home, 'kh2'), '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      '/etc/ssh/ssh_known_hosts read too',
    );
  });

  it("the inventory's own settings win (as ssh -o would); what it leaves to runbook's defaults, the config decides; -F reads only that file", () => {
    writeFileSync(
      path.join(home, '.ssh', 'config'),
      'Host db1\n  HostName 10.0.0.1\n  User ops\n  Port 2222\n  StrictHostKeyChecking no\n  ProxyJump bastion\n',
    );
    const own = applySshConfig('db1', fromInventory('{user: root, port: 22, host_key_checking: strict, jump: none, identity_file: /k/id}'), {
      home,
      systemFile: sys(),
    });
    assert.deepEqual(
      [own.address, own.ssh.user, own.ssh.port, own.ssh.hostKeyChecking, own.ssh.jump, own.ssh.identityFile],
      ['10.0.0.1', 'root', 22, 'strict', undefined, '/k/id'],
    );
    const open = applySshConfig('db1', fromInventory('{}'), { home, systemFile: sys() });
    assert.deepEqual([open.ssh.user, open.ssh.port, open.ssh.hostKeyChecking, open.ssh.jump], ['ops', 2222, 'strict', 'bastion']);
    // Another host: the system config's Host * applies (after the user's).
    const other = applySshConfig('db9', fromInventory('{}'), { home, systemFile: sys() });
    assert.deepEqual([other.address, other.ssh.user, other.ssh.port], ['db9', 'system-default', 2999]);
    const f = path.join(home, 'only');
    writeFileSync(f, 'Host db9\n  User from-f\n');
    const onlyF = applySshConfig('db9', fromInventory('{}'), { home, systemFile: sys(), file: f });
    assert.deepEqual([onlyF.ssh.user, onlyF.ssh.port], ['from-f', 22], '-F: neither ~/.ssh/config nor the system file');
  });

  it('ProxyCommand and a ProxyJump chain are refused with the reason; Match exec is never run', () => {
    const marker = path.join(home, 'ran');
    writeFileSync(path.join(home, '.ssh', 'config'), `Match exec "touch ${marker}"\n  User x\nHost pc\n  ProxyCommand nc %h %p\nHost chain\n  ProxyJump a,b\n`);
    assert.match(applySshConfig('pc', fromInventory('{}'), { home, systemFile: sys() }).refusal ?? '', /ProxyCommand for pc, which runbook cannot run/);
    assert.match(applySshConfig('chain', fromInventory('{}'), { home, systemFile: sys() }).refusal ?? '', /ProxyJump chain \(a,b\)/);
    assert.equal(
      applySshConfig('pc', fromInventory('{jump: "root@bastion.example:22"}'), { home, systemFile: sys() }).refusal,
      undefined,
      "the inventory's jump replaces it",
    );
    assert.ok(!existsSyncSafe(marker), 'Match exec never runs a command');
  });
});

function existsSyncSafe(p: string): boolean {
  try {
    rmSync(p);
    return true;
  } catch {
    return false;
  }
}
