// Issue #17, "Why" item 1 (IPv6 addresses are refused outright): the shell probes that test a
// client port with bash's /dev/tcp (restore-all's "only members that listen", waiting for a port to
// close) took the URL's host with its brackets, which /dev/tcp cannot open: every IPv6 member looked
// down. Run here with bash against a real listener on [::1] (and 127.0.0.1 for the IPv4 form).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadInventory } from '../../engine/inventory/load.js';
import type { PlanCtx } from '../../engine/modules/module.js';
import { listeningOnly, portClosed } from '../../engine/modules/etcd/common.js';
import { raw } from '../../engine/shell/sh.js';

describe('Why: IPv6 addresses are refused outright — port probes', () => {
  let dir: string;
  let server: net.Server;
  let port: number;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'runbook-v6probe-'));
    // A stand-in etcdctl that prints the endpoints it was given (only the probe is under test here).
    writeFileSync(path.join(dir, 'etcdctl'), '#!/bin/sh\nfor a in "$@"; do case "$a" in --endpoints=*) echo "$a";; esac; done\n');
    chmodSync(path.join(dir, 'etcdctl'), 0o755);
    server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const bash = (script: string): { code: number | null; out: string } => {
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` }, timeout: 30_000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  it('listening-only asks exactly the IPv6 members whose port is open', () => {
    const inv = path.join(dir, 'inv.yml');
    writeFileSync(
      inv,
      `cluster: {name: v6, etcd_version: "3.4.23", client_port: ${port}}\nhosts: {a: {address: "::1"}, b: {address: "fd00::dead"}}\ngroups: {etcd: {hosts: [a, b]}}\n`,
    );
    const r = loadInventory(inv);
    assert.ok(r.inventory, JSON.stringify(r.diagnostics));
    const ctx = { host: r.inventory.hosts.a!, inventory: r.inventory, vars: {}, playbookDir: dir } as unknown as PlanCtx;
    const out = bash(listeningOnly(ctx, r.inventory.facts.endpoints, raw('endpoint health')).toString());
    assert.equal(out.out.trim(), `--endpoints=http://[::1]:${port}`, out.out);
  });

  it('waiting for a port to close sees an open IPv6 port as open, and a closed one as closed', () => {
    const open = bash(portClosed(`http://[::1]:${port}`, 1).toString());
    assert.equal(open.code, 1, open.out);
    assert.match(open.out, /still listening/);
    const closed = bash(portClosed('http://[::1]:1', 1).toString());
    assert.equal(closed.code, 0, closed.out);
  });
});
