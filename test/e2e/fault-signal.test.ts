// Fault injection: SIGINT / SIGTERM sent to a real `runbook apply` child process while remote
// commands run, while the run locks are taken and while a host is still in its handshake (lab on
// 127.0.0.141-143, no etcd; a silent listener on .148). No new step may start after the signal,
// the running remote commands are stopped (gone on the hosts), the journal ends with an
// interrupted run.end, exit code 130, no lock is left; a second SIGINT exits at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { hostExec, labAddress, labDown, type Lab } from '../lab/lab.js';
import { freshLab, labDir, REPO } from './playbook-helpers.js';
import { hostPids, installStandIn, lineCount, readJournalFile, removeStandIns, stepEnds, waitFor } from './fault-helpers.js';
import { suiteLab } from '../support/lab.js';

const NAME = 'fault-signal';
const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];
/** A test-owned listener that accepts TCP and never answers (the lab uses .141-.143). */
const MUTE = labAddress(148);

interface Child {
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  kill: (sig: NodeJS.Signals) => void;
  out: () => string;
  journalDir: string;
}

describe('fault injection: signals to runbook apply (lab, 127.0.0.141-143)', function () {
  this.timeout(60_000);
  let lab: Lab;
  let tmp: string;
  let n = 0;

  const up = (): Promise<Lab> => freshLab(NAME, { hosts: 3, etcd: false, firstOctet: 141 });
  suiteLab({ up, down: () => labDown(labDir(NAME)), tmpPrefix: 'runbook-fault-signal-' }, (l, t) => {
    lab = l;
    tmp = t;
  });

  /** `node bin/runbook.js apply …` with its own journal (and lock) dir. */
  function spawnApply(longCmd: string, inventory = lab.inventoryPath): Child {
    const dir = path.join(tmp, `run-${++n}`);
    const journalDir = path.join(dir, 'runs');
    mkdirSync(dir, { recursive: true });
    const pb = path.join(dir, 'pb.yml');
    writeFileSync(
      pb,
      `
- name: signals
  hosts: etcd
  tasks:
    - name: before
      shell: echo 1 >> /root/sig-a-${n}
    - name: long
      shell: ${JSON.stringify(`echo 1 >> /root/sig-b-${n}; ${longCmd}; echo 1 >> /root/sig-b-end-${n}`)}
    - name: after
      shell: echo 1 >> /root/sig-c-${n}
`,
    );
    const child = spawn(
      process.execPath,
      [path.join(REPO, 'bin/runbook.js'), 'apply', pb, '-i', inventory, '--yes', '--output', 'text', '--journal-dir', journalDir],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
    return { done, kill: (sig) => void child.kill(sig), out: () => out, journalDir };
  }

  async function allRunning(pattern: string): Promise<boolean> {
    const found = await Promise.all(HOSTS.map((h) => hostPids(lab, h, pattern)));
    return found.every((p) => p.length > 0);
  }

  function onlyJournal(journalDir: string): string {
    const files = readdirSync(journalDir).filter((f) => f.endsWith('.jsonl'));
    assert.equal(files.length, 1, `journals: ${files.join(', ')}`);
    return (files[0] ?? '').replace(/\.jsonl$/, '');
  }

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`[fault] ${sig} during apply: no new step starts, the remote commands are stopped, journal ends interrupted, exit 130`, async () => {
      const c = spawnApply('sleep 21');
      const id = n;
      await waitFor('sleep 21 on every host', () => allRunning('slee[p] 21'), 20_000);
      const sent = Date.now();
      c.kill(sig);
      const r = await c.done;
      assert.equal(r.code, 130, c.out());
      assert.ok(r.at - sent < 10_000, `took ${r.at - sent} ms to stop`);
      for (const h of HOSTS) assert.deepEqual(await hostPids(lab, h, 'slee[p] 21'), [], `${h}: the running command was stopped`);
      // Nothing started after the signal; what had finished is there exactly once.
      assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, `/root/sig-a-${id}`))), [1, 1, 1]);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, `/root/sig-b-${id}`))), [1, 1, 1]);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, `/root/sig-b-end-${id}`))), [0, 0, 0]);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, `/root/sig-c-${id}`))), [0, 0, 0]);

      const events = readJournalFile(c.journalDir, onlyJournal(c.journalDir));
      const end = events.find((e) => e.type === 'run.end');
      assert.ok(end, 'the journal has run.end');
      assert.equal(end['interrupted'], true);
      assert.equal(end['exitCode'], 130);
      assert.equal(end['ok'], false);
      const ends = stepEnds(events);
      const long = ends.filter((e) => e.stepId.startsWith('1.2@'));
      assert.equal(long.length, 3, JSON.stringify(ends));
      for (const e of long) assert.notEqual(e.status, 'ok', `${e.host}: a stopped command is never ok`);
      for (const e of long) assert.notEqual(e.status, 'changed', `${e.host}: a stopped command is never changed`);
      assert.deepEqual(
        events.filter((e) => e.type === 'step.start' && String(e.stepId).startsWith('1.3@')),
        [],
        'no step started after the signal',
      );
      assert.match(c.out(), new RegExp(`${sig}: stopping`));
    });
  }

  it('[fault] SIGINT while the run locks are being taken: exit 130, no step ran, no lock left behind', async () => {
    // etcd-3's lock directory exists with no owner yet (as while another run takes it): the take
    // there waits up to 2 s, so the signal lands in the lock phase, before the handlers of old.
    await hostExec(lab, 'etcd-3', 'mkdir -m 0700 /run/runbook-lock.lab', { timeoutMs: 10_000 });
    try {
      const c = spawnApply('true');
      const id = n;
      const locked = async (h: string): Promise<boolean> => (await hostExec(lab, h, 'test -e /run/runbook-lock.lab/owner', { timeoutMs: 10_000 })).code === 0;
      await waitFor('the run lock on etcd-1', () => locked('etcd-1'), 20_000);
      c.kill('SIGINT');
      const r = await c.done;
      assert.equal(r.code, 130, c.out());
      assert.match(c.out(), /interrupted before any step started; nothing was run/);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, `/root/sig-a-${id}`))), [0, 0, 0]);
      assert.deepEqual(await Promise.all(['etcd-1', 'etcd-2'].map(locked)), [false, false], 'the host locks this run took were given back');
      assert.equal(existsSync(path.join(path.dirname(c.journalDir), 'locks', 'lab.lock')), false, 'the controller lock was given back');
    } finally {
      await hostExec(lab, 'etcd-3', 'rm -rf /run/runbook-lock.lab', { timeoutMs: 10_000 });
    }
  });

  it('[fault] SIGINT while a host is still in its SSH handshake: no wait for connect_timeout, exit 130, no lock left behind', async function () {
    // A host whose port accepts TCP and never sends a banner, with a 120 s connect_timeout: the
    // stop must not wait for it (this test's own timeout is far shorter).
    this.timeout(30_000);
    const sockets = new Set<net.Socket>();
    const mute = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => mute.once('error', reject).listen(22, MUTE, () => resolve()));
    try {
      const inv = path.join(tmp, 'inv-mute.yml');
      writeFileSync(
        inv,
        readFileSync(lab.inventoryPath, 'utf8')
          .replace(/^ssh:\n/m, 'ssh:\n  connect_timeout: 120\n')
          .replace(/^hosts:\n/m, `hosts:\n  mute:\n    address: ${MUTE}\n`)
          .replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-3, mute]')
          .replace(/: \.\//g, `: ${lab.dir}/`),
      );
      const c = spawnApply('true', inv);
      const id = n;
      const locked = async (h: string): Promise<boolean> => (await hostExec(lab, h, 'test -e /run/runbook-lock.lab/owner', { timeoutMs: 10_000 })).code === 0;
      await waitFor(
        'the run locks on the lab hosts (the mute host still connecting)',
        async () => (await Promise.all(HOSTS.map(locked))).every(Boolean),
        20_000,
      );
      assert.equal(sockets.size, 1, 'the mute host has its TCP connection, no banner');
      const sent = Date.now();
      c.kill('SIGINT');
      const r = await c.done;
      assert.equal(r.code, 130, c.out());
      assert.ok(r.at - sent < 20_000, `stopped ${r.at - sent} ms after SIGINT, not after the 120 s connect_timeout`);
      assert.match(c.out(), /interrupted before any step started; nothing was run/);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, `/root/sig-a-${id}`))), [0, 0, 0]);
      assert.deepEqual(await Promise.all(HOSTS.map(locked)), [false, false, false], 'the host locks were given back');
      assert.equal(existsSync(path.join(path.dirname(c.journalDir), 'locks', 'lab.lock')), false, 'the controller lock was given back');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => mute.close(r));
    }
  });

  it('[fault] SIGINT while the run locks are being given back: the release finishes, no lock is left behind', async () => {
    // On etcd-1 the release's `grep` (first on PATH through root's private .bashrc) marks that the
    // release has begun, then takes 3 s: the signal lands while runbook gives the locks back.
    await installStandIn(lab, 'etcd-1', 'grep', '#!/bin/sh\ntouch /run/release-started; sleep 3; exec /usr/bin/grep "$@"\n');
    try {
      const c = spawnApply('true');
      const id = n;
      await waitFor(
        'the release of the run lock on etcd-1',
        async () => (await hostExec(lab, 'etcd-1', 'test -e /run/release-started', { timeoutMs: 10_000 })).code === 0,
        20_000,
      );
      c.kill('SIGINT');
      const r = await c.done;
      assert.equal(r.signal, null, `runbook was killed by ${String(r.signal)}: ${c.out()}`);
      assert.equal(r.code, 0, `the run itself had finished: its exit code stands\n${c.out()}`);
      assert.match(c.out(), /SIGINT: stopping/);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, `/root/sig-c-${id}`))), [1, 1, 1], 'every step had run');
      const locked = async (h: string): Promise<boolean> => (await hostExec(lab, h, 'test -e /run/runbook-lock.lab', { timeoutMs: 10_000 })).code === 0;
      assert.deepEqual(await Promise.all(HOSTS.map(locked)), [false, false, false], 'every host lock was given back');
      assert.equal(existsSync(path.join(path.dirname(c.journalDir), 'locks', 'lab.lock')), false, 'the controller lock was given back');
    } finally {
      await removeStandIns(lab, 'etcd-1');
      await hostExec(lab, 'etcd-1', 'rm -f /run/release-started', { timeoutMs: 10_000 });
    }
  });

  it('[fault] a second SIGINT exits at once, well before the running command would end', async () => {
    // The remote command ignores TERM, so the first SIGINT's stop takes its KILL grace period.
    const c = spawnApply("trap '' TERM; sleep 22");
    const id = n;
    await waitFor('sleep 22 on every host', () => allRunning('slee[p] 22'), 20_000);
    const first = Date.now();
    c.kill('SIGINT');
    // The second SIGINT only once the first was handled (two sent at once may arrive as one).
    await waitFor('the first SIGINT handled', () => /SIGINT: stopping/.test(c.out()), 10_000, 20);
    c.kill('SIGINT');
    const r = await c.done;
    assert.equal(r.code, 130, c.out());
    assert.ok(r.at - first < 10_000, `exited ${r.at - first} ms after the first SIGINT (the command runs 22 s)`);
    assert.match(c.out(), /interrupted again: exiting now/);
    // Nothing after the running step started; the journal records what was started.
    assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, `/root/sig-c-${id}`))), [0, 0, 0]);
    assert.deepEqual(await Promise.all(HOSTS.map((h) => lineCount(lab, h, `/root/sig-b-end-${id}`))), [0, 0, 0]);
    assert.ok(existsSync(c.journalDir));
    const events = readJournalFile(c.journalDir, onlyJournal(c.journalDir));
    assert.equal(events.filter((e) => e.type === 'step.start' && String(e.stepId).startsWith('1.2@')).length, 3);
    assert.deepEqual(
      events.filter((e) => e.type === 'step.start' && String(e.stepId).startsWith('1.3@')),
      [],
    );
    // Leave no remote command or run lock behind for other tests.
    for (const h of HOSTS) {
      for (const pid of await hostPids(lab, h, 'slee[p] 22')) await hostExec(lab, h, `kill -KILL ${pid}`, { timeoutMs: 10_000 });
      await hostExec(lab, h, 'rm -rf /run/runbook-lock.lab', { timeoutMs: 10_000 });
    }
  });
});
