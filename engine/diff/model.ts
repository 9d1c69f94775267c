// The result of comparing two plans, as plain data: what the renderers (text, markdown, JSON)
// print and what `runbook diff --format json` emits. Steps are matched by play name + task name +
// host, never by index, so an inserted task is one added task and not a cascade of changes.
import type { PlanInput } from '../model/types.js';

export const DIFF_FORMAT = 'runbook-diff';
/** 2: the JSON keys are snake_case (render-json.ts). */
export const DIFF_VERSION = 2;

/** A character range [start, end) of a line that changed (for highlighting). */
export type Span = [number, number];

/** A setting that differs; values are display text, '' when unset. */
export interface FieldChange {
  field: string;
  old: string;
  new: string;
}

/** One changed word of a command: a `--flag=value` (or `VAR=value`) or a plain word. */
export interface WordChange {
  /** The flag or variable the word sets, e.g. `--initial-cluster`, `ETCD_INITIAL_CLUSTER`. */
  key?: string;
  /** The whole old word; absent when the word was added. */
  old?: string;
  /** The whole new word; absent when the word was removed. */
  new?: string;
  /** For member and endpoint lists (compared as sets, order ignored): items added and removed. */
  added?: string[];
  removed?: string[];
}

/** A line of an action's description: replaced (old and new), removed (old) or added (new). */
export interface LineChange {
  old?: string;
  new?: string;
  /** Word-level changes of a replaced line (empty for added/removed lines). */
  words: WordChange[];
  oldSpans?: Span[];
  newSpans?: Span[];
}

export interface ActionChange {
  op: 'added' | 'removed' | 'modified';
  /** A modified action's first line when it did not change (shown for context). */
  context?: string;
  lines: LineChange[];
}

/** Hosts whose step changed in the same way, shown once with the host list. */
export interface StepGroup {
  status: 'added' | 'removed' | 'modified' | 'replaced';
  hosts: string[];
  /** For `replaced`: the old host whose step the new one is compared with (same length as hosts). */
  was?: string[];
  /** When the hosts' full commands differ (only the change is shared): whose commands are shown. */
  shownFor?: string;
  /** What the step does, one line (module, op, intent), when the hosts share it (or for shownFor's host). */
  intent?: string;
  fields: FieldChange[];
  actions: ActionChange[];
  /** Actions of a modified step that did not change. */
  unchangedActions: number;
}

export interface TaskChange {
  /** The task's index (1-based) in the new plan, or in the old one for a removed task. */
  index: number;
  name: string;
  module: string;
  status: 'added' | 'removed' | 'modified';
  /** The task kept its name but now runs at another position in its play. */
  moved?: boolean;
  fields: FieldChange[];
  steps: StepGroup[];
  /** Hosts of this task whose step did not change. */
  unchangedHosts: number;
  /** Unchanged tasks between the previous shown task (or the play start) and this one. */
  unchangedBefore: number;
}

export interface PlayChange {
  index: number;
  name: string;
  status: 'added' | 'removed' | 'modified';
  moved?: boolean;
  fields: FieldChange[];
  /** Hosts the play now runs on that it did not, and the other way round. */
  hostsAdded: string[];
  hostsRemoved: string[];
  tasks: TaskChange[];
  taskCount: number;
  unchangedTasksAfter: number;
  unchangedBefore: number;
}

export interface HostChange {
  host: string;
  fields: FieldChange[];
}

export interface SideInfo {
  /** Where this side came from: `git:REF`, a saved plan's path, or `working tree`. */
  source: string;
  playbook: string;
  inventory: string;
  cluster: string;
  runbook: string;
  inputs: PlanInput[];
}

export interface DiffCounts {
  added: number;
  removed: number;
  modified: number;
}

export interface DiffSummary {
  playbook: string;
  cluster: string;
  /** Hosts with any change (steps, connection settings, play membership), sorted. */
  hosts: string[];
  /** Steps (one task on one host) added, removed, or changed (their own content or their task's settings). */
  steps: DiffCounts;
  tasks: DiffCounts;
  plays: DiffCounts;
  /** Plan-, play- and connection-level settings that changed. */
  settings: number;
  /** The one-line summary every human format starts with. */
  line: string;
}

export interface PlanDiff {
  format: typeof DIFF_FORMAT;
  version: typeof DIFF_VERSION;
  changed: boolean;
  old: SideInfo;
  new: SideInfo;
  summary: DiffSummary;
  /** Plan-level settings: cluster, limit, destructive, secret names. */
  plan: FieldChange[];
  /** Connection settings (address, ssh) of hosts in both plans. */
  connections: HostChange[];
  plays: PlayChange[];
  playCount: number;
  unchangedPlaysAfter: number;
}
