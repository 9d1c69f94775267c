import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createReporter } from '../../engine/report/reporters.js';
import { fakeClock, fixtureEvents, fixturePlan, play, SECRETS } from './report-fixture.js';
import { captureIo, type CapturedIo } from '../support/io.js';
import { scratchDirEach } from '../support/scratch.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

/** Runs `fn` while recording anything written straight to process.stdout/stderr (listr2's defaults). */
async function leaks(fn: () => Promise<void>): Promise<string> {
  const seen: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const spy = (chunk: unknown): boolean => (seen.push(String(chunk)), true);
  process.stdout.write = spy;
  process.stderr.write = spy;
  try {
    await fn();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return seen.join('');
}

describe('report: live tree (listr2) on a terminal', () => {
  let dir: string;
  scratchDirEach('runbook-report-', (d) => (dir = d));

  async function run(withRunEnd = true, spread = false): Promise<{ io: CapturedIo; leaked: string }> {
    const io = captureIo({ isTTY: true });
    const leaked = await leaks(async () => {
      const rep = await createReporter({
        mode: 'auto',
        io,
        verbose: 0,
        secrets: SECRETS,
        journalDir: dir,
        runId: 'run-live',
        plan: fixturePlan(),
        now: fakeClock(),
      });
      const calls = fixtureEvents({ withRunEnd });
      if (spread) {
        // As in a real run: events arrive over time, while the renderer is drawing.
        for (const c of calls) {
          play(rep.emit, [c]);
          await new Promise((r) => setTimeout(r, 2));
        }
      } else play(rep.emit, calls);
      await rep.close();
    });
    return { io, leaked };
  }

  for (const spread of [false, true]) {
    it(`draws the tree through io, then prints failures and the recap plainly (${spread ? 'events over time' : 'events in one burst'})`, async () => {
      const { io, leaked } = await run(true, spread);
      assert.equal(leaked, '', 'nothing bypasses io');
      const out = io.stdout();
      assert.ok(out.length > 0);
      const plain = out.replace(ANSI, '');
      // The final frame has the tree, with the failed task expanded.
      assert.match(plain, /PLAY 1 · Check cluster/);
      assert.match(plain, /TASK 2\.1 · Stop etcd · batch 2\/3: etcd-2/);
      assert.match(plain, /etcd-2 · FAILED/);
      assert.match(plain, /etcd-3 · UNREACHABLE/);
      assert.match(plain, /TASK 2\.2 · Start etcd · batch 3\/3: etcd-3 · not run/);
      // Regression: a host still running when a sibling failed was drawn as failed once it finished ok.
      const finalFrame = out.slice(out.lastIndexOf('\u001b[G')).replace(ANSI, '').split('\n');
      const icon = (re: RegExp): string | undefined => finalFrame.find((l) => re.test(l))?.trim()[0];
      assert.ok(icon(/etcd-2 · ok · 2\.6s/) !== undefined, finalFrame.join('\n'));
      assert.equal(icon(/etcd-2 · ok · 2\.6s/), icon(/etcd-1 · ok · 0\.4s/), finalFrame.join('\n'));
      assert.notEqual(icon(/etcd-3 · UNREACHABLE/), icon(/etcd-1 · ok · 0\.4s/));
      // After the renderer's last write: the summary, untouched by cursor movement.
      const lastEscape = out.lastIndexOf('\u001b[');
      const summary = out.slice(out.indexOf('\n', lastEscape));
      assert.ok(!summary.includes('\u001b'), 'summary has no escape codes');
      assert.match(
        summary,
        /\nFAILURES\n {2}UNREACHABLE etcd-3 {2}TASK 1\.2 Check health: ssh: connect to 10\.0\.0\.3:22: ECONNREFUSED\n {2}FAILED etcd-2 {2}TASK 2\.1 Stop etcd: rc=1: Failed to stop etcd\.service: Access denied \(token \*{6}\)\n/,
      );
      assert.match(
        summary,
        /RECAP {2}run run-live · FAILED · 12\.3s · exit code 1\n {2}etcd-1 {2}ok=6 changed=3 unreachable=0 failed=0 skipped=0 unknown=0 ignored=1\n {2}etcd-2 {2}ok=2 changed=0 unreachable=0 failed=1 skipped=1 unknown=0 ignored=0\n {2}etcd-3 {2}ok=0 changed=0 unreachable=1 failed=0 skipped=0 unknown=0 ignored=0\n/,
      );
      assert.ok(summary.endsWith(`journal: ${join(dir, 'run-live.jsonl')}\n`));
      assert.equal(io.stderr(), '');
    });
  }

  it('completes when closed without run.end (executor crashed) and still prints a recap', async () => {
    const { io } = await run(false);
    const out = io.stdout();
    assert.match(out, /RECAP {2}run run-live · DID NOT FINISH/);
    assert.match(out, /etcd-2 {2}ok=2 changed=0 unreachable=0 failed=1 skipped=1 unknown=0 ignored=0/);
  });

  it('completes when closed before anything ran', async () => {
    const io = captureIo({ isTTY: true });
    const rep = await createReporter({ mode: 'auto', io, verbose: 0, secrets: [], journalDir: dir, runId: 'run-empty', plan: fixturePlan(), now: fakeClock() });
    await rep.close();
    const plain = io.stdout().replace(ANSI, '');
    assert.match(plain, /PLAY 1 · Check cluster · not run/);
    assert.match(plain, /RECAP {2}run run-empty · DID NOT FINISH/);
  });
});
