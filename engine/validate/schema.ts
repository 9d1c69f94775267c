// ajv against schemas/*.schema.json; each ajv ErrorObject becomes a Diagnostic at the YAML node
// its instancePath names, with a message saying what was expected.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { newAjv, withoutModuleRefs } from './ajv-options.js';
import { diag, type Diagnostic, type DiagnosticCode } from '../model/diagnostics.js';
import type { Json } from '../model/types.js';
import { locate, type PathSeg, type Source } from '../load/source.js';

import { PACKAGE_ROOT } from '../package/root.js';

/** The repository (or installed package) root: schemas/, playbooks/ and inventories/ live there. */
export const SCHEMA_DIR = join(PACKAGE_ROOT, 'schemas');

let ajvInstance: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();
const require = createRequire(import.meta.url);

/** The validator built at build time (engine/validate/precompile.ts), if it matches the schema text. */
function precompiled(name: string, text: string): ValidateFunction | undefined {
  const file = join(PACKAGE_ROOT, 'dist', 'validators', `${name.replace('/', '__')}.cjs`);
  if (!existsSync(file)) return undefined;
  const mod = require(file) as { default?: ValidateFunction; schemaSha256?: string };
  if (mod.schemaSha256 !== createHash('sha256').update(text).digest('hex')) return undefined;
  return mod.default;
}

/** A validator for schemas/<name>.schema.json or schemas/modules/<name>.schema.json. */
export function validator(name: string): ValidateFunction {
  const hit = validators.get(name);
  if (hit) return hit;
  const text = readFileSync(join(SCHEMA_DIR, `${name}.schema.json`), 'utf8');
  let fn = precompiled(name, text);
  if (!fn) {
    ajvInstance ??= newAjv();
    const raw = JSON.parse(text) as object;
    fn = ajvInstance.compile((name === 'playbook' ? withoutModuleRefs(raw) : raw) as object);
  }
  validators.set(name, fn);
  return fn;
}

const argPatterns = new Map<string, Record<string, { pattern: string; description: string }>>();

/** The pattern (and its description) a module's schema gives a top-level string argument. */
export function argPattern(schema: string, arg: string): { pattern: string; description: string } | undefined {
  let table = argPatterns.get(schema);
  if (!table) {
    const s = JSON.parse(readFileSync(join(SCHEMA_DIR, 'modules', `${schema}.schema.json`), 'utf8')) as {
      properties?: Record<string, { pattern?: string; description?: string }>;
    };
    table = {};
    for (const [k, p] of Object.entries(s.properties ?? {}))
      if (p.pattern) table[k] = { pattern: p.pattern, description: p.description ?? `text matching ${p.pattern}` };
    argPatterns.set(schema, table);
  }
  return Object.prototype.hasOwnProperty.call(table, arg) ? table[arg] : undefined;
}

function pointerToPath(p: string): PathSeg[] {
  if (p === '') return [];
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** PathSeg[] → JSON pointer (RFC 6901). */
export function toPointer(path: PathSeg[]): string {
  return path.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(data: unknown, path: PathSeg[]): unknown {
  let v = data;
  for (const s of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[String(s)] : undefined;
  return v;
}

export function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

export function didYouMean(word: string, options: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const dist = levenshtein(word.toLowerCase(), o.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = o;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? `did you mean "${best}"?` : undefined;
}

const YAML11 = new Set(['yes', 'no', 'on', 'off', 'y', 'n', 'true', 'false', 'True', 'False', 'Yes', 'No', 'YES', 'NO', 'ON', 'OFF', 'On', 'Off']);

function hintFor(e: ErrorObject, value: unknown): string | undefined {
  if (e.keyword === 'type') {
    const want = String(e.params.type);
    if (want.includes('boolean') && typeof value === 'string' && YAML11.has(value)) {
      return `YAML 1.2 reads ${value} as a string; write true or false`;
    }
    if (want.includes('string') && typeof value === 'number' && /mode/.test(e.instancePath)) {
      return `quote file modes: "0${value}" — unquoted 0755 is not octal in YAML 1.2`;
    }
    if (want.includes('string') && typeof value === 'number') return 'quote the value to make it a string';
  }
  if (e.keyword === 'pattern' && typeof value === 'string' && /[$`;|&<>\n'"\\]/.test(value)) {
    return 'shell metacharacters are not allowed here; runbook refuses values that could run commands';
  }
  if (e.keyword === 'pattern' && typeof value === 'string' && value.startsWith('-')) {
    return 'a leading "-" would be read as an option';
  }
  return undefined;
}

/** Errors the schema reports for one spot, reduced to the most useful one (oneOf noise removed). */
function prune(errors: ErrorObject[]): ErrorObject[] {
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    const extra = e.keyword === 'additionalProperties' ? `/${String(e.params.additionalProperty)}` : '';
    const missing = e.keyword === 'required' ? `!${String(e.params.missingProperty)}` : '';
    const key = e.instancePath + extra + missing;
    byPath.set(key, [...(byPath.get(key) ?? []), e]);
  }
  const out: ErrorObject[] = [];
  for (const list of byPath.values()) {
    const real = list.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if');
    const pick = real.find((e) => e.keyword !== 'type') ?? real[0] ?? list[0];
    if (pick) out.push(pick);
  }
  // A deeper error explains a oneOf at its parent better than "must match one schema". Errors at
  // or under each path are counted once (comparing every pair was quadratic in the error count).
  const under = new Map<string, number>();
  for (const o of out) {
    const segs = o.instancePath.split('/');
    for (let i = 1; i <= segs.length; i++) {
      const p = segs.slice(0, i).join('/');
      under.set(p, (under.get(p) ?? 0) + 1);
    }
  }
  return out.filter((e) => e.keyword !== 'oneOf' || (under.get(e.instancePath) ?? 0) <= 1);
}

export interface SchemaCheckOptions {
  /** Prefix added to instance paths (when validating a sub-document such as module args). */
  prefix?: PathSeg[];
  /** Name used in messages for unknown keys, e.g. "task keyword". */
  what?: string;
  /** Drop errors whose instance path (JSON pointer) and ajv keyword this returns true for. */
  skip?: (pointer: string, keyword: string) => boolean;
}

/**
 * Skip errors on strings that hold `marker` ("{{": a template, checked again once rendered; "⟨": a
 * value known only at run time, checked when the step runs). Patterns speak about final values.
 */
export function skipStringsWith(data: Json, marker: string): (pointer: string) => boolean {
  return (pointer) => {
    const v = valueAt(data, pointerToPath(pointer));
    return typeof v === 'string' && v.includes(marker);
  };
}

export function schemaDiagnostics(src: Source, schema: string, data: Json = src.data, opts: SchemaCheckOptions = {}): Diagnostic[] {
  const fn = validator(schema);
  if (fn(data)) return [];
  const prefix = opts.prefix ?? [];
  const out: Diagnostic[] = [];
  for (const e of prune((fn.errors ?? []).filter((x) => !opts.skip?.(x.instancePath, x.keyword)))) {
    const path = [...prefix, ...pointerToPath(e.instancePath)];
    const value = valueAt(data, pointerToPath(e.instancePath));
    const desc = (e.parentSchema as { description?: string } | undefined)?.description;
    let code: DiagnosticCode = 'schema';
    let message: string;
    let at = locate(src, path);
    let pointer = toPointer(path);
    let hint = hintFor(e, value);
    switch (e.keyword) {
      case 'type':
        code = 'schema-type';
        message = `expected ${desc ?? String(e.params.type).replace(',', ' or ')}, got ${typeOf(value)}`;
        break;
      case 'required':
        code = 'schema-required';
        message = `missing required key "${String(e.params.missingProperty)}"`;
        at = locate(src, path, path.length > 0);
        break;
      case 'additionalProperties': {
        const key = String(e.params.additionalProperty);
        code = 'schema-unknown-key';
        const allowed = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
        message = `unknown key "${key}"${opts.what ? ` (not a ${opts.what})` : ''}`;
        at = locate(src, [...path, key], true);
        pointer = toPointer([...path, key]);
        hint = didYouMean(key, allowed) ?? (allowed.length ? `expected one of: ${allowed.join(', ')}` : undefined);
        break;
      }
      case 'propertyNames':
        continue; // reported by the nested pattern error with the key's position
      case 'pattern': {
        code = 'schema-pattern';
        const isKey = e.propertyName !== undefined;
        if (isKey) at = locate(src, [...path, e.propertyName ?? ''], true);
        message = `${isKey ? `the key "${e.propertyName}"` : typeOf(value)} is not valid: expected ${desc ?? `text matching ${String(e.params.pattern)}`}`;
        if (isKey) hint = hintFor(e, e.propertyName);
        break;
      }
      case 'enum':
        code = 'schema-enum';
        message = `expected one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${typeOf(value)}`;
        hint = hint ?? (typeof value === 'string' ? didYouMean(value, (e.params.allowedValues as unknown[]).map(String)) : undefined);
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
      case 'minItems':
      case 'maxItems':
      case 'minLength':
      case 'maxLength':
      case 'minProperties':
      case 'uniqueItems':
        code = 'schema-range';
        message = `${typeOf(value)} ${e.message ?? 'is out of range'}`;
        break;
      default:
        message = `${e.message ?? 'is not valid'}${desc ? ` (expected ${desc})` : ''}`;
    }
    out.push(diag(code, message, at, { length: at.length, path: pointer, ...(hint ? { hint } : {}) }));
  }
  return out;
}
