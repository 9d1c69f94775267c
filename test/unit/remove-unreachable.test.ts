// remove-member's real plan (shipped playbook, inventories/prod-5.yml, which keeps the retired
// machine etcd-5-old under hosts:) against fake hosts where that machine cannot be reached: the
// member is removed and the others' configs updated; the retire steps report it unreachable,
// ignored (ignore_unreachable), and the run succeeds. A member host that cannot be reached still
// fails the run.
import assert from 'node:assert/strict';
import { executePlan } from '../../engine/execute/execute.js';
import { shippedPlan } from '../support/playbooks.js';
import { EventLog, FakeTransport } from './executor-fakes.js';

const NAMES = ['etcd-1', 'etcd-2', 'etcd-3', 'etcd-4', 'etcd-5', 'etcd-5-old'];
const C = (i: number): string => `https://10.20.0.${11 + i}:2379`;

async function run(unreachable: string): Promise<{ log: EventLog; exitCode: number; removed: boolean }> {
  const plan = shippedPlan({ playbook: 'playbooks/remove-member.yml', inventory: 'inventories/prod-5.yml', extraVars: ['name=etcd-5-old'] });
  let removed = false;
  const members = (): string[] => NAMES.filter((n) => !(removed && n === 'etcd-5-old'));
  const reply = (cmd: string): { code: number; stdout?: string; stderr?: string } => {
    if (/ member remove /.test(cmd)) {
      removed = true;
      return { code: 0, stdout: 'Member removed' };
    }
    if (/ member list /.test(cmd)) {
      return { code: 0, stdout: JSON.stringify({ members: members().map((n, i) => ({ ID: 100 + i, name: n, peerURLs: [`p${i}`], clientURLs: [C(i)] })) }) };
    }
    if (/ endpoint health /.test(cmd)) return { code: 0, stdout: JSON.stringify(members().map((_, i) => ({ endpoint: C(i), health: true }))) };
    if (/ endpoint status /.test(cmd)) {
      const st = members().map((_, i) => ({ Endpoint: C(i), Status: { header: { cluster_id: 7, member_id: 100 + i, revision: 5 }, leader: 100 } }));
      return { code: 0, stdout: JSON.stringify(st) };
    }
    return { code: 0 };
  };
  const log = new EventLog();
  const res = await executePlan(plan, {
    runId: '20240101T000000Z-aaaaaa',
    startedAt: new Date('2024-01-01T00:00:00Z'),
    forks: 10,
    check: false,
    transports: (h) => new FakeTransport(h, reply, h === unreachable ? 'connect ECONNREFUSED' : undefined),
    emit: log.emit,
    signal: new AbortController().signal,
    secrets: {},
    autoYes: true,
  });
  return { log, exitCode: res.exitCode, removed };
}

describe('remove-member: the removed machine cannot be reached (fake hosts, the shipped plan)', function () {
  this.timeout(60_000);

  it('the member is removed, the others updated, the machine reported unreachable (ignored), exit 0', async () => {
    const { log, exitCode, removed } = await run('etcd-5-old');
    assert.equal(exitCode, 0);
    assert.ok(removed);
    // Every remaining member's config updated (task 1.6).
    for (const h of ['etcd-1', 'etcd-2', 'etcd-3', 'etcd-4', 'etcd-5']) assert.equal(log.stepEnd(`1.6@${h}`)?.result.status, 'changed', h);
    const stop = log.stepEnd('2.1@etcd-5-old');
    assert.equal(stop?.result.status, 'unreachable');
    assert.equal(stop?.result.ignored, true);
    assert.match(stop?.result.message ?? '', /ECONNREFUSED .*ignore_unreachable: the run goes on without etcd-5-old; its next steps do not run/);
    assert.equal(log.stepEnd('2.2@etcd-5-old'), undefined, 'a step ran after the host left');
    assert.deepEqual(
      log.of('host.unreachable').map((e) => e.host),
      ['etcd-5-old'],
    );
  });

  it('a remaining member that cannot be reached still fails the run (exit 1)', async () => {
    const { exitCode } = await run('etcd-3');
    assert.equal(exitCode, 1);
  });
});
