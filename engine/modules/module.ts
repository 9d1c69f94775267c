// A module is a typed object in a static registry (see registry.ts), not a class looked up by name:
// its args schema (validated before anything runs) and a pure `plan` that turns rendered args into
// actions — the exact commands a step will run, as data.
import { jsonText, type Action, type Host, type Inventory, type Json, type JsonObject } from '../model/types.js';
import type { RenderMode } from '../template/env.js';
import { type ShellText } from '../shell/sh.js';

/** A module argument that does not fit this inventory (e.g. a name that is not a member): reported at the argument. */
export class ArgError extends Error {
  constructor(
    readonly arg: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ArgError';
  }
}

export interface PlanCtx {
  host: Host;
  inventory: Inventory;
  /** The template context the args were rendered with. */
  vars: Record<string, unknown>;
  /** Directory of the playbook (for `src:` paths of copy/template). */
  playbookDir: string;
  /** Register name of this task, if any. */
  register?: string;
  /**
   * Read a controller file the plan is built from (a `template:` source) and record its sha256
   * among the plan's inputs, so a saved plan knows when it has gone stale.
   */
  readInput(path: string): string;
}

export interface ModulePlan {
  actions: Action[];
  /** What `register` stores, e.g. "⟨!_.manifest⟩"; default: the last command's {rc, stdout, stderr, json}. */
  result?: Json;
}

export interface ModuleDef {
  name: string;
  /** The args schema file in schemas/modules/. */
  schema: string;
  summary: string;
  /** Turn a shorthand (e.g. `shell: echo hi`) into the args object. */
  normalize?: (raw: Json) => Json;
  /** How each top-level arg is templated; default 'plain' (the module quotes values itself). */
  argModes?: Record<string, RenderMode>;
  /** Args that are never templated (conditions evaluated at run time). */
  rawArgs?: string[];
  /** Read-only modules run in --check mode; others are reported as "would run". */
  readOnly: boolean | ((args: JsonObject) => boolean);
  plan(args: JsonObject, ctx: PlanCtx): ModulePlan;
  /**
   * What a step does, for a reviewer, on one line ("refuse if any member still serves: etcd-1, …");
   * the plan shows it above the exact commands. Absent: the commands themselves are the intent (shell).
   */
  intent?: (args: JsonObject, ctx: PlanCtx) => string;
  /** Modules with an `op` argument: the ops table they were made from (opsModule). */
  ops?: Readonly<Record<string, Op>>;
}

/** One operation of a module with an `op` argument: everything about it lives in one entry. */
export interface Op {
  /** Runs under --check (changes nothing). */
  readOnly: boolean;
  plan(args: JsonObject, ctx: PlanCtx): ModulePlan;
  /** What it does for a reviewer, on one line (ModuleDef.intent); the plan prefixes module and op. */
  intent?: (args: JsonObject, ctx: PlanCtx) => string;
}

/**
 * A module as a table of ops (ajv's keyword registry is the model): adding an op is one entry;
 * readOnly and plan are looked up in the table, never kept in step with a switch by hand.
 */
export function opsModule(def: { name: string; schema: string; summary: string; ops: Record<string, Op> }): ModuleDef {
  const ops = Object.freeze({ ...def.ops });
  const opOf = (args: JsonObject): Op => {
    const name = str(args, 'op');
    const op = Object.prototype.hasOwnProperty.call(ops, name) ? ops[name] : undefined;
    if (!op) throw new Error(`unknown op ${name}`);
    return op;
  };
  return {
    name: def.name,
    schema: def.schema,
    summary: def.summary,
    ops,
    readOnly: (args) => (Object.prototype.hasOwnProperty.call(ops, jsonText(args.op)) ? (ops[jsonText(args.op)]?.readOnly ?? false) : false),
    plan: (args, ctx) => opOf(args).plan(args, ctx),
    intent: (args, ctx) => {
      const op = opOf(args);
      return op.intent ? `${def.name} ${str(args, 'op')}: ${op.intent(args, ctx)}` : `${def.name} ${str(args, 'op')}`;
    },
  };
}

/** Member names an `endpoints` argument stands for (all, self, or names), for intents. */
export function endpointNames(ctx: PlanCtx, which: string | undefined): string {
  if (which === undefined || which === 'all') return ctx.inventory.facts.members.map((m) => m.name).join(', ');
  if (which === 'self') return ctx.host.etcd?.name ?? ctx.host.name;
  return which.split(',').join(', ');
}

type ExecAction = Extract<Action, { kind: 'exec' }>;
export type ExecExtra = Partial<Omit<ExecAction, 'kind' | 'cmd'>> & { bind?: string; when?: string };

// The only places in engine/modules where a command becomes plan text: every cmd is a ShellText
// (sh`…` or raw()), so it was quoted by construction. The lint rule forbids `cmd:` elsewhere here.
/** Run `cmd` on the target. */
export function exec(cmd: ShellText, extra: ExecExtra = {}): Action {
  return { kind: 'exec', cmd: cmd.text, ...extra };
}

/** Run `cmd` on the controller. */
export function local(cmd: ShellText, extra: { probe?: boolean; parse?: 'json' | 'text'; bind?: string } = {}): Action {
  return { kind: 'local', cmd: cmd.text, ...extra };
}

/** Wait (up to timeoutSec) for what `cmd` tests. */
export function waitFor(what: string, timeoutSec: number, cmd: ShellText): Action {
  return { kind: 'wait', what, timeoutSec, cmd: cmd.text };
}

export function str(args: JsonObject, key: string, fallback?: string): string {
  const v = args[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new Error(`missing argument ${key}`);
  }
  return jsonText(v);
}

export function optStr(args: JsonObject, key: string): string | undefined {
  const v = args[key];
  return v === undefined || v === null ? undefined : jsonText(v);
}

export function num(args: JsonObject, key: string, fallback: number): number {
  const v = args[key];
  return typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : fallback;
}

export function bool(args: JsonObject, key: string, fallback = false): boolean {
  const v = args[key];
  return typeof v === 'boolean' ? v : fallback;
}

/** Run-time placeholders every run has. */
export const RUN_ID = '⟨!run.id⟩';
export const RUN_STAMP = '⟨!run.timestamp⟩';
