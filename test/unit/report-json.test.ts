import assert from 'node:assert/strict';
import { createReporter } from '../../engine/report/reporters.js';
import { fakeClock, fixtureEvents, fixturePlan, play, RECAP, SECRETS } from './report-fixture.js';
import { captureIo } from '../support/io.js';
import { scratchDirEach } from '../support/scratch.js';

describe('report: JSON lines', () => {
  let dir: string;
  scratchDirEach('runbook-report-', (d) => (dir = d));

  async function run(): Promise<{ lines: string[]; objects: Record<string, unknown>[]; stderr: string }> {
    const io = captureIo();
    const rep = await createReporter({
      mode: 'json',
      io,
      verbose: 0,
      secrets: SECRETS,
      journalDir: dir,
      runId: 'run-json',
      plan: fixturePlan(),
      now: fakeClock(),
    });
    play(rep.emit, fixtureEvents());
    await rep.close();
    const lines = io.stdout().split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    return { lines, objects: lines.map((l) => JSON.parse(l) as Record<string, unknown>), stderr: io.stderr() };
  }

  it('writes one JSON object per event, in order, with type and at first and the rest sorted', async () => {
    const { objects } = await run();
    const expected = fixtureEvents()
      .map(([type]) => type)
      // The one chunked output arrives as two chunks forming two whole lines: still two events.
      .filter((t) => t !== 'step.output');
    assert.deepEqual(
      objects.map((o) => o.type).filter((t) => t !== 'step.output'),
      expected,
    );
    for (const o of objects) {
      const keys = Object.keys(o);
      assert.deepEqual(keys.slice(0, 2), ['type', 'at']);
      assert.deepEqual(keys.slice(2), [...keys.slice(2)].sort());
      assert.match(String(o.at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const end = objects.at(-1);
    assert.equal(end?.type, 'run.end');
    assert.deepEqual(end?.recap, RECAP);
  });

  it('re-cuts streamed output into whole lines', async () => {
    const { objects } = await run();
    const outputs = objects.filter((o) => o.type === 'step.output').map((o) => o.text);
    assert.deepEqual(outputs, ['member etcd-1 started, auth ****** ok\n', 'second line\n', 'Failed to stop etcd.service: Access denied (token ******)\n']);
  });

  it('keeps stdout machine-readable: the summary goes to stderr', async () => {
    const { stderr } = await run();
    assert.match(stderr, /RECAP {2}run run-json · FAILED/);
    assert.match(stderr, /etcd-2 {2}ok=2 changed=0 unreachable=0 failed=1 skipped=1 unknown=0 ignored=0/);
    assert.match(stderr, /FAILED etcd-2 {2}TASK 2\.1 Stop etcd: rc=1/);
    assert.match(stderr, /journal: .*run-json\.jsonl\n$/);
  });
});
