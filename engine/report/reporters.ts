// The executor's one subscriber: every event goes to the journal on disk and to one view
// (listr2 tree on a terminal, plain lines, or JSON lines), and the run ends with the same summary
// in every mode: failures, the per-host recap, run id and journal path. Everything printed or
// stored passes through the redactor.
import type { Io } from '../model/io.js';
import type { Emit, EventMap, EventName, RunEvent } from '../model/events.js';
import type { Plan } from '../model/types.js';
import { eventLine } from './event-json.js';
import { JournalWriter } from './journal.js';
import type { LiveReporter } from './live.js';
import { LineSplitter } from './output-lines.js';
import { makeRedactor, redactDeep, type Redactor } from '../redact/redact.js';
import { renderSummary, RunTracker } from './summary.js';
import { TextReporter } from './text.js';

export interface ReporterOptions {
  /** auto: the listr2 tree when io.isTTY, plain lines otherwise; text: plain lines; json: JSON lines. */
  mode: 'auto' | 'text' | 'json';
  io: Io;
  verbose: number;
  /** Secret values to redact from everything printed and journaled. */
  secrets: string[];
  journalDir: string;
  runId: string;
  plan: Plan;
  /** Clock for event timestamps (tests). */
  now?: () => Date;
}

export interface Reporter {
  emit: Emit;
  /** Finishes the view (waits for the live tree's last frame), prints the summary if run.end did not, closes the journal. */
  close(): Promise<void>;
  journalPath: string;
}

interface View {
  /** Sees each event before the tracker does. */
  handle(ev: RunEvent): void;
  finish(): void | Promise<void>;
}

/** One JSON object per event on stdout; streamed output re-cut into whole lines so redaction sees whole secrets. */
class JsonReporter implements View {
  private readonly lines = new LineSplitter();
  private lastAt = '';
  constructor(
    private readonly write: (s: string) => void,
    private readonly redact: Redactor,
  ) {}

  handle(ev: RunEvent): void {
    this.lastAt = ev.at;
    if (ev.type === 'step.output') {
      for (const l of this.lines.feed(ev.stepId, ev.host, ev.stream, ev.text)) this.output(ev.at, l.stepId, l.host, l.stream, `${l.line}\n`);
      return;
    }
    if (ev.type === 'step.end') this.flush(ev.at, ev.stepId);
    this.print(ev);
  }

  finish(): void {
    this.flush(this.lastAt);
  }

  private flush(at: string, stepId?: string): void {
    for (const l of this.lines.flush(stepId)) this.output(at, l.stepId, l.host, l.stream, l.line);
  }

  private output(at: string, stepId: string, host: string, stream: 'stdout' | 'stderr', text: string): void {
    this.print({ type: 'step.output', at, stepId, host, stream, text });
  }

  private print(ev: RunEvent): void {
    this.write(`${eventLine(redactDeep(ev, this.redact))}\n`);
  }
}

/** The live tree (listr2) is loaded only for a terminal: CI logs and JSON runs start without it. */
export async function createReporter(opts: ReporterOptions): Promise<Reporter> {
  const live: typeof LiveReporter | undefined = opts.mode === 'auto' && opts.io.isTTY ? (await import('./live.js')).LiveReporter : undefined;
  const { io } = opts;
  const redact = makeRedactor(opts.secrets);
  const now = opts.now ?? ((): Date => new Date());
  const tracker = new RunTracker(opts.plan);
  // Created first: a run that cannot keep a journal does not start.
  const journal = new JournalWriter(opts.journalDir, opts.runId, opts.plan, redact, now().toISOString());
  const out = (s: string): void => io.out(redact(s));
  const err = (s: string): void => io.err(redact(s));

  const view: View =
    opts.mode === 'json'
      ? new JsonReporter((s) => io.out(redact(s)), redact)
      : live
        ? new live(io, redact, tracker)
        : new TextReporter(out, tracker, opts.verbose);
  // JSON mode keeps stdout machine-readable: the human summary goes to stderr.
  const summaryTo = opts.mode === 'json' ? err : out;

  const complained = new Set<string>();
  const complain = (what: string, e: unknown): void => {
    if (complained.has(what)) return;
    complained.add(what);
    err(`runbook: ${what}: ${e instanceof Error ? e.message : String(e)}\n`);
  };

  let summaryPrinted = false;
  const printSummary = (): void => {
    if (summaryPrinted) return;
    summaryPrinted = true;
    summaryTo(renderSummary(tracker, opts.runId, journal.path));
  };
  let finishing: Promise<void> | undefined;
  const finish = (): Promise<void> => {
    if (!finishing) {
      let r: void | Promise<void> = undefined;
      try {
        r = view.finish();
      } catch (e) {
        complain('reporter error', e);
      }
      if (r instanceof Promise) finishing = r.catch((e: unknown) => complain('reporter error', e)).then(printSummary);
      else {
        printSummary();
        finishing = Promise.resolve();
      }
    }
    return finishing;
  };

  let closed = false;
  const emit = <K extends EventName>(type: K, data: EventMap[K]): void => {
    if (closed) return;
    const ev = { type, at: now().toISOString(), ...data } as unknown as RunEvent;
    // Reporting must never break the run it reports on: failures are said once on stderr.
    try {
      journal.append(ev);
    } catch (e) {
      complain(`journal write failed (${journal.path}); --resume will not know about later steps`, e);
    }
    try {
      view.handle(ev);
    } catch (e) {
      complain('reporter error', e);
    }
    tracker.feed(ev);
    if (ev.type === 'run.end') {
      try {
        journal.sync();
      } catch (e) {
        complain(`journal sync failed (${journal.path})`, e);
      }
      void finish();
    }
  };

  const close = async (): Promise<void> => {
    if (closed) {
      await finishing;
      return;
    }
    closed = true;
    await finish();
    try {
      journal.close();
    } catch (e) {
      complain(`journal close failed (${journal.path})`, e);
    }
  };

  return { emit, close, journalPath: journal.path };
}
