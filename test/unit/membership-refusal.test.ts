// remove-member's real plan (shipped playbook, example inventory) run against fake hosts whose etcd
// refuses the change: a refusal etcd will repeat fails the step at once (one `member remove`, no
// retries, no retry delay), with a clear message; a connection error is still retried.
import assert from 'node:assert/strict';
import { executePlan } from '../../engine/execute/execute.js';
import { shippedPlan } from '../support/playbooks.js';
import { EventLog, FakeTransport } from './executor-fakes.js';

const C = (n: number): string => `https://10.0.1.1${n}:2379`;
const LIST = JSON.stringify({
  members: [1, 2, 3, 4].map((n) => ({ ID: 10 + n, name: `etcd-${n}`, peerURLs: [`https://10.0.1.1${n}:2380`], clientURLs: [C(n)] })),
});
const HEALTH = JSON.stringify([1, 2, 3, 4].map((n) => ({ endpoint: C(n), health: true, took: '1ms' })));

async function removeAgainst(removeReply: { code: number; stderr: string }): Promise<{ log: EventLog; removes: number; exitCode: number }> {
  const plan = shippedPlan({ playbook: 'playbooks/remove-member.yml', inventory: 'inventories/prod-3-https.yml', extraVars: ['name=etcd-4'] });
  let removes = 0;
  const log = new EventLog();
  const reply = (cmd: string): { code: number; stdout?: string; stderr?: string } => {
    if (/ member remove /.test(cmd)) {
      removes++;
      return removeReply;
    }
    if (/ member list /.test(cmd)) return { code: 0, stdout: LIST };
    if (/ endpoint health /.test(cmd)) return { code: 0, stdout: HEALTH };
    return { code: 0 };
  };
  const res = await executePlan(plan, {
    runId: '20240101T000000Z-aaaaaa',
    startedAt: new Date('2024-01-01T00:00:00Z'),
    forks: 10,
    check: false,
    transports: (h) => new FakeTransport(h, reply),
    emit: log.emit,
    signal: new AbortController().signal,
    secrets: {},
    confirm: () => Promise.resolve(true),
  });
  return { log, removes, exitCode: res.exitCode };
}

describe("remove-member: etcd's refusal of the change is final (fake hosts, the shipped plan)", function () {
  this.timeout(60_000);

  it('"not enough started members": refused after one attempt, with what to do', async () => {
    const t0 = Date.now();
    const { log, removes, exitCode } = await removeAgainst({ code: 1, stderr: 'Error: etcdserver: re-configuration failed due to not enough started members' });
    assert.equal(exitCode, 1);
    assert.equal(removes, 1);
    // Against the thing under test: the task retries 5 times every 3 s.
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms: waited for a retry`);
    const end = log.stepEnd('1.4@etcd-1');
    assert.equal(end?.result.status, 'failed');
    assert.equal(end?.result.attempts, 1);
    assert.match(end?.result.message ?? '', /^refused: etcd refused the change \(strict reconfiguration check\): too few members are started/);
    assert.equal(log.of('step.retry').length, 0);
  });

  it('a connection error is not a refusal: retried', async () => {
    const { log, removes } = await removeAgainst({ code: 1, stderr: 'Error: context deadline exceeded' });
    assert.ok(removes >= 2, `${removes} attempts`);
    assert.ok(log.of('step.retry').length >= 1);
  });
});
