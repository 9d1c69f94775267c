// Benchmark: fan-out of trivial commands over SSH (`runbook apply` on N lab hosts, 10 tasks of
// `/bin/true`, linear strategy, forks = N), against baselines measured in the same run:
//   - the floor: bare ssh2, one connection per host, the same 10 commands in a row per host,
//     hosts in parallel (test/bench/ssh-floor.ts);
//   - ansible-playbook (Debian's ansible-core), forks = N, pipelining, ControlPersist, the
//     `command` module, strict host key checking against the lab known_hosts — when installed.
// runbook and the floor are timed both in this process (runbook through main(argv, io)) and as a
// fresh child process (what a user sees: Node start-up and module loading included); ansible only
// as a child process. Every round starts cold: new SSH connections (ansible's ControlPersist
// masters are closed with `ssh -O exit` after each round, outside the timing).
//
// A second table splits runbook's extra time over the floor into steps, each measured in-process
// in the same rounds (wall time and this process's CPU time per run):
//   floor → floor with a barrier after every command (linear strategy) running runbook's remote
//   wrapper's PID report (so a timeout can kill the command; runbook sends the command on stdin,
//   the floor inlines it, as an exec request without stdin has no other way)
//   → runbook's executor + SshTransport with events dropped (executePlan, no reporter); the
//     transport runs commands through its session shell (one bash per host, a job per command)
//     instead of an exec channel per command, so this step is usually a saving (negative)
//   → the whole `runbook apply` (plan build, JSON view, journal).
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { transportFactory } from '../../engine/cli/transports.js';
import { executePlan } from '../../engine/execute/execute.js';
import type { Plan } from '../../engine/model/types.js';
import { shq } from '../../engine/shell/quote.js';
import { labDown, labUp, type Lab } from '../lab/lab.js';
import {
  BENCH_FIRST_OCTET,
  BENCH_LAB_DIR,
  CORES,
  fmtMs,
  fmtRatio,
  machineBusyMs,
  median,
  mustRunChild,
  nowMs,
  runbookChild,
  runbookInProcess,
  runChild,
  table,
  verdict,
} from './bench-util.js';
import { sshFloor, type FloorSpec } from './ssh-floor.js';

const COMMANDS = 10;
const ANSIBLE = '/usr/bin/ansible-playbook';

export interface FanoutOptions {
  sizes?: number[];
  rounds?: number;
  ansibleRounds?: number;
}

/** Medians of one host count: wall ms, and CPU ms of this process for the in-process contenders. */
interface Row {
  n: number;
  floorIn: number;
  linWrap: number;
  execOnly: number;
  rbIn: number;
  floorChild: number;
  rbChild: number;
  ansible?: number;
  cpu: { floorIn: number; linWrap: number; execOnly: number; rbIn: number };
  /** Share of the machine's cores busy while the child ran (median): near 1, the cores are the limit. */
  busy: { floorChild: number; rbChild: number };
}

/** Wall and CPU (user + system of this process) of one in-process run. */
async function measure(fn: () => Promise<unknown>): Promise<{ ms: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = nowMs();
  await fn();
  const ms = nowMs() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpu: (c.user + c.system) / 1000 };
}

let execRuns = 0;

/** runbook's executor and SSH transport alone: the compiled plan run with events dropped (no view, no journal). */
async function executorOnly(plan: Plan, forks: number): Promise<void> {
  const factory = transportFactory(plan.hosts);
  try {
    const r = await executePlan(plan, {
      runId: `20240101T000000Z-b${String(++execRuns).padStart(5, '0')}`,
      startedAt: new Date(),
      forks,
      check: false,
      transports: (h) => factory.get(h),
      emit: () => undefined,
      signal: new AbortController().signal,
      secrets: {},
    });
    if (r.exitCode !== 0) throw new Error(`executor-only run exited ${r.exitCode}`);
  } finally {
    await factory.closeAll();
  }
}

function runbookPlaybook(): string {
  const lines = ['- name: fan-out', '  hosts: etcd', '  tasks:'];
  for (let i = 1; i <= COMMANDS; i++) lines.push(`    - name: true ${i}`, '      shell: /bin/true');
  return `${lines.join('\n')}\n`;
}

function ansiblePlaybook(): string {
  const lines = ['- name: fan-out', '  hosts: etcd', '  gather_facts: false', '  tasks:'];
  for (let i = 1; i <= COMMANDS; i++) lines.push(`    - name: true ${i}`, '      command: /bin/true');
  return `${lines.join('\n')}\n`;
}

function ansibleFiles(dir: string, lab: Lab, forks: number): { cfg: string; inventory: string; playbook: string; controlDir: string } {
  const controlDir = join(dir, 'cp');
  mkdirSync(controlDir, { recursive: true });
  mkdirSync(join(dir, 'ansible-home', 'tmp'), { recursive: true });
  const sshArgs = [
    '-o ControlMaster=auto',
    '-o ControlPersist=60s',
    `-o ControlPath=${controlDir}/%h-%p-%r`,
    `-o UserKnownHostsFile=${lab.knownHostsPath}`,
    '-o GlobalKnownHostsFile=/dev/null',
    '-o StrictHostKeyChecking=yes',
    '-o IdentitiesOnly=yes',
  ].join(' ');
  const cfg = join(dir, 'ansible.cfg');
  writeFileSync(
    cfg,
    [
      '[defaults]',
      `forks = ${forks}`,
      'host_key_checking = True',
      'gathering = explicit',
      'interpreter_python = /usr/bin/python3',
      'retry_files_enabled = False',
      `home = ${join(dir, 'ansible-home')}`,
      `local_tmp = ${join(dir, 'ansible-home', 'tmp')}`,
      '',
      '[ssh_connection]',
      'pipelining = True',
      `ssh_args = ${sshArgs}`,
      '',
    ].join('\n'),
  );
  const inventory = join(dir, 'hosts.ini');
  writeFileSync(
    inventory,
    [
      '[etcd]',
      ...lab.hosts.map((h) => `${h.name} ansible_host=${h.address}`),
      '',
      '[etcd:vars]',
      'ansible_user=root',
      `ansible_ssh_private_key_file=${lab.keyPath}`,
      '',
    ].join('\n'),
  );
  const playbook = join(dir, 'ansible-fanout.yml');
  writeFileSync(playbook, ansiblePlaybook());
  return { cfg, inventory, playbook, controlDir };
}

/** Close ansible's ControlPersist masters (our own ssh processes), so the next round starts cold. */
async function closeMasters(lab: Lab, controlDir: string): Promise<void> {
  await Promise.all(
    lab.hosts.map((h) =>
      existsSync(join(controlDir, `${h.address}-22-root`))
        ? runChild('/usr/bin/ssh', ['-o', `ControlPath=${controlDir}/%h-%p-%r`, '-O', 'exit', `root@${h.address}`], { timeoutMs: 10_000 })
        : Promise.resolve(undefined),
    ),
  );
}

export async function benchFanout(opts: FanoutOptions = {}): Promise<string[]> {
  const sizes = opts.sizes ?? [3, 10, 30];
  const rounds = Math.max(3, opts.rounds ?? 5);
  const ansibleRounds = Math.max(3, opts.ansibleRounds ?? 3);
  const haveAnsible = existsSync(ANSIBLE);
  const tmp = mkdtempSync(join(tmpdir(), 'runbook-bench-fanout-'));
  const out: string[] = [
    `fan-out: ${COMMANDS} × /bin/true per host over SSH, lab hosts on 127.0.0.${BENCH_FIRST_OCTET}+ (median of ${rounds} rounds; ansible ${ansibleRounds})`,
  ];
  const rows: Row[] = [];
  /** Host counts where `runbook apply` printed Node's MaxListenersExceededWarning (seen in its stderr). */
  const listenerWarnings = new Set<number>();
  // The same warning from the in-process runs would clutter this report: it is reported once below instead.
  const defaultMax = EventEmitter.defaultMaxListeners;
  EventEmitter.defaultMaxListeners = Math.max(defaultMax, 4 * Math.max(...sizes) + 10);
  try {
    const pb = join(tmp, 'fanout.yml');
    writeFileSync(pb, runbookPlaybook());
    for (const n of sizes) {
      const lab = await labUp({ dir: BENCH_LAB_DIR, hosts: n, etcd: false, firstOctet: BENCH_FIRST_OCTET });
      try {
        const journalDir = join(tmp, `runs-${n}`);
        const args = ['apply', pb, '-i', lab.inventoryPath, '--forks', String(n), '--output', 'json', '--journal-dir', journalDir];
        const spec: FloorSpec = {
          addresses: lab.hosts.map((h) => h.address),
          user: 'root',
          keyPath: lab.keyPath,
          knownHostsPath: lab.knownHostsPath,
          commands: Array.from({ length: COMMANDS }, () => '/bin/true'),
        };
        const specPath = join(tmp, `floor-${n}.json`);
        writeFileSync(specPath, JSON.stringify(spec));
        const floorScript = join(import.meta.dirname, 'ssh-floor.js');
        const linSpec: FloorSpec = { ...spec, mode: 'linear', commands: spec.commands.map((c) => withPidReport(c)) };
        const built = buildPlan({ playbook: pb, inventory: lab.inventoryPath, extraVars: [] });
        const plan = built.plan;
        if (!plan) throw new Error(`fan-out playbook does not compile: ${JSON.stringify(built.diagnostics)}`);
        // Warm-up (untimed): module loading in this process, sshd's first accepts, page cache.
        await runbookInProcess(args);
        await executorOnly(plan, n);
        await sshFloor(spec);
        await sshFloor(linSpec);
        const s = {
          floorIn: [] as number[],
          linWrap: [] as number[],
          execOnly: [] as number[],
          rbIn: [] as number[],
          floorChild: [] as number[],
          rbChild: [] as number[],
          ansible: [] as number[],
        };
        const cpu = { floorIn: [] as number[], linWrap: [] as number[], execOnly: [] as number[], rbIn: [] as number[] };
        const busy = { floorChild: [] as number[], rbChild: [] as number[] };
        const inProc: [keyof typeof cpu, () => Promise<unknown>][] = [
          ['floorIn', () => sshFloor(spec)],
          ['linWrap', () => sshFloor(linSpec)],
          ['execOnly', () => executorOnly(plan, n)],
          ['rbIn', () => runbookInProcess(args)],
        ];
        for (let r = 0; r < rounds; r++) {
          // Interleaved, so drift on a shared machine hits every contender alike.
          for (const [key, fn] of inProc) {
            const m = await measure(fn);
            s[key].push(m.ms);
            cpu[key].push(m.cpu);
          }
          let b0 = machineBusyMs();
          const floorRun = await mustRunChild('ssh-floor', process.execPath, [floorScript, specPath]);
          s.floorChild.push(floorRun.ms);
          busy.floorChild.push((machineBusyMs() - b0) / (floorRun.ms * CORES));
          b0 = machineBusyMs();
          const child = await runbookChild(args);
          s.rbChild.push(child.ms);
          busy.rbChild.push((machineBusyMs() - b0) / (child.ms * CORES));
          if (child.stderr.includes('MaxListenersExceededWarning')) listenerWarnings.add(n);
        }
        const row: Row = {
          n,
          floorIn: median(s.floorIn),
          linWrap: median(s.linWrap),
          execOnly: median(s.execOnly),
          rbIn: median(s.rbIn),
          floorChild: median(s.floorChild),
          rbChild: median(s.rbChild),
          cpu: { floorIn: median(cpu.floorIn), linWrap: median(cpu.linWrap), execOnly: median(cpu.execOnly), rbIn: median(cpu.rbIn) },
          busy: { floorChild: median(busy.floorChild), rbChild: median(busy.rbChild) },
        };
        if (haveAnsible) {
          const dir = join(tmp, `ansible-${n}`);
          const a = ansibleFiles(dir, lab, n);
          const env = { ...process.env, ANSIBLE_CONFIG: a.cfg, ANSIBLE_NOCOLOR: '1', ANSIBLE_HOME: join(dir, 'ansible-home') };
          for (let r = 0; r < ansibleRounds; r++) {
            try {
              s.ansible.push((await mustRunChild('ansible-playbook', ANSIBLE, ['-i', a.inventory, a.playbook], { env, cwd: dir, timeoutMs: 600_000 })).ms);
            } finally {
              await closeMasters(lab, a.controlDir);
            }
          }
          row.ansible = median(s.ansible);
        }
        rows.push(row);
      } finally {
        await labDown(BENCH_LAB_DIR);
      }
    }
  } finally {
    EventEmitter.defaultMaxListeners = defaultMax;
    rmSync(tmp, { recursive: true, force: true });
  }

  out.push(
    ...table(
      ['hosts', 'floor (in-proc)', 'runbook (in-proc)', 'rb/floor', 'floor (child)', 'runbook (child)', 'rb/floor', 'ansible (child)', 'ansible/rb'],
      rows.map((r) => [
        String(r.n),
        fmtMs(r.floorIn),
        fmtMs(r.rbIn),
        fmtRatio(r.rbIn / r.floorIn),
        fmtMs(r.floorChild),
        fmtMs(r.rbChild),
        fmtRatio(r.rbChild / r.floorChild),
        r.ansible !== undefined ? fmtMs(r.ansible) : 'skipped',
        r.ansible !== undefined ? fmtRatio(r.ansible / r.rbChild) : 'n/a',
      ]),
    ),
  );
  const at30 = rows.find((r) => r.n === 30) ?? rows[rows.length - 1];
  if (at30) {
    out.push(
      `  target runbook ≤ 1.25× floor at ${at30.n} hosts: in-process ${fmtRatio(at30.rbIn / at30.floorIn)} ${verdict(at30.rbIn / at30.floorIn <= 1.25)}; ` +
        `child process ${fmtRatio(at30.rbChild / at30.floorChild)} ${verdict(at30.rbChild / at30.floorChild <= 1.25)}`,
    );
    out.push(
      at30.ansible !== undefined
        ? `  target ansible ≥ 30× runbook (child processes) at ${at30.n} hosts: ${fmtRatio(at30.ansible / at30.rbChild)} ${verdict(at30.ansible / at30.rbChild >= 30)}`
        : `  ansible-playbook not installed (${ANSIBLE}): ansible comparison skipped`,
    );
    if (at30.ansible !== undefined) {
      out.push(
        `  (against runbook in-process, i.e. without the CLI's start-up of ${fmtMs(at30.rbChild - at30.rbIn)}, ansible/rb would be ${fmtRatio(at30.ansible / at30.rbIn)}; ` +
          `the floor itself, as a process, is ${fmtRatio(at30.ansible / at30.floorChild)} ansible)`,
      );
    }
  }
  out.push(
    `  machine busy while the child ran (all processes, ${CORES} cores; 100% = every core busy the whole time): ` +
      rows.map((r) => `${r.n} hosts floor ${Math.round(r.busy.floorChild * 100)}%, runbook ${Math.round(r.busy.rbChild * 100)}%`).join('; '),
  );
  out.push(
    '  in-proc: runbook through main(argv, io) in the bench process; child: a fresh `node bin/runbook.js apply …` (start-up included), ansible/rb uses the child time',
  );
  if (listenerWarnings.size > 0) {
    out.push(
      `  note: at ${[...listenerWarnings].join(', ')} hosts \`runbook apply\` printed Node's MaxListenersExceededWarning on stderr: every running command adds an` +
        " abort listener to the run's one AbortSignal (forks > 10 → more than 10); harmless, but shown to users (fix: setMaxListeners on that signal, sized by --forks)",
    );
  }
  out.push(
    '  (the floor opens an SSH session per command; runbook runs its commands through one session shell per host, so the',
    '   executor & transport step is a saving: the session shell costs one extra session per host and then little per command)',
  );
  out.push(
    '',
    "  where runbook's extra time goes (in-process medians: wall ms / CPU ms of the controller process per run; each step adds to the previous one):",
  );
  const step = (a: number, b: number): string => `${a >= b ? '+' : '−'}${fmtMs(Math.abs(a - b))}`;
  out.push(
    ...table(
      [
        'hosts',
        'floor',
        '+ barrier & PID wrapper',
        '+ executor & transport (session shell)',
        '+ plan, lock, JSON view, journal',
        'CLI start-up (child − in-proc, vs floor)',
      ],
      rows.map((r) => [
        String(r.n),
        `${fmtMs(r.floorIn)} / ${fmtMs(r.cpu.floorIn)}`,
        `${step(r.linWrap, r.floorIn)} / ${step(r.cpu.linWrap, r.cpu.floorIn)}`,
        `${step(r.execOnly, r.linWrap)} / ${step(r.cpu.execOnly, r.cpu.linWrap)}`,
        `${step(r.rbIn, r.execOnly)} / ${step(r.cpu.rbIn, r.cpu.execOnly)}`,
        `${fmtMs(r.rbChild - r.rbIn)} vs ${fmtMs(r.floorChild - r.floorIn)}`,
      ]),
      '    ',
    ),
  );
  return out;
}

/** An exec request that reports the shell's PID as runbook's wrapper does, then runs `cmd`. */
function withPidReport(cmd: string): string {
  return `printf '\\036RUNBOOK-PID:%s\\n' "$$" >&2; eval ${shq(cmd)}`;
}
