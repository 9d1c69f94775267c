// The run-time scope: what ⟨placeholders⟩ and run-time conditions see while a step runs.
//
//   run       { id, timestamp }            the run (a resumed run keeps the original's)
//   secrets   { name: value }              inventory secrets, resolved at apply time
//   hostvars  { host: { name: value } }    every host's registered results and facts
//   <name>    registered results and set_fact facts of the step's host (later writes win)
//   _         the step-local scope: values that actions with `bind` stored
//
// Secrets are filled twice: with their values for running, with ****** for display.
import { randomBytes } from 'node:crypto';
import type { Json, JsonObject } from '../model/types.js';
import type { Scope } from '../template/condition-eval.js';
import { fillPlaceholders, MissingRuntimeValueError, resolvePath } from '../template/runtime.js';
import { RunError } from '../model/errors.js';

export const MASK = '******';

export interface RunInfo {
  id: string;
  timestamp: string;
}

/** 2024-05-01T12:03:04.567Z → "20240501T120304Z" (UTC). */
export function runStamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** A run id: `YYYYMMDDTHHMMSSZ-<6 hex>`, sortable by start time. */
export function newRunId(d: Date, hex: string = randomBytes(3).toString('hex')): string {
  return `${runStamp(d)}-${hex}`;
}

export const RUN_ID_PATTERN = /^(\d{8}T\d{6}Z)-[0-9a-f]{6}$/;

/** The run-time `run` of a run id (the timestamp is the id's prefix). */
export function runInfoFromId(id: string): RunInfo {
  const m = RUN_ID_PATTERN.exec(id);
  if (!m?.[1]) throw new RunError('BAD_RUN_ID', `not a run id: ${JSON.stringify(id)} (expected YYYYMMDDTHHMMSSZ-xxxxxx)`);
  return { id, timestamp: m[1] };
}

/** Registered results and facts of one host, in the order they were set. */
export class HostValues {
  readonly registered: Record<string, Json> = {};
  readonly facts: Record<string, Json> = {};
  private readonly vars: Record<string, Json> = {};

  register(name: string, value: Json): void {
    this.registered[name] = value;
    this.vars[name] = value;
  }

  setFacts(facts: JsonObject): void {
    for (const [k, v] of Object.entries(facts)) {
      this.facts[k] = v;
      this.vars[k] = v;
    }
  }

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.vars, name);
  }

  get all(): Readonly<Record<string, Json>> {
    return this.vars;
  }
}

/** Every host's values, and what all scopes of a run share. */
export class RunValues {
  private readonly hosts = new Map<string, HostValues>();

  constructor(
    readonly run: RunInfo,
    readonly secrets: Record<string, string>,
  ) {}

  of(host: string): HostValues {
    let v = this.hosts.get(host);
    if (!v) {
      v = new HostValues();
      this.hosts.set(host, v);
    }
    return v;
  }

  /** `hostvars`: host → its registered results and facts. */
  hostvars(): Record<string, Readonly<Record<string, Json>>> {
    return Object.fromEntries([...this.hosts].map(([h, v]) => [h, v.all]));
  }

  /** The scope a step of `host` runs in. `local` is the step's `_`; `extra` binds e.g. the register name for `until`. */
  scope(host: string, local: Record<string, Json> = {}, extra: Record<string, Json> = {}): Record<string, unknown> {
    return { ...this.of(host).all, ...extra, run: this.run, secrets: this.secrets, hostvars: this.hostvars(), _: local };
  }
}

/** The same scope with every secret replaced by ******, for the text that is shown and journaled. */
export function displayScope(scope: Record<string, unknown>): Record<string, unknown> {
  const secrets = (scope.secrets ?? {}) as Record<string, string>;
  return { ...scope, secrets: Object.fromEntries(Object.keys(secrets).map((k) => [k, MASK])) };
}

export function conditionScope(scope: Record<string, unknown>): Scope {
  return (root) => (Object.prototype.hasOwnProperty.call(scope, root) ? scope[root] : undefined);
}

/** Fill shell text: ⟨x⟩ is shell-quoted, ⟨!x⟩ inserted as is. */
export function fillShell(text: string, scope: Record<string, unknown>): string {
  return fillPlaceholders(text, scope);
}

/** Fill non-shell text (paths, file content, messages): every placeholder inserted as is. */
export function fillRaw(text: string, scope: Record<string, unknown>): string {
  return fillPlaceholders(text.replace(/⟨(?!!)/g, '⟨!'), scope);
}

const ONE_TOKEN = /^⟨!?([A-Za-z_][A-Za-z0-9_.\-[\]]*)⟩$/;

/**
 * Resolve plan data against the scope: a string that is exactly one placeholder becomes the value
 * itself (an object stays an object, an etcd ID string stays a string); strings with placeholders
 * inside text are filled as text; arrays and objects recursively; everything else as is.
 */
export function resolveValue(v: Json, scope: Record<string, unknown>): Json {
  if (typeof v === 'string') {
    const m = ONE_TOKEN.exec(v);
    if (m?.[1]) {
      const found = resolvePath(scope, m[1]);
      if (found === undefined) throw new MissingRuntimeValueError(m[1]);
      return found as Json;
    }
    return v.includes('⟨') ? fillRaw(v, scope) : v;
  }
  if (Array.isArray(v)) return v.map((x) => resolveValue(x, scope));
  if (v && typeof v === 'object') {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = resolveValue(x, scope);
    return out;
  }
  return v;
}

/** The root names a placeholder path or condition path starts with ("a.stdout" → "a"). */
export function rootOf(path: string): string {
  return path.split('.')[0] ?? path;
}
