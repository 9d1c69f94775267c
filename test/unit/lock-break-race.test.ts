// Two (or more) `--break-lock` runs started together on one stale lock: exactly one may win. The
// lock used to be deleted by name and re-created, so a second breaker deleted the lock the first
// had just taken and both ran. Here real processes race (no fakes): each breaker is a Node child
// that takes the lock with RunLock as apply does, on the controller lock file and on the host lock
// directory (through the local transport: /bin/sh on this machine, the same script SSH runs).
// A barrier file starts each round; the parent waits for every child's answer (observable state).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { remoteLockDir } from '../../engine/execute/lock.js';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BREAKERS = 4;
const ROUNDS = 12;

/** A child that, for each round, waits for `go-<round>`, breaks the lock and writes `result-<round>-<i>`. */
function breakerScript(kind: 'controller' | 'host', dir: string, cluster: string, i: number): string {
  return `
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const { RunLock, lockOwner } = await import(${JSON.stringify(join(DIST, 'engine/execute/lock.js'))});
const { LocalTransport } = await import(${JSON.stringify(join(DIST, 'engine/transports/local.js'))});
const dir = ${JSON.stringify(dir)};
writeFileSync(join(dir, 'ready-${i}'), '');
for (let round = 0; round < ${ROUNDS}; round++) {
  // Spin on the barrier: all breakers leave it within microseconds of each other.
  while (!existsSync(join(dir, 'go-' + round))) {}
  const runId = '20240101T000000Z-' + String(round).padStart(2, '0') + 'b' + '${i}' + 'ab';
  const lock = new RunLock(${JSON.stringify(cluster)}, lockOwner(runId), join(dir, 'locks'));
  let won;
  try {
    if (${JSON.stringify(kind)} === 'controller') won = lock.takeLocal(true) === undefined;
    else won = (await lock.takeRemote([{ name: 'localhost', transport: new LocalTransport(), become: false }], true)).length === 0;
  } catch (e) {
    won = 'error: ' + e.message;
  }
  // Written aside and renamed: the parent never reads a half-written answer.
  writeFileSync(join(dir, 'tmp-${i}'), JSON.stringify({ runId, won }));
  renameSync(join(dir, 'tmp-${i}'), join(dir, 'result-' + round + '-${i}'));
}
// Stay alive until the parent kills us: a winner that exited would leave a lock of a dead pid,
// which is stale by design, and a breaker still at work would rightly break it.
setInterval(() => undefined, 1 << 30);
`;
}

async function waitFor(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

function staleOwner(runId: string): string {
  return `run_id=${runId}\ncontroller=${hostname()}\npid=${process.pid}\nstarted=2024-01-01T00:00:00.000Z\nexpires=2024-01-01T12:00:00.000Z\n`;
}

async function race(kind: 'controller' | 'host'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `runbook-lock-race-${kind}-`));
  const cluster = `race${process.pid}${kind[0]}`;
  const hostLock = remoteLockDir(cluster);
  const children: ChildProcess[] = [];
  const cleanHost = (): void => {
    for (const f of readdirSync('/run').filter((x) => x.startsWith(`runbook-lock.${cluster}`))) rmSync(join('/run', f), { recursive: true, force: true });
  };
  try {
    mkdirSync(join(dir, 'locks'), { mode: 0o700 });
    for (let i = 0; i < BREAKERS; i++) {
      const c = spawn(process.execPath, ['--input-type=module', '-e', breakerScript(kind, dir, cluster, i)], { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(c);
    }
    await waitFor(() => Array.from({ length: BREAKERS }, (_, i) => existsSync(join(dir, `ready-${i}`))).every(Boolean), 'the breakers to start');
    for (let round = 0; round < ROUNDS; round++) {
      // A stale lock (expired) left by a run that is gone.
      const stale = `20231231T000000Z-st${String(round).padStart(2, '0')}ab`;
      if (kind === 'controller') writeFileSync(join(dir, 'locks', `${cluster}.lock`), staleOwner(stale), { mode: 0o600 });
      else {
        mkdirSync(hostLock, { mode: 0o700 });
        writeFileSync(join(hostLock, 'owner'), staleOwner(stale));
      }
      writeFileSync(join(dir, `go-${round}`), '');
      const files = Array.from({ length: BREAKERS }, (_, i) => join(dir, `result-${round}-${i}`));
      await waitFor(() => files.every((f) => existsSync(f)), `round ${round}'s answers`);
      const results = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as { runId: string; won: boolean | string });
      for (const r of results) assert.equal(typeof r.won, 'boolean', `round ${round}: ${String(r.won)}`);
      const winners = results.filter((r) => r.won === true);
      const ownerFile = kind === 'controller' ? join(dir, 'locks', `${cluster}.lock`) : join(hostLock, 'owner');
      const lockDir = kind === 'controller' ? join(dir, 'locks') : '/run';
      const markers = (): string =>
        kind === 'controller'
          ? readdirSync(lockDir)
              .filter((f) => f.includes('.broken-'))
              .map((f) => readFileSync(join(lockDir, f), 'utf8').split('\n').slice(0, 2).join(' '))
              .join(' | ')
          : '';
      const state = (): string =>
        `${readdirSync(lockDir)
          .filter((f) => f.includes(cluster))
          .join(' ')}; owner: ${existsSync(ownerFile) ? readFileSync(ownerFile, 'utf8').split('\n')[0] : 'none'}; markers: ${markers()}`;
      assert.equal(winners.length, 1, `round ${round}: exactly one breaker wins, got ${winners.length}: ${JSON.stringify(results)}; ${state()}`);
      assert.match(readFileSync(ownerFile, 'utf8'), new RegExp(`^run_id=${winners[0]!.runId}$`, 'm'), `round ${round}: the lock names the winner`);
      // The winner's run ends: its lock goes (as release does), ready for the next round.
      if (kind === 'controller') rmSync(ownerFile);
      else cleanHost();
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    if (kind === 'host') cleanHost();
  }
}

describe('concurrent --break-lock: one winner', function () {
  this.timeout(180_000);
  it(`[lock-race] ${BREAKERS} breakers × ${ROUNDS} rounds on a stale controller lock`, () => race('controller'));
  it(`[lock-race] ${BREAKERS} breakers × ${ROUNDS} rounds on a stale host lock (${remoteLockDir('…')})`, () => race('host'));
});
