// Plain lines, one per event that matters: for CI logs and any output that is not a terminal.
//   [12:00:01] TASK 1.3 Stop etcd
//     ok       etcd-1  (0.4s)
//     FAILED   etcd-2  rc=1: <stderr tail>
// -v adds each command with its exit code and output tails; -vv streams output lines as they come.
import type { ActionRecord, RunEvent, StepResult } from '../model/events.js';
import { describeAction } from './plan-text.js';
import { LineSplitter, type OutputLine } from './output-lines.js';
import { type EventOf, firstLine, fmtClock, fmtDuration, lastLines, outcomeMessage, type RunTracker } from './summary.js';

const TAIL_LINES = 20;
const INDENT = '           ';

export function statusLabel(r: StepResult): string {
  switch (r.status) {
    case 'failed':
      return 'FAILED';
    case 'unreachable':
      return 'UNREACHABLE';
    case 'unknown':
      return 'UNKNOWN';
    default:
      return r.status;
  }
}

export class TextReporter {
  private readonly lines = new LineSplitter();
  private readonly streamed = new Set<string>();

  /** `write` receives whole lines and redacts them. */
  constructor(
    private readonly write: (text: string) => void,
    private readonly t: RunTracker,
    private readonly verbose: number,
  ) {}

  /** Called before the tracker sees `ev`. */
  handle(ev: RunEvent): void {
    const stamp = `[${fmtClock(ev.at)}]`;
    switch (ev.type) {
      case 'run.start': {
        const extra = [ev.check ? 'check mode' : '', ev.resumedFrom ? `resuming run ${ev.resumedFrom}` : ''].filter(Boolean);
        const hosts = ev.hosts.join(', ') || '(none)';
        const more = extra.length ? ` · ${extra.join(' · ')}` : '';
        this.line(`${stamp} RUN ${ev.runId} · playbook ${ev.playbook} · inventory ${ev.inventory} · hosts ${hosts}${more}`);
        break;
      }
      case 'play.start':
        this.line('');
        this.line(`${stamp} PLAY ${ev.play} ${ev.name} · hosts ${ev.hosts.join(', ') || '(none)'}`);
        break;
      case 'batch.start': {
        const total = this.t.plan.plays.find((p) => p.index === ev.play)?.batches.length ?? 0;
        if (total > 1) this.line(`${stamp} BATCH ${ev.batch}/${total} · hosts ${ev.hosts.join(', ')}`);
        break;
      }
      case 'task.start':
        this.line(`${stamp} TASK ${ev.play}.${ev.task} ${ev.name}${this.verbose >= 1 ? `  (${ev.module})` : ''}`);
        break;
      case 'step.start':
        if (this.verbose >= 2) {
          this.line(`  start    ${ev.host}${ev.target !== ev.host ? ` → ${ev.target}` : ''}${ev.attempt > 1 ? `  (attempt ${ev.attempt})` : ''}`);
        }
        break;
      case 'step.output':
        if (this.verbose >= 2) {
          this.streamed.add(ev.stepId);
          this.output(this.lines.feed(ev.stepId, ev.host, ev.stream, ev.text));
        }
        break;
      case 'step.retry':
        this.line(`  retry    ${ev.host}  (attempt ${ev.attempt}, again in ${ev.delaySec}s): ${ev.reason}`);
        break;
      case 'step.end':
        this.output(this.lines.flush(ev.stepId));
        this.stepEnd(ev);
        break;
      case 'host.unreachable':
        if (!this.t.knownUnreachable(ev.host)) this.line(`  UNREACHABLE ${ev.host}  ${ev.message}`);
        break;
      case 'host.failed':
        if (this.verbose >= 1) this.line(`  ${ev.host} leaves the run after ${ev.stepId}: ${ev.message}`);
        break;
      case 'play.end':
        if (ev.aborted) this.line(`${stamp} PLAY ${ev.play} aborted: ${ev.aborted}`);
        break;
      case 'warning':
        this.line(`${stamp} WARNING ${ev.host ? `${ev.host}: ` : ''}${ev.message}`);
        break;
      case 'task.end':
      case 'run.end':
        break;
    }
  }

  /** Output lines still waiting for their newline. */
  finish(): void {
    if (this.verbose >= 2) this.output(this.lines.flush());
  }

  private stepEnd(ev: EventOf<'step.end'>): void {
    const r = ev.result;
    const who = `${ev.host}${ev.target !== ev.host ? ` → ${ev.target}` : ''}`;
    const dur = `${fmtDuration(r.durationMs)}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}`;
    const [first = '', ...more] = outcomeMessage(r).split(/\r?\n/);
    let detail: string;
    switch (r.status) {
      case 'ok':
      case 'changed':
        detail = `(${dur})`;
        break;
      case 'skipped':
        detail = `(${r.message ?? 'skipped'})`;
        more.length = 0;
        break;
      case 'unknown':
        detail = `(${first})`;
        break;
      default:
        detail = `${first}${this.t.isIgnored(ev) ? '  (ignored)' : ''}${r.attempts > 1 ? `  (after ${r.attempts} attempts)` : ''}`;
    }
    this.line(`  ${statusLabel(r).padEnd(8)} ${who}  ${detail}`);
    for (const l of more) this.line(`${INDENT}${l}`);
    const bad = r.status === 'failed' || r.status === 'unknown';
    if (this.verbose >= 1) {
      const showTails = this.verbose === 1 || !this.streamed.has(ev.stepId);
      for (const a of r.actions) this.action(a, showTails, ev);
    } else if (bad) {
      const failing = [...r.actions].reverse().find((a) => !a.skipped && a.cmd !== undefined);
      if (failing?.cmd !== undefined) this.line(`${INDENT}$ ${firstLine(failing.cmd)}`);
    }
    this.streamed.delete(ev.stepId);
  }

  private action(a: ActionRecord, showTails: boolean, ev: EventOf<'step.end'>): void {
    const how = a.skipped ? 'skipped' : `${a.timedOut ? 'timed out' : `rc=${a.code ?? '-'}`} · ${fmtDuration(a.durationMs)}`;
    const what = a.cmd !== undefined ? `$ ${a.cmd}` : (this.planned(ev, a.index) ?? `[${a.kind}]`);
    const [head = '', ...rest] = what.split('\n');
    this.line(`${INDENT}${head}  → ${how}`);
    for (const l of rest) this.line(`${INDENT}  ${l}`);
    if (!showTails || a.skipped) return;
    for (const l of lastLines(a.stdoutTail, TAIL_LINES)) this.line(`${INDENT}| ${l}`);
    for (const l of lastLines(a.stderrTail, TAIL_LINES)) this.line(`${INDENT}! ${l}`);
  }

  /** What the plan says an action without a command does ("put /etc/etcd/etcd.conf ..."). */
  private planned(ev: EventOf<'step.end'>, index: number): string | undefined {
    const step = this.t.task(ev.play, ev.task)?.steps.find((s) => s.id === ev.stepId);
    const action = step?.actions[index];
    return action ? describeAction(action)[0] : undefined;
  }

  private output(lines: OutputLine[]): void {
    for (const o of lines) this.line(`    ${o.host} ${o.stream === 'stderr' ? '!' : '|'} ${o.line}`);
  }

  private line(s: string): void {
    this.write(`${s}\n`);
  }
}
