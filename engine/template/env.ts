// The Handlebars environment: isolated (Handlebars.create()), with a small documented helper set.
// In command strings every {{value}} is shell-quoted; {{{value}}} inserts it raw (visible in review).
// Templates are compiled only from playbook files: inventory values and command output never are.
import Handlebars from 'handlebars';
import { shq } from '../shell/quote.js';
import { RuntimeRef, isRuntimeRef, placeholder, refPath } from './runtime.js';

type Node = hbs.AST.Node;
type Mustache = hbs.AST.MustacheStatement;
type PathExpr = hbs.AST.PathExpression;

export type RenderMode = 'shell' | 'plain';

export class TemplateError extends Error {
  constructor(
    readonly kind: 'template-syntax' | 'undefined-variable' | 'runtime-value-misuse',
    message: string,
    /** 1-based line and column inside the template text. */
    readonly line: number,
    readonly col: number,
    readonly hint?: string,
    /** The variable path the error is about (undefined-variable, runtime-value-misuse). */
    readonly variable?: string,
  ) {
    super(message);
    this.name = 'TemplateError';
  }
}

const BLOCK_HINT = 'check that every {{ has a matching }} and every {{#block}} its {{/block}}';

function noRuntime(name: string, ...values: unknown[]): void {
  for (const v of values) {
    if (isRuntimeRef(v)) {
      throw new TemplateError(
        'runtime-value-misuse',
        `helper "${name}" cannot use ⟨${refPath(v)}⟩: it is only known at run time`,
        0,
        0,
        'insert run-time values directly ({{x.stdout}}) or test them with `when:`',
        refPath(v),
      );
    }
  }
}

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return '';
  return JSON.stringify(v);
}

const hb = Handlebars.create();
const args = (a: unknown[]): unknown[] => a.slice(0, -1); // drop Handlebars' options argument

/** The documented helper set (README "Template helpers"). */
export const HELPERS: Record<string, (...a: unknown[]) => unknown> = {
  join: (list: unknown, sep: unknown) => {
    noRuntime('join', list);
    return Array.isArray(list) ? list.map(str).join(typeof sep === 'string' ? sep : ',') : str(list);
  },
  eq: (...a: unknown[]) => (noRuntime('eq', ...args(a)), args(a)[0] === args(a)[1]),
  ne: (...a: unknown[]) => (noRuntime('ne', ...args(a)), args(a)[0] !== args(a)[1]),
  and: (...a: unknown[]) => (noRuntime('and', ...args(a)), args(a).every(Boolean)),
  or: (...a: unknown[]) => (noRuntime('or', ...args(a)), args(a).some(Boolean)),
  not: (v: unknown) => (noRuntime('not', v), !v),
  default: (v: unknown, d: unknown) => (v === undefined || v === null || v === '' ? d : v),
  json: (v: unknown) => (noRuntime('json', v), JSON.stringify(v)),
  upper: (v: unknown) => (noRuntime('upper', v), str(v).toUpperCase()),
  lower: (v: unknown) => (noRuntime('lower', v), str(v).toLowerCase()),
  without: (list: unknown, ...a: unknown[]) => (
    noRuntime('without', list),
    Array.isArray(list) ? (list as unknown[]).filter((x) => !args(a).includes(x)) : list
  ),
  first: (list: unknown) => (noRuntime('first', list), Array.isArray(list) ? (list as unknown[])[0] : list),
  concat: (...a: unknown[]) => (noRuntime('concat', ...args(a)), args(a).map(str).join('')),
  quote: (v: unknown) => (isRuntimeRef(v) ? placeholder(refPath(v)) : shq(str(v))),
};

for (const [name, fn] of Object.entries(HELPERS)) hb.registerHelper(name, fn);
// Handlebars' built-in `log` writes to the console: a template must not print into `plan --format json`.
hb.registerHelper('log', () => {
  throw new TemplateError('template-syntax', 'the "log" helper is not available in runbook templates', 1, 1);
});
// Internal: every {{x}} in shell mode is rewritten to {{__shq x}}.
hb.registerHelper('__shq', (v: unknown) => (isRuntimeRef(v) ? placeholder(refPath(v)) : shq(str(v))));
hb.registerHelper('__raw', (v: unknown) => (isRuntimeRef(v) ? placeholder(refPath(v), true) : str(v)));
// Block helpers must not branch on values nobody knows yet.
for (const name of ['if', 'unless', 'each', 'with'] as const) {
  const builtin = hb.helpers[name] as (this: unknown, ...a: unknown[]) => unknown;
  hb.registerHelper(name, function (this: unknown, ...a: unknown[]) {
    noRuntime(`#${name}`, a[0]);
    return builtin.apply(this, a);
  });
}

export const HELPER_NAMES = new Set([...Object.keys(HELPERS), 'if', 'unless', 'each', 'with', 'lookup']);

function pathRef(name: string, loc: hbs.AST.SourceLocation): PathExpr {
  return { type: 'PathExpression', data: false, depth: 0, parts: [name], original: name, loc };
}

/** Rewrite {{x}} / {{helper a b}} into {{__shq x}} / {{__shq (helper a b)}} (shell) or {{__raw …}} (plain). */
function wrapMustaches(node: Node | undefined, wrapper: string): void {
  if (!node) return;
  const n = node as Node & { body?: Node[]; program?: Node; inverse?: Node };
  if (n.type === 'MustacheStatement') {
    const m = n as Mustache;
    const isCall = m.params.length > 0 || (m.hash?.pairs.length ?? 0) > 0;
    const inner = isCall ? ({ type: 'SubExpression', path: m.path, params: m.params, hash: m.hash, loc: m.loc } as hbs.AST.SubExpression) : m.path;
    // Triple-stash {{{x}}} stays raw in shell mode: the explicit, reviewable way to insert unquoted text.
    const use = m.escaped ? wrapper : '__raw';
    m.path = pathRef(use, m.loc);
    m.params = [inner];
    m.hash = undefined as unknown as hbs.AST.Hash;
    m.escaped = false;
  }
  n.body?.forEach((c) => wrapMustaches(c, wrapper));
  wrapMustaches(n.program, wrapper);
  wrapMustaches(n.inverse, wrapper);
}

export interface PathUse {
  /** The first param of `default` may be missing: that is its purpose. */
  optional?: boolean;
  root: string;
  path: string;
  line: number;
  col: number;
}

/** Every variable path a template reads (helper names excluded; paths inside #each/#with are relative and skipped). */
export function templatePaths(ast: hbs.AST.Program): PathUse[] {
  const out: PathUse[] = [];
  const visit = (node: unknown, scoped: boolean, helperPos: boolean): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as Record<string, unknown> & { type?: string; loc?: hbs.AST.SourceLocation };
    if (n.type === 'PathExpression') {
      const p = n as unknown as PathExpr;
      if (helperPos || p.data || p.depth > 0 || scoped || p.parts.length === 0 || p.original === 'this') return;
      const root = p.parts[0] ?? '';
      out.push({ root, path: p.parts.join('.'), line: p.loc.start.line, col: p.loc.start.column + 1 });
      return;
    }
    if (n.type === 'MustacheStatement' || n.type === 'SubExpression' || n.type === 'BlockStatement') {
      const call = n as unknown as { path: PathExpr; params: unknown[]; hash?: { pairs: { value: unknown }[] }; program?: unknown; inverse?: unknown };
      const isCall = call.params.length > 0 || (call.hash?.pairs.length ?? 0) > 0 || n.type === 'BlockStatement';
      const helper = call.path.original;
      const isKnownHelper = HELPER_NAMES.has(helper) || helper.startsWith('__');
      visit(call.path, scoped, isCall || isKnownHelper);
      call.params.forEach((p, i) => {
        const before = out.length;
        visit(p, scoped, false);
        if (helper === 'default' && i === 0) out.slice(before).forEach((u) => (u.optional = true));
      });
      call.hash?.pairs.forEach((p) => visit(p.value, scoped, false));
      const inner = scoped || (n.type === 'BlockStatement' && (helper === 'each' || helper === 'with'));
      visit(call.program, inner, false);
      visit(call.inverse, scoped, false);
      return;
    }
    if (Array.isArray(n.body)) n.body.forEach((c) => visit(c, scoped, false));
  };
  visit(ast, false, false);
  return out;
}

/** Offset of the last "{{" (or "{{{") with no "}}" after it, or -1. */
function unclosedMustache(src: string): number {
  let open = src.lastIndexOf('{{');
  if (open < 0 || src.indexOf('}}', open + 2) >= 0) return -1;
  while (open > 0 && src[open - 1] === '{') open--;
  return open;
}

function parse(src: string): hbs.AST.Program {
  try {
    return hb.parse(src);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // An unclosed {{ makes Handlebars complain about whatever follows it; point at the {{ itself.
    const open = unclosedMustache(src);
    if (open >= 0) {
      const before = src.slice(0, open).split('\n');
      const col = (before[before.length - 1] ?? '').length + 1;
      throw new TemplateError('template-syntax', 'template syntax error: "{{" is not closed by "}}"', before.length, col, BLOCK_HINT);
    }
    // "Parse error on line N:\n<snippet>\n----^\nExpecting …, got 'X'"
    const m = /^Parse error on line (\d+):\n(.*)\n(-*)\^\n(.*)$/s.exec(msg);
    if (m) {
      const line = Number(m[1]);
      const past = (m[2] ?? '').slice(0, (m[3] ?? '').length).replace(/^\.\.\./, '');
      const lineText = src.split('\n')[line - 1] ?? '';
      const idx = past ? lineText.lastIndexOf(past.slice(-Math.min(past.length, lineText.length))) : -1;
      const col = idx >= 0 ? idx + past.length + 1 : 1;
      const got = /got '([^']+)'/.exec(m[4] ?? '')?.[1] ?? '?';
      const what = got === 'EOF' ? 'the template ends inside {{ }}' : `unexpected ${got}`;
      throw new TemplateError('template-syntax', `template syntax error: ${what}`, line, col, BLOCK_HINT);
    }
    const loc = /- (\d+):(\d+)$/.exec(msg);
    throw new TemplateError('template-syntax', `template syntax error: ${msg.replace(/ - \d+:\d+$/, '')}`, Number(loc?.[1] ?? 1), Number(loc?.[2] ?? 0) + 1);
  }
}

interface Compiled {
  render: (ctx: object) => string;
  paths: PathUse[];
}
const cache = new Map<string, Compiled>();

/** Compile (cached) a template string. Throws TemplateError on syntax errors. */
export function compileTemplate(src: string, mode: RenderMode): Compiled {
  const key = `${mode}\u0000${src}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const ast = parse(src);
  const paths = templatePaths(ast);
  wrapMustaches(ast, mode === 'shell' ? '__shq' : '__raw');
  const fn = hb.compile(ast, { noEscape: true, strict: false, knownHelpersOnly: false });
  const compiled: Compiled = { render: (ctx) => fn(ctx, { allowProtoPropertiesByDefault: false, allowProtoMethodsByDefault: false }), paths };
  cache.set(key, compiled);
  return compiled;
}

export function hasTemplate(s: string): boolean {
  return s.includes('{{');
}

function resolveCtx(ctx: Record<string, unknown>, parts: string[]): { ok: boolean; at: string } {
  let v: unknown = ctx;
  const seen: string[] = [];
  // Object internals are never variables, not even inside a run-time value.
  const bad = parts.findIndex((p) => p === '__proto__' || p === 'constructor' || p === 'prototype');
  if (bad >= 0) return { ok: false, at: parts.slice(0, bad + 1).join('.') };
  for (const part of parts) {
    seen.push(part);
    if (isRuntimeRef(v)) return { ok: true, at: '' };
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, part)) return { ok: false, at: seen.join('.') };
    v = (v as Record<string, unknown>)[part];
  }
  return { ok: true, at: '' };
}

/**
 * Render `src` against `ctx`. Every variable path must exist (strict); a missing one is an
 * `undefined-variable` TemplateError at its line/column inside the template.
 */
export function renderTemplate(src: string, ctx: Record<string, unknown>, mode: RenderMode): string {
  if (!hasTemplate(src)) return src;
  const c = compileTemplate(src, mode);
  for (const p of c.paths) {
    if (p.optional) continue;
    const r = resolveCtx(ctx, p.path.split('.'));
    if (!r.ok) {
      const hint = p.root === r.at ? 'define it in the inventory vars, the play vars or with -e' : undefined;
      throw new TemplateError('undefined-variable', `undefined variable "${r.at}"`, p.line, p.col, hint, r.at);
    }
  }
  try {
    return c.render(ctx);
  } catch (e) {
    if (e instanceof TemplateError) {
      if (e.line > 0) throw e;
      // A helper refused a run-time value: place the error at the template's use of that value.
      const ref = e.variable ?? '';
      const use = c.paths.find((p) => p.path === ref) ?? c.paths.find((p) => ref.startsWith(`${p.path}.`) || p.path.startsWith(`${ref}.`));
      throw new TemplateError(e.kind, e.message, use?.line ?? 1, use?.col ?? 1, e.hint, e.variable);
    }
    throw new TemplateError('template-syntax', `template error: ${e instanceof Error ? e.message : String(e)}`, 1, 1);
  }
}

export { RuntimeRef };
