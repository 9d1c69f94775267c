// The executor's side of a relayed put (engine/execute/group.ts) with in-memory transports: when
// the relay cannot be used, every host still gets its own copy (and says why), and a host whose
// step ends before its put is not waited for. The relay itself runs on real sshd in
// test/e2e/relay-restore.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Action } from '../../engine/model/types.js';
import type { TransferResult } from '../../engine/transports/transport.js';
import { executeForTest } from '../support/execute.js';
import { EventLog, exec, FakeTransport, mkPlan, mkPlay } from './executor-fakes.js';

const HOSTS = ['m1', 'm2', 'm3'];
const SHA = 'a'.repeat(64);

function relayedPut(src: string): Action {
  return { kind: 'put', src, dest: '/var/backups/etcd/r.db', mode: '0600', sha256: SHA, relay: { listen: '127.0.0.1', compress: 'auto' } };
}

/** TEST DOUBLE: a fake host whose copies hash to what the manifest says. */
class CopyingHost extends FakeTransport {
  override async putFile(localPath: string, remotePath: string): Promise<TransferResult> {
    await super.putFile(localPath, remotePath);
    return { bytes: 14, sha256: SHA };
  }
}

function setup(): { src: string; transports: Map<string, FakeTransport> } {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-relay-group-'));
  const src = join(dir, 'snap.db');
  writeFileSync(src, 'snapshot bytes');
  // Hosts without python3: the probe prints nothing; an `exit 1` command fails.
  const transports = new Map(HOSTS.map((h) => [h, new CopyingHost(h, (cmd) => (cmd === 'exit 1' ? { code: 1 } : {}))]));
  return { src, transports };
}

function outputOf(log: EventLog, host: string): string {
  return log
    .of('step.output')
    .filter((e) => e.host === host)
    .map((e) => e.text)
    .join('');
}

describe('relayed put: the task group', function () {
  it('a member without python3: every host gets its own copy from the controller, and the output says why', async function () {
    const { src, transports } = setup();
    const log = new EventLog();
    const r = await executeForTest(mkPlan([mkPlay(1, HOSTS, [{ actions: [relayedPut(src)] }])]), {
      transports: (h) => transports.get(h) as FakeTransport,
      emit: log.emit,
    });
    assert.equal(r.exitCode, 0);
    for (const h of HOSTS) assert.equal(transports.get(h)?.files.get('/var/backups/etcd/r.db'), `<${src}>`, `${h} got no copy`);
    assert.match(outputOf(log, 'm1'), /relay not used \(no python3 on m1, m2, m3\): copying from the controller/);
  });

  it('--forks below the number of hosts: no relay (it needs every member at once), a copy each', async function () {
    const { src, transports } = setup();
    const log = new EventLog();
    const r = await executeForTest(mkPlan([mkPlay(1, HOSTS, [{ actions: [relayedPut(src)] }])]), {
      transports: (h) => transports.get(h) as FakeTransport,
      emit: log.emit,
      forks: 2,
    });
    assert.equal(r.exitCode, 0);
    for (const h of HOSTS) assert.equal(transports.get(h)?.files.get('/var/backups/etcd/r.db'), `<${src}>`);
    assert.match(outputOf(log, 'm3'), /relay not used \(--forks is below the 3 hosts of the task\)/);
    // Nothing was asked of the hosts for a relay (no probe).
    for (const t of transports.values()) assert.ok(!t.calls.some((c) => c.cmd.includes('python3')), t.host);
  });

  it("a host whose step fails before its put is not waited for: the others' puts run", async function () {
    const { src, transports } = setup();
    const log = new EventLog();
    const r = await executeForTest(mkPlan([mkPlay(1, HOSTS, [{ actions: (h) => [...(h === 'm2' ? [exec('exit 1')] : []), relayedPut(src)] }])]), {
      transports: (h) => transports.get(h) as FakeTransport,
      emit: log.emit,
    });
    assert.equal(r.exitCode, 1);
    assert.equal(log.stepEnd('1.1@m2')?.result.status, 'failed');
    for (const h of ['m1', 'm3']) assert.equal(transports.get(h)?.files.get('/var/backups/etcd/r.db'), `<${src}>`, `${h} got no copy`);
    assert.equal(transports.get('m2')?.files.get('/var/backups/etcd/r.db'), undefined);
  });
});
