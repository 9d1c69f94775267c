// The controller side of the run lock (engine/execute/lock.ts): O_EXCL file, owner-only, holders
// named, stale locks broken only on request (or by --resume of the run that left it).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { lockOwner, RunLock, staleReason } from '../../engine/execute/lock.js';
import { FakeTransport } from './executor-fakes.js';
import { scratchDirEach } from '../support/scratch.js';

const DEAD_PID = 2 ** 22 + 17;

describe('run lock (controller side)', () => {
  let dir: string;
  scratchDirEach('runbook-lock-unit-', (d) => (dir = d));

  const leftBehind = (runId: string, pid: number, expires: string): void =>
    writeFileSync(
      path.join(dir, 'locks', 'c1.lock'),
      `run_id=${runId}\ncontroller=${hostname()}\npid=${pid}\nstarted=2024-01-01T00:00:00.000Z\nexpires=${expires}\n`,
    );

  it('takes the lock owner-only, refuses a second taker naming the first, and releases', () => {
    const a = new RunLock('c1', lockOwner('20240101T000000Z-aaaaaa'), path.join(dir, 'locks'));
    assert.equal(a.takeLocal(false), undefined);
    const file = path.join(dir, 'locks', 'c1.lock');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.match(readFileSync(file, 'utf8'), /^run_id=20240101T000000Z-aaaaaa\ncontroller=.+\npid=\d+\nstarted=.+\nexpires=.+\n$/);
    const b = new RunLock('c1', lockOwner('20240101T000000Z-bbbbbb'), path.join(dir, 'locks'));
    const held = b.takeLocal(true);
    assert.equal(held?.runId, '20240101T000000Z-aaaaaa', '--break-lock does not break a live lock');
    assert.equal(held.pid, process.pid);
    assert.equal(held.stale, undefined);
    a.releaseLocal();
    assert.equal(existsSync(file), false);
    assert.equal(b.takeLocal(false), undefined);
    b.releaseLocal();
  });

  it('a stale lock (dead pid, or expired) is refused unless broken or resumed by its own run', () => {
    const lockDir = path.join(dir, 'locks');
    new RunLock('c1', lockOwner('20240101T000000Z-xxxxxx'), lockDir).takeLocal(false); // makes the dir
    const future = new Date(Date.now() + 3600_000).toISOString();
    leftBehind('20240101T000000Z-dead01', DEAD_PID, future);
    const c = new RunLock('c1', lockOwner('20240101T000000Z-cccccc'), lockDir);
    assert.match(c.takeLocal(false)?.stale ?? '', /controller pid \d+ is no longer running/);
    assert.ok(c.takeLocal(false, '20240101T000000Z-other1'), 'resuming another run does not take it');
    assert.equal(c.takeLocal(false, '20240101T000000Z-dead01'), undefined, '--resume of the run that left it takes it over');
    c.releaseLocal();
    leftBehind('20240101T000000Z-old002', process.pid, '2024-01-01T12:00:00.000Z');
    assert.match(c.takeLocal(false)?.stale ?? '', /^expired 2024-01-01T12:00:00.000Z/);
    assert.equal(c.takeLocal(true), undefined, '--break-lock takes a stale lock');
    c.releaseLocal();
  });

  it('staleReason: live, expired, dead pid, unreadable expiry', () => {
    const live = lockOwner('20240101T000000Z-aaaaaa');
    assert.equal(staleReason(live), undefined);
    assert.match(staleReason({ ...live, expires: 'garbage' }) ?? '', /^expired/);
    assert.match(staleReason({ ...live, pid: DEAD_PID }) ?? '', /no longer running/);
    assert.equal(staleReason({ ...live, pid: DEAD_PID, host: 'another-controller' }), undefined, 'a pid on another controller cannot be checked');
  });

  it('locks 30 hosts at once on one run signal without a MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      // Each lock command listens on the signal while it runs, as the SSH transport does; all 30 are in flight together.
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => (release = r));
      let inFlight = 0;
      const hosts = Array.from({ length: 30 }, (_, i) => ({
        name: `h${i}`,
        become: true,
        transport: new FakeTransport(`h${i}`, async (_cmd, opts) => {
          const onAbort = (): void => undefined;
          opts.signal?.addEventListener('abort', onAbort, { once: true });
          if (++inFlight === 30) release();
          await gate;
          opts.signal?.removeEventListener('abort', onAbort);
          return { stdout: 'RUNBOOK-LOCK-TAKEN\n' };
        }),
      }));
      const lock = new RunLock('c1', lockOwner('20240101T000000Z-aaaaaa'), path.join(dir, 'locks'));
      assert.deepEqual(await lock.takeRemote(hosts, false, undefined, ac.signal), []);
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on a later tick
      assert.equal(inFlight, 30);
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('an interrupt that stops the lock command after it took the lock still gives that lock back (owner-checked release)', async () => {
    const ac = new AbortController();
    const commands: string[] = [];
    // h0 takes its lock, then the interrupt lands before its reply is read (h1 is then never tried).
    const hosts = ['h0', 'h1'].map((name) => ({
      name,
      become: true,
      transport: new FakeTransport(name, async (cmd, opts) => {
        commands.push(`${name}: ${cmd.includes('RUNBOOK-LOCK-TAKEN') ? 'take' : cmd.includes('rm -rf') ? 'release' : cmd}`);
        if (name === 'h0' && cmd.includes('RUNBOOK-LOCK-TAKEN')) {
          ac.abort();
          await new Promise((r) => setImmediate(r));
          if (opts.signal?.aborted) throw new Error('interrupted');
        }
        return { stdout: 'RUNBOOK-LOCK-TAKEN\n' };
      }),
    }));
    const lock = new RunLock('c1', lockOwner('20240101T000000Z-bbbbbb'), path.join(dir, 'locks'));
    await assert.rejects(lock.takeRemote(hosts, false, undefined, ac.signal), /interrupted/);
    assert.deepEqual(
      commands.filter((c) => c.endsWith('release')),
      ['h0: release'],
    );
  });
});
