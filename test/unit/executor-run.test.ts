// executePlan with in-memory transports: scheduling (linear, batches, run_once, delegate_to),
// statuses (unknown, unreachable, ignored), retries, check mode, resume, abort and secrets.
import assert from 'node:assert/strict';
import { CHECK_MODE_SKIP, executePlan, type ExecuteOptions } from '../../engine/execute/execute.js';
import type { Plan } from '../../engine/model/types.js';
import type { ExecOptions, ExecResult } from '../../engine/transports/transport.js';
import { EventLog, exec, FakeTransport, mkPlan, mkPlay } from './executor-fakes.js';

const H = ['h1', 'h2', 'h3'];

function setup(
  reply: (host: string, cmd: string, opts: ExecOptions) => Partial<ExecResult> | Promise<Partial<ExecResult>> = () => ({}),
  unreachable: Record<string, string> = {},
) {
  const transports = new Map<string, FakeTransport>();
  const log = new EventLog();
  const get = (h: string): FakeTransport => {
    let t = transports.get(h);
    if (!t) {
      t = new FakeTransport(h, (cmd, o) => reply(h, cmd, o), unreachable[h]);
      transports.set(h, t);
    }
    return t;
  };
  const calls = (): { host: string; cmd: string; start: number; end: number }[] =>
    [...transports.values()].flatMap((t) => t.calls).sort((a, b) => a.start - b.start);
  const run = (plan: Plan, extra: Partial<ExecuteOptions> = {}) =>
    executePlan(plan, {
      runId: '20240101T000000Z-aaaaaa',
      startedAt: new Date('2024-01-01T00:00:00Z'),
      forks: 10,
      check: false,
      transports: get,
      emit: log.emit,
      signal: new AbortController().signal,
      secrets: {},
      ...extra,
    });
  return { transports, log, calls, run, get };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('executePlan (fake transports)', () => {
  it('runs each task on every host before the next task (linear), hosts in parallel', async () => {
    const s = setup(async () => {
      await sleep(20);
      return {};
    });
    const r = await s.run(mkPlan([mkPlay(1, H, [{ actions: [exec('one')] }, { actions: [exec('two')] }])]));
    assert.equal(r.exitCode, 0);
    const c = s.calls();
    const lastOne = Math.max(...c.filter((x) => x.cmd === 'one').map((x) => x.end));
    const firstTwo = Math.min(...c.filter((x) => x.cmd === 'two').map((x) => x.start));
    assert.ok(lastOne <= firstTwo, 'task 2 started before task 1 finished everywhere');
    const ones = c.filter((x) => x.cmd === 'one');
    assert.ok(Math.max(...ones.map((x) => x.start)) < Math.min(...ones.map((x) => x.end)), 'hosts ran in parallel');
    assert.deepEqual(r.recap.h1, { ok: 2, changed: 2, failed: 0, unreachable: 0, skipped: 0, unknown: 0, ignored: 0 });
  });

  it('respects forks', async () => {
    let running = 0;
    let peak = 0;
    const s = setup(async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(10);
      running--;
      return {};
    });
    await s.run(mkPlan([mkPlay(1, H, [{ actions: [exec('x')] }])]), { forks: 1 });
    assert.equal(peak, 1);
  });

  it('runs serial batches one after the other', async () => {
    const s = setup(async () => {
      await sleep(5);
      return {};
    });
    await s.run(mkPlan([mkPlay(1, H, [{ actions: [exec('a')] }, { actions: [exec('b')] }], { batches: [['h1'], ['h2', 'h3']] })]));
    assert.deepEqual(
      s
        .calls()
        .map((c) => `${c.cmd}@${c.host}`)
        .slice(0, 2),
      ['a@h1', 'b@h1'],
    );
    assert.deepEqual(
      s.log.of('batch.start').map((b) => b.hosts),
      [['h1'], ['h2', 'h3']],
    );
  });

  it('runs a run_once step once and gives its registered value to every host of the play', async () => {
    const s = setup((h, cmd) => ({ stdout: cmd === 'who' ? `I am ${h}\n` : '' }));
    const plan = mkPlan([mkPlay(1, H, [{ actions: [exec('who')], extra: { runOnce: true, register: 'w' } }, { actions: [exec('echo ⟨w.stdout⟩')] }])]);
    const r = await s.run(plan);
    assert.equal(r.exitCode, 0);
    assert.equal(s.calls().filter((c) => c.cmd === 'who').length, 1);
    assert.deepEqual(
      s
        .calls()
        .filter((c) => c.cmd.startsWith('echo'))
        .map((c) => c.cmd),
      ["echo 'I am h1'", "echo 'I am h1'", "echo 'I am h1'"],
    );
  });

  it('runs delegated steps on the target (also one resolved at run time), registering for the host', async () => {
    const s = setup((h, cmd) => ({ stdout: cmd === 'pick' ? 'h3' : h }));
    const plan = mkPlan([
      mkPlay(
        1,
        ['h1', 'h2', 'h3'],
        [
          { actions: [exec('pick')], extra: { register: 'chosen' } },
          { actions: [exec('where')], extra: { register: 'where' }, stepExtra: () => ({ target: '⟨!chosen.stdout⟩' }) },
          { actions: [exec('local')], stepExtra: () => ({ target: 'localhost' }) },
        ],
      ),
    ]);
    const r = await s.run(plan);
    assert.equal(r.exitCode, 0);
    assert.deepEqual(
      s
        .calls()
        .filter((c) => c.cmd === 'where')
        .map((c) => c.host),
      ['h3', 'h3', 'h3'],
    );
    assert.deepEqual(
      s.log
        .of('step.end')
        .filter((e) => e.task === 2)
        .map((e) => [e.host, e.target]),
      [
        ['h1', 'h3'],
        ['h2', 'h3'],
        ['h3', 'h3'],
      ],
    );
    assert.equal(s.calls().filter((c) => c.cmd === 'local' && c.host === 'localhost').length, 3);
  });

  it('evaluates runtime `when` (step conditions override the task ones) and skips', async () => {
    const s = setup((h) => ({ stdout: h === 'h2' ? 'yes' : 'no' }));
    const plan = mkPlan([
      mkPlay(1, H, [
        { actions: [exec('probe', { probe: true })], extra: { register: 'p' } },
        { actions: [exec('act')], extra: { when: ['p.stdout == "yes"'] } },
        { actions: [exec('baked')], extra: { when: ['p.stdout == "yes"'] }, stepExtra: (h) => (h === 'h1' ? { when: ['p.stdout == "no"'] } : {}) },
      ]),
    ]);
    await s.run(plan);
    assert.deepEqual(
      s
        .calls()
        .filter((c) => c.cmd === 'act')
        .map((c) => c.host),
      ['h2'],
    );
    assert.deepEqual(
      s
        .calls()
        .filter((c) => c.cmd === 'baked')
        .map((c) => c.host)
        .sort(),
      ['h1', 'h2'],
    );
    assert.equal(s.log.stepEnd('1.2@h1')?.result.status, 'skipped');
    assert.equal(s.log.stepEnd('1.2@h1')?.result.message, 'when: p.stdout == "yes"');
    assert.equal(s.log.stepEnd('1.1@h1')?.result.status, 'ok', 'a probe alone is ok, not changed');
  });

  it('retries until the condition holds, with the register name bound to each attempt', async () => {
    let n = 0;
    const s = setup(() => ({ stdout: String(++n) }));
    const r = await s.run(mkPlan([mkPlay(1, ['h1'], [{ actions: [exec('count')], extra: { register: 'c', until: ['c.stdout | int >= 3'], retries: 5 } }])]));
    assert.equal(r.exitCode, 0);
    assert.equal(n, 3);
    assert.equal(s.log.of('step.retry').length, 2);
    assert.equal(s.log.stepEnd('1.1@h1')?.result.attempts, 3);
  });

  it('fails when until never holds, after 1 + retries attempts', async () => {
    const s = setup(() => ({ stdout: '0' }));
    const r = await s.run(mkPlan([mkPlay(1, ['h1'], [{ actions: [exec('count')], extra: { register: 'c', until: ['c.stdout == "1"'], retries: 2 } }])]));
    assert.equal(r.exitCode, 1);
    assert.equal(s.calls().length, 3);
    assert.match(s.log.stepEnd('1.1@h1')?.result.message ?? '', /until c.stdout == "1": not met \(after 3 attempts\)/);
  });

  it('failed_when replaces the exit-code check; changed_when decides changed', async () => {
    const s = setup(() => ({ code: 1, stdout: 'fine' }));
    const plan = mkPlan([
      mkPlay(
        1,
        ['h1'],
        [
          { actions: [exec('grep')], extra: { register: 'g', failedWhen: ['g.rc > 1'], changedWhen: ['false'] } },
          { actions: [exec('grep')], extra: { register: 'g2', failedWhen: ['"fine" in g2.stdout'] } },
        ],
      ),
    ]);
    const r = await s.run(plan);
    assert.equal(s.log.stepEnd('1.1@h1')?.result.status, 'ok');
    assert.equal(s.log.stepEnd('1.2@h1')?.result.status, 'failed');
    assert.equal(r.exitCode, 1);
  });

  it('marks a null exit code unknown: the host leaves this and later plays, exit 1', async () => {
    const s = setup((h) => (h === 'h2' ? { code: null } : {}));
    const plan = mkPlan([mkPlay(1, H, [{ actions: [exec('a')] }, { actions: [exec('b')] }]), mkPlay(2, H, [{ actions: [exec('c')] }])]);
    const r = await s.run(plan);
    assert.equal(r.exitCode, 1);
    assert.equal(s.log.stepEnd('1.1@h2')?.result.status, 'unknown');
    assert.deepEqual(
      s
        .calls()
        .filter((c) => c.host === 'h2')
        .map((c) => c.cmd),
      ['a'],
    );
    assert.equal(s.calls().filter((c) => c.cmd === 'c').length, 2);
    assert.equal(s.log.of('host.failed')[0]?.host, 'h2');
    assert.equal(r.recap.h2?.unknown, 1);
  });

  it('reports an unreachable host once, and the others continue', async () => {
    const s = setup(() => ({}), { h3: 'h3: cannot connect: ECONNREFUSED' });
    const plan = mkPlan([mkPlay(1, H, [{ actions: [exec('a')] }, { actions: [exec('b')] }])]);
    const r = await s.run(plan);
    assert.equal(r.exitCode, 1);
    assert.equal(s.log.stepEnd('1.1@h3')?.result.status, 'unreachable');
    assert.equal(s.log.stepEnd('1.2@h3'), undefined);
    assert.deepEqual(s.log.of('host.unreachable'), [{ host: 'h3', message: 'h3: cannot connect: ECONNREFUSED' }]);
    assert.equal(s.calls().filter((c) => c.cmd === 'b').length, 2);
  });

  it('ignore_errors: the failure is reported, the host continues, the exit code stays 0', async () => {
    const s = setup((_h, cmd) => (cmd === 'bad' ? { code: 3 } : {}));
    const r = await s.run(mkPlan([mkPlay(1, ['h1'], [{ actions: [exec('bad')], extra: { ignoreErrors: true } }, { actions: [exec('next')] }])]));
    assert.equal(r.exitCode, 0);
    assert.equal(s.log.stepEnd('1.1@h1')?.result.ignored, true);
    assert.equal(r.recap.h1?.ignored, 1);
    assert.equal(r.recap.h1?.failed, 0);
    assert.ok(s.calls().some((c) => c.cmd === 'next'));
  });

  it('any_errors_fatal: the task finishes on the other hosts, then nothing new starts', async () => {
    const s = setup(async (h, cmd) => {
      if (cmd === 'a' && h === 'h1') return { code: 1 };
      await sleep(20);
      return {};
    });
    const r = await s.run(
      mkPlan([mkPlay(1, H, [{ actions: [exec('a')] }, { actions: [exec('b')] }], { anyErrorsFatal: true }), mkPlay(2, H, [{ actions: [exec('c')] }])]),
    );
    assert.equal(r.exitCode, 1);
    assert.equal(s.calls().filter((c) => c.cmd === 'a').length, 3);
    assert.equal(s.calls().filter((c) => c.cmd !== 'a').length, 0);
    assert.match(s.log.of('play.end')[0]?.aborted ?? '', /any_errors_fatal: h1 failed/);
  });

  it('max_fail_percentage stops the run when the failed share of a batch exceeds it', async () => {
    const s = setup((h, cmd) => (cmd === 'a' && h === 'h1' ? { code: 1 } : {}));
    const r = await s.run(mkPlan([mkPlay(1, H, [{ actions: [exec('a')] }, { actions: [exec('b')] }], { maxFailPercentage: 30 })]));
    assert.equal(r.exitCode, 1);
    assert.equal(s.calls().filter((c) => c.cmd === 'b').length, 0);
    const s2 = setup((h, cmd) => (cmd === 'a' && h === 'h1' ? { code: 1 } : {}));
    await s2.run(mkPlan([mkPlay(1, H, [{ actions: [exec('a')] }, { actions: [exec('b')] }], { maxFailPercentage: 34 })]));
    assert.equal(s2.calls().filter((c) => c.cmd === 'b').length, 2);
  });

  it('stops a serial play when every host of a batch failed', async () => {
    const s = setup((h) => (h === 'h1' ? { code: 1 } : {}));
    await s.run(mkPlan([mkPlay(1, H, [{ actions: [exec('a')] }], { batches: [['h1'], ['h2'], ['h3']] })]));
    assert.deepEqual(
      s.calls().map((c) => c.host),
      ['h1'],
    );
  });

  it('check mode: only read-only tasks run; the rest, and what needs their values, would run', async () => {
    const s = setup(() => ({ stdout: 'v' }));
    const plan = mkPlan([
      mkPlay(
        1,
        ['h1'],
        [
          { actions: [exec('probe', { probe: true })], extra: { checkMode: true, register: 'p' } },
          { actions: [exec('change')], extra: { register: 'c' } },
          { actions: [exec('probe2 ⟨c.stdout⟩', { probe: true })], extra: { checkMode: true }, stepExtra: () => ({ needs: ['c.stdout'] }) },
          { actions: [exec('probe3')], extra: { checkMode: true, when: ['c.rc == 0'] } },
          { actions: [exec('probe4 ⟨p.stdout⟩')], extra: { checkMode: true }, stepExtra: () => ({ needs: ['p.stdout'] }) },
        ],
      ),
    ]);
    const r = await s.run(plan, { check: true });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(
      s.calls().map((c) => c.cmd),
      ['probe', 'probe4 v'],
    );
    for (const id of ['1.2@h1', '1.3@h1', '1.4@h1']) {
      assert.equal(s.log.stepEnd(id)?.result.status, 'skipped');
      assert.equal(s.log.stepEnd(id)?.result.message, CHECK_MODE_SKIP);
    }
  });

  it('check mode: a probe that fails after a change check mode skipped would run, it is not a failure', async () => {
    const s = setup((_h, cmd) => (cmd === 'verify copy' ? { code: 1, stderr: 'no such file\n' } : {}));
    const plan = mkPlan([
      mkPlay(
        1,
        ['h1'],
        [
          { actions: [exec('preflight', { probe: true })], extra: { checkMode: true } },
          { actions: [exec('copy')] },
          { actions: [exec('verify copy', { probe: true })], extra: { checkMode: true } },
        ],
      ),
    ]);
    const r = await s.run(plan, { check: true });
    assert.equal(r.exitCode, 0);
    assert.equal(s.log.stepEnd('1.3@h1')?.result.status, 'skipped');
    assert.match(
      s.log.stepEnd('1.3@h1')?.result.message ?? '',
      /^would run \(check mode\): cannot be checked before the changes it follows are made \(exit code 1: no such file\)$/,
    );
    const failing = setup(() => ({ code: 1 }));
    assert.equal(
      (await failing.run(mkPlan([mkPlay(1, ['h1'], [{ actions: [exec('preflight', { probe: true })], extra: { checkMode: true } }])]), { check: true }))
        .exitCode,
      1,
      'a probe before any skipped change fails for real',
    );
  });

  it('masks secrets in everything emitted while running the real value', async () => {
    const s = setup((_h, cmd) => ({ stdout: `${cmd}\n`, stderr: 'pw is hunter2\n' }));
    const r = await s.run(mkPlan([mkPlay(1, ['h1'], [{ actions: [exec('login --pw ⟨secrets.pw⟩')], extra: { register: 'x' } }])]), {
      secrets: { pw: 'hunter2' },
    });
    assert.equal(r.exitCode, 0);
    assert.equal(s.calls()[0]?.cmd, 'login --pw hunter2');
    assert.ok(!JSON.stringify(s.log.all).includes('hunter2'), 'a secret value was emitted');
    assert.equal(s.log.stepEnd('1.1@h1')?.result.actions[0]?.cmd, "login --pw '******'");
  });

  it('resume: done steps are not run, their registered values come from the journal, run.id stays', async () => {
    const s = setup((_h, cmd) => ({ stdout: cmd }));
    const plan = mkPlan([mkPlay(1, ['h1'], [{ actions: [exec('first')], extra: { register: 'f' } }, { actions: [exec('second ⟨f.stdout⟩ ⟨run.id⟩')] }])]);
    const r = await s.run(plan, {
      resume: { runId: '20231231T235959Z-bbbbbb', done: new Set(['1.1@h1']), registered: { h1: { f: { rc: 0, stdout: 'from-journal' } } }, facts: {} },
    });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(
      s.calls().map((c) => c.cmd),
      ['second from-journal 20231231T235959Z-bbbbbb'],
    );
    assert.equal(s.log.stepEnd('1.1@h1')?.result.message, 'done in run 20231231T235959Z-bbbbbb');
    assert.equal(s.log.of('run.start')[0]?.resumedFrom, '20231231T235959Z-bbbbbb');
  });

  it('abort: running commands get the signal, nothing new starts, exit 130', async () => {
    const ac = new AbortController();
    const s = setup(async (_h, cmd, o) => {
      if (cmd !== 'slow') return {};
      setTimeout(() => ac.abort(), 10);
      await new Promise((r) => o.signal?.addEventListener('abort', r, { once: true }));
      return { code: null, aborted: true };
    });
    const r = await s.run(mkPlan([mkPlay(1, H, [{ actions: [exec('slow')] }, { actions: [exec('after')] }])]), { signal: ac.signal });
    assert.equal(r.exitCode, 130);
    assert.equal(r.interrupted, true);
    assert.equal(s.calls().filter((c) => c.cmd === 'after').length, 0);
    assert.equal(s.log.stepEnd('1.1@h1')?.result.status, 'unknown');
    assert.equal(s.log.of('run.end')[0]?.interrupted, true);
    assert.ok(
      [...s.transports.values()].every((t) => t.closed),
      'transports closed',
    );
  });

  it('pause prompts: refused without a way to ask, asked once per task, --yes skips', async () => {
    const plan = (): Plan => mkPlan([mkPlay(1, H, [{ module: 'pause', actions: [{ kind: 'pause', prompt: 'go on?' }] }])]);
    const refused = await setup().run(plan());
    assert.equal(refused.exitCode, 1);
    let asked = 0;
    const yes = await setup().run(plan(), {
      confirm: () => {
        asked++;
        return Promise.resolve(true);
      },
    });
    assert.equal(yes.exitCode, 0);
    assert.equal(asked, 1);
    assert.equal((await setup().run(plan(), { autoYes: true })).exitCode, 0);
  });

  it('fails a step whose value is missing at run time with a clear message', async () => {
    const s = setup((_h, cmd) => (cmd === 'a' ? { code: 1 } : {}));
    const plan = mkPlan([
      mkPlay(1, ['h1', 'h2'], [{ actions: [exec('a')], extra: { register: 'r', ignoreErrors: true }, hosts: ['h1'] }, { actions: [exec('b ⟨q.stdout⟩')] }]),
    ]);
    const r = await s.run(plan);
    assert.equal(r.exitCode, 1);
    assert.match(s.log.stepEnd('1.2@h2')?.result.message ?? '', /⟨q.stdout⟩ is not available/);
  });
});
