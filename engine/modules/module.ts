// A module is a typed object in a static registry (see registry.ts), not a class looked up by name:
// its args schema (validated before anything runs) and a pure `plan` that turns rendered args into
// actions — the exact commands a step will run, as data.
import { jsonText, type Action, type Host, type Inventory, type Json, type JsonObject } from '../model/types.js';
import type { RenderMode } from '../template/env.js';
import { shq } from '../shell/quote.js';

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
}

const TOKEN = /(⟨!?[A-Za-z_][A-Za-z0-9_.\-[\]]*⟩)/;

/**
 * Shell-quote a rendered value that may contain run-time placeholders: static parts are quoted
 * now, placeholders are quoted when filled (⟨!x⟩ becomes ⟨x⟩).
 */
const longQuoted = new Map<string, string>();

export function q(value: string | number): string {
  const s = String(value);
  // Long values (an initial-cluster of many members) repeat on every host: quote each once.
  if (s.length > 256) {
    const hit = longQuoted.get(s);
    if (hit !== undefined) return hit;
    const quoted = quoteParts(s);
    if (longQuoted.size > 64) longQuoted.clear();
    longQuoted.set(s, quoted);
    return quoted;
  }
  return quoteParts(s);
}

function quoteParts(s: string): string {
  if (!s.includes('⟨')) return shq(s);
  return s
    .split(TOKEN)
    .filter((part) => part !== '')
    .map((part) => (TOKEN.test(part) && part.startsWith('⟨') ? part.replace('⟨!', '⟨') : shq(part)))
    .join('');
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
