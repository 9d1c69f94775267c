// etcd_health wait decides from `endpoint health --write-out=json`, not its exit code: etcd 3.5's
// etcdctl reports every member unhealthy (exit 1) while a NOSPACE alarm is active, which 3.4 did
// not, and restore-all / replace-member / force-new-cluster must not wait 120 s for that. The wait
// script the plan holds runs here against an `etcdctl` on PATH that prints canned 3.5 output.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildPlan } from '../../engine/cli/inputs.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';

const OK = (ep: string): string => `{"endpoint":"${ep}","health":true,"took":"2ms"}`;
const NOSPACE = (ep: string): string => `{"endpoint":"${ep}","health":false,"took":"3ms","error":"Active Alarm(s): NOSPACE "}`;
const DOWN = (ep: string): string => `{"endpoint":"${ep}","health":false,"took":"2s","error":"context deadline exceeded"}`;
const CORRUPT = (ep: string): string => `{"endpoint":"${ep}","health":false,"took":"3ms","error":"Active Alarm(s): CORRUPT "}`;

describe('etcd_health wait: health read from JSON (etcd 3.5 NOSPACE alarms)', function () {
  this.timeout(30_000);
  let dir: string;
  let script: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-wait-'));
    const pb = join(dir, 'wait.yml');
    writeFileSync(pb, stringify([{ name: 'w', hosts: 'etcd-1', tasks: [{ name: 'wait', etcd_health: { op: 'wait', timeout: 2 } }] }]));
    const r = buildPlan({ playbook: pb, inventory: join(PACKAGE_ROOT, 'inventories', 'prod-3-https.yml'), extraVars: [] });
    assert.ok(r.plan, r.diagnostics.map((d) => d.message).join('; '));
    const wait = r.plan.plays[0]?.tasks[0]?.steps[0]?.actions.find((a) => a.kind === 'wait');
    assert.ok(wait && wait.kind === 'wait');
    script = wait.cmd;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Run the wait with an etcdctl that prints `json` and exits `code`; the wait's exit status. */
  function runWait(json: string, code: number): number | null {
    const bin = join(dir, 'bin');
    rmSync(bin, { recursive: true, force: true });
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'etcdctl'), `#!/bin/sh\nprintf '%s\\n' '${json}'\nexit ${code}\n`);
    chmodSync(join(bin, 'etcdctl'), 0o755);
    return spawnSync('/bin/bash', ['-c', script], { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: 'utf8' }).status;
  }

  const eps = ['https://10.0.1.11:2379', 'https://10.0.1.12:2379', 'https://10.0.1.13:2379'];

  it('every member healthy: done', () => {
    assert.equal(runWait(`[${eps.map(OK).join(',')}]`, 0), 0);
  });

  it('members whose only problem is a NOSPACE alarm count as healthy (3.4 meaning), despite exit 1', () => {
    assert.equal(runWait(`[${eps.map(NOSPACE).join(',')}]`, 1), 0);
    assert.equal(runWait(`[${OK(eps[0] ?? '')},${NOSPACE(eps[1] ?? '')},${OK(eps[2] ?? '')}]`, 1), 0);
  });

  it('a member down, or a CORRUPT alarm, keeps it waiting until the deadline', () => {
    assert.equal(runWait(`[${OK(eps[0] ?? '')},${DOWN(eps[1] ?? '')},${OK(eps[2] ?? '')}]`, 1), 1);
    assert.equal(runWait(`[${NOSPACE(eps[0] ?? '')},${CORRUPT(eps[1] ?? '')},${OK(eps[2] ?? '')}]`, 1), 1);
    assert.equal(runWait('', 1), 1, 'no answer at all');
  });
});
