// One step on one host: runtime `when`, then attempts (retries/until), each running the step's
// actions in order until one does not succeed; then failed_when / changed_when decide the status
// and the task's `result` (or the last command's {rc, stdout, stderr, json?}) is what `register` stores.
import { errorText } from '../model/errors.js';
import type { Emit, StepResult, StepStatus } from '../model/events.js';
import type { Json, JsonObject, PlannedTask, Step } from '../model/types.js';
import { evalCondition } from '../template/condition-eval.js';
import type { UnreachableError } from '../transports/transport.js';
import { runAction, sleep, type ActionEnv, type ActionOutcome } from './actions.js';
import type { TaskGroup } from './group.js';
import type { TransportPool } from './pool.js';
import type { Redactor } from './redaction.js';
import { conditionScope, resolveValue, type RunValues } from './scope.js';

export interface StepEnv {
  play: number;
  task: PlannedTask;
  step: Step;
  /** Where the actions run: step.target, or what a run-time delegate_to resolved to. */
  target: string;
  /** Registered values and facts of every host, the run, the secrets. */
  values: RunValues;
  pool: TransportPool;
  emit: Emit;
  signal: AbortSignal;
  redact: Redactor;
  maxOutputBytes: number;
  confirm: (prompt: string) => Promise<true | string>;
  group?: TaskGroup;
}

export interface StepOutcome {
  result: StepResult;
  /** What `register` stores (absent when nothing may be registered, e.g. skipped or unreachable). */
  register?: Json;
  /** set_fact facts to store for the host (only when the step did not fail). */
  facts?: JsonObject;
  unreachable?: UnreachableError;
}

/** The first condition of a list that does not hold (or throws), for messages. */
function firstFalse(conds: string[], scope: ReturnType<typeof conditionScope>): { cond: string; error?: string } | undefined {
  for (const c of conds) {
    try {
      if (!evalCondition(c, scope)) return { cond: c };
    } catch (e) {
      return { cond: c, error: errorText(e) };
    }
  }
  return undefined;
}

interface Attempt {
  status: StepStatus;
  message?: string;
  value: Json;
  valueOk: boolean;
  facts: JsonObject;
  records: ActionOutcome['record'][];
  unreachable?: UnreachableError;
  /** Why another attempt would be made (undefined: this attempt is final whatever retries remain). */
  retryReason?: string;
}

async function attempt(env: StepEnv): Promise<Attempt> {
  const { task, step } = env;
  const local: Record<string, Json> = {};
  const scope = env.values.scope(step.host, local);
  const actionEnv: ActionEnv = {
    task,
    step,
    scope,
    local,
    target: () => env.pool.get(env.target),
    controller: () => env.pool.get('localhost'),
    signal: env.signal,
    redact: env.redact,
    maxOutputBytes: env.maxOutputBytes,
    output: (stream, text) => env.emit('step.output', { stepId: step.id, host: step.host, stream, text }),
    confirm: env.confirm,
    ...(env.group ? { group: env.group } : {}),
  };
  const records: ActionOutcome['record'][] = [];
  const facts: JsonObject = {};
  let changed = false;
  let lastExec: JsonObject | undefined;
  let failure: ActionOutcome | undefined;
  for (const [i, a] of step.actions.entries()) {
    if (i > 0 && env.signal.aborted) {
      const record = { index: i, kind: a.kind, code: null, durationMs: 0, skipped: true };
      failure = { status: 'unknown', changed: false, message: `interrupted after ${i} of ${step.actions.length} actions`, record };
      break;
    }
    const o = await runAction(a, i, actionEnv);
    records.push(o.record);
    if (o.changed && o.status !== 'skipped') changed = true;
    if (o.execValue) lastExec = o.execValue;
    if (o.facts) Object.assign(facts, o.facts);
    if (o.status === 'failed' || o.status === 'unknown' || o.status === 'unreachable') {
      failure = o;
      break;
    }
  }

  let value: Json = null;
  let valueOk = true;
  let valueError: string | undefined;
  try {
    if (task.result !== null && task.result !== undefined) value = resolveValue(task.result, scope);
    else if (lastExec) value = lastExec;
    else if (Object.keys(facts).length > 0) value = facts;
  } catch (e) {
    valueOk = false;
    valueError = errorText(e);
  }
  const base = { value, valueOk, facts, records };

  if (failure?.status === 'unreachable') {
    return { ...base, status: 'unreachable', message: failure.message ?? 'unreachable', ...(failure.unreachable ? { unreachable: failure.unreachable } : {}) };
  }
  // A command whose fate is unknown is never retried: running it again could apply it twice.
  if (failure?.status === 'unknown') return { ...base, status: 'unknown', message: failure.message ?? 'unknown outcome' };

  const cscope = conditionScope(env.values.scope(step.host, local, task.register && valueOk ? { [task.register]: value } : {}));
  const failedWhen = step.failedWhen ?? task.failedWhen;
  const changedWhen = step.changedWhen ?? task.changedWhen;
  const until = step.until ?? task.until;
  let failed = failure !== undefined;
  let message = failure?.message;
  if (!failure && !valueOk) {
    failed = true;
    message = valueError;
  }
  // failed_when replaces the exit-code check (not other failures: refusals, asserts, transfers).
  if (failedWhen && (!failure || failure.failedByCode) && valueOk) {
    const miss = firstFalse(failedWhen, cscope);
    if (miss?.error) {
      failed = true;
      message = `failed_when: ${miss.cond}: ${miss.error}`;
    } else if (miss) {
      failed = false;
      message = undefined;
    } else {
      failed = true;
      message = `failed_when: ${failedWhen.join(' and ')}${failure?.message ? ` (${failure.message})` : ''}`;
    }
  }
  if (!failed && changedWhen) {
    const miss = firstFalse(changedWhen, cscope);
    if (miss?.error) {
      failed = true;
      message = `changed_when: ${miss.cond}: ${miss.error}`;
    } else changed = miss === undefined;
  }
  let retryReason: string | undefined;
  if (until.length > 0) {
    const miss = valueOk ? firstFalse(until, cscope) : { cond: until[0] ?? '', error: valueError };
    if (miss) {
      retryReason = `until ${miss.cond}: ${miss.error ?? 'not met'}${failed && message ? ` (${message})` : ''}`;
      if (!failed) {
        failed = true;
        message = `until ${miss.cond}: ${miss.error ?? 'not met'}`;
      }
    }
  } else if (failed) retryReason = message ?? 'failed';
  if (failure?.final) retryReason = undefined;
  const status: StepStatus = failed ? 'failed' : changed ? 'changed' : 'ok';
  return { ...base, status, ...(message !== undefined && failed ? { message } : {}), ...(retryReason !== undefined ? { retryReason } : {}) };
}

/** Run a step that is due (not skipped by the plan, check mode or resume). */
export async function runStep(env: StepEnv): Promise<StepOutcome> {
  const { task, step } = env;
  const started = performance.now();
  const finish = (a: Omit<Attempt, 'retryReason'>, attempts: number): StepOutcome => {
    const ignored = a.status === 'failed' && task.ignoreErrors;
    const result: StepResult = {
      status: a.status,
      value: env.redact.json(a.value),
      ...(a.message !== undefined ? { message: env.redact.text(a.message) } : {}),
      attempts,
      actions: a.records,
      durationMs: Math.round(performance.now() - started),
      ...(ignored ? { ignored: true } : {}),
    };
    const out: StepOutcome = { result };
    const mayRegister = a.valueOk && (a.status === 'ok' || a.status === 'changed' || a.status === 'failed');
    if (task.register && mayRegister) out.register = a.value;
    if ((a.status === 'ok' || a.status === 'changed') && Object.keys(a.facts).length > 0) out.facts = a.facts;
    if (a.unreachable) out.unreachable = a.unreachable;
    return out;
  };

  const when = step.when ?? task.when;
  if (when.length > 0) {
    const miss = firstFalse(when, conditionScope(env.values.scope(step.host)));
    if (miss?.error) return finish({ status: 'failed', message: `when: ${miss.cond}: ${miss.error}`, value: null, valueOk: false, facts: {}, records: [] }, 0);
    if (miss) return finish({ status: 'skipped', message: `when: ${miss.cond}`, value: null, valueOk: false, facts: {}, records: [] }, 0);
  }

  const max = 1 + Math.max(0, task.retries);
  for (let n = 1; ; n++) {
    env.emit('step.start', { play: env.play, task: task.index, stepId: step.id, host: step.host, target: env.target, attempt: n });
    const a = await attempt(env);
    if (a.retryReason === undefined || n >= max || env.signal.aborted) {
      if (a.retryReason !== undefined && a.status === 'failed' && n > 1) a.message = `${a.message ?? 'failed'} (after ${n} attempts)`;
      return finish(a, n);
    }
    env.emit('step.retry', { stepId: step.id, host: step.host, attempt: n + 1, delaySec: task.delaySec, reason: env.redact.text(a.retryReason) });
    if (!(await sleep(task.delaySec * 1000, env.signal))) {
      return finish({ ...a, status: 'failed', message: `interrupted while waiting to retry (${a.message ?? a.retryReason})` }, n);
    }
  }
}
