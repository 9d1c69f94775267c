// One action of a step, run against its target (or the controller). Each kind turns into one
// ActionOutcome: what happened, the record shown to the user (secrets masked), and the value a
// `bind` stores in the step scope `_`.
import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { errorText } from '../model/errors.js';
import type { ActionRecord } from '../model/events.js';
import type { Action, Json, JsonObject, PlannedTask, Step } from '../model/types.js';
import { DeriveError, parseEtcdJson } from '../modules/derive.js';
import { DERIVE } from '../modules/derive-table.js';
import { evalAll, evalCondition } from '../template/condition-eval.js';
import { shq } from '../shell/quote.js';
import { BecomeError, UnreachableError, type ExecResult, type Transport } from '../transports/transport.js';
import type { TaskGroup } from './group.js';
import { tail, type Redactor } from './redaction.js';
import { REMOTE_OPS } from './remote-ops.js';
import { conditionScope, displayScope, fillRaw, fillShell, resolveValue } from './scope.js';

/** Extra time a `wait` action gets over its own deadline before the transport stops it. */
export const WAIT_GRACE_SEC = 15;

export interface ActionEnv {
  task: PlannedTask;
  step: Step;
  /** The live scope of the step (its `_` is `local`). */
  scope: Record<string, unknown>;
  local: Record<string, Json>;
  /** The connected transport of the step's target; throws UnreachableError. */
  target: () => Promise<Transport>;
  /** The controller's transport (for `local` actions). */
  controller: () => Promise<Transport>;
  signal: AbortSignal;
  redact: Redactor;
  maxOutputBytes: number;
  /** A line of output with its newline (already redacted). */
  output: (stream: 'stdout' | 'stderr', text: string) => void;
  /** Ask the operator; resolves true to go on, or a refusal message. */
  confirm: (prompt: string) => Promise<true | string>;
  /** The hosts of this task, for a put relayed between them. */
  group?: TaskGroup;
}

export type OutcomeStatus = 'ok' | 'skipped' | 'failed' | 'unknown' | 'unreachable';

export interface ActionOutcome {
  status: OutcomeStatus;
  record: ActionRecord;
  /** Whether this action changed something (a non-probe exec/local or a put that ran). */
  changed: boolean;
  /** Failed only because the exit code was not in okCodes (failed_when may override that). */
  failedByCode?: boolean;
  message?: string;
  /** {rc, stdout, stderr, json?} of an exec/local/wait. */
  execValue?: JsonObject;
  facts?: JsonObject;
  unreachable?: UnreachableError;
  /** A failure another attempt cannot change (become refused: wrong or missing sudo password): never retried. */
  final?: boolean;
}

/** Splits a byte stream into lines for step.output; bounded so a chatty command cannot flood reporters. */
class LineSink {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private emitted = 0;
  private capped = false;
  constructor(
    private readonly emit: (line: string) => void,
    private readonly limit = 256 * 1024,
  ) {}
  push(chunk: Buffer): void {
    if (this.capped) return; // nothing more is shown: do not decode or keep anything
    this.pending += this.decoder.write(chunk);
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    for (const l of lines) this.line(l);
    // A line that can no longer fit is never shown: cap now rather than let it grow without bound.
    if (!this.capped && this.emitted + this.pending.length + 1 > this.limit) {
      const long = this.pending;
      this.pending = '';
      this.line(long);
    }
  }
  flush(): void {
    this.pending += this.decoder.end();
    if (this.pending !== '') this.line(this.pending);
    this.pending = '';
  }
  private line(l: string): void {
    if (this.capped) return;
    this.emitted += l.length + 1;
    if (this.emitted > this.limit) {
      this.capped = true;
      this.emit('[runbook: further output not shown]');
      return;
    }
    this.emit(l);
  }
}

/** Sleep that ends early (false) when the signal fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The last non-empty line of a text, trimmed. */
export function lastLine(s: string): string {
  const lines = s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines[lines.length - 1] ?? '';
}

function trimEol(s: string): string {
  return s.replace(/[\r\n]+$/, '');
}

/** Run one action. Never throws for problems on the host: they become outcomes. */
export async function runAction(a: Action, index: number, env: ActionEnv): Promise<ActionOutcome> {
  const started = performance.now();
  const record: ActionRecord = { index, kind: a.kind, code: null, durationMs: 0 };
  const done = (o: Omit<ActionOutcome, 'record'>): ActionOutcome => {
    record.durationMs = Math.round(performance.now() - started);
    if (o.message !== undefined) o.message = env.redact.text(o.message);
    return { ...o, record };
  };
  // The command as shown: filled with secrets masked (and anything secret that flowed into values masked too).
  if (a.kind === 'exec' || a.kind === 'local' || a.kind === 'wait') {
    try {
      record.cmd = env.redact.text(fillShell(a.cmd, displayScope(env.scope)));
    } catch {
      record.cmd = env.redact.text(a.cmd);
    }
  }

  if (a.when !== undefined) {
    try {
      if (!evalCondition(a.when, conditionScope(env.scope))) {
        record.skipped = true;
        return done({ status: 'skipped', changed: false, message: `when: ${a.when}` });
      }
    } catch (e) {
      return done({ status: 'failed', changed: false, message: `when: ${a.when}: ${errorText(e)}` });
    }
  }

  try {
    switch (a.kind) {
      case 'exec':
      case 'local':
      case 'wait':
        return await runCommand(a, env, record, done);
      case 'put':
        return await runPut(a, env, record, done);
      case 'get':
        return await runGet(a, env, record, done);
      case 'check':
        return runCheck(a, env, record, done);
      case 'fail':
        return runFail(a, env, record, done);
      case 'pause':
        return await runPause(a, env, record, done);
      case 'set_fact':
        return runSetFact(a, env, record, done);
      case 'derive':
        return runDerive(a, env, record, done);
      case 'remote':
        return await runRemote(a, env, record, done);
    }
  } catch (e) {
    if (e instanceof UnreachableError) return done({ status: 'unreachable', changed: false, unreachable: e, message: e.message });
    // sudo refused the password (or needs one none was given): the command never ran, and
    // retrying cannot help: fail at once instead of spending `retries` × `delay` on it.
    if (e instanceof BecomeError) return done({ status: 'failed', changed: false, final: true, message: errorText(e) });
    if (env.signal.aborted) return done({ status: 'unknown', changed: a.kind === 'put', message: `interrupted: ${errorText(e)}` });
    return done({ status: 'failed', changed: false, message: errorText(e) });
  }
}

type Done = (o: Omit<ActionOutcome, 'record'>) => ActionOutcome;

async function runCommand(a: Extract<Action, { kind: 'exec' | 'local' | 'wait' }>, env: ActionEnv, record: ActionRecord, done: Done): Promise<ActionOutcome> {
  const cmd = fillShell(a.cmd, env.scope);
  const transport = a.kind === 'local' ? await env.controller() : await env.target();
  const timeoutSec = a.kind === 'wait' ? a.timeoutSec + WAIT_GRACE_SEC : env.task.timeoutSec;
  const out = new LineSink((l) => env.output('stdout', `${env.redact.text(l)}\n`));
  const err = new LineSink((l) => env.output('stderr', `${env.redact.text(l)}\n`));
  let r: ExecResult;
  try {
    r = await transport.exec(cmd, {
      timeoutMs: timeoutSec * 1000,
      become: a.kind === 'local' ? false : env.task.become,
      signal: env.signal,
      maxOutputBytes: env.maxOutputBytes,
      ...(a.kind === 'exec' && a.stdin !== undefined ? { stdin: fillRaw(a.stdin, env.scope) } : {}),
      onStdout: (c) => out.push(c),
      onStderr: (c) => err.push(c),
    });
  } finally {
    out.flush();
    err.flush();
  }
  record.code = r.code;
  if (r.timedOut) record.timedOut = true;
  if (r.stdout) record.stdoutTail = env.redact.text(tail(r.stdout));
  if (r.stderr) record.stderrTail = env.redact.text(tail(r.stderr));
  const value: JsonObject = { rc: r.code, stdout: trimEol(r.stdout), stderr: trimEol(r.stderr) };
  const probe = a.kind === 'wait' || a.probe === true;
  if (r.code === null) {
    const why = r.timedOut
      ? `timed out after ${timeoutSec} s; the command was stopped`
      : r.aborted
        ? 'interrupted; the command was stopped'
        : `the command did not report an exit status${r.signal ? ` (signal ${r.signal})` : ''}, the connection may have dropped`;
    const stderr = lastLine(r.stderr) ? ` (stderr: ${lastLine(r.stderr)})` : '';
    return done({ status: 'unknown', changed: !probe, execValue: value, message: `${why}: whether it took effect is unknown${stderr}` });
  }
  const okCodes = a.kind === 'exec' && a.okCodes ? a.okCodes : [0];
  const codeOk = okCodes.includes(r.code);
  const parse = a.kind === 'wait' ? undefined : a.parse;
  if (parse === 'json') {
    try {
      value.json = parseEtcdJson(r.stdout);
    } catch (e) {
      const message = `output is not JSON (${errorText(e)}): ${lastLine(r.stdout) || '(empty)'}`;
      if (codeOk) return done({ status: 'failed', changed: !probe, execValue: value, message });
    }
  }
  if (a.bind) env.local[a.bind] = value;
  if (!codeOk) {
    const detail = lastLine(r.stderr) || lastLine(r.stdout);
    const what = a.kind === 'wait' ? `waiting for ${a.what} failed: ` : '';
    const expected = okCodes.length === 1 && okCodes[0] === 0 ? '' : ` (expected ${okCodes.join(' or ')})`;
    const message = `${what}exit code ${r.code}${expected}${detail ? `: ${detail}` : ''}`;
    return done({ status: 'failed', failedByCode: true, changed: !probe, execValue: value, message });
  }
  return done({ status: 'ok', changed: !probe, execValue: value });
}

async function runPut(a: Extract<Action, { kind: 'put' }>, env: ActionEnv, record: ActionRecord, done: Done): Promise<ActionOutcome> {
  const transport = await env.target();
  const dest = fillRaw(a.dest, env.scope);
  const opts = { mode: a.mode, signal: env.signal, become: env.task.become };
  const want = a.sha256 ? fillRaw(a.sha256, env.scope) : '';
  const relayed = a.relay && a.content === undefined && want && env.group ? await relayPut(a, env, transport, dest, want, record) : undefined;
  if (relayed !== undefined && relayed.ok === false) return done({ status: 'failed', changed: true, message: errorText(relayed.error) });
  const res =
    relayed !== undefined
      ? relayed
      : a.content !== undefined
        ? await transport.putContent(fillRaw(a.content, env.scope), dest, opts)
        : await transport.putFile(fillRaw(a.src ?? '', env.scope), dest, { ...opts, ...(want ? { expectedSha256: want } : {}) });
  if (want && res.sha256 !== want) {
    return done({ status: 'failed', changed: true, message: `${dest}: sha256 ${res.sha256} does not match the expected ${want}` });
  }
  if (a.owner) {
    const owner = fillRaw(a.owner, env.scope);
    const r = await transport.exec(`chown ${shq(owner)} ${shq(dest)}`, { timeoutMs: env.task.timeoutSec * 1000, become: env.task.become, signal: env.signal });
    if (r.code !== 0) {
      const why = r.code === null ? 'no exit status' : `exit code ${r.code}`;
      return done({ status: r.code === null ? 'unknown' : 'failed', changed: true, message: `chown ${owner} ${dest}: ${why} ${lastLine(r.stderr)}`.trim() });
    }
  }
  record.code = 0;
  if (a.bind) env.local[a.bind] = { bytes: res.bytes, sha256: res.sha256, dest };
  return done({ status: 'ok', changed: true });
}

/** A put relayed between the task's hosts; undefined when it falls back to a copy of its own (said in the output). */
async function relayPut(
  a: Extract<Action, { kind: 'put' }>,
  env: ActionEnv,
  transport: Transport,
  dest: string,
  want: string,
  record: ActionRecord,
): Promise<{ ok: true; bytes: number; sha256: string } | { ok: false; error: Error } | undefined> {
  const relay = a.relay as NonNullable<typeof a.relay>;
  // The relay's account (chain, compression and why, heals, totals) is this put's output, shown with -v and kept in the journal.
  const lines: string[] = [];
  const log = (line: string): void => {
    const text = env.redact.text(line);
    lines.push(text);
    record.stdoutTail = tail(lines.join('\n'));
    env.output('stdout', `${text}\n`);
  };
  const r = await (env.group as TaskGroup).join({
    member: { host: env.step.host, transport, listen: fillRaw(relay.listen, env.scope), dest, mode: a.mode, become: env.task.become },
    src: fillRaw(a.src ?? '', env.scope),
    sha256: want,
    compress: relay.compress,
    signal: env.signal,
    timeoutMs: env.task.timeoutSec * 1000,
    log,
  });
  if (r.ok === 'fallback') {
    log(`relay not used (${r.why}): copying from the controller`);
    return undefined;
  }
  return r;
}

async function runGet(a: Extract<Action, { kind: 'get' }>, env: ActionEnv, record: ActionRecord, done: Done): Promise<ActionOutcome> {
  const transport = await env.target();
  const src = fillRaw(a.src, env.scope);
  const destArg = fillRaw(a.dest, env.scope);
  const isDir =
    destArg.endsWith('/') ||
    (await stat(destArg).then(
      (s) => s.isDirectory(),
      () => false,
    ));
  const dest = isDir ? join(destArg, basename(src)) : destArg;
  await mkdir(dirname(dest), { recursive: true });
  const res = await transport.getFile(src, dest, { signal: env.signal, become: env.task.become });
  record.code = 0;
  if (a.bind) env.local[a.bind] = { bytes: res.bytes, sha256: res.sha256, dest };
  return done({ status: 'ok', changed: false });
}

function runCheck(a: Extract<Action, { kind: 'check' }>, env: ActionEnv, _record: ActionRecord, done: Done): ActionOutcome {
  const scope = conditionScope(env.scope);
  for (const c of a.that) {
    let holds: boolean;
    try {
      holds = evalAll([c], scope);
    } catch (e) {
      return done({ status: 'failed', changed: false, message: `assert ${c}: ${errorText(e)}` });
    }
    if (!holds) return done({ status: 'failed', changed: false, message: a.message !== undefined ? fillRaw(a.message, env.scope) : `assertion failed: ${c}` });
  }
  if (a.bind) env.local[a.bind] = true;
  return done({ status: 'ok', changed: false });
}

function runFail(a: Extract<Action, { kind: 'fail' }>, env: ActionEnv, _record: ActionRecord, done: Done): ActionOutcome {
  return done({ status: 'failed', changed: false, message: fillRaw(a.message, env.scope) });
}

async function runPause(a: Extract<Action, { kind: 'pause' }>, env: ActionEnv, _record: ActionRecord, done: Done): Promise<ActionOutcome> {
  if (a.prompt !== undefined) {
    const answer = await env.confirm(fillRaw(a.prompt, env.scope));
    if (answer !== true) return done({ status: 'failed', changed: false, message: answer });
  }
  if (a.seconds !== undefined && a.seconds > 0 && !(await sleep(a.seconds * 1000, env.signal))) {
    return done({ status: 'failed', changed: false, message: 'pause interrupted' });
  }
  return done({ status: 'ok', changed: false });
}

function runSetFact(a: Extract<Action, { kind: 'set_fact' }>, env: ActionEnv, _record: ActionRecord, done: Done): ActionOutcome {
  const facts = resolveValue(a.facts, env.scope) as JsonObject;
  if (a.bind) env.local[a.bind] = facts;
  return done({ status: 'ok', changed: false, facts });
}

function runDerive(a: Extract<Action, { kind: 'derive' }>, env: ActionEnv, _record: ActionRecord, done: Done): ActionOutcome {
  const fn = DERIVE[a.fn];
  if (!fn) return done({ status: 'failed', changed: false, message: `unknown derive function "${a.fn}"` });
  const args = a.args.map((x) => resolveValue(x, env.scope));
  let value: Json;
  try {
    value = fn(...args);
  } catch (e) {
    // Refusals (quorum preflight, members still serving) reach the user verbatim.
    // A refusal marked final (etcd will refuse the same change again) is not retried.
    const final = e instanceof DeriveError && (e as { final?: boolean }).final === true;
    return done({ status: 'failed', changed: false, ...(final ? { final } : {}), message: e instanceof DeriveError ? e.message : `${a.fn}: ${errorText(e)}` });
  }
  if (a.bind) env.local[a.bind] = value;
  return done({ status: 'ok', changed: false });
}

async function runRemote(a: Extract<Action, { kind: 'remote' }>, env: ActionEnv, record: ActionRecord, done: Done): Promise<ActionOutcome> {
  const op = Object.prototype.hasOwnProperty.call(REMOTE_OPS, a.op) ? REMOTE_OPS[a.op] : undefined;
  if (!op) return done({ status: 'failed', changed: false, message: `unknown remote operation "${a.op}"` });
  const lines: string[] = [];
  // The task's timeout bounds the whole operation (an upload's parts each have their own stall timeout too).
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  env.signal.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop.abort();
  }, env.task.timeoutSec * 1000);
  try {
    const value = await Promise.race([
      op(resolveValue(a.args, env.scope) as JsonObject, {
        scope: env.scope,
        redact: env.redact,
        signal: stop.signal,
        say: (line) => {
          lines.push(line);
          env.output('stdout', `${env.redact.text(line)}\n`);
        },
      }),
      new Promise<never>((_, reject) => stop.signal.addEventListener('abort', () => reject(new Error(timedOut ? 'timed out' : 'interrupted')), { once: true })),
    ]);
    record.code = 0;
    if (lines.length) record.stdoutTail = env.redact.text(tail(lines.join('\n')));
    if (a.bind) env.local[a.bind] = value;
    return done({ status: 'ok', changed: a.op === 'upload' || a.op === 'prune' || a.op === 'download' || a.op === 'metrics' });
  } catch (e) {
    if (lines.length) record.stdoutTail = env.redact.text(tail(lines.join('\n')));
    if (!timedOut) throw e;
    record.timedOut = true;
    return done({ status: 'failed', changed: false, message: `${a.op}: timed out after ${env.task.timeoutSec} s and was stopped` });
  } finally {
    clearTimeout(timer);
    env.signal.removeEventListener('abort', onAbort);
  }
}
