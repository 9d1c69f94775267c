import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createReporter, type ReporterOptions } from '../../engine/report/reporters.js';
import { fakeClock, fixtureEvents, fixturePlan, play, SECRETS } from './report-fixture.js';
import { captureIo, type CapturedIo } from '../support/io.js';
import { scratchDirEach } from '../support/scratch.js';

describe('report: plain text lines', () => {
  let dir: string;
  scratchDirEach('runbook-report-', (d) => (dir = d));

  type RunOptions = Partial<ReporterOptions> & { isTTY?: boolean; withRunEnd?: boolean };
  async function run(opts: RunOptions = {}): Promise<{ io: CapturedIo; out: string; journalPath: string }> {
    const io = captureIo({ isTTY: opts.isTTY ?? false });
    const rep = await createReporter({
      mode: 'text',
      io,
      verbose: 0,
      secrets: SECRETS,
      journalDir: dir,
      runId: 'run-text',
      plan: fixturePlan(),
      now: fakeClock(),
      ...opts,
    });
    play(rep.emit, fixtureEvents({ withRunEnd: opts.withRunEnd ?? true }));
    await rep.close();
    return { io, out: io.stdout(), journalPath: rep.journalPath };
  }

  it('prints one line per task and per host outcome', async () => {
    const { out, io } = await run();
    const lines = out.split('\n');
    assert.ok(
      lines.some((l) => /^\[\d\d:\d\d:\d\d\] TASK 2\.1 Stop etcd$/.test(l)),
      out,
    );
    assert.ok(lines.includes('  ok       etcd-1  (0.4s)'), out);
    assert.ok(lines.includes('  changed  etcd-1  (1.2s)'), out);
    assert.ok(lines.includes('  skipped  etcd-2  (when: is_leader)'), out);
    assert.ok(lines.includes('  UNREACHABLE etcd-3  ssh: connect to 10.0.0.3:22: ECONNREFUSED'), out);
    assert.ok(lines.includes('  FAILED   etcd-2  rc=1: Failed to stop etcd.service: Access denied (token ******)'), out);
    assert.ok(lines.includes('  FAILED   etcd-1  rc=1  (ignored)'), out);
    assert.ok(lines.includes('  retry    etcd-2  (attempt 1, again in 2s): until not met: health.rc == 0'), out);
    assert.ok(lines.includes('  ok       etcd-2  (2.6s, 2 attempts)'), out);
    assert.ok(
      lines.some((l) => l.endsWith('PLAY 2 aborted: any_errors_fatal: etcd-2 failed')),
      out,
    );
    assert.ok(
      lines.some((l) => l.endsWith('BATCH 2/3 · hosts etcd-2')),
      out,
    );
    // host.unreachable after the step already said so is not repeated.
    assert.equal(lines.filter((l) => l.includes('UNREACHABLE etcd-3')).length, 2, 'the step line and the failures section');
    // Streamed output only from -vv.
    assert.ok(!out.includes('etcd-1 | '), out);
    assert.equal(io.stderr(), '');
  });

  it('ends with failures, the recap table, the run id and the journal path', async () => {
    const { out, journalPath } = await run();
    const tail = out.slice(out.lastIndexOf('\nFAILURES\n'));
    assert.match(tail, /FAILED etcd-2 {2}TASK 2\.1 Stop etcd: rc=1: Failed to stop etcd\.service/);
    assert.match(tail, /UNREACHABLE etcd-3 {2}TASK 1\.2 Check health: ssh: connect/);
    assert.match(tail, /RECAP {2}run run-text · FAILED · 12\.3s · exit code 1\n/);
    assert.match(tail, /\n {2}etcd-1 {2}ok=6 changed=3 unreachable=0 failed=0 skipped=0 unknown=0 ignored=1\n/);
    assert.match(tail, /\n {2}etcd-2 {2}ok=2 changed=0 unreachable=0 failed=1 skipped=1 unknown=0 ignored=0\n/);
    assert.match(tail, /\n {2}etcd-3 {2}ok=0 changed=0 unreachable=1 failed=0 skipped=0 unknown=0 ignored=0\n/);
    assert.ok(out.endsWith(`run id: run-text\njournal: ${journalPath}\n`), out.slice(-200));
    assert.equal(journalPath, join(dir, 'run-text.jsonl'));
  });

  it('counts the recap itself when the run never reached run.end', async () => {
    const { out } = await run({ withRunEnd: false });
    assert.match(out, /RECAP {2}run run-text · DID NOT FINISH/);
    // Same numbers as the executor's recap in the fixture (ok includes changed, as in Ansible).
    assert.match(out, /etcd-1 {2}ok=6 changed=3 unreachable=0 failed=0 skipped=0 unknown=0 ignored=1/);
    assert.match(out, /etcd-2 {2}ok=2 changed=0 unreachable=0 failed=1 skipped=1 unknown=0 ignored=0/);
    assert.match(out, /etcd-3 {2}ok=0 changed=0 unreachable=1 failed=0 skipped=0 unknown=0 ignored=0/);
  });

  it('-v shows each command with its exit code and output tails', async () => {
    const { out } = await run({ verbose: 1 });
    assert.match(out, /TASK 1\.1 Read member list {2}\(command\)\n/);
    assert.match(out, / {11}\$ etcdctl member list -w json {2}→ rc=0 · 0\.3s\n {11}\| member etcd-1 started, auth \*{6} ok\n {11}\| second line\n/);
    assert.match(out, / {11}! Failed to stop etcd\.service: Access denied \(token \*{6}\)\n/);
    assert.match(out, /etcd-2 leaves the run after 2\.1@etcd-2/);
  });

  it('-vv streams output lines as whole lines', async () => {
    const { out } = await run({ verbose: 2 });
    // The chunk boundary fell inside the secret; the line is printed whole and redacted.
    assert.match(out, /\n {4}etcd-1 \| member etcd-1 started, auth \*{6} ok\n {4}etcd-1 \| second line\n/);
    assert.match(out, /\n {4}etcd-2 ! Failed to stop etcd\.service/);
    // Tails are not repeated for a step whose output was streamed.
    assert.ok(!out.includes('           | member etcd-1'), out);
  });

  it('auto mode without a terminal prints the same plain lines', async () => {
    const text = await run();
    rmSync(dir, { recursive: true, force: true });
    const auto = await run({ mode: 'auto', isTTY: false });
    assert.equal(auto.out, text.out);
  });

  it('shows an unknown outcome with its reason and the command that was running', async () => {
    const io = captureIo();
    const rep = await createReporter({
      mode: 'text',
      io,
      verbose: 0,
      secrets: [],
      journalDir: dir,
      runId: 'run-unknown',
      plan: fixturePlan(),
      now: fakeClock(),
    });
    rep.emit('task.start', { play: 2, task: 1, name: 'Stop etcd', module: 'service', hosts: ['etcd-1'] });
    rep.emit('step.end', {
      play: 2,
      task: 1,
      stepId: '2.1@etcd-1',
      host: 'etcd-1',
      target: 'etcd-1',
      result: {
        status: 'unknown',
        value: null,
        message: 'connection lost mid-command: outcome unknown',
        attempts: 1,
        durationMs: 3000,
        actions: [{ index: 0, kind: 'exec', cmd: 'systemctl stop etcd', code: null, durationMs: 3000 }],
      },
    });
    await rep.close();
    const out = io.stdout();
    assert.ok(out.includes('  UNKNOWN  etcd-1  (connection lost mid-command: outcome unknown)\n           $ systemctl stop etcd\n'), out);
    assert.match(out, /UNKNOWN etcd-1 {2}TASK 2\.1 Stop etcd: connection lost mid-command/);
    assert.match(out, /etcd-1 {2}ok=0 changed=0 unreachable=0 failed=0 skipped=0 unknown=1 ignored=0/);
  });

  it('emit after close is ignored and close twice is harmless', async () => {
    const io = captureIo();
    const rep = await createReporter({ mode: 'text', io, verbose: 0, secrets: [], journalDir: dir, runId: 'run-twice', plan: fixturePlan(), now: fakeClock() });
    await rep.close();
    const before = io.stdout();
    rep.emit('warning', { message: 'late' });
    await rep.close();
    assert.equal(io.stdout(), before);
    assert.equal(before.match(/RECAP/g)?.length, 1);
  });
});
