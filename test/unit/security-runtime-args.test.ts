// Module arguments known only at run time (registered values) meet the same schema pattern as
// plan-time ones: the step checks them (compile adds check_arg) and fails, saying why, before any
// of its commands run. A quoted value could not run as a command anyway; these checks stop the
// rest: a path read as an option, a name that ends a sed expression or adds a config line.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { executePlan } from '../../engine/execute/execute.js';
import { checkArg, DeriveError } from '../../engine/modules/derive.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { EventLog, FakeTransport } from './executor-fakes.js';

const INVENTORY = join(PACKAGE_ROOT, 'test', 'fixtures', 'good', 'inventory.yml');

const PLAYBOOK = `- name: run-time arguments
  hosts: etcd
  tasks:
    - name: read a value on the host
      shell:
        cmd: cat /etc/value
        read_only: true
      register: got
    - name: use it as a path
      file:
        path: "{{got.stdout}}"
    - name: use it as an initial cluster
      etcd_config:
        state: existing
        initial_cluster: "{{got.stdout}}"
`;

async function runWith(value: string): Promise<{ log: EventLog; cmds: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-rtargs-'));
  try {
    writeFileSync(join(dir, 'pb.yml'), PLAYBOOK);
    const built = buildPlan({ playbook: join(dir, 'pb.yml'), inventory: INVENTORY });
    assert.ok(built.plan, JSON.stringify(built.diagnostics));
    const log = new EventLog();
    const transports = new Map<string, FakeTransport>();
    const get = (h: string): FakeTransport => {
      let t = transports.get(h);
      if (!t) transports.set(h, (t = new FakeTransport(h, (cmd) => (cmd.includes('/etc/value') ? { stdout: `${value}\n` } : {}))));
      return t;
    };
    await executePlan(built.plan, {
      runId: '20240101T000000Z-aaaaaa',
      startedAt: new Date('2024-01-01T00:00:00Z'),
      forks: 5,
      check: false,
      transports: get,
      emit: log.emit,
      signal: new AbortController().signal,
      secrets: {},
    });
    return { log, cmds: [...transports.values()].flatMap((t) => t.calls.map((c) => c.cmd)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('security: run-time values are checked against the module schema before the step runs', () => {
  it('[injection] a registered value starting with "-" fails the file step with a clear message; mkdir never runs', async () => {
    const { log, cmds } = await runWith('--version');
    const end = log.stepEnd('1.2@etcd-1');
    assert.equal(end?.result.status, 'failed');
    assert.match(end?.result.message ?? '', /refused: file path "--version" \(a run-time value\) is not valid: expected a path .*not starting with '-'/);
    assert.ok(!cmds.some((c) => c.startsWith('mkdir')), cmds.join('\n'));
  });

  it('[injection] a registered initial_cluster with a quote or a sed delimiter fails before sed runs', async () => {
    const { log, cmds } = await runWith("etcd-1=http://10.0.0.1:2380|e;s|x|y'");
    assert.equal(log.stepEnd('1.2@etcd-1')?.result.status, 'changed', 'a valid path: the file step runs');
    const end = log.stepEnd('1.3@etcd-1');
    assert.equal(end?.result.status, 'failed');
    assert.match(end?.result.message ?? '', /refused: etcd_config initial_cluster .* is not valid: expected name=peer URL pairs/);
    assert.ok(!cmds.some((c) => c.includes('sed ') || c.includes('etcd.conf')), cmds.join('\n'));
  });

  it('a value that fits passes through unchanged', () => {
    assert.equal(
      checkArg('etcd_config', 'initial_cluster', 'etcd-1=https://10.0.0.1:2380,etcd-2=https://[::1]:2380'),
      'etcd-1=https://10.0.0.1:2380,etcd-2=https://[::1]:2380',
    );
    assert.equal(checkArg('file', 'path', '/var/lib/etcd'), '/var/lib/etcd');
    assert.throws(() => checkArg('etcd_member', 'name', "x'; touch /tmp/p"), DeriveError);
    assert.throws(() => checkArg('etcd_snapshot', 'sha256', 'abc'), /expected a sha256 in hex/);
  });
});
