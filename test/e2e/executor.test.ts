// e2e: the executor and `runbook apply` against real OpenSSH hosts of the test lab (3 hosts on
// 127.0.0.31-33, no etcd). Playbooks come from test/fixtures/playbooks (exec-*.yml), copied into a temp dir; outcomes are
// verified inside the hosts with hostExec (nsenter), never by running the thing under test.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runApply } from '../../engine/cli/apply.js';
import { main } from '../../engine/cli/main.js';
import { buildPlan } from '../../engine/cli/inputs.js';
import { EXIT } from '../../engine/model/io.js';
import { transportFactory } from '../../engine/cli/transports.js';
import { CHECK_MODE_SKIP, type ExecuteOptions } from '../../engine/execute/execute.js';
import type { Plan } from '../../engine/model/types.js';
import { formatDiagnostics } from '../../engine/report/diagnostics-text.js';
import { hostExec, labAddress, labDown, labUp, type Lab } from '../lab/lab.js';
import { EventLog } from '../unit/executor-fakes.js';
import { captureIo } from '../support/io.js';
import { readRunJournal } from '../support/journal.js';
import { playbookText } from '../support/playbooks.js';
import { tcpOpen, waitFor } from '../support/wait.js';
import { executeForTest } from '../support/execute.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIR = path.join(REPO, '.runbook/lab-exec');
const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];
/** Nothing listens here (checked in `before`). */
const DEAD_ADDRESS = labAddress(39);

let lab: Lab;
let tmp: string;
let n = 0;

function writePlaybook(yaml: string): string {
  const file = path.join(tmp, `pb-${++n}.yml`);
  writeFileSync(file, yaml);
  return file;
}

/** An inventory next to the lab's (so its relative key paths work), derived from the lab's text. */
function writeInventory(name: string, edit: (text: string) => string): string {
  const file = path.join(lab.dir, name);
  writeFileSync(file, edit(readFileSync(lab.inventoryPath, 'utf8')));
  return file;
}

interface Run {
  exitCode: number;
  log: EventLog;
  plan: Plan;
}

async function run(yaml: string, o: { inventory?: string; extraVars?: string[] } & Partial<ExecuteOptions> = {}): Promise<Run> {
  const file = writePlaybook(yaml);
  const built = buildPlan({ playbook: file, inventory: o.inventory ?? lab.inventoryPath, extraVars: o.extraVars ?? [] });
  assert.ok(built.plan, formatDiagnostics(built.diagnostics, built.texts));
  const plan = built.plan;
  const log = new EventLog();
  const factory = transportFactory(plan.hosts);
  try {
    const r = await executeForTest(plan, { transports: (h) => factory.get(h), emit: log.emit, ...o });
    return { exitCode: r.exitCode, log, plan };
  } finally {
    await factory.closeAll();
  }
}

/** stdout of a command inside a lab host (verification only). */
async function onHost(host: string, cmd: string): Promise<string> {
  const r = await hostExec(lab, host, cmd, { timeoutMs: 10_000 });
  return r.stdout.trim();
}

async function exists(host: string, file: string): Promise<boolean> {
  return (await hostExec(lab, host, `test -e ${file}`, { timeoutMs: 10_000 })).code === 0;
}

async function lines(host: string, file: string): Promise<number> {
  const out = await onHost(host, `cat ${file} 2>/dev/null | wc -l`);
  return Number(out);
}

describe('executor e2e (lab, 127.0.0.31-33)', function () {
  this.timeout(30_000);
  let journalDir: string;

  before(async function () {
    this.timeout(60_000);
    lab = await labUp({ dir: DIR, hosts: 3, etcd: false, firstOctet: 31 });
    tmp = mkdtempSync(path.join(tmpdir(), 'runbook-exec-'));
    journalDir = path.join(tmp, 'runs');
    assert.equal(await tcpOpen(DEAD_ADDRESS, 22), false, `${DEAD_ADDRESS}:22 must not answer for the unreachable test`);
  });

  after(async function () {
    this.timeout(60_000);
    await labDown(DIR);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  describe('executePlan on real hosts', () => {
    it('runs a task on all hosts in parallel (their sleep 1 intervals overlap)', async () => {
      const r = await run(playbookText('exec-parallel'));
      assert.equal(r.exitCode, 0);
      const starts = await Promise.all(HOSTS.map(async (h) => Number(await onHost(h, 'cat /root/par-start'))));
      const ends = await Promise.all(HOSTS.map(async (h) => Number(await onHost(h, 'cat /root/par-end'))));
      assert.ok(Math.max(...starts) < Math.min(...ends), `no common moment: starts ${starts.join(', ')} ends ${ends.join(', ')}`);
    });

    it('runs serial: 1 batches one host at a time (intervals do not overlap)', async () => {
      const r = await run(playbookText('exec-serial'));
      assert.equal(r.exitCode, 0);
      const spans = await Promise.all(
        HOSTS.map(async (h) => ({ h, start: Number(await onHost(h, 'cat /root/ser-start')), end: Number(await onHost(h, 'cat /root/ser-end')) })),
      );
      spans.sort((a, b) => a.start - b.start);
      assert.deepEqual(
        spans.map((s) => s.h),
        HOSTS,
        'batches in inventory order',
      );
      for (let i = 1; i < spans.length; i++) assert.ok((spans[i - 1]?.end ?? 0) <= (spans[i]?.start ?? 0), `${spans[i - 1]?.h} and ${spans[i]?.h} overlapped`);
      assert.equal(r.log.of('batch.start').length, 3);
    });

    it('run_once runs on exactly one host and its registered value reaches every host', async () => {
      const r = await run(playbookText('exec-once'));
      assert.equal(r.exitCode, 0);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => exists(h, '/root/once-marker'))), [true, false, false]);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => onHost(h, 'cat /root/once-seen'))), ['ran on etcd-1', 'ran on etcd-1', 'ran on etcd-1']);
    });

    it('delegate_to runs on the delegate (another host, or the controller), registering for the host', async () => {
      const local = path.join(tmp, 'delegated-local');
      const r = await run(playbookText('exec-delegate'), { extraVars: [`local_file=${local}`] });
      assert.equal(r.exitCode, 0);
      assert.equal(await exists('etcd-3', '/root/delegated-from-etcd-1'), true);
      assert.equal(await exists('etcd-1', '/root/delegated-from-etcd-1'), false);
      assert.equal(readFileSync(local, 'utf8').trim(), 'etcd-1');
    });

    it('register + when decides at run time, per host', async () => {
      const r = await run(playbookText('exec-when'));
      assert.equal(r.exitCode, 0);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => exists(h, '/root/when-ran'))), [false, true, false]);
      assert.equal(r.log.stepEnd('1.2@etcd-1')?.result.status, 'skipped');
    });

    it('retries until the condition holds (a counter on the host reaches 3)', async () => {
      const r = await run(playbookText('exec-until'));
      assert.equal(r.exitCode, 0);
      assert.deepEqual(await Promise.all(HOSTS.map((h) => lines(h, '/root/counter'))), [3, 3, 3]);
      assert.equal(r.log.of('step.retry').length, 6);
    });

    it('a timeout stops the remote command (gone afterwards), the step is unknown and the host stops', async () => {
      const r = await run(playbookText('exec-timeout'));
      assert.equal(r.exitCode, 1);
      const end = r.log.stepEnd('1.1@etcd-1');
      assert.equal(end?.result.status, 'unknown');
      assert.equal(end?.result.actions[0]?.timedOut, true);
      assert.equal((await hostExec(lab, 'etcd-1', "pgrep -f 'sleep 9[7]'")).code, 1, 'the remote sleep still runs');
      assert.equal(await exists('etcd-1', '/root/timeout-after'), false);
      assert.equal(await exists('etcd-1', '/root/timeout-next'), false);
    });

    it('an unreachable host is reported and leaves; the others run everything', async () => {
      const inventory = writeInventory('inv-unreachable.yml', (t) =>
        t
          .replace('groups:', `  etcd-4:\n    address: ${DEAD_ADDRESS}\ngroups:`)
          .replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-3, etcd-4]'),
      );
      const r = await run(playbookText('exec-unreachable'), { inventory });
      assert.equal(r.exitCode, 1);
      assert.equal(r.log.stepEnd('1.1@etcd-4')?.result.status, 'unreachable');
      assert.equal(r.log.stepEnd('1.2@etcd-4'), undefined);
      assert.deepEqual(
        r.log.of('host.unreachable').map((e) => e.host),
        ['etcd-4'],
      );
      for (const h of HOSTS) assert.deepEqual([await exists(h, '/root/unr-1'), await exists(h, '/root/unr-2')], [true, true], h);
    });

    it('any_errors_fatal: after one host fails, no later task runs anywhere', async () => {
      const r = await run(playbookText('exec-fatal'));
      assert.equal(r.exitCode, 1);
      for (const h of HOSTS) {
        assert.equal(await exists(h, '/root/aef-1'), true, `${h} ran the first task`);
        assert.equal(await exists(h, '/root/aef-2'), false, `${h} ran a task after the failure`);
        assert.equal(await exists(h, '/root/aef-3'), false, `${h} ran a later play`);
      }
    });

    it('check mode runs the probes and changes nothing', async () => {
      const r = await run(playbookText('exec-check'), { check: true });
      assert.equal(r.exitCode, 0);
      for (const h of HOSTS) {
        assert.equal(await onHost(h, 'cat /tmp/check-probe-ran'), h);
        assert.equal(await exists(h, '/root/check-created'), false);
        assert.equal(await exists(h, '/tmp/check-dep'), false);
        assert.equal(r.log.stepEnd(`1.2@${h}`)?.result.message, CHECK_MODE_SKIP);
        assert.equal(r.log.stepEnd(`1.3@${h}`)?.result.message, CHECK_MODE_SKIP);
      }
    });

    it('refuses an unknown host key under strict checking: unreachable with the reason, nothing ran', async () => {
      writeFileSync(path.join(lab.dir, 'kh-empty'), '');
      const inventory = writeInventory('inv-kh-empty.yml', (t) => t.replace('known_hosts: ./known_hosts', 'known_hosts: ./kh-empty'));
      const r = await run(`\n- name: hk\n  hosts: etcd\n  tasks:\n    - shell: touch /root/hk-unknown\n`, { inventory });
      assert.equal(r.exitCode, 1);
      for (const h of HOSTS) {
        assert.equal(r.log.stepEnd(`1.1@${h}`)?.result.status, 'unreachable');
        assert.match(r.log.stepEnd(`1.1@${h}`)?.result.message ?? '', /unknown host key/);
        assert.equal(await exists(h, '/root/hk-unknown'), false);
      }
    });

    it('refuses a changed host key', async () => {
      const known = readFileSync(lab.knownHostsPath, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' '));
      // Every address gets the next host's key.
      const rotated = known.map((l, i) => [l[0], ...(known[(i + 1) % known.length] ?? []).slice(1)].join(' ')).join('\n');
      writeFileSync(path.join(lab.dir, 'kh-changed'), `${rotated}\n`);
      const inventory = writeInventory('inv-kh-changed.yml', (t) => t.replace('known_hosts: ./known_hosts', 'known_hosts: ./kh-changed'));
      const r = await run(`\n- name: hk\n  hosts: etcd\n  tasks:\n    - shell: touch /root/hk-changed\n`, { inventory });
      assert.equal(r.exitCode, 1);
      for (const h of HOSTS) {
        assert.match(r.log.stepEnd(`1.1@${h}`)?.result.message ?? '', /HOST KEY CHANGED/);
        assert.equal(await exists(h, '/root/hk-changed'), false);
      }
    });

    it('accept-new records unknown host keys and runs', async () => {
      const kh = path.join(lab.dir, 'kh-accept');
      writeFileSync(kh, '');
      const inventory = writeInventory('inv-kh-accept.yml', (t) =>
        t.replace('known_hosts: ./known_hosts', 'known_hosts: ./kh-accept').replace('host_key_checking: strict', 'host_key_checking: accept-new'),
      );
      const r = await run(`\n- name: hk\n  hosts: etcd\n  tasks:\n    - shell: touch /root/hk-accepted\n`, { inventory });
      assert.equal(r.exitCode, 0);
      const recorded = readFileSync(kh, 'utf8');
      for (const [i, h] of HOSTS.entries()) {
        assert.match(recorded, new RegExp(`^127\\.0\\.\\d+\\.${31 + i} ssh-ed25519 `, 'm'));
        assert.equal(await exists(h, '/root/hk-accepted'), true);
      }
    });
  });

  describe('runbook apply', () => {
    it('exits 2 on invalid input and touches nothing', async () => {
      const io = captureIo();
      const code = await runApply(
        writePlaybook('- name: bad\n  hosts: etcd\n  tasks:\n    - shel: touch /root/never\n'),
        { inventory: lab.inventoryPath, journalDir },
        io,
      );
      assert.equal(code, EXIT.INVALID);
      assert.match(io.stderr(), /unknown-module/);
      assert.equal(await exists('etcd-1', '/root/never'), false);
    });

    it('refuses a destructive plan without a terminal and without --yes (exit 4); asks for the cluster name on a terminal', async () => {
      const pb = writePlaybook('- name: wipe\n  hosts: etcd\n  destructive: true\n  tasks:\n    - shell: echo x >> /root/destroyed\n');
      const noTty = captureIo();
      assert.equal(await runApply(pb, { inventory: lab.inventoryPath, journalDir, output: 'text' }, noTty), EXIT.REFUSED);
      assert.match(noTty.stderr(), /PLAY 1 wipe {2}\[destructive\]/);
      assert.match(noTty.stderr(), /pass --yes/);
      const wrong = captureIo({ isTTY: true, answer: 'prod' });
      assert.equal(await runApply(pb, { inventory: lab.inventoryPath, journalDir, output: 'text' }, wrong), EXIT.REFUSED);
      for (const h of HOSTS) assert.equal(await exists(h, '/root/destroyed'), false);
      const right = captureIo({ isTTY: true, answer: 'lab' });
      assert.equal(await runApply(pb, { inventory: lab.inventoryPath, journalDir, output: 'text' }, right), EXIT.OK, right.stdout());
      assert.equal(await runApply(pb, { inventory: lab.inventoryPath, journalDir, output: 'text', yes: true }, captureIo()), EXIT.OK);
      for (const h of HOSTS) assert.equal(await lines(h, '/root/destroyed'), 2);
    });

    it('applies a saved plan, and refuses a stale one (inventory edited after plan --out), naming the file and touching no host', async () => {
      const inventory = writeInventory('inv-saved-plan.yml', (t) => t);
      const pb = writePlaybook('- name: saved\n  hosts: etcd\n  tasks:\n    - shell: echo saved >> /root/saved-plan\n');
      const planFile = path.join(tmp, 'saved-plan.json');
      const planIo = captureIo();
      assert.equal(await main(['node', 'runbook', 'plan', pb, '-i', inventory, '--out', planFile], planIo), EXIT.OK, planIo.stderr());
      assert.equal(statSync(planFile).mode & 0o777, 0o600, 'plans are written owner-only');
      const fresh = captureIo();
      assert.equal(await runApply(planFile, { journalDir, output: 'text' }, fresh), EXIT.OK, fresh.stderr());
      for (const h of HOSTS) assert.equal(await lines(h, '/root/saved-plan'), 1);
      writeFileSync(inventory, `${readFileSync(inventory, 'utf8')}vars:\n  edited_after_planning: true\n`);
      const stale = captureIo();
      assert.equal(await runApply(planFile, { journalDir, output: 'text' }, stale), EXIT.REFUSED);
      assert.match(stale.stderr(), /stale/);
      assert.ok(stale.stderr().includes(`inventory ${inventory}: changed`), stale.stderr());
      for (const h of HOSTS) assert.equal(await lines(h, '/root/saved-plan'), 1, `${h} was changed by a stale plan`);
    });

    it('resolves inventory secrets at apply time and never prints or journals them', async () => {
      const secret = 'sup3r-s3cret-Value';
      process.env.RUNBOOK_E2E_SECRET = secret;
      try {
        const inventory = writeInventory('inv-secret.yml', (t) => `${t}secrets:\n  token: { env: RUNBOOK_E2E_SECRET }\n`);
        const pb = writePlaybook(
          '- name: s\n  hosts: etcd\n  tasks:\n    - shell: echo {{secrets.token}} > /root/secret-copy; echo token is {{secrets.token}}\n',
        );
        const io = captureIo();
        const code = await runApply(pb, { inventory, journalDir, output: 'text', verbose: 2 }, io);
        assert.equal(code, EXIT.OK, io.stderr());
        assert.equal(await onHost('etcd-2', 'cat /root/secret-copy'), secret);
        assert.ok(io.stdout().includes('******'));
        assert.ok(!io.stdout().includes(secret) && !io.stderr().includes(secret), 'secret in the output');
        const runId = /run id: (\S+)/.exec(io.stdout())?.[1] ?? '';
        assert.ok(!readFileSync(path.join(journalDir, `${runId}.jsonl`), 'utf8').includes(secret), 'secret in the journal');
      } finally {
        delete process.env.RUNBOOK_E2E_SECRET;
      }
    });

    it("resumes an interrupted run (also a resumed one): finished steps are not run again, run.id stays the first run's", async () => {
      const yaml = playbookText('exec-resumable');
      const pb = writePlaybook(yaml);
      const counts = async (h: string): Promise<number[]> => [
        await lines(h, '/root/resume-a'),
        await lines(h, '/root/resume-b'),
        await lines(h, '/root/resume-c'),
      ];
      /** Starts an apply and interrupts it once the slow task runs on every host. */
      const interrupted = async (resume?: string): Promise<string> => {
        await Promise.all(HOSTS.map((h) => hostExec(lab, h, 'rm -f /root/resume-b-started')));
        const ac = new AbortController();
        const io = captureIo();
        const running = runApply(pb, { inventory: lab.inventoryPath, journalDir, output: 'json', signal: ac.signal, ...(resume ? { resume } : {}) }, io);
        const started = async (): Promise<boolean> => (await Promise.all(HOSTS.map((h) => exists(h, '/root/resume-b-started')))).every(Boolean);
        await waitFor('the slow task started on every host', started, 15_000, 50, () => io.stderr());
        ac.abort();
        assert.equal(
          await running,
          EXIT.INTERRUPTED,
          io
            .stdout()
            .split('\n')
            .filter((l) => /"(unknown|failed|unreachable)"/.test(l))
            .join('\n') || io.stderr(),
        );
        const runId = (JSON.parse(io.stdout().split('\n')[0] ?? '{}') as { runId?: string }).runId ?? '';
        assert.match(runId, /^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
        return runId;
      };

      const first = await interrupted();
      for (const h of HOSTS) {
        assert.equal((await hostExec(lab, h, "pgrep -f 'sleep [3]'")).code, 1, `${h}: the interrupted command still runs`);
        assert.deepEqual(await counts(h), [1, 0, 0], h);
      }

      // Changed inputs: refused.
      const changed = captureIo();
      assert.equal(await runApply(writePlaybook(`${yaml}# edited\n`), { inventory: lab.inventoryPath, journalDir, resume: first }, changed), EXIT.INVALID);
      assert.match(changed.stderr(), /inputs changed/);

      // Resumed, interrupted again, resumed again.
      const second = await interrupted(first);
      for (const h of HOSTS) assert.deepEqual(await counts(h), [1, 0, 0], h);
      const again = captureIo();
      assert.equal(await runApply(pb, { inventory: lab.inventoryPath, journalDir, output: 'json', resume: second }, again), EXIT.OK, again.stderr());
      assert.match(again.stdout(), /done in run /);
      for (const h of HOSTS) {
        assert.deepEqual(await counts(h), [1, 1, 1], h);
        assert.equal(await onHost(h, 'cat /root/resume-c'), first, 'run.id changed across resumes');
      }
      const third = /"runId":"([^"]+)"/.exec(again.stdout())?.[1] ?? '';
      const done = captureIo();
      assert.equal(await runApply(pb, { inventory: lab.inventoryPath, journalDir, resume: third }, done), EXIT.OK);
      assert.match(done.stderr(), /nothing to resume/);
    });

    it('--resume without -e and --limit runs with the values the run was given (from its journal); others are refused', async () => {
      const pb = writePlaybook(playbookText('exec-resumable-with-values'));
      await Promise.all(HOSTS.map((h) => hostExec(lab, h, 'rm -f /root/rv-a /root/rv-c /root/rv-go')));
      const io = captureIo();
      assert.equal(
        await runApply(pb, { inventory: lab.inventoryPath, journalDir, output: 'json', extraVars: ['word=hello world'], limit: 'etcd-1' }, io),
        EXIT.FAILED,
        io.stderr(),
      );
      const runId = (JSON.parse(io.stdout().split('\n')[0] ?? '{}') as { runId?: string }).runId ?? '';
      const start = readRunJournal(journalDir, runId)[1];
      assert.ok(start?.type === 'run.start', 'run.start follows the plan record');
      assert.deepEqual(start.args, { extraVars: ['word=hello world'], limit: 'etcd-1' });

      // Different values: refused, nothing run.
      const other = captureIo();
      assert.equal(
        await runApply(pb, { inventory: lab.inventoryPath, journalDir, extraVars: ['word=bye'], limit: 'etcd-1', resume: runId }, other),
        EXIT.INVALID,
      );
      assert.match(other.stderr(), /inputs changed/);

      await hostExec(lab, 'etcd-1', 'touch /root/rv-go');
      const resumed = captureIo();
      assert.equal(await runApply(pb, { inventory: lab.inventoryPath, journalDir, output: 'json', resume: runId }, resumed), EXIT.OK, resumed.stderr());
      assert.match(resumed.stderr(), new RegExp(`resuming run ${runId} with its -e word and --limit etcd-1 \\(from its journal\\)`));
      assert.equal(await onHost('etcd-1', 'cat /root/rv-a'), 'hello world', 'the first step ran once');
      assert.equal(await onHost('etcd-1', 'cat /root/rv-c'), 'hello world');
      assert.equal((await hostExec(lab, 'etcd-2', 'test -e /root/rv-a')).code, 1, 'the limit held on resume');
    });
  });
});
