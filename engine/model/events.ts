// What the executor tells the world. The executor only emits these; reporters (listr2, plain lines,
// JSON lines, recap, journal) only consume them. A typed event map, like listr2's task event map.
import type { Json } from './types.js';

/** A step's outcome. `unknown`: the command may or may not have run to completion (connection dropped, killed). */
export type StepStatus = 'ok' | 'changed' | 'failed' | 'unreachable' | 'skipped' | 'unknown';

export interface ActionRecord {
  /** Index of the action inside the step. */
  index: number;
  kind: string;
  /** The command as run (placeholders filled, secrets redacted). */
  cmd?: string;
  code: number | null;
  durationMs: number;
  skipped?: boolean;
  timedOut?: boolean;
  /** Last part of stdout/stderr (redacted, bounded). */
  stdoutTail?: string;
  stderrTail?: string;
}

export interface StepResult {
  status: StepStatus;
  /** What `register` stores: {rc, stdout, stderr, json?, ...} or the module's result. */
  value: Json;
  message?: string;
  attempts: number;
  actions: ActionRecord[];
  durationMs: number;
  /** A failure that `ignore_errors` let the host continue past (not counted as failed, no exit code 1). */
  ignored?: boolean;
}

/** The command-line values a plan was compiled with, beyond the playbook and inventory. */
export interface RunArgs {
  extraVars?: string[];
  limit?: string;
}

export interface EventMap {
  /** `args`: the -e values and --limit as given, so `--resume` can run with them again. */
  'run.start': {
    runId: string;
    playbook: string;
    inventory: string;
    check: boolean;
    hosts: string[];
    inputs: { path: string; sha256: string }[];
    resumedFrom?: string;
    args?: RunArgs;
  };
  'play.start': { play: number; name: string; hosts: string[] };
  'batch.start': { play: number; batch: number; hosts: string[] };
  'task.start': { play: number; task: number; name: string; module: string; hosts: string[] };
  'step.start': { play: number; task: number; stepId: string; host: string; target: string; attempt: number };
  'step.output': { stepId: string; host: string; stream: 'stdout' | 'stderr'; text: string };
  'step.retry': { stepId: string; host: string; attempt: number; delaySec: number; reason: string };
  'step.end': { play: number; task: number; stepId: string; host: string; target: string; result: StepResult };
  'host.unreachable': { host: string; message: string };
  'host.failed': { host: string; stepId: string; message: string };
  'task.end': { play: number; task: number };
  'play.end': { play: number; aborted?: string };
  'run.end': { runId: string; ok: boolean; interrupted: boolean; recap: Record<string, Recap>; durationMs: number; exitCode: number };
  warning: { message: string; host?: string };
}

export interface Recap {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
  unknown: number;
  /** Failures of `ignore_errors` tasks (not counted in `failed`). Optional: reporters treat a missing value as 0. */
  ignored?: number;
}

/** A recap row with every count at 0. */
export function emptyRecap(): Required<Recap> {
  return { ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, unknown: 0, ignored: 0 };
}

export type EventName = keyof EventMap;
export type RunEvent = { [K in EventName]: { type: K; at: string } & EventMap[K] }[EventName];
export type Emit = <K extends EventName>(type: K, data: EventMap[K]) => void;
