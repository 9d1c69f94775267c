// Test doubles for the executor unit tests: an in-memory Transport (no SSH, no processes) and
// small builders for plans written as data.
import type { EventMap, EventName } from '../../engine/model/events.js';
import type { Action, Json, Plan, PlannedPlay, PlannedTask, Step } from '../../engine/model/types.js';
import type { ExecOptions, ExecResult, TransferResult, Transport } from '../../engine/transports/transport.js';
import { UnreachableError } from '../../engine/transports/transport.js';

export interface FakeCall {
  host: string;
  cmd: string;
  opts: ExecOptions;
  start: number;
  end: number;
}

export type FakeReply = Partial<ExecResult> | ((cmd: string, opts: ExecOptions) => Partial<ExecResult> | Promise<Partial<ExecResult>>);

/** TEST DOUBLE: a Transport that answers from a script and records every call. */
export class FakeTransport implements Transport {
  readonly calls: FakeCall[] = [];
  readonly files = new Map<string, string>();
  connects = 0;
  closed = false;

  constructor(
    readonly host: string,
    private readonly reply: FakeReply = {},
    private readonly unreachable?: string,
  ) {}

  connect(): Promise<void> {
    this.connects++;
    if (this.unreachable !== undefined) return Promise.reject(new UnreachableError(this.host, this.unreachable, 'connect'));
    return Promise.resolve();
  }

  async exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const start = performance.now();
    const r = typeof this.reply === 'function' ? await this.reply(cmd, opts) : this.reply;
    const result: ExecResult = { code: 0, stdout: '', stderr: '', truncated: false, timedOut: false, aborted: false, durationMs: 0, ...r };
    if (result.stdout) opts.onStdout?.(Buffer.from(result.stdout));
    if (result.stderr) opts.onStderr?.(Buffer.from(result.stderr));
    this.calls.push({ host: this.host, cmd, opts, start, end: performance.now() });
    return result;
  }

  putContent(content: string | Buffer, remotePath: string): Promise<TransferResult> {
    this.files.set(remotePath, content.toString());
    this.calls.push({ host: this.host, cmd: `put ${remotePath}`, opts: {}, start: 0, end: 0 });
    return Promise.resolve({ bytes: content.length, sha256: 'fake' });
  }

  putFile(localPath: string, remotePath: string): Promise<TransferResult> {
    this.files.set(remotePath, `<${localPath}>`);
    return Promise.resolve({ bytes: 0, sha256: 'fake' });
  }

  getFile(): Promise<TransferResult> {
    return Promise.resolve({ bytes: 0, sha256: 'fake' });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

export interface Recorded {
  type: EventName;
  data: EventMap[EventName];
}

/** Collects events; `of(type)` returns them typed. */
export class EventLog {
  readonly all: Recorded[] = [];
  emit = <K extends EventName>(type: K, data: EventMap[K]): void => {
    this.all.push({ type, data });
  };
  of<K extends EventName>(type: K): EventMap[K][] {
    return this.all.filter((e) => e.type === type).map((e) => e.data as EventMap[K]);
  }
  stepEnd(stepId: string): EventMap['step.end'] | undefined {
    return this.of('step.end').find((e) => e.stepId === stepId);
  }
}

const src = { file: 'test.yml', line: 1, col: 1 };

/** A planned task's settings when a test names none: what a bare task compiles to (30 s timeout). */
export function taskDefaults(at: PlannedTask['src']): Omit<PlannedTask, 'index' | 'name' | 'module' | 'steps'> {
  return {
    result: null,
    when: [],
    runOnce: false,
    retries: 0,
    delaySec: 0,
    until: [],
    timeoutSec: 30,
    ignoreErrors: false,
    tags: [],
    become: false,
    checkMode: false,
    src: at,
  };
}

export interface TaskSpec {
  name?: string;
  module?: string;
  /** Actions per host (same for every host when a list). */
  actions: Action[] | ((host: string) => Action[]);
  hosts?: string[];
  extra?: Partial<PlannedTask>;
  stepExtra?: (host: string) => Partial<Step>;
}

export function mkPlay(index: number, hosts: string[], tasks: TaskSpec[], extra: Partial<PlannedPlay> = {}): PlannedPlay {
  return {
    index,
    name: `play ${index}`,
    pattern: 'all',
    hosts,
    batches: [hosts],
    anyErrorsFatal: false,
    destructive: false,
    ...extra,
    tasks: tasks.map((t, i) => {
      const taskHosts = t.hosts ?? (t.extra?.runOnce ? hosts.slice(0, 1) : hosts);
      const task: PlannedTask = {
        ...taskDefaults(src),
        index: i + 1,
        name: t.name ?? `task ${i + 1}`,
        module: t.module ?? 'shell',
        ...t.extra,
        steps: taskHosts.map((h) => ({
          id: `${index}.${i + 1}@${h}`,
          host: h,
          target: h,
          actions: typeof t.actions === 'function' ? t.actions(h) : t.actions,
          needs: [],
          ...(t.stepExtra ? t.stepExtra(h) : {}),
        })),
      };
      return task;
    }),
  };
}

export function mkPlan(plays: PlannedPlay[]): Plan {
  const hosts = [...new Set(plays.flatMap((p) => p.hosts))].filter((h) => h !== 'localhost');
  return {
    format: 'runbook-plan',
    version: 1,
    runbook: 'test',
    playbook: 'test.yml',
    inventory: 'inv.yml',
    cluster: 'test',
    inputs: [],
    hosts: Object.fromEntries(
      hosts.map((h) => [
        h,
        { address: '127.0.0.1', ssh: { user: 'root', port: 22, knownHosts: 'kh', hostKeyChecking: 'strict', connectTimeoutSec: 1, keepaliveSec: 1 } },
      ]),
    ),
    secretVars: [],
    destructive: plays.some((p) => p.destructive),
    plays,
  };
}

export const exec = (cmd: string, more: Partial<Extract<Action, { kind: 'exec' }>> = {}): Action => ({ kind: 'exec', cmd, ...more });

export type JsonRecord = Record<string, Json>;
