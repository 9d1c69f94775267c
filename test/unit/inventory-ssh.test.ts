// SSH settings from the inventory: defaults, a host's own settings over the defaults, and the
// session-shell switch (absent means on; only an explicit false turns it off).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadInventory } from '../../engine/inventory/load.js';

describe('inventory ssh settings', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'runbook-inv-ssh-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('session_shell: default on, false in the defaults or on one host turns it off there', () => {
    const file = path.join(dir, 'inv.yml');
    writeFileSync(
      file,
      [
        'cluster: {name: test, etcd_version: "3.4.23"}',
        'ssh: {user: root, session_shell: false}',
        'hosts:',
        '  etcd-1: {address: 127.0.0.1}',
        '  etcd-2: {address: 127.0.0.2, ssh: {session_shell: true}}',
        '  etcd-3: {address: 127.0.0.3, ssh: {port: 2222}}',
        'groups: {etcd: {hosts: [etcd-1, etcd-2, etcd-3]}}',
        '',
      ].join('\n'),
    );
    const r = loadInventory(file);
    assert.ok(r.inventory, JSON.stringify(r.diagnostics));
    const s = (h: string): boolean | undefined => r.inventory?.hosts[h]?.ssh.sessionShell;
    assert.deepEqual([s('etcd-1'), s('etcd-2'), s('etcd-3')], [false, undefined, false]);
    assert.equal(r.inventory.hosts['etcd-3']?.ssh.port, 2222);

    writeFileSync(file, 'cluster: {name: test, etcd_version: "3.4.23"}\nhosts: {etcd-1: {address: 127.0.0.1}}\ngroups: {etcd: {hosts: [etcd-1]}}\n');
    const d = loadInventory(file);
    assert.equal(d.inventory?.hosts['etcd-1']?.ssh.sessionShell, undefined, 'absent: the transport default (on)');
  });
});
