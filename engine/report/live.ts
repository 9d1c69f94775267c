// The live tree on a terminal: play → task → host, with spinners, statuses and durations. In a play
// with serial batches each task appears once per batch ("TASK 2.1 · Stop etcd · batch 2/3").
// listr2 is used purely as a renderer: the executor drives the run, and every listr2 task just waits
// for the event that settles it. Each node has a slot (a promise) keyed by its place in the tree;
// events settle slots whether or not listr2 has reached that node yet, and play.end / task.end /
// run.end seal what never ran, so the tree always completes and close() can await it.
import { DefaultRenderer, Listr, ListrLogger, ProcessOutput, createWritable, type ListrTask, type ListrTaskWrapper } from 'listr2';
import type { Io } from '../model/io.js';
import type { RunEvent, StepResult } from '../model/events.js';
import type { PlannedPlay, PlannedTask } from '../model/types.js';
import { LineSplitter } from './output-lines.js';
import type { Redactor } from '../redact/redact.js';
import { firstLine, fmtDuration, outcomeMessage, type RunTracker } from './summary.js';
import { statusLabel } from './text.js';

/** Chooses the tree renderer from `io.isTTY`, not from process.stdout (which may be redirected in tests). */
class TreeRenderer extends DefaultRenderer {
  static override nonTTY = true;
}

type Ctx = Record<string, never>;
type Wrapper = ListrTaskWrapper<Ctx, typeof TreeRenderer, typeof TreeRenderer>;
type Node = ListrTask<Ctx, typeof TreeRenderer, typeof TreeRenderer>;

const NOT_RUN = Symbol('not run');

interface Slot<T> {
  promise: Promise<T | typeof NOT_RUN>;
  resolve: (v: T | typeof NOT_RUN) => void;
  settled: boolean;
}

/** Promises keyed by tree position ("<play>|b<batch>|t<task>|h<host>"); sealing a prefix settles them as not run. */
class Slots<T> {
  private readonly map = new Map<string, Slot<T>>();
  private readonly sealed: string[] = [];

  get(key: string): Slot<T> {
    let slot = this.map.get(key);
    if (!slot) {
      let resolve!: (v: T | typeof NOT_RUN) => void;
      const promise = new Promise<T | typeof NOT_RUN>((r) => (resolve = r));
      const s: Slot<T> = { promise, resolve: (v) => ((s.settled = true), resolve(v)), settled: false };
      slot = s;
      this.map.set(key, slot);
      if (this.sealed.some((p) => key.startsWith(p))) slot.resolve(NOT_RUN);
    }
    return slot;
  }

  settle(key: string, value: T): void {
    const slot = this.get(key);
    if (!slot.settled) slot.resolve(value);
  }

  seal(prefix: string): void {
    this.sealed.push(prefix);
    for (const [key, slot] of this.map) if (key.startsWith(prefix) && !slot.settled) slot.resolve(NOT_RUN);
  }
}

/** A node's title and output, applied to its listr2 task once that task runs. */
class View {
  title: string;
  output?: string;
  wrapper?: Wrapper;
  constructor(title: string) {
    this.title = title;
  }
  attach(w: Wrapper): void {
    this.wrapper = w;
    w.title = this.title;
    if (this.output !== undefined) w.output = this.output;
  }
  setTitle(t: string): void {
    this.title = t;
    if (this.wrapper) this.wrapper.title = t;
  }
  setOutput(o: string): void {
    this.output = o;
    // listr2 drops a task's output buffer when the task finishes; output after that would throw.
    if (this.wrapper?.task.isPending()) this.wrapper.output = o;
  }
}

interface StepOutcome {
  result: StepResult;
  ignored: boolean;
}

const playKey = (p: number): string => `${p}|`;
const taskKey = (p: number, b: number, t: number): string => `${p}|b${b}|t${t}|`;
const hostKey = (p: number, b: number, t: number, h: string): string => `${p}|b${b}|t${t}|h${h}`;

export class LiveReporter {
  private readonly plays = new Slots<true>();
  private readonly tasks = new Slots<string[]>();
  private readonly steps = new Slots<StepOutcome>();
  private readonly views = new Map<string, View>();
  /** stepId → tree key, learned at task.start. */
  private readonly stepKeys = new Map<string, { key: string; host: string }>();
  private readonly taskStarted = new Map<string, number>();
  private readonly lines = new LineSplitter();
  private readonly done: Promise<void>;
  private lastPlay = 0;
  private finishing = false;

  constructor(
    io: Io,
    private readonly redact: Redactor,
    private readonly t: RunTracker,
  ) {
    const sink = (write: (s: string) => void): NodeJS.WriteStream => {
      const w = createWritable((chunk) => write(redact(chunk)));
      // Real sizes: log-update clips each frame to the terminal height so it can erase it again.
      Object.assign(w, { columns: process.stdout.columns || 80, rows: process.stdout.rows || 24 });
      return w as unknown as NodeJS.WriteStream;
    };
    const logger = new ListrLogger({ useIcons: true, toStderr: [], processOutput: new ProcessOutput(sink(io.out), sink(io.err)) });
    const listr = new Listr<Ctx, typeof TreeRenderer, typeof TreeRenderer>(
      t.plan.plays.map((p) => this.playNode(p)),
      {
        concurrent: false,
        exitOnError: false,
        // The CLI owns SIGINT (it ends the run and closes the reporter).
        registerSignalListeners: false,
        renderer: TreeRenderer,
        fallbackRenderer: TreeRenderer,
        rendererOptions: {
          logger,
          collapseSubtasks: true,
          collapseErrors: false,
          showErrorMessage: true,
          formatOutput: 'truncate',
          showSkipMessage: true,
          collapseSkips: true,
        },
      },
    );
    // listr2 hides the cursor while drawing; a process that exits mid-run (second Ctrl-C) gets it back.
    const showCursor = (): void => io.out('\u001b[?25h');
    process.once('exit', showCursor);
    this.done = listr
      .run()
      .then(
        () => undefined,
        (e: unknown) => io.err(redact(`runbook: the live view failed: ${e instanceof Error ? e.message : String(e)}\n`)),
      )
      .finally(() => process.off('exit', showCursor));
  }

  /** Called before the tracker sees `ev`. */
  handle(ev: RunEvent): void {
    // Once finishing, the tree only settles; a late title change would draw a frame after the summary.
    if (this.finishing) return;
    switch (ev.type) {
      case 'play.start':
        this.lastPlay = ev.play;
        this.plays.settle(playKey(ev.play), true);
        break;
      case 'task.start': {
        const b = this.batchOf(ev.play);
        const key = taskKey(ev.play, b, ev.task);
        const planned = this.t.task(ev.play, ev.task);
        for (const h of ev.hosts) {
          const id = planned?.steps.find((s) => s.host === h)?.id ?? `${ev.play}.${ev.task}@${h}`;
          this.stepKeys.set(id, { key: hostKey(ev.play, b, ev.task, h), host: h });
        }
        this.taskStarted.set(key, Date.parse(ev.at));
        this.tasks.settle(key, ev.hosts);
        break;
      }
      case 'step.start': {
        const v = this.stepView(ev.stepId);
        if (v) v.setTitle(this.redact(`${ev.host}${ev.target !== ev.host ? ` → ${ev.target}` : ''}${ev.attempt > 1 ? ` · attempt ${ev.attempt}` : ''}`));
        break;
      }
      case 'step.output': {
        const v = this.stepView(ev.stepId);
        const last = this.lines.feed(ev.stepId, ev.host, ev.stream, ev.text).pop();
        if (v && last && last.line.trim()) v.setOutput(this.redact(last.line));
        break;
      }
      case 'step.retry': {
        const v = this.stepView(ev.stepId);
        if (v) v.setTitle(this.redact(`${ev.host} · retry (attempt ${ev.attempt}, again in ${ev.delaySec}s): ${firstLine(ev.reason)}`));
        break;
      }
      case 'step.end': {
        this.lines.flush(ev.stepId);
        const key = this.stepKeys.get(ev.stepId)?.key;
        if (key) this.steps.settle(key, { result: ev.result, ignored: this.t.isIgnored(ev) });
        break;
      }
      case 'task.end': {
        const key = taskKey(ev.play, this.batchOf(ev.play), ev.task);
        const started = this.taskStarted.get(key);
        const play = this.t.plan.plays.find((p) => p.index === ev.play);
        const planned = play?.tasks.find((x) => x.index === ev.task);
        if (started !== undefined && play && planned) {
          this.view(key, '').setTitle(this.redact(`${taskTitle(play, planned, this.batchOf(ev.play))} · ${fmtDuration(Date.parse(ev.at) - started)}`));
        }
        this.steps.seal(key);
        break;
      }
      case 'play.end': {
        const play = this.t.plan.plays.find((p) => p.index === ev.play);
        if (ev.aborted && play) this.view(playKey(ev.play), '').setTitle(this.redact(`${playTitle(play)} · aborted: ${firstLine(ev.aborted)}`));
        this.sealAll(playKey(ev.play));
        break;
      }
      case 'warning': {
        const v = this.views.get(this.currentPlayKey());
        if (v) v.setOutput(this.redact(`warning: ${ev.host ? `${ev.host}: ` : ''}${firstLine(ev.message)}`));
        break;
      }
      default:
        break;
    }
  }

  /** Settles everything that has not run and waits for the renderer's last frame. */
  finish(): Promise<void> {
    this.finishing = true;
    this.sealAll('');
    return this.done;
  }

  private currentPlayKey(): string {
    return playKey(this.lastPlay);
  }

  private sealAll(prefix: string): void {
    this.plays.seal(prefix);
    this.tasks.seal(prefix);
    this.steps.seal(prefix);
  }

  private multiBatch(play: number): boolean {
    return (this.t.plan.plays.find((p) => p.index === play)?.batches.length ?? 0) > 1;
  }

  private batchOf(play: number): number {
    return this.multiBatch(play) ? this.t.batchOf(play) : 1;
  }

  private view(key: string, title: string): View {
    let v = this.views.get(key);
    if (!v) {
      v = new View(title);
      this.views.set(key, v);
    }
    return v;
  }

  private stepView(stepId: string): View | undefined {
    const s = this.stepKeys.get(stepId);
    return s ? this.view(s.key, this.redact(s.host)) : undefined;
  }

  private playNode(play: PlannedPlay): Node {
    const key = playKey(play.index);
    const title = this.redact(playTitle(play));
    return {
      title,
      task: async (_ctx, w) => {
        const v = this.view(key, title);
        v.attach(w);
        if ((await this.plays.get(key).promise) === NOT_RUN) return w.skip(`${v.title} · not run`);
        const batches = play.batches.length > 1 ? play.batches : [play.hosts];
        const children = batches.flatMap((hosts, i) => play.tasks.map((t) => this.taskNode(play, i + 1, t)));
        return w.newListr(children, { concurrent: false, exitOnError: false });
      },
    };
  }

  private taskNode(play: PlannedPlay, b: number, task: PlannedTask): Node {
    const key = taskKey(play.index, b, task.index);
    const title = this.redact(taskTitle(play, task, b));
    return {
      title,
      task: async (_ctx, w) => {
        const v = this.view(key, title);
        v.attach(w);
        const hosts = await this.tasks.get(key).promise;
        if (hosts === NOT_RUN) return w.skip(`${v.title} · not run`);
        const keys = hosts.map((h) => hostKey(play.index, b, task.index, h));
        return w.newListr([...hosts.map((h, i) => this.hostNode(keys[i] as string, h)), this.verdictNode(keys)], { concurrent: true, exitOnError: true });
      },
    };
  }

  /**
   * Untitled, so not drawn: fails the task row once every host has finished and one of them failed.
   * (Failing the row earlier would make listr2 mark the hosts still running as failed too.)
   */
  private verdictNode(keys: string[]): Node {
    return {
      task: async () => {
        const outcomes = await Promise.all(keys.map((k) => this.steps.get(k).promise));
        const failed = outcomes.filter((o) => o !== NOT_RUN && !o.ignored && ['failed', 'unreachable', 'unknown'].includes(o.result.status)).length;
        if (failed) throw new Error(`${failed} host${failed > 1 ? 's' : ''} failed`);
      },
    };
  }

  private hostNode(key: string, host: string): Node {
    const title = this.redact(host);
    return {
      title,
      // A host's failure is drawn on its row; the verdict node decides for the task row.
      exitOnError: false,
      task: async (_ctx, w) => {
        const v = this.view(key, title);
        v.attach(w);
        const outcome = await this.steps.get(key).promise;
        if (outcome === NOT_RUN) return w.skip(`${host} · not run`);
        const r = outcome.result;
        const dur = `${fmtDuration(r.durationMs)}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}`;
        const msg = firstLine(outcomeMessage(r));
        switch (r.status) {
          case 'ok':
          case 'changed':
            v.setTitle(this.redact(`${host} · ${r.status} · ${dur}`));
            return;
          case 'skipped':
            return w.skip(this.redact(`${host} · skipped: ${r.message ?? 'skipped'}`));
          default:
            if (outcome.ignored) {
              v.setTitle(this.redact(`${host} · FAILED (ignored): ${msg}`));
              return;
            }
            v.setTitle(this.redact(`${host} · ${statusLabel(r)} · ${dur}`));
            throw new Error(this.redact(msg));
        }
      },
    };
  }
}

function playTitle(play: PlannedPlay): string {
  return `PLAY ${play.index} · ${play.name}`;
}

function taskTitle(play: PlannedPlay, task: PlannedTask, batch: number): string {
  const n = play.batches.length;
  return `TASK ${play.index}.${task.index} · ${task.name}${n > 1 ? ` · batch ${batch}/${n}: ${(play.batches[batch - 1] ?? []).join(', ')}` : ''}`;
}
