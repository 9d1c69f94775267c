// What every reporter needs to know about a run in progress, and the end-of-run text they all
// print: failures (plainly, whatever renderer ran before), the recap table, run id and journal.
import { emptyRecap, type EventMap, type Recap, type RunEvent, type StepResult, type StepStatus } from '../model/events.js';
import type { Plan, PlannedTask } from '../model/types.js';

export type EventOf<K extends RunEvent['type']> = Extract<RunEvent, { type: K }>;

export function fmtDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${sec}s` : `${m}m${sec}s`;
}

/** Local wall-clock time of an ISO timestamp, HH:MM:SS. */
export function fmtClock(at: string): string {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return at;
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** The first line of a text, marked with … when more follows. */
export function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : `${s.slice(0, i)} …`;
}

export function lastLines(text: string | undefined, n: number): string[] {
  if (!text) return [];
  const lines = text.replace(/\s+$/, '').split(/\r?\n/);
  return lines.slice(Math.max(0, lines.length - n));
}

/** The one-line reason a step did not succeed: the executor's message, else the failing command's rc and stderr. */
export function outcomeMessage(r: StepResult): string {
  if (r.message) return r.message;
  const bad = [...r.actions].reverse().find((a) => !a.skipped && (a.timedOut || (a.code !== null && a.code !== 0)));
  if (bad) {
    const tail = lastLines(bad.stderrTail || bad.stdoutTail, 1)[0];
    const head = bad.timedOut ? 'timed out' : `rc=${bad.code}`;
    return tail ? `${head}: ${tail}` : head;
  }
  if (r.status === 'unknown') return 'outcome unknown';
  return r.status;
}

export interface Failure {
  host: string;
  stepId?: string;
  /** "1.3 Stop etcd" */
  task?: string;
  status: StepStatus;
  message: string;
  cmd?: string;
}

export const RECAP_KEYS = ['ok', 'changed', 'unreachable', 'failed', 'skipped', 'unknown', 'ignored'] as const;

export class RunTracker {
  start?: EventOf<'run.start'>;
  end?: EventOf<'run.end'>;
  readonly failures: Failure[] = [];
  readonly warnings: string[] = [];
  /** Fallback recap, counted from step.end events (Ansible's convention: `ok` includes `changed`). */
  private readonly tally = new Map<string, Required<Recap>>();
  private readonly unreachableHosts = new Set<string>();
  private readonly batchesSeen = new Map<number, number>();

  constructor(readonly plan: Plan) {}

  task(play: number, task: number): PlannedTask | undefined {
    return this.plan.plays.find((p) => p.index === play)?.tasks.find((t) => t.index === task);
  }

  taskLabel(play: number, task: number): string {
    const t = this.task(play, task);
    return `${play}.${task}${t ? ` ${t.name}` : ''}`;
  }

  /** A failed step of an ignore_errors task. */
  isIgnored(ev: EventMap['step.end']): boolean {
    return ev.result.status === 'failed' && (ev.result.ignored === true || this.task(ev.play, ev.task)?.ignoreErrors === true);
  }

  /** The batch (1-based, from the last batch.start) a play is in; 1 before any. */
  batchOf(play: number): number {
    return this.batchesSeen.get(play) ?? 1;
  }

  feed(ev: RunEvent): void {
    switch (ev.type) {
      case 'run.start':
        this.start = ev;
        break;
      case 'run.end':
        this.end = ev;
        break;
      case 'batch.start':
        this.batchesSeen.set(ev.play, ev.batch);
        break;
      case 'step.end': {
        const r = this.row(ev.host);
        const s = ev.result.status;
        const ignored = this.isIgnored(ev);
        if (s === 'ok') r.ok++;
        else if (s === 'changed') {
          r.ok++;
          r.changed++;
        } else if (s === 'skipped') r.skipped++;
        else if (s === 'failed') {
          if (ignored) r.ignored++;
          else r.failed++;
        } else if (s === 'unreachable') r.unreachable++;
        else r.unknown++;
        if (s === 'unreachable') {
          // A host.unreachable that came first is superseded by the step's own record.
          const i = this.failures.findIndex((f) => f.host === ev.host && f.stepId === undefined && f.status === 'unreachable');
          if (i >= 0) this.failures.splice(i, 1);
        }
        if ((s === 'failed' && !ignored) || s === 'unreachable' || s === 'unknown') {
          const failing = [...ev.result.actions].reverse().find((a) => !a.skipped && a.cmd !== undefined);
          this.failures.push({
            host: ev.host,
            stepId: ev.stepId,
            task: this.taskLabel(ev.play, ev.task),
            status: s,
            message: outcomeMessage(ev.result),
            ...(failing?.cmd !== undefined && s !== 'unreachable' ? { cmd: failing.cmd } : {}),
          });
          if (s === 'unreachable') this.unreachableHosts.add(ev.host);
        }
        break;
      }
      case 'host.unreachable':
        this.row(ev.host);
        if (!this.unreachableHosts.has(ev.host)) {
          this.unreachableHosts.add(ev.host);
          this.failures.push({ host: ev.host, status: 'unreachable', message: ev.message });
        }
        break;
      case 'warning':
        this.warnings.push(ev.host ? `${ev.host}: ${ev.message}` : ev.message);
        break;
      default:
        break;
    }
  }

  /** Whether a host.unreachable for this host adds anything to what step.end already said. */
  knownUnreachable(host: string): boolean {
    return this.unreachableHosts.has(host);
  }

  recap(): Record<string, Recap> {
    if (this.end) return this.end.recap;
    return Object.fromEntries(this.tally);
  }

  /** Hosts in run order: run.start's list, then any others the recap or events name. */
  hostOrder(recap: Record<string, Recap>): string[] {
    const seen = new Set<string>([...(this.start?.hosts ?? []), ...this.plan.plays.flatMap((p) => p.hosts)]);
    const order = [...seen].filter((h) => h in recap);
    for (const h of Object.keys(recap)) if (!order.includes(h)) order.push(h);
    return order;
  }

  private row(host: string): Required<Recap> {
    let r = this.tally.get(host);
    if (!r) {
      r = emptyRecap();
      this.tally.set(host, r);
    }
    return r;
  }
}

export function recapLines(recap: Record<string, Recap>, hosts: string[]): string[] {
  const width = Math.max(0, ...hosts.map((h) => h.length));
  return hosts.map((h) => {
    const r: Recap | undefined = recap[h];
    const cells = RECAP_KEYS.map((k) => `${k}=${r?.[k] ?? 0}`);
    return `${h.padEnd(width)}  ${cells.join(' ')}`;
  });
}

/**
 * The end-of-run text, the same in every mode: warnings, failures with their messages, the recap
 * table, the outcome and where the journal is. Not redacted here: callers print it through the redactor.
 */
export function renderSummary(t: RunTracker, runId: string, journalPath: string): string {
  const out: string[] = [''];
  if (t.warnings.length) {
    out.push('WARNINGS');
    for (const w of t.warnings) out.push(`  ${w}`);
    out.push('');
  }
  if (t.failures.length) {
    out.push('FAILURES');
    for (const f of t.failures) {
      const label = f.status === 'failed' ? 'FAILED' : f.status.toUpperCase();
      const where = f.task ? `  TASK ${f.task}` : '';
      const [first = '', ...rest] = f.message.split(/\r?\n/);
      out.push(`  ${label} ${f.host}${where}: ${first}`);
      for (const l of rest) out.push(`      ${l}`);
      if (f.cmd !== undefined) out.push(`      $ ${f.cmd.split('\n')[0] ?? ''}${f.cmd.includes('\n') ? ' …' : ''}`);
    }
    out.push('');
  }
  const recap = t.recap();
  const end = t.end;
  const outcome = end ? (end.interrupted ? 'INTERRUPTED' : end.ok ? 'ok' : 'FAILED') : 'DID NOT FINISH (no run.end)';
  const tail = end ? ` · ${fmtDuration(end.durationMs)} · exit code ${end.exitCode}` : '';
  out.push(`RECAP  run ${runId} · ${outcome}${tail}`);
  const hosts = t.hostOrder(recap);
  if (hosts.length === 0) out.push('  (no hosts)');
  for (const l of recapLines(recap, hosts)) out.push(`  ${l}`);
  out.push(`run id: ${runId}`);
  out.push(`journal: ${journalPath}`);
  return `${out.join('\n')}\n`;
}
