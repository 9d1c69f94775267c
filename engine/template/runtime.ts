// Run-time values (registered output, the run id, secrets) are unknown when a plan is compiled.
// They render as visible placeholders — ⟨rev.stdout⟩ (shell-quoted when filled) or ⟨!rev.stdout⟩
// (inserted raw) — and the executor fills them in just before a step runs.
import { shq } from '../shell/quote.js';

const PATH = Symbol('runtime path');

/**
 * A reference to a value known only at run time. Property access builds a longer path; the
 * path itself lives under a symbol so that no registered key (`path`, `file`, …) is shadowed.
 */
export class RuntimeRef {
  readonly [PATH]: string;
  constructor(path: string) {
    this[PATH] = path;
  }
  get path(): string {
    return this[PATH];
  }
  toString(): string {
    return `⟨!${this[PATH]}⟩`;
  }
}

const PROXY_BYPASS = new Set<string | symbol>(['toString', 'constructor', 'valueOf']);

/** A RuntimeRef that Handlebars can walk into: {{rev.json.members}} → RuntimeRef("rev.json.members"). */
export function runtimeRef(path: string): RuntimeRef {
  const target = new RuntimeRef(path);
  return new Proxy(target, {
    has: () => true,
    get: (t, key) => (typeof key === 'symbol' || PROXY_BYPASS.has(key) ? (Reflect.get(t, key, t) as unknown) : runtimeRef(`${path}.${key}`)),
    getOwnPropertyDescriptor: (_t, key) => ({ value: runtimeRef(`${path}.${String(key)}`), configurable: true, enumerable: true, writable: false }),
  });
}

/** The dotted path of a RuntimeRef (read through the symbol, so the proxy is not walked). */
export function refPath(r: RuntimeRef): string {
  return r[PATH];
}

export function isRuntimeRef(v: unknown): v is RuntimeRef {
  return v instanceof RuntimeRef;
}

export function placeholder(path: string, raw = false): string {
  return raw ? `⟨!${path}⟩` : `⟨${path}⟩`;
}

const TOKEN = /⟨(!?)([A-Za-z_][A-Za-z0-9_.\-[\]]*)⟩/g;

/** Placeholders a piece of plan text needs, e.g. ["rev.stdout", "run.id"]. */
export function placeholdersIn(text: string): string[] {
  const out = new Set<string>();
  // indexOf finds the few ⟨ in a long command far faster than a regex scan of every character.
  for (let i = text.indexOf('⟨'); i >= 0; i = text.indexOf('⟨', i + 1)) {
    const m = /^⟨(!?)([A-Za-z_][A-Za-z0-9_.\-[\]]*)⟩/.exec(text.slice(i, i + 200));
    if (m) out.add(m[2] ?? '');
  }
  return [...out];
}

/** Resolve a dotted path against an object; undefined when any part is missing. */
export function resolvePath(root: Record<string, unknown>, path: string): unknown {
  let v: unknown = root;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export class MissingRuntimeValueError extends Error {
  constructor(readonly path: string) {
    super(`run-time value ⟨${path}⟩ is not available (was the task that registers it skipped or failed?)`);
    this.name = 'MissingRuntimeValueError';
  }
}

/** Fill placeholders with run-time values: ⟨x⟩ is shell-quoted, ⟨!x⟩ is inserted as is. */
export function fillPlaceholders(text: string, values: Record<string, unknown>): string {
  return text.replace(TOKEN, (_m, raw: string, path: string) => {
    const v = resolvePath(values, path);
    if (v === undefined) throw new MissingRuntimeValueError(path);
    return raw ? asText(v) : shq(asText(v));
  });
}
