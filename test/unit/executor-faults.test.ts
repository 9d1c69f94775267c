// executePlan with in-memory transports: failures that another attempt cannot fix are not
// retried, and streamed output without newlines stays bounded (regressions found by the
// fault-injection e2e tests, test/e2e/fault-*.test.ts).
import assert from 'node:assert/strict';
import { executePlan } from '../../engine/execute/execute.js';
import { BecomeError } from '../../engine/transports/transport.js';
import { EventLog, exec, FakeTransport, mkPlan, mkPlay } from './executor-fakes.js';

function run(
  reply: ConstructorParameters<typeof FakeTransport>[1],
  plan: ReturnType<typeof mkPlan>,
): { log: EventLog; t: FakeTransport; done: ReturnType<typeof executePlan> } {
  const log = new EventLog();
  const t = new FakeTransport('h1', reply);
  const done = executePlan(plan, {
    runId: '20240101T000000Z-aaaaaa',
    startedAt: new Date('2024-01-01T00:00:00Z'),
    forks: 10,
    check: false,
    transports: () => t,
    emit: log.emit,
    signal: new AbortController().signal,
    secrets: {},
  });
  return { log, t, done };
}

describe('executePlan: faults (fake transports)', () => {
  it('a become failure (sudo refused the password) fails at once, not retried under retries/until', async () => {
    const RETRY_DELAY_S = 30;
    let calls = 0;
    const { log, done } = run(
      () => {
        calls++;
        throw new BecomeError('h1', 'h1: become failed: sudo rejected the given password');
      },
      mkPlan([mkPlay(1, ['h1'], [{ actions: [exec('id')], extra: { register: 'c', until: ['c.rc == 0'], retries: 5, delaySec: RETRY_DELAY_S } }])]),
    );
    const t0 = Date.now();
    const r = await done;
    assert.equal(r.exitCode, 1);
    // Against the thing under test: a retry would wait the whole delay first.
    assert.ok(Date.now() - t0 < RETRY_DELAY_S * 1000, `took ${Date.now() - t0} ms: waited for a retry`);
    assert.equal(calls, 1);
    assert.equal(log.of('step.retry').length, 0);
    const end = log.stepEnd('1.1@h1');
    assert.equal(end?.result.status, 'failed');
    assert.equal(end?.result.attempts, 1);
    assert.match(end?.result.message ?? '', /rejected the given password/);
  });

  it('50 MB of output without a newline: streamed output stays bounded (one cap marker, no huge line)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const { log, done } = run(
      (_cmd, opts) => {
        for (let i = 0; i < 800; i++) opts.onStdout?.(chunk);
        return { code: 0 };
      },
      mkPlan([mkPlay(1, ['h1'], [{ actions: [exec('flood')] }])]),
    );
    const t0 = Date.now();
    const r = await done;
    assert.equal(r.exitCode, 0);
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    const out = log.of('step.output');
    assert.ok(
      out.every((o) => o.text.length <= 256 * 1024 + 1),
      'a line longer than the limit was emitted',
    );
    assert.deepEqual(
      out.map((o) => o.text.trim()),
      ['[runbook: further output not shown]'],
    );
  });
});
