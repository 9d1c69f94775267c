// Fault injection on running commands (lab on 127.0.0.131-133, no etcd): the sshd process serving
// a connection killed mid-command, then --resume; a command that outlives its timeout.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hostExec, labDown, type Lab } from '../lab/lab.js';
import { freshLab, labDir, runbook, type CliRun } from './playbook-helpers.js';
import { eventsOf } from '../support/journal.js';
import { hostPids, lineCount, readJournalFile, runIdOf, stepEnds, waitFor } from './fault-helpers.js';
import { playbookText } from '../support/playbooks.js';

const NAME = 'fault-session';
const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];

describe('fault injection: running commands (lab, 127.0.0.131-133)', function () {
  this.timeout(60_000);
  let lab: Lab;
  let tmp: string;
  let journalDir: string;

  before(async function () {
    lab = await freshLab(NAME, { hosts: 3, etcd: false, firstOctet: 131 });
    tmp = mkdtempSync(path.join(tmpdir(), 'runbook-fault-session-'));
    journalDir = path.join(lab.dir, 'runs');
  });

  after(async function () {
    await labDown(labDir(NAME));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  function playbook(name: string, yaml: string): string {
    const file = path.join(tmp, name);
    writeFileSync(file, yaml);
    return file;
  }

  function apply(pb: string, extra: string[] = []): Promise<CliRun> {
    return runbook(['apply', pb, '-i', lab.inventoryPath, '--yes', '--output', 'text', '--journal-dir', journalDir, ...extra]);
  }

  it('[fault] sshd session killed mid-command: unknown (never ok), exit 1, journalled; --resume re-probes and continues without re-running finished steps', async () => {
    const pb = playbook('killed.yml', playbookText('session-killed'));
    const running = apply(pb);
    // The step is running on etcd-1: find the sshd process serving root's session there and kill it.
    await waitFor('sleep 5 on etcd-1', async () => (await hostPids(lab, 'etcd-1', 'slee[p] 5')).length > 0);
    const sessions = await hostPids(lab, 'etcd-1', 'ssh[d]: root@notty');
    assert.ok(sessions.length > 0, 'no sshd session process on etcd-1');
    const k = await hostExec(lab, 'etcd-1', `kill -KILL ${sessions.join(' ')}`, { timeoutMs: 10_000 });
    assert.equal(k.code, 0, k.stderr);
    const r = await running;
    assert.equal(r.code, 1, r.all);
    const id = runIdOf(r);
    const ends = stepEnds(readJournalFile(journalDir, id));
    const e1 = ends.filter((e) => e.host === 'etcd-1');
    assert.equal(e1.length, 2, `etcd-1 steps in the journal: ${JSON.stringify(e1)}`);
    assert.equal(e1[0]?.status, 'changed');
    assert.equal(e1[1]?.status, 'unknown', `the killed step: ${JSON.stringify(e1[1])} `);
    for (const h of ['etcd-2', 'etcd-3']) {
      assert.deepEqual(
        ends.filter((e) => e.host === h).map((e) => e.status),
        ['changed', 'changed', 'changed'],
        `${h} finished`,
      );
    }
    const end = readJournalFile(journalDir, id).find((e) => e.type === 'run.end');
    assert.equal(end?.['exitCode'], 1);
    assert.equal((end?.['recap'] as Record<string, { unknown: number }>)['etcd-1']?.unknown, 1);
    assert.match(r.all, /unknown/i);

    // Nothing lost: what ran on the others is there once; etcd-1 never got past the killed step.
    assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, '/root/first'))), [1, 1, 1]);
    assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, '/root/last'))), [0, 1, 1]);
    // The orphaned sleep of the killed session may still finish; wait for it before resuming.
    await waitFor('the orphaned sleep on etcd-1 to end', async () => (await hostPids(lab, 'etcd-1', 'slee[p] 5')).length === 0, 10_000);

    // The run lock on etcd-1 could not be released over the dead connection: the operator removes
    // it as the message says (a no-op if runbook removed it).
    for (const h of HOSTS) await hostExec(lab, h, 'rm -rf /run/runbook-lock.lab', { timeoutMs: 10_000 });
    const resumed = await apply(pb, ['--resume', id]);
    assert.equal(resumed.code, 0, resumed.all);
    const rid = runIdOf(resumed);
    assert.notEqual(rid, id);
    const rends = stepEnds(readJournalFile(journalDir, rid));
    const ran = rends.filter((e) => e.status !== 'skipped');
    assert.deepEqual(
      ran.map((e) => `${e.stepId}=${e.status}`),
      ['1.2@etcd-1=changed', '1.3@etcd-1=changed'],
      `only etcd-1's killed step and its last step run again: ${JSON.stringify(rends)}`,
    );
    for (const e of rends.filter((x) => x.status === 'skipped')) assert.equal(e.message, `done in run ${id}`);
    assert.equal(rends.filter((e) => e.status === 'skipped').length, 7, 'every finished step is reported as done in the earlier run');
    const start = readJournalFile(journalDir, rid).find((e) => e.type === 'run.start');
    assert.equal(start?.['resumedFrom'], id);
    assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, '/root/first'))), [1, 1, 1], 'finished steps are not run again');
    assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, '/root/last'))), [1, 1, 1]);
    assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, '/root/long-start'))), [2, 1, 1]);
  });

  it('[fault] --resume refuses while a host does not answer, and runs nothing', async () => {
    const pb = playbook('probe.yml', playbookText('session-probe'));
    const r = await apply(pb);
    assert.equal(r.code, 1, r.all);
    const id = runIdOf(r);
    // Stop etcd-3's sshd (inside the host, by its PID file): the resume must refuse up front.
    const pid = (await hostExec(lab, 'etcd-3', 'cat /run/lab/sshd.pid', { timeoutMs: 10_000 })).stdout.trim();
    assert.match(pid, /^\d+$/);
    await hostExec(lab, 'etcd-3', `kill -STOP ${pid}`, { timeoutMs: 10_000 });
    try {
      const refused = await runbook(['apply', pb, '-i', lab.inventoryPath, '--yes', '--output', 'text', '--journal-dir', journalDir, '--resume', id]);
      assert.equal(refused.code, 1, refused.all);
      assert.match(refused.err, /not resuming run .*unreachable[\s\S]*etcd-3/);
    } finally {
      await hostExec(lab, 'etcd-3', `kill -CONT ${pid}`, { timeoutMs: 10_000 });
    }
    assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, '/root/probe-a'))), [1, 1, 1], 'nothing ran again');
    assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, '/root/probe-b'))), [1, 0, 1]);
  });

  it('[fault] command timeout: the remote process is gone, the step is reported (unknown: it was stopped), exit 1', async () => {
    const pb = playbook('timeout.yml', playbookText('session-timeout'));
    const t0 = Date.now();
    const r = await apply(pb);
    const ms = Date.now() - t0;
    assert.equal(r.code, 1, r.all);
    assert.ok(ms < 15_000, `took ${ms} ms`);
    const ends = stepEnds(readJournalFile(journalDir, runIdOf(r)));
    assert.equal(ends.length, 1, JSON.stringify(ends));
    // Stopped halfway: whether it took effect is unknown, which is never ok (and never retried).
    assert.equal(ends[0]?.status, 'unknown');
    assert.match(ends[0]?.message ?? '', /timed out after 2 s; the command was stopped/);
    assert.deepEqual(await hostPids(lab, 'etcd-2', 'slee[p] 30'), [], 'the remote sleep is gone');
    assert.equal(await lineCount(lab, 'etcd-2', '/root/never'), 0);
    assert.equal(await lineCount(lab, 'etcd-2', '/root/late'), 0);
  });

  it('[fault] huge non-UTF-8 output (200 MB binary on stdout, a 50 MB line without newline on stderr): bounded memory, truncated with the marker, no crash', async () => {
    const MB = 1024 * 1024;
    const total = 250 * MB;
    const pb = playbook(
      'huge.yml',
      `
- name: huge
  hosts: etcd-1
  tasks:
    - name: flood
      shell: |
        head -c ${200 * MB} /dev/urandom; head -c ${50 * MB} /dev/zero | tr '\\000' x >&2; echo 1 >> /root/huge-flood
      register: flood
    - name: after
      shell: echo 1 >> /root/huge-after
`,
    );
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    let r: CliRun;
    try {
      r = await apply(pb);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    assert.equal(r.code, 0, r.all.slice(0, 2000));
    const growth = peak - base;
    console.log(`      rss growth while ${total / MB} MB of output streamed: ${(growth / MB).toFixed(1)} MiB`);
    // Garbage collection is lazy, so some growth is expected; it must not follow the output size.
    assert.ok(growth < total / 2.5, `rss grew by ${(growth / MB).toFixed(1)} MiB for ${total / MB} MB of output`);
    assert.ok(r.all.length < 4 * MB, `the report holds ${r.all.length} characters`);
    const flood = eventsOf(readJournalFile(journalDir, runIdOf(r)), 'step.end').find((e) => e.stepId === '1.1@etcd-1');
    const value = flood?.result.value as { stdout?: string; stderr?: string; rc?: number } | undefined;
    assert.equal(flood?.result.status, 'changed');
    assert.equal(value?.rc, 0);
    // The journal keeps bounded tails; the command's record ends with the transport's marker.
    const action = flood?.result.actions[0];
    assert.match(action?.stdoutTail ?? '', /\[runbook: output truncated after 1048576 bytes, 208666624 more bytes dropped\]$/);
    assert.match(action?.stderrTail ?? '', /x\n?\[runbook: output truncated after 1048576 bytes, 51380224 more bytes dropped\]$/);
    for (const [stream, text] of [
      ['stdout', value?.stdout ?? ''],
      ['stderr', value?.stderr ?? ''],
    ] as const)
      assert.ok(text.length < 2 * MB, `${stream}: ${text.length} characters kept`);
    assert.ok(value?.stdout?.includes('\ufffd'), 'invalid UTF-8 is replaced, not passed through');
    assert.ok(value?.stderr?.startsWith('xxxxxxxx'), 'the long line is kept up to the limit');
    assert.equal(await lineCount(lab, 'etcd-1', '/root/huge-flood'), 1);
    assert.equal(await lineCount(lab, 'etcd-1', '/root/huge-after'), 1);
  });
});
