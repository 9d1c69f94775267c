// e2e: the run lock (engine/execute/lock.ts) on the lab (2 hosts on 127.0.0.171-172, no etcd):
// two concurrent applies → one runs, the other is refused naming the holder; stale locks (dead
// pid, past expiry) on the controller or on a host are refused unless --break-lock; two inventory
// hosts on one machine (one /run) do not refuse their own run.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runApply } from '../../engine/cli/apply.js';
import { EXIT } from '../../engine/model/io.js';
import { hostExec, labDown, labUp, type Lab } from '../lab/lab.js';
import { captureIo } from '../support/io.js';
import { waitFor } from '../support/wait.js';
import { suiteLab } from '../support/lab.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIR = path.join(REPO, '.runbook/lab-lock');
const HOSTS = ['etcd-1', 'etcd-2'];
const DEAD_PID = 2 ** 22 + 17; // above the default pid_max: never alive

describe('run lock e2e (lab, 127.0.0.171-172)', function () {
  this.timeout(60_000);
  let lab: Lab;
  let tmp: string;
  let n = 0;

  const up = (): Promise<Lab> => labUp({ dir: DIR, hosts: 2, etcd: false, firstOctet: 171 });
  suiteLab({ up, down: () => labDown(DIR), tmpPrefix: 'runbook-lock-' }, (l, t) => {
    lab = l;
    tmp = t;
  });

  /** A playbook appending `tag` to /root/lock-side on every host (after `sleep`), and a fresh journal dir. */
  function setup(tag: string, sleep = 0): { pb: string; journalDir: string } {
    const d = path.join(tmp, `case-${++n}`);
    mkdirSync(d, { recursive: true });
    const pb = path.join(d, 'pb.yml');
    writeFileSync(pb, `- name: side effect\n  hosts: etcd\n  tasks:\n    - shell: sleep ${sleep}; echo ${tag} >> /root/lock-side\n`);
    return { pb, journalDir: path.join(d, 'runs') };
  }

  async function sideEffects(tag: string): Promise<number[]> {
    return Promise.all(
      HOSTS.map(async (h) => Number((await hostExec(lab, h, `grep -cx ${tag} /root/lock-side || true`, { timeoutMs: 10_000 })).stdout.trim())),
    );
  }

  async function remoteLockExists(host: string): Promise<boolean> {
    return (await hostExec(lab, host, 'test -e /run/runbook-lock.lab', { timeoutMs: 10_000 })).code === 0;
  }

  /** Plant a host lock on `host` as another run would have left it. */
  async function plantHostLock(host: string, runId: string, owner: { controller: string; pid: number; started: string; expires: string }): Promise<void> {
    const body = `run_id=${runId}\\ncontroller=${owner.controller}\\npid=${owner.pid}\\nstarted=${owner.started}\\nexpires=${owner.expires}\\n`;
    const r = await hostExec(lab, host, `mkdir -m 0700 /run/runbook-lock.lab && printf '${body}' > /run/runbook-lock.lab/owner`, { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
  }

  it('two applies at once: exactly one runs, the other is refused naming the holder; no step of it ran; locks are gone after', async () => {
    const a = setup('concurrent-a', 2);
    const b = { ...setup('concurrent-b'), journalDir: a.journalDir }; // same controller lock dir
    const ioA = captureIo();
    const ioB = captureIo();
    const pA = runApply(a.pb, { inventory: lab.inventoryPath, journalDir: a.journalDir, output: 'text' }, ioA);
    const pB = runApply(b.pb, { inventory: lab.inventoryPath, journalDir: b.journalDir, output: 'text' }, ioB);
    const [codeA, codeB] = await Promise.all([pA, pB]);
    const results = [
      { code: codeA, io: ioA, tag: 'concurrent-a' },
      { code: codeB, io: ioB, tag: 'concurrent-b' },
    ];
    const ran = results.filter((r) => r.code === EXIT.OK);
    const refused = results.filter((r) => r.code === EXIT.REFUSED);
    assert.equal(ran.length, 1, `exactly one runs: ${results.map((r) => `${r.code}: ${r.io.all()}`).join('\n---\n')}`);
    assert.equal(refused.length, 1);
    const winner = ran[0];
    const loser = refused[0];
    assert.ok(winner && loser);
    // The holder is named by its run id: the one journal written is the winner's.
    const journals = readdirSync(a.journalDir).filter((f) => f.endsWith('.jsonl'));
    assert.equal(journals.length, 1, 'only the run that ran has a journal');
    const holderId = (journals[0] ?? '').replace(/\.jsonl$/, '');
    assert.match(loser.io.all(), new RegExp(`locked by another run[\\s\\S]*run ${holderId} \\(pid ${process.pid} on ${hostname()}, since `));
    assert.deepEqual(await sideEffects(winner.tag), [1, 1]);
    assert.deepEqual(await sideEffects(loser.tag), [0, 0], 'no step of the refused run ran');
    assert.deepEqual(await Promise.all(HOSTS.map(remoteLockExists)), [false, false], 'host locks removed at the end');
    assert.equal(existsSync(path.join(tmp, `case-${n - 1}`, 'locks', 'lab.lock')), false, 'controller lock removed at the end');
  });

  it('a stale controller lock (dead pid) is refused with instructions; --break-lock runs', async () => {
    const c = setup('stale-local');
    const lockDir = path.join(path.dirname(c.journalDir), 'locks');
    mkdirSync(lockDir, { recursive: true });
    const future = new Date(Date.now() + 3600_000).toISOString();
    writeFileSync(
      path.join(lockDir, 'lab.lock'),
      `run_id=20240101T000000Z-dead01\ncontroller=${hostname()}\npid=${DEAD_PID}\nstarted=2024-01-01T00:00:00.000Z\nexpires=${future}\n`,
    );
    const io = captureIo();
    assert.equal(await runApply(c.pb, { inventory: lab.inventoryPath, journalDir: c.journalDir, output: 'text' }, io), EXIT.REFUSED);
    assert.match(io.all(), /held by run 20240101T000000Z-dead01 \(pid \d+ on .*since 2024-01-01T00:00:00.000Z.*stale: controller pid \d+ is no longer running/);
    assert.match(io.all(), /--break-lock/);
    assert.deepEqual(await sideEffects('stale-local'), [0, 0]);
    const io2 = captureIo();
    assert.equal(await runApply(c.pb, { inventory: lab.inventoryPath, journalDir: c.journalDir, output: 'text', breakLock: true }, io2), EXIT.OK, io2.all());
    assert.deepEqual(await sideEffects('stale-local'), [1, 1]);
    assert.equal(existsSync(path.join(lockDir, 'lab.lock')), false);
  });

  it('a stale host lock (past expiry) is refused naming it; --break-lock runs; a live lock is not broken by --break-lock', async () => {
    const c = setup('stale-remote');
    await plantHostLock('etcd-2', '20240101T000000Z-old002', {
      controller: 'elsewhere',
      pid: 4242,
      started: '2024-01-01T00:00:00.000Z',
      expires: '2024-01-01T12:00:00.000Z',
    });
    const io = captureIo();
    assert.equal(await runApply(c.pb, { inventory: lab.inventoryPath, journalDir: c.journalDir, output: 'text' }, io), EXIT.REFUSED);
    assert.match(
      io.all(),
      /run 20240101T000000Z-old002 \(pid 4242 on elsewhere, since 2024-01-01T00:00:00.000Z.*\[etcd-2:\/run\/runbook-lock\.lab\] — stale: expired/,
    );
    assert.deepEqual(await sideEffects('stale-remote'), [0, 0]);
    assert.equal(await remoteLockExists('etcd-1'), false, 'the lock taken on etcd-1 was given back');
    const io2 = captureIo();
    assert.equal(await runApply(c.pb, { inventory: lab.inventoryPath, journalDir: c.journalDir, output: 'text', breakLock: true }, io2), EXIT.OK, io2.all());
    assert.deepEqual(await sideEffects('stale-remote'), [1, 1]);
    assert.deepEqual(await Promise.all(HOSTS.map(remoteLockExists)), [false, false]);

    // A live holder (this very process, not expired) is never broken.
    const future = new Date(Date.now() + 3600_000).toISOString();
    await plantHostLock('etcd-1', '20240101T000000Z-live03', {
      controller: hostname(),
      pid: process.pid,
      started: '2024-01-01T00:00:00.000Z',
      expires: future,
    });
    const io3 = captureIo();
    assert.equal(await runApply(c.pb, { inventory: lab.inventoryPath, journalDir: c.journalDir, output: 'text', breakLock: true }, io3), EXIT.REFUSED);
    assert.match(io3.all(), /held by run 20240101T000000Z-live03/);
    assert.deepEqual(await sideEffects('stale-remote'), [1, 1]);
    await hostExec(lab, 'etcd-1', 'rm -rf /run/runbook-lock.lab', { timeoutMs: 10_000 });
  });

  it('locks are removed after a failed run and after an interrupted one', async () => {
    const d = path.join(tmp, `case-${++n}`);
    mkdirSync(d, { recursive: true });
    const journalDir = path.join(d, 'runs');
    const failing = path.join(d, 'fail.yml');
    writeFileSync(failing, '- name: fails\n  hosts: etcd\n  tasks:\n    - shell: exit 3\n');
    const io = captureIo();
    assert.equal(await runApply(failing, { inventory: lab.inventoryPath, journalDir, output: 'text' }, io), EXIT.FAILED, io.all());
    assert.deepEqual(await Promise.all(HOSTS.map(remoteLockExists)), [false, false]);
    assert.equal(existsSync(path.join(d, 'locks', 'lab.lock')), false);

    const slow = path.join(d, 'slow.yml');
    writeFileSync(slow, '- name: slow\n  hosts: etcd\n  tasks:\n    - shell: touch /run/slow-started; sleep 30\n');
    const ac = new AbortController();
    const io2 = captureIo();
    const running = runApply(slow, { inventory: lab.inventoryPath, journalDir, output: 'text', signal: ac.signal }, io2);
    // Interrupt only once the step runs on both hosts (the lock phase has its own test below).
    const started = async (): Promise<boolean> =>
      (await Promise.all(HOSTS.map(async (h) => (await hostExec(lab, h, 'test -e /run/slow-started', { timeoutMs: 10_000 })).code === 0))).every(Boolean);
    await waitFor('the slow step started on both hosts', started, 15_000, 50, () => io2.all());
    assert.equal(existsSync(path.join(d, 'locks', 'lab.lock')), true, 'held while running');
    ac.abort(new Error('SIGINT'));
    assert.equal(await running, EXIT.INTERRUPTED, io2.all());
    assert.deepEqual(await Promise.all(HOSTS.map(remoteLockExists)), [false, false]);
    assert.equal(existsSync(path.join(d, 'locks', 'lab.lock')), false);
    await Promise.all(HOSTS.map((h) => hostExec(lab, h, 'rm -f /run/slow-started', { timeoutMs: 10_000 })));
  });

  it('an interrupt while the run locks are being taken: exit 130, nothing ran, the locks taken are given back', async () => {
    const c = setup('lock-phase');
    // etcd-2's lock directory exists with no owner yet (as while another run is taking it): the
    // take there waits up to 2 s for the owner, so the run is still in its lock phase when etcd-1 is locked.
    await hostExec(lab, 'etcd-2', 'mkdir -m 0700 /run/runbook-lock.lab', { timeoutMs: 10_000 });
    try {
      const ac = new AbortController();
      const io = captureIo();
      const running = runApply(c.pb, { inventory: lab.inventoryPath, journalDir: c.journalDir, output: 'text', signal: ac.signal }, io);
      await waitFor(
        'etcd-1 locked while etcd-2 is still being waited on',
        () => remoteLockExists('etcd-1'),
        2000,
        20,
        () => io.all(),
      );
      ac.abort(new Error('SIGINT'));
      assert.equal(await running, EXIT.INTERRUPTED, io.all());
      assert.match(io.all(), /interrupted before any step started; nothing was run/);
      assert.deepEqual(await sideEffects('lock-phase'), [0, 0]);
      assert.equal(await remoteLockExists('etcd-1'), false, 'the lock taken on etcd-1 was given back');
      assert.equal(
        (await hostExec(lab, 'etcd-2', 'test -d /run/runbook-lock.lab && ! test -e /run/runbook-lock.lab/owner', { timeoutMs: 10_000 })).code,
        0,
        "etcd-2's directory (not this run's) is left as it was",
      );
      assert.equal(existsSync(path.join(path.dirname(c.journalDir), 'locks', 'lab.lock')), false);
    } finally {
      await hostExec(lab, 'etcd-2', 'rm -rf /run/runbook-lock.lab', { timeoutMs: 10_000 });
    }
  });

  it('--check takes no lock (runs while the cluster is locked)', async () => {
    const c = setup('check-only');
    await plantHostLock('etcd-1', '20240101T000000Z-live04', {
      controller: hostname(),
      pid: process.pid,
      started: 'x',
      expires: new Date(Date.now() + 3600_000).toISOString(),
    });
    const io = captureIo();
    assert.equal(await runApply(c.pb, { inventory: lab.inventoryPath, journalDir: c.journalDir, output: 'text', check: true }, io), EXIT.OK, io.all());
    assert.equal(await remoteLockExists('etcd-1'), true, 'the other run’s lock is untouched');
    await hostExec(lab, 'etcd-1', 'rm -rf /run/runbook-lock.lab', { timeoutMs: 10_000 });
  });

  it('two inventory hosts on one machine (one /run): the run takes the shared host lock once and is not refused by itself', async () => {
    // etcd-1 answers SSH on a second port too: two inventory hosts, one machine, one /run (as with
    // several members per machine). A second sshd in etcd-1's namespaces, same host key.
    const addr = lab.hosts.find((h) => h.name === 'etcd-1')?.address ?? '';
    const second = "sed -e 's/:22$/:2222/' -e 's#/run/lab/sshd.pid#/run/lab/sshd2.pid#' /run/lab/ssh/sshd_config > /run/lab/ssh/sshd2_config";
    await hostExec(lab, 'etcd-1', `${second} && /usr/sbin/sshd -f /run/lab/ssh/sshd2_config -E /run/lab/sshd2.log`, { timeoutMs: 10_000 });
    const d = path.join(tmp, 'shared-run');
    mkdirSync(d, { recursive: true });
    const hostKey = readFileSync(lab.knownHostsPath, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${addr} `))
      ?.split(' ')
      .slice(1)
      .join(' ');
    assert.ok(hostKey, 'etcd-1 in the lab known_hosts');
    writeFileSync(path.join(d, 'known_hosts'), `${addr} ${hostKey}\n[${addr}]:2222 ${hostKey}\n`);
    const inv = path.join(d, 'inventory.yml');
    writeFileSync(
      inv,
      [
        'cluster:',
        '  name: lab',
        '  etcd_version: "3.4.23"',
        'ssh:',
        '  user: root',
        `  identity_file: ${lab.keyPath}`,
        '  known_hosts: ./known_hosts',
        '  host_key_checking: strict',
        'hosts:',
        `  one:\n    address: ${addr}`,
        `  two:\n    address: ${addr}\n    ssh:\n      port: 2222`,
        'groups:',
        '  etcd:\n    hosts: [one]',
        '  same_machine:\n    hosts: [two]',
        '',
      ].join('\n'),
    );
    const pb = path.join(d, 'pb.yml');
    writeFileSync(pb, '- name: both\n  hosts: all\n  tasks:\n    - shell: echo {{inventory_hostname}} >> /root/shared-run\n');
    // Wait for the second sshd to listen (observable state, not a sleep).
    const listening = async (): Promise<boolean> => (await hostExec(lab, 'etcd-1', `exec 3<>/dev/tcp/${addr}/2222`, { timeoutMs: 5000 })).code === 0;
    await waitFor(`a second sshd listening on ${addr}:2222`, listening, 5000);
    const io = captureIo();
    const code = await runApply(pb, { inventory: inv, journalDir: path.join(d, 'runs'), output: 'text' }, io);
    assert.equal(code, EXIT.OK, io.all());
    assert.doesNotMatch(io.all(), /locked by another run/);
    assert.deepEqual((await hostExec(lab, 'etcd-1', 'sort /root/shared-run', { timeoutMs: 10_000 })).stdout.split('\n').filter(Boolean), ['one', 'two']);
    assert.equal(await remoteLockExists('etcd-1'), false, 'the shared host lock is removed at the end');
    await hostExec(lab, 'etcd-1', 'kill "$(cat /run/lab/sshd2.pid)"; rm -f /root/shared-run', { timeoutMs: 10_000 });
  });
});
