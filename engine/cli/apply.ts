// runbook apply PLAYBOOK -i INVENTORY: build the plan (exit 2 on invalid input, nothing touched),
// confirm destructive plans, resolve secrets, run it through the executor with a reporter
// (terminal/JSON view + journal), and map the outcome to an exit code.
//
//   --resume RUN_ID  continue a run from its journal: same inputs (sha256) or refuse; every host
//                    must be reachable first; finished steps are not run again; without -e and
//                    --limit it uses the values that run was given (recorded in its journal).
//                    What it continues from is worked out in resume.ts.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Inventory, Plan } from '../model/types.js';
import { executePlan, type ResumeState } from '../execute/execute.js';
import { describeHolder, lockOwner, remoteLockDir, RunLock, type Holder } from '../execute/lock.js';
import { newRunId } from '../execute/scope.js';
import { createReporter, type Reporter } from '../report/reporters.js';
import { formatDiagnostics } from '../report/diagnostics-text.js';
import { buildPlan } from './inputs.js';
import { stableStringify } from '../report/stable-json.js';
import { checkPlanFreshness, describeStale, firstDifference, isSavedPlanPath, loadSavedPlan } from './saved-plan.js';
import { EXIT, type Io } from '../model/io.js';
import { DEFAULT_FORKS, DEFAULT_JOURNAL_DIR } from './output.js';
import { transportFactory, type HostConnection } from './transports.js';
import { resumeOf, withResumedArgs } from './resume.js';

export interface ApplyOptions {
  /** Required for a playbook; a saved plan (plan.json) names its own inventory. */
  inventory?: string;
  limit?: string;
  extraVars?: string[];
  forks?: number;
  check?: boolean;
  yes?: boolean;
  output?: 'auto' | 'text' | 'json';
  resume?: string;
  journalDir?: string;
  verbose?: number;
  /** Take over a stale run lock (expired, or its controller process is gone). */
  breakLock?: boolean;
  /** Where the controller-side run locks live (default: `locks` next to the journal dir, i.e. .runbook/locks). */
  lockDir?: string;
  /** Tests: an abort signal instead of SIGINT/SIGTERM handlers. */
  signal?: AbortSignal;
  /** `-F FILE`: this OpenSSH client config instead of ~/.ssh/config and /etc/ssh/ssh_config. */
  sshConfig?: string;
}

export { DEFAULT_FORKS, DEFAULT_JOURNAL_DIR };
// --resume moved to resume.ts (issue 13); its loader is still reachable from here.
export { loadResume } from './resume.js';

/** Secret names with a meaning for the connection itself. */
const SSH_PASSPHRASE = 'ssh_passphrase';
const SUDO_PASSWORD = 'sudo_password';

/** Read every inventory secret; the ones the plan needs must exist. */
export function resolveSecrets(inv: Inventory, plan: Plan, env: NodeJS.ProcessEnv = process.env): { values: Record<string, string>; problems: string[] } {
  const needed = new Set<string>();
  for (const p of plan.plays)
    for (const t of p.tasks) for (const s of t.steps) for (const n of s.needs) if (n.startsWith('secrets.')) needed.add(n.split('.')[1] ?? '');
  const values: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, src] of Object.entries(inv.secretSources ?? {})) {
    let value: string | undefined;
    let why = '';
    if (src.env !== undefined) {
      value = env[src.env];
      if (value === undefined) why = `environment variable ${src.env} is not set`;
    } else if (src.file !== undefined) {
      try {
        value = readFileSync(src.file, 'utf8').replace(/\r?\n$/, '');
      } catch (e) {
        why = `cannot read ${src.file}: ${e instanceof Error ? e.message : String(e)}`;
      }
    } else why = 'neither env nor file is given';
    if (value !== undefined) values[name] = value;
    else if (needed.has(name)) problems.push(`secret "${name}": ${why}`);
  }
  for (const n of needed)
    if (!(n in (inv.secretSources ?? {}))) problems.push(`secret "${n}" is used by the playbook but not declared under secrets: in ${inv.file}`);
  return { values, problems };
}

/** What a destructive plan is about to do, for the confirmation prompt. */
export function planSummary(plan: Plan): string {
  const lines = [
    `This plan changes cluster "${plan.cluster}" (playbook ${plan.playbook}, inventory ${plan.inventory}${plan.limit ? `, limit ${plan.limit}` : ''}):`,
  ];
  for (const p of plan.plays) {
    const steps = p.tasks.reduce((n, t) => n + t.steps.filter((s) => s.skip === undefined).length, 0);
    lines.push(`  PLAY ${p.index} ${p.name}${p.destructive ? '  [destructive]' : ''}`);
    lines.push(
      `    hosts ${p.hosts.join(', ') || '(none)'}${p.batches.length > 1 ? ` in ${p.batches.length} batches` : ''} · ${p.tasks.length} task(s), ${steps} step(s)`,
    );
    for (const t of p.tasks) lines.push(`      ${p.index}.${t.index} ${t.name}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The plan to run: compiled from a playbook + inventory, or a saved plan (plan.json) that is still
 * fresh — every input it was compiled from unchanged. A stale plan is refused before any host is
 * contacted, naming the file that changed.
 */
export function planToApply(playbook: string, opts: ApplyOptions, io: Io): { plan: Plan; inv: Inventory } | { code: number } {
  if (isSavedPlanPath(playbook)) {
    if (opts.limit || (opts.extraVars ?? []).length) {
      io.err('runbook: a saved plan already has its --limit and -e values; render a new plan to change them\n');
      return { code: EXIT.INVALID };
    }
    const saved = loadSavedPlan(playbook);
    if (!saved.plan) {
      io.err(formatDiagnostics(saved.diagnostics));
      return { code: EXIT.INVALID };
    }
    const fresh = checkPlanFreshness(saved.plan);
    if (fresh.stale.length) {
      io.err(`runbook: ${describeStale(playbook, fresh)}`);
      return { code: EXIT.REFUSED };
    }
    if (opts.inventory && opts.inventory !== saved.plan.inventory) {
      io.err(`runbook: ${playbook} was made for inventory ${saved.plan.inventory}, not ${opts.inventory}\n`);
      return { code: EXIT.INVALID };
    }
    // Compile the recorded inputs again: a plan whose commands (or hosts, or anything) were edited
    // after it was written is not what was reviewed, and is refused.
    const p = saved.plan;
    const again = buildPlan({
      playbook: p.playbook,
      inventory: p.inventory,
      ...(p.limit ? { limit: p.limit } : {}),
      extraVars: p.extraVars ?? [],
      ...(p.tags ? { tags: p.tags } : {}),
    });
    if (!again.plan || !again.inventory) {
      io.err(`runbook: refusing to apply ${playbook}: its inputs no longer compile:\n${formatDiagnostics(again.diagnostics, again.texts)}`);
      return { code: EXIT.REFUSED };
    }
    const edited = firstDifference(p, JSON.parse(stableStringify(again.plan)));
    if (edited) {
      io.err(
        `runbook: refusing to apply ${playbook}: it is not the plan its inputs compile to (first difference at ${edited}); was it edited after it was written?\nRender it again (runbook plan … --out ${playbook}), review it, and apply the new plan.\n`,
      );
      return { code: EXIT.REFUSED };
    }
    return { plan: p, inv: again.inventory };
  }
  if (!opts.inventory) {
    io.err('runbook: apply PLAYBOOK needs -i INVENTORY\n');
    return { code: EXIT.INVALID };
  }
  const built = buildPlan({ playbook, inventory: opts.inventory, ...(opts.limit ? { limit: opts.limit } : {}), extraVars: opts.extraVars ?? [] });
  if (!built.plan || !built.inventory) {
    io.err(formatDiagnostics(built.diagnostics, built.texts));
    return { code: EXIT.INVALID };
  }
  return { plan: built.plan, inv: built.inventory };
}

/** Everything runApply decided before contacting a host. */
interface Prepared {
  opts: ApplyOptions;
  plan: Plan;
  inv: Inventory;
  check: boolean;
  journalDir: string;
  forks: number;
  secrets: { values: Record<string, string> };
  resume: ResumeState | undefined;
}

/**
 * Before any host is contacted: the plan, the flags, the secrets, what --resume continues from, and
 * the confirmation of a destructive plan. A number is the exit code to stop with (nothing was run).
 */
async function prepareApply(playbook: string, given: ApplyOptions, io: Io): Promise<Prepared | number> {
  // The journal read here for the run's own -e/--limit is the one loadResume continues from.
  const { opts, read } = withResumedArgs(playbook, given, io);
  if (opts.sshConfig !== undefined && !existsSync(opts.sshConfig)) {
    io.err(`runbook: -F ${opts.sshConfig}: no such ssh config file; nothing was run\n`);
    return EXIT.INVALID;
  }
  const chosen = planToApply(playbook, opts, io);
  if ('code' in chosen) return chosen.code;
  const { plan, inv } = chosen;
  const check = opts.check === true;
  const journalDir = opts.journalDir ?? DEFAULT_JOURNAL_DIR;
  const forks = opts.forks ?? DEFAULT_FORKS;
  if (!Number.isInteger(forks) || forks < 1) {
    io.err(`runbook: --forks must be a whole number >= 1, got ${String(opts.forks)}\n`);
    return EXIT.INVALID;
  }

  const secrets = resolveSecrets(inv, plan);
  if (secrets.problems.length) {
    io.err(secrets.problems.map((p) => `runbook: ${p}\n`).join(''));
    return EXIT.INVALID;
  }

  const resumed = resumeOf(opts, journalDir, plan, read, io);
  if (typeof resumed === 'number') return resumed;
  const resume = resumed;

  if (plan.destructive && !check) {
    const refused = await confirmDestructive(plan, opts.yes === true, io);
    if (refused !== undefined) return refused;
  }
  return { opts, plan, inv, check, journalDir, forks, secrets, resume };
}

export async function runApply(playbook: string, given: ApplyOptions, io: Io): Promise<number> {
  const prepared = await prepareApply(playbook, given, io);
  if (typeof prepared === 'number') return prepared;
  const { opts, plan, inv, check, journalDir, forks, secrets, resume } = prepared;

  const connections = connectionsOf(inv, plan);
  const runId = newRunId(new Date());
  const startedAt = new Date();
  // The run lock (not for --check: a read-only run changes nothing). Controller side first.
  const lockDir = opts.lockDir ?? path.join(path.dirname(journalDir), 'locks');
  const lock = check ? undefined : new RunLock(plan.cluster, lockOwner(runId, startedAt), lockDir);
  if (lock) {
    const refused = takeLocalLock(lock, plan, lockDir, opts, io);
    if (refused !== undefined) return refused;
  }
  let reporter: Reporter | undefined;
  const factory = transportFactory(connections, {
    ...(secrets.values[SSH_PASSPHRASE] !== undefined ? { passphrase: secrets.values[SSH_PASSPHRASE] } : {}),
    ...(secrets.values[SUDO_PASSWORD] !== undefined ? { sudoPassword: secrets.values[SUDO_PASSWORD] } : {}),
    log: (host, message) => reporter?.emit('warning', { host, message }),
    ...(opts.sshConfig !== undefined ? { sshConfig: { file: opts.sshConfig } } : {}),
  });

  // Signals are handled from here on, so a Ctrl-C while hosts are still being connected and
  // locked (a slow or dead host can hold that phase for the connect timeout) gives the locks back.
  const stop = stopOnSignals(io, opts.signal, () => lock?.releaseLocal());
  // A host still in its handshake (silent, or slow) would hold the stop for its connect_timeout.
  stop.signal.addEventListener('abort', () => factory.stopConnecting(), { once: true });
  const interrupted = (): number => {
    io.err('runbook: interrupted before any step started; nothing was run (run locks taken so far are given back).\n');
    return EXIT.INTERRUPTED;
  };

  try {
    const targets = Object.keys(plan.hosts).filter((h) => h !== 'localhost');
    if (lock) {
      const refused = await takeRemoteLocks(lock, targets, factory, opts, stop.signal, plan, io, interrupted);
      if (refused !== undefined) return refused;
    }
    if (resume && !(await allAnswer(resume, targets, factory, io))) return EXIT.FAILED;
    if (stop.signal.aborted) return interrupted();

    try {
      reporter = await createReporter({
        mode: opts.output ?? 'auto',
        io,
        verbose: opts.verbose ?? 0,
        secrets: Object.values(secrets.values),
        journalDir,
        runId,
        plan,
      });
    } catch (e) {
      io.err(`runbook: cannot start the run journal in ${journalDir}: ${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT.INVALID;
    }

    const prompt = io.prompt;
    try {
      const r = await executePlan(plan, {
        runId,
        startedAt,
        forks,
        check,
        transports: (h) => factory.get(h),
        emit: reporter.emit,
        signal: stop.signal,
        secrets: secrets.values,
        ...(resume ? { resume } : {}),
        ...(io.isTTY && prompt ? { confirm: async (q: string) => /^y(es)?$/i.test(((await prompt(`${q} [y/N] `)) ?? '').trim()) } : {}),
        autoYes: opts.yes === true,
        keepTransports: true,
        args: { ...(opts.extraVars?.length ? { extraVars: opts.extraVars } : {}), ...(opts.limit ? { limit: opts.limit } : {}) },
      });
      return r.exitCode;
    } finally {
      await reporter.close();
    }
  } finally {
    // Still under the signal handlers: a Ctrl-C here must not kill runbook before the locks are given back.
    if (lock) {
      const problems = await lock.releaseRemote();
      if (problems.length)
        io.err(
          `runbook: could not remove the run lock on: ${problems.join('; ')} (remove ${remoteLockDir(plan.cluster)} there, or pass --break-lock once it is stale)\n`,
        );
    }
    await factory.closeAll();
    lock?.releaseLocal();
    stop.dispose();
  }
}

/** Every inventory host can serve as a jump host, even when the plan does not target it. */
function connectionsOf(inv: Inventory, plan: Plan): Record<string, HostConnection> {
  const connections: Record<string, HostConnection> = {};
  for (const [name, h] of Object.entries(inv.hosts)) connections[name] = { address: h.address, ssh: h.ssh };
  return Object.assign(connections, plan.hosts);
}

/** A destructive plan runs only with --yes or the cluster's name typed on a terminal; else the exit code to refuse with. */
async function confirmDestructive(plan: Plan, yes: boolean, io: Io): Promise<number | undefined> {
  io.err(planSummary(plan));
  if (yes) return undefined;
  const answer = io.isTTY && io.prompt ? await io.prompt(`Type the cluster name to continue ("${plan.cluster}"): `) : undefined;
  if (answer === undefined) {
    io.err(
      'runbook: refusing to run a destructive plan without confirmation: no terminal to ask on. ' +
        'Review the plan (runbook plan …) and pass --yes to run it unattended.\n',
    );
    return EXIT.REFUSED;
  }
  if (answer.trim() !== plan.cluster) {
    io.err(`runbook: not confirmed ("${answer.trim()}" is not "${plan.cluster}"); nothing was run.\n`);
    return EXIT.REFUSED;
  }
  return undefined;
}

/** The controller-side run lock; the exit code to stop with when it cannot be taken. */
function takeLocalLock(lock: RunLock, plan: Plan, lockDir: string, opts: ApplyOptions, io: Io): number | undefined {
  let held: Holder | undefined;
  try {
    held = lock.takeLocal(opts.breakLock === true, opts.resume);
  } catch (e) {
    io.err(`runbook: cannot take the run lock in ${lockDir}: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.INVALID;
  }
  if (held) {
    io.err(lockRefusal(plan.cluster, [held]));
    return EXIT.REFUSED;
  }
  return undefined;
}

/** The run lock on every target host (after the controller's); the exit code to stop with when it cannot be taken. */
async function takeRemoteLocks(
  lock: RunLock,
  targets: string[],
  factory: ReturnType<typeof transportFactory>,
  opts: ApplyOptions,
  signal: AbortSignal,
  plan: Plan,
  io: Io,
  interrupted: () => number,
): Promise<number | undefined> {
  let holders: Holder[];
  try {
    holders = await lock.takeRemote(
      targets.map((h) => ({ name: h, transport: factory.get(h), become: true })),
      opts.breakLock === true,
      opts.resume,
      signal,
    );
  } catch (e) {
    if (signal.aborted) return interrupted();
    io.err(`runbook: ${e instanceof Error ? e.message : String(e)}\nNothing was run.\n`);
    return EXIT.FAILED;
  }
  if (holders.length) {
    io.err(lockRefusal(plan.cluster, holders));
    return EXIT.REFUSED;
  }
  return undefined;
}

/** Before continuing a half-done run, every host must answer: a resume that meets a dead host halfway is worse. */
async function allAnswer(resume: ResumeState, targets: string[], factory: { get(host: string): { connect(): Promise<void> } }, io: Io): Promise<boolean> {
  const results = await Promise.allSettled(targets.map((h) => factory.get(h).connect()));
  const bad = results
    .map((r, i) => (r.status === 'rejected' ? `  ${targets[i] ?? '?'}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}\n` : ''))
    .filter(Boolean);
  if (bad.length === 0) return true;
  io.err(`runbook: not resuming run ${resume.runId}: host(s) unreachable:\n${bad.join('')}Nothing was run.\n`);
  return false;
}

/**
 * The run's stop signal: fired by the first SIGINT/SIGTERM (or by `external`, for tests, instead
 * of process handlers). A second SIGINT exits at once, after `onForcedExit`.
 */
function stopOnSignals(io: Io, external: AbortSignal | undefined, onForcedExit: () => void): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  if (external) {
    const onExternal = (): void => ac.abort(external.reason);
    if (external.aborted) ac.abort(external.reason);
    else external.addEventListener('abort', onExternal, { once: true });
    return { signal: ac.signal, dispose: () => external.removeEventListener('abort', onExternal) };
  }
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts > 1 && sig === 'SIGINT') {
      io.err('\nrunbook: interrupted again: exiting now; steps that were running have an unknown outcome\n');
      onForcedExit();
      process.exit(EXIT.INTERRUPTED);
    }
    if (interrupts === 1) {
      io.err(`\nrunbook: ${sig}: stopping — no new steps start, running commands are stopped (Ctrl-C again to exit at once)\n`);
      ac.abort(new Error(sig));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Refused because another run holds the lock: name it, and say what to do. */
function lockRefusal(cluster: string, holders: Holder[]): string {
  const stale = holders.filter((h) => h.stale !== undefined);
  const lines = [`runbook: refusing to run: cluster "${cluster}" is locked by another run; nothing was run.`];
  for (const h of holders) lines.push(`  held by ${describeHolder(h)}${h.stale !== undefined ? ` — stale: ${h.stale}` : ''}`);
  if (stale.length === holders.length) {
    lines.push(
      'The lock looks stale (its run is gone or it expired). Make sure no other runbook run is working on this cluster, then run again with --break-lock.',
    );
  } else lines.push('Wait for that run to finish (or stop it); a lock whose run has died can be taken over with --break-lock once it is stale.');
  return `${lines.join('\n')}\n`;
}
