import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOURNAL_VALUE_BYTES, listRuns, readJournal } from '../../engine/report/journal.js';
import { createReporter } from '../../engine/report/reporters.js';
import { fakeClock, fixtureEvents, fixturePlan, HOSTS, MEMBERS_VALUE, play, SECRETS } from './report-fixture.js';
import { captureIo } from '../support/io.js';
import { readJournalPath } from '../support/journal.js';

describe('report: run journal', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'runbook-journal-'));
    dir = join(root, '.runbook', 'runs');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const base = () => ({ io: captureIo(), verbose: 0, journalDir: dir, plan: fixturePlan(), now: fakeClock() });

  async function record(runId: string, opts: { withRunEnd?: boolean; secrets?: string[] } = {}): Promise<string> {
    const rep = await createReporter({ ...base(), mode: 'text', secrets: opts.secrets ?? SECRETS, runId });
    play(rep.emit, fixtureEvents({ withRunEnd: opts.withRunEnd ?? true }));
    await rep.close();
    return rep.journalPath;
  }

  it('is owner-only: directory 0700, file 0600', async () => {
    const path = await record('r-mode');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it('does not keep wider permissions on an existing file', async () => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'r-wide.jsonl');
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    await record('r-wide');
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it('writes the plan first, then one parseable line per event (streamed output left to the step tails)', async () => {
    const path = await record('r-lines');
    assert.ok(readFileSync(path, 'utf8').endsWith('}\n'), 'whole lines, the last one ended');
    const recs = readJournalPath(path);
    const first = recs[0];
    assert.ok(first?.type === 'plan', 'the plan record first');
    assert.equal(first.format, 'runbook-journal');
    assert.equal(first.runId, 'r-lines');
    assert.equal(first.plan.playbook, 'playbooks/restart.yml');
    assert.equal(first.plan.plays.length, 2);
    const expected = fixtureEvents()
      .map(([t]) => t)
      .filter((t) => t !== 'step.output');
    assert.deepEqual(
      recs.slice(1).map((r) => r.type),
      expected,
    );
  });

  it('is written as events happen, not at close', async () => {
    const rep = await createReporter({ ...base(), mode: 'text', secrets: [], runId: 'r-live' });
    play(rep.emit, fixtureEvents().slice(0, 8));
    // Nothing closed or flushed by us: a SIGKILL now would leave this on disk.
    const state = readJournal(dir, 'r-live');
    assert.deepEqual([...state.done], ['1.1@etcd-1']);
    assert.equal(state.ended, false);
    await rep.close();
  });

  it('rebuilds done steps, registered values (run_once to every host) and facts', async () => {
    await record('r-read', { secrets: [] });
    const j = readJournal(dir, 'r-read');
    assert.equal(j.ended, true);
    assert.deepEqual(j.plan, fixturePlan());
    assert.deepEqual(
      [...j.done].sort(),
      ['1.1@etcd-1', '1.2@etcd-1', '1.2@etcd-2', '1.3@etcd-1', '1.3@etcd-2', '1.4@etcd-1', '1.4@etcd-2', '2.1@etcd-1', '2.2@etcd-1'].sort(),
    );
    // failed (2.1@etcd-2), ignored failure (1.5@etcd-1) and unreachable (1.2@etcd-3) must run again.
    for (const id of ['2.1@etcd-2', '1.5@etcd-1', '1.2@etcd-3']) assert.ok(!j.done.has(id), id);
    // run_once: the one step's value is every play host's, including the unreachable one.
    for (const h of HOSTS) assert.deepEqual(j.registered[h]?.members, MEMBERS_VALUE, h);
    assert.deepEqual(j.registered['etcd-2']?.health, { rc: 0, stdout: 'healthy', stderr: '' });
    assert.equal(j.registered['etcd-3']?.health, undefined, 'unreachable step registers nothing');
    assert.deepEqual(j.facts, { 'etcd-1': { leader: 'etcd-1' }, 'etcd-2': { leader: 'etcd-1' } });
    assert.equal(j.events.length, fixtureEvents().length - 3);
  });

  it('a resumed run keeps what its predecessor finished (skipped steps register nothing)', async () => {
    await record('r-first', { withRunEnd: false, secrets: [] });
    const rep = await createReporter({ ...base(), mode: 'text', secrets: [], runId: 'r-second' });
    rep.emit('run.start', {
      runId: 'r-second',
      playbook: 'playbooks/restart.yml',
      inventory: 'inventories/three.yml',
      check: false,
      hosts: HOSTS,
      inputs: [],
      resumedFrom: 'r-first',
    });
    // What the executor emits for steps the first run finished: skipped, value null.
    for (const [play, task, host] of [
      [1, 1, 'etcd-1'],
      [1, 2, 'etcd-2'],
      [1, 3, 'etcd-2'],
    ] as const) {
      rep.emit('step.end', {
        play,
        task,
        stepId: `${play}.${task}@${host}`,
        host,
        target: host,
        result: { status: 'skipped', value: null, message: 'done in run r-first', attempts: 0, actions: [], durationMs: 0 },
      });
    }
    rep.emit('step.end', {
      play: 2,
      task: 1,
      stepId: '2.1@etcd-2',
      host: 'etcd-2',
      target: 'etcd-2',
      result: { status: 'changed', value: { changed: true }, attempts: 1, actions: [], durationMs: 5 },
    });
    rep.emit('step.end', {
      play: 1,
      task: 2,
      stepId: '1.2@etcd-3',
      host: 'etcd-3',
      target: 'etcd-3',
      result: { status: 'ok', value: { rc: 0, stdout: 'healthy now', stderr: '' }, attempts: 1, actions: [], durationMs: 5 },
    });
    await rep.close();
    const j = readJournal(dir, 'r-second');
    for (const id of ['1.1@etcd-1', '1.2@etcd-2', '2.2@etcd-1', '2.1@etcd-2', '1.2@etcd-3']) assert.ok(j.done.has(id), id);
    assert.ok(!j.done.has('1.5@etcd-1'));
    for (const h of HOSTS) assert.deepEqual(j.registered[h]?.members, MEMBERS_VALUE, `members of ${h} survive the skip`);
    assert.deepEqual(j.registered['etcd-3']?.health, { rc: 0, stdout: 'healthy now', stderr: '' });
    assert.deepEqual(j.facts['etcd-2'], { leader: 'etcd-1' });
    // Only this run's own events and end.
    assert.equal(j.ended, false);
    assert.equal(j.events[0]?.type, 'run.start');
  });

  it('tolerates a truncated last line (crash mid-write)', async () => {
    const path = await record('r-crash', { withRunEnd: false });
    appendFileSync(path, '{"type":"step.end","at":"2025-01-02T12:00:09.000Z","stepId":"2.2@etcd-2","result":{"sta');
    const j = readJournal(dir, 'r-crash');
    assert.equal(j.ended, false);
    assert.equal(j.badLines, 1);
    assert.ok(j.done.has('2.2@etcd-1'));
    assert.ok(!j.done.has('2.2@etcd-2'));
    // A later writer on the same file starts on a fresh line, so the bad line stays the only one.
    const rep = await createReporter({ ...base(), mode: 'text', secrets: [], runId: 'r-crash' });
    rep.emit('run.end', { runId: 'r-crash', ok: true, interrupted: false, recap: {}, durationMs: 1, exitCode: 0 });
    await rep.close();
    const again = readJournal(dir, 'r-crash');
    assert.equal(again.badLines, 1);
    assert.equal(again.ended, true);
  });

  it('does not count a step as done when its value had to be cut', async () => {
    const rep = await createReporter({ ...base(), mode: 'json', secrets: [], runId: 'r-big' });
    const big = 'x'.repeat(JOURNAL_VALUE_BYTES + 10);
    rep.emit('step.end', {
      play: 1,
      task: 1,
      stepId: '1.1@etcd-1',
      host: 'etcd-1',
      target: 'etcd-1',
      result: {
        status: 'ok',
        value: { stdout: big },
        attempts: 1,
        durationMs: 1,
        actions: [{ index: 0, kind: 'exec', cmd: 'cat big', code: 0, durationMs: 1, stdoutTail: big }],
      },
    });
    await rep.close();
    const line = readFileSync(join(dir, 'r-big.jsonl'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('{"type":"step.end"'));
    assert.ok(line !== undefined && line.length < JOURNAL_VALUE_BYTES + 4096 + 1024, `step.end bounded, got ${line?.length}`);
    const j = readJournal(dir, 'r-big');
    assert.ok(!j.done.has('1.1@etcd-1'));
    assert.equal(j.registered['etcd-1'], undefined);
  });

  it('lists runs with their outcome', async () => {
    await record('r-a');
    await record('r-b', { withRunEnd: false });
    writeFileSync(join(dir, 'notes.txt'), 'not a journal');
    writeFileSync(join(dir, 'junk.jsonl'), 'garbage\n');
    const runs = listRuns(dir);
    assert.deepEqual(
      runs.map((r) => [r.runId, r.playbook, r.ended, r.ok]),
      [
        ['r-a', 'playbooks/restart.yml', true, false],
        ['r-b', 'playbooks/restart.yml', false, undefined],
      ],
    );
    assert.match(runs[0]?.startedAt ?? '', /^2025-01-02T12:00:00/);
    assert.deepEqual(listRuns(join(root, 'nowhere')), []);
  });

  it('rejects run ids that are not plain file names', async () => {
    await assert.rejects(() => createReporter({ ...base(), mode: 'text', secrets: [], runId: '../escape', now: undefined }), /invalid run id/);
    assert.throws(() => readJournal(dir, 'a/b'), /invalid run id/);
  });
});
