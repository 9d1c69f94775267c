// The executor: runs a Plan with Ansible's linear strategy and reports only through events.
//
//   plays in order → each play's hosts in serial batches → each task on every live host of the
//   batch (in parallel, at most `forks` at once) before the next task starts.
//
// A host that fails (or whose command's outcome is unknown, or that is unreachable) leaves the
// rest of the run. `any_errors_fatal` stops the run after the task where a host failed;
// `max_fail_percentage` after the task that pushed a batch over it; a batch where every host
// failed stops it too. SIGINT/abort: no new step starts, running commands are stopped.
import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import { emptyRecap, type Emit, type Recap, type RunArgs, type StepResult } from '../model/events.js';
import type { Json, Plan, PlannedPlay, PlannedTask, Step } from '../model/types.js';
import { conditionRefs, parseCondition } from '../template/conditions.js';
import { placeholdersIn } from '../template/runtime.js';
import type { Transport } from '../transports/transport.js';
import { TaskGroup } from './group.js';
import { TransportPool } from './pool.js';
import { Redactor } from './redaction.js';
import { fillRaw, rootOf, runInfoFromId, runStamp, RunValues, type RunInfo } from './scope.js';
import { runStep, type StepOutcome } from './step.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_INTERRUPTED = 130;

export const CHECK_MODE_SKIP = 'would run (check mode)';

export interface ResumeState {
  /** The run being resumed (named in messages and run.start's resumedFrom). */
  runId: string;
  /** The first run of a chain of resumes, when not runId: its id and timestamp stay `run.id` / `run.timestamp`. */
  rootRunId?: string;
  /** Step ids that finished ok/changed/skipped in that run. */
  done: Set<string>;
  registered: Record<string, Record<string, Json>>;
  facts: Record<string, Record<string, Json>>;
}

export interface ExecuteOptions {
  runId: string;
  startedAt: Date;
  forks: number;
  check: boolean;
  /** A transport for a target host name ("localhost" is the controller). Called once per host. */
  transports: (host: string) => Transport;
  emit: Emit;
  signal: AbortSignal;
  /** Secret name → value (the `secrets` scope); values are masked in everything emitted. */
  secrets: Record<string, string>;
  resume?: ResumeState;
  /** Ask the operator (pause prompts). Without it, prompts are refused unless autoYes. */
  confirm?: (prompt: string) => Promise<boolean>;
  autoYes?: boolean;
  /** Captured bytes per output stream of one command (default 1 MiB). */
  maxOutputBytes?: number;
  /** Leave the transports open at the end: the caller closes them (apply releases the run lock over them first). */
  keepTransports?: boolean;
  /** Recorded in run.start for a later --resume. */
  args?: RunArgs;
}

export interface ExecuteResult {
  ok: boolean;
  exitCode: number;
  interrupted: boolean;
  recap: Record<string, Recap>;
}

function skipped(message: string): StepResult {
  return { status: 'skipped', value: null, message, attempts: 0, actions: [], durationMs: 0 };
}

/** Run-time names a step reads: its placeholders, its conditions, a run-time delegate_to. */
function namesRead(task: PlannedTask, step: Step): Set<string> {
  const roots = new Set(step.needs.map(rootOf));
  for (const p of placeholdersIn(step.target)) roots.add(rootOf(p));
  const conds = [
    ...(step.when ?? task.when),
    ...(step.until ?? task.until),
    ...(step.changedWhen ?? task.changedWhen ?? []),
    ...(step.failedWhen ?? task.failedWhen ?? []),
  ];
  for (const c of conds) for (const r of conditionRefs(parseCondition(c))) roots.add(r.root);
  roots.delete('_');
  return roots;
}

/** Names a task would have set (register, set_fact keys). */
function namesSet(task: PlannedTask, step: Step): string[] {
  const out = task.register ? [task.register] : [];
  for (const a of step.actions) if (a.kind === 'set_fact') out.push(...Object.keys(a.facts));
  return out;
}

export async function executePlan(plan: Plan, opts: ExecuteOptions): Promise<ExecuteResult> {
  return new Execution(plan, opts).run();
}

/** Adds one step's result to its host's recap row. */
function count(row: Recap, r: StepResult): void {
  switch (r.status) {
    case 'ok':
      row.ok++;
      break;
    case 'changed':
      // Ansible's convention: `ok` counts changed steps too.
      row.ok++;
      row.changed++;
      break;
    case 'skipped':
      row.skipped++;
      break;
    case 'failed':
      if (r.ignored) row.ignored = (row.ignored ?? 0) + 1;
      else row.failed++;
      break;
    case 'unreachable':
      row.unreachable++;
      break;
    case 'unknown':
      row.unknown++;
      break;
  }
}

/** One run of a plan: its state (values, hosts gone, check-mode bookkeeping) and the steps of the linear strategy. */
class Execution {
  private readonly t0 = performance.now();
  private readonly emit: Emit;
  private readonly signal: AbortSignal;
  private readonly values: RunValues;
  private readonly redact: Redactor;
  private readonly pool: TransportPool;
  private readonly allHosts: string[];
  private readonly recap: Record<string, Recap>;
  /** Hosts that left the run, and why. */
  private readonly gone = new Map<string, 'failed' | 'unreachable'>();
  /** Hosts gone unreachable in an ignore_unreachable task: out of the run, not a failure. */
  private readonly spared = new Set<string>();
  /** Check mode: names a host would have had set by steps that did not run. */
  private readonly notProduced = new Map<string, Set<string>>();
  /** Check mode: hosts where a changing step was not run (later probes may depend on it). */
  private readonly unmadeChanges = new Set<string>();
  private readonly asked = new Map<string, Promise<true | string>>();
  private anyFailure = false;
  private stopped: string | undefined;

  constructor(
    private readonly plan: Plan,
    private readonly opts: ExecuteOptions,
  ) {
    this.emit = opts.emit;
    this.signal = opts.signal;
    // Every running command (and its timeout/kill helpers) listens on the one run signal: allow as
    // many listeners as forks can need, or Node warns on stderr past 10 hosts.
    setMaxListeners(Math.max(20, opts.forks * 4 + 10), opts.signal);
    const run: RunInfo = opts.resume ? runInfoFromId(opts.resume.rootRunId ?? opts.resume.runId) : { id: opts.runId, timestamp: runStamp(opts.startedAt) };
    this.values = new RunValues(run, opts.secrets);
    this.redact = new Redactor(Object.values(opts.secrets));
    this.pool = new TransportPool(opts.transports);
    this.allHosts = [...new Set(plan.plays.flatMap((p) => p.hosts))];
    this.recap = Object.fromEntries(this.allHosts.map((h) => [h, emptyRecap()]));
    for (const h of this.allHosts) this.values.of(h);
    if (opts.resume) {
      for (const [h, regs] of Object.entries(opts.resume.registered)) for (const [k, v] of Object.entries(regs)) this.values.of(h).register(k, v);
      for (const [h, facts] of Object.entries(opts.resume.facts)) this.values.of(h).setFacts(facts);
    }
  }

  async run(): Promise<ExecuteResult> {
    const { plan, opts } = this;
    this.emit('run.start', {
      runId: opts.runId,
      playbook: plan.playbook,
      inventory: plan.inventory,
      check: opts.check,
      hosts: this.allHosts,
      inputs: plan.inputs.map((i) => ({ path: i.path, sha256: i.sha256 })),
      ...(opts.resume ? { resumedFrom: opts.resume.runId } : {}),
      ...(opts.args && (opts.args.extraVars?.length || opts.args.limit) ? { args: opts.args } : {}),
    });
    try {
      for (const play of plan.plays) {
        if (this.signal.aborted) break;
        // An `always` play (recording a backup's outcome) runs after a stop too; its hosts that left the run stay out.
        if (this.stopped !== undefined && !play.always) continue;
        await this.runPlay(play);
      }
    } finally {
      if (!opts.keepTransports) await this.pool.closeAll();
    }
    const interrupted = this.signal.aborted;
    const exitCode = interrupted ? EXIT_INTERRUPTED : this.anyFailure ? EXIT_FAILED : EXIT_OK;
    const ok = exitCode === EXIT_OK;
    this.emit('run.end', { runId: opts.runId, ok, interrupted, recap: this.recap, durationMs: Math.round(performance.now() - this.t0), exitCode });
    return { ok, exitCode, interrupted, recap: this.recap };
  }

  private async runPlay(play: PlannedPlay): Promise<void> {
    const stoppedBefore = this.stopped;
    if (play.always) this.stopped = undefined;
    this.emit('play.start', { play: play.index, name: play.name, hosts: play.hosts.filter((h) => !this.gone.has(h)) });
    for (const [bi, batch] of play.batches.entries()) {
      if (this.stopped !== undefined || this.signal.aborted) break;
      const live = batch.filter((h) => !this.gone.has(h));
      if (live.length === 0) continue;
      this.emit('batch.start', { play: play.index, batch: bi + 1, hosts: live });
      for (const task of play.tasks) {
        if (this.stopped !== undefined || this.signal.aborted) break;
        await this.runTask(play, task, live, bi + 1);
      }
    }
    const aborted = this.stopped ?? (this.signal.aborted ? 'interrupted' : undefined);
    this.emit('play.end', { play: play.index, ...(aborted !== undefined ? { aborted } : {}) });
    this.stopped ??= stoppedBefore;
  }

  /** One task on every live host of the batch (at most `forks` at once), then the play's failure rules. */
  private async runTask(play: PlannedPlay, task: PlannedTask, live: string[], batch: number): Promise<void> {
    const inBatch = new Set(live);
    const steps = task.steps.filter((s) => inBatch.has(s.host) && !this.gone.has(s.host));
    if (steps.length === 0) return;
    this.emit('task.start', { play: play.index, task: task.index, name: task.name, module: task.module, hosts: steps.map((s) => s.host) });
    const limit = pLimit(Math.max(1, this.opts.forks));
    const group = new TaskGroup(
      steps.map((s) => s.host),
      this.opts.forks >= steps.length,
    );
    const left = await Promise.all(
      steps.map((s) =>
        limit(async () => {
          try {
            return await this.handle(play, task, s, batch, group);
          } finally {
            group.leave(s.host);
          }
        }),
      ),
    );
    this.emit('task.end', { play: play.index, task: task.index });
    // Steps stopped by an interrupt say so themselves; the play ends as interrupted, not failed.
    if (this.signal.aborted) return;
    const failedNow = steps.filter((_, i) => left[i]).map((s) => s.host);
    const failedInBatch = live.filter((h) => this.gone.has(h) && !this.spared.has(h)).length;
    if (play.anyErrorsFatal && failedNow.length > 0) {
      this.stopped = `any_errors_fatal: ${failedNow.join(', ')} failed in task ${play.index}.${task.index}`;
    } else if (play.maxFailPercentage !== undefined && (failedInBatch / live.length) * 100 > play.maxFailPercentage) {
      this.stopped = `max_fail_percentage ${play.maxFailPercentage}% exceeded: ${failedInBatch} of ${live.length} hosts of the batch failed`;
    } else if (failedInBatch === live.length) {
      this.stopped = `every host of the batch failed (${live.join(', ')})`;
    }
  }

  private async ask(prompt: string): Promise<true | string> {
    if (this.opts.autoYes) return true;
    if (!this.opts.confirm) return `refused: "${prompt}" needs an operator's confirmation; run on a terminal or pass --yes`;
    if (this.signal.aborted) return 'interrupted';
    return (await this.opts.confirm(prompt)) ? true : 'not confirmed by the operator';
  }

  /** One answer per task and batch, however many hosts reach the prompt. */
  private confirmOnce(key: string): (prompt: string) => Promise<true | string> {
    return (prompt) => {
      let p = this.asked.get(key);
      if (!p) {
        p = this.ask(prompt);
        this.asked.set(key, p);
      }
      return p;
    };
  }

  private leave(host: string, how: 'failed' | 'unreachable', stepId: string, message: string, tolerated = false): void {
    if (this.gone.has(host)) return;
    this.gone.set(host, how);
    if (tolerated) this.spared.add(host);
    else this.anyFailure = true;
    if (how === 'unreachable') this.emit('host.unreachable', { host, message: this.redact.text(message) });
    else this.emit('host.failed', { host, stepId, message: this.redact.text(message) });
  }

  /** Check mode: only read-only tasks run, and only when every value they read was produced. */
  private wouldRun(task: PlannedTask, step: Step): boolean {
    if (!task.checkMode) return true;
    const missing = this.notProduced.get(step.host);
    const reads = namesRead(task, step);
    if (reads.has('hostvars') && [...this.notProduced.values()].some((s) => s.size > 0)) return true;
    return missing !== undefined && [...reads].some((n) => missing.has(n));
  }

  private markNotProduced(play: PlannedPlay, task: PlannedTask, step: Step): void {
    for (const h of task.runOnce ? play.hosts : [step.host]) this.unmadeChanges.add(h);
    const names = namesSet(task, step);
    if (names.length === 0) return;
    for (const h of task.runOnce ? play.hosts : [step.host]) {
      const set = this.notProduced.get(h) ?? new Set<string>();
      names.forEach((n) => set.add(n));
      this.notProduced.set(h, set);
    }
  }

  private end(play: PlannedPlay, task: PlannedTask, step: Step, result: StepResult, target = step.target): void {
    count((this.recap[step.host] ??= emptyRecap()), result);
    this.emit('step.end', { play: play.index, task: task.index, stepId: step.id, host: step.host, target, result });
  }

  /** Runs (or skips) one step and records its outcome. Returns true when the host left the run. */
  private async handle(play: PlannedPlay, task: PlannedTask, step: Step, batch: number, group: TaskGroup): Promise<boolean> {
    const { opts, values } = this;
    if (this.signal.aborted || this.gone.has(step.host)) return false;
    if (opts.resume?.done.has(step.id)) {
      // The value it registered then, so this run's journal is complete for a later resume too.
      const value = task.register !== undefined ? values.of(step.host).all[task.register] : undefined;
      this.end(play, task, step, { ...skipped(`done in run ${opts.resume.runId}`), value: value === undefined ? null : this.redact.json(value) });
      return false;
    }
    if (step.skip !== undefined) {
      this.end(play, task, step, skipped(step.skip));
      return false;
    }
    if (opts.check && this.wouldRun(task, step)) {
      this.markNotProduced(play, task, step);
      this.end(play, task, step, skipped(CHECK_MODE_SKIP));
      return false;
    }

    const { target, outcome } = await this.runOne(play, task, step, batch, group);
    // run_once: the value (and facts) belong to every host of the play.
    const owners = task.runOnce ? play.hosts : [step.host];
    const checkedLater = opts.check && outcome.result.status === 'failed' && this.unmadeChanges.has(step.host);
    if (!checkedLater) {
      if (task.register && outcome.register !== undefined) for (const h of owners) values.of(h).register(task.register, outcome.register);
      if (outcome.facts) for (const h of owners) values.of(h).setFacts(outcome.facts);
    }
    let r = outcome.result;
    if (opts.check && r.status === 'failed' && this.unmadeChanges.has(step.host)) {
      // A probe after a change check mode did not make (e.g. verifying a copy that was not copied)
      // cannot pass; it is reported with its failure, as a step that would run, not as a failure.
      r = { ...r, status: 'skipped', message: `${CHECK_MODE_SKIP}: cannot be checked before the changes it follows are made (${r.message ?? 'failed'})` };
      this.markNotProduced(play, task, step);
    }
    if (task.ignoreErrors && r.status === 'failed') r.ignored = true;
    if (task.ignoreUnreachable && r.status === 'unreachable') {
      r = {
        ...r,
        ignored: true,
        message: `${r.message ?? 'unreachable'} (ignore_unreachable: the run goes on without ${step.host}; its next steps do not run)`,
      };
    }
    this.end(play, task, step, r, target);

    const message = r.message ?? r.status;
    if (r.status === 'unreachable') {
      this.leave(step.host, 'unreachable', step.id, message, r.ignored === true);
      return r.ignored !== true;
    } else if (r.status === 'unknown' || (r.status === 'failed' && !r.ignored)) this.leave(step.host, 'failed', step.id, message);
    else return false;
    return true;
  }

  /** Resolves a run-time delegate_to, then runs the step on its target. */
  private async runOne(play: PlannedPlay, task: PlannedTask, step: Step, batch: number, group: TaskGroup): Promise<{ target: string; outcome: StepOutcome }> {
    let target = step.target;
    let targetError: string | undefined;
    if (target.includes('⟨')) {
      try {
        target = fillRaw(target, this.values.scope(step.host));
        if (target !== 'localhost' && !(target in this.plan.hosts)) targetError = `delegate_to resolved to "${target}", which is not a host of this plan`;
      } catch (e) {
        targetError = `delegate_to: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    if (targetError !== undefined) {
      const result: StepResult = { status: 'failed', value: null, message: this.redact.text(targetError), attempts: 0, actions: [], durationMs: 0 };
      return { target, outcome: { result } };
    }
    const outcome = await runStep({
      play: play.index,
      task,
      step,
      target,
      values: this.values,
      pool: this.pool,
      emit: this.emit,
      signal: this.signal,
      redact: this.redact,
      maxOutputBytes: this.opts.maxOutputBytes ?? 1024 * 1024,
      confirm: this.confirmOnce(`${play.index}.${task.index}#${batch}`),
      // A delegated step runs elsewhere: it cannot take part in its hosts' relay.
      ...(target === step.host ? { group } : {}),
    });
    return { target, outcome };
  }
}
