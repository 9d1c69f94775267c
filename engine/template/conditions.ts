// The condition language of `when`, `until`, `changed_when`, `failed_when` and `assert`.
// A tiny Jinja-like expression grammar, parsed into an AST and interpreted: no JavaScript eval.
//
//   expr   := or ;  or := and ('or' and)* ;  and := not ('and' not)* ;  not := 'not' not | test
//   test   := cmp ('is' ['not'] ('defined' | 'none' | 'true' | 'false'))?
//   cmp    := unary (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not in') unary)?
//   unary  := primary ('|' filter)*
//   primary:= number | 'string' | "string" | true | false | none | null | [list] | {"key": expr, …} | (expr) | path
//   path   := name ('.' name | '[' (number|string) ']')*
import type { Json } from '../model/types.js';

export type Expr =
  | { t: 'lit'; v: Json }
  | { t: 'list'; items: Expr[] }
  | { t: 'dict'; entries: [string, Expr][] }
  | { t: 'path'; root: string; rest: (string | number)[]; text: string; /** offset of the name in the condition text */ at: number }
  | { t: 'not'; e: Expr }
  | { t: 'and' | 'or'; l: Expr; r: Expr }
  | { t: 'cmp'; op: string; l: Expr; r: Expr }
  | { t: 'is'; e: Expr; test: string; neg: boolean }
  | { t: 'filter'; e: Expr; name: string };

export const FILTERS = ['int', 'float', 'string', 'length', 'trim', 'lower', 'upper', 'bool', 'from_json', 'first', 'last', 'keys'] as const;

export class ConditionError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ConditionError';
  }
}

interface Tok {
  k: 'num' | 'str' | 'name' | 'op' | 'end';
  v: string;
  at: number;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    let m: RegExpMatchArray | null;
    if ((m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest)) && !(c === '-' && out.length > 0 && ['num', 'str', 'name'].includes(out[out.length - 1]?.k ?? ''))) {
      out.push({ k: 'num', v: m[0], at: i });
      i += m[0].length;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < src.length) {
          // JSON escapes, so that printCondition's JSON string literals read back as the same text.
          j++;
          const e = src[j] ?? '';
          const hex = /^u[0-9a-fA-F]{4}/.exec(src.slice(j));
          if (hex) {
            s += String.fromCharCode(parseInt(hex[0].slice(1), 16));
            j += 5;
            continue;
          }
          s += ESCAPES[e] ?? e;
        } else s += src[j];
        j++;
      }
      if (j >= src.length) throw new ConditionError('unterminated string', i);
      out.push({ k: 'str', v: s, at: i });
      i = j + 1;
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(rest))) {
      out.push({ k: 'name', v: m[0], at: i });
      i += m[0].length;
    } else if ((m = /^(==|!=|<=|>=|<|>|\(|\)|\[|\]|\{|\}|:|\.|,|\|)/.exec(rest))) {
      out.push({ k: 'op', v: m[0], at: i });
      i += m[0].length;
    } else {
      throw new ConditionError(`unexpected character "${c}"`, i);
    }
  }
  out.push({ k: 'end', v: '', at: src.length });
  return out;
}

const CMP = new Set(['==', '!=', '<', '<=', '>', '>=']);
const TESTS = new Set(['defined', 'undefined', 'none', 'true', 'false']);

class Parser {
  private i = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly src: string,
  ) {}

  private peek(): Tok {
    return this.toks[this.i] as Tok;
  }
  private next(): Tok {
    return this.toks[this.i++] as Tok;
  }
  private isName(v: string, ahead = 0): boolean {
    const t = this.toks[this.i + ahead];
    return t?.k === 'name' && t.v === v;
  }
  private expectOp(v: string): void {
    const t = this.next();
    if (t.k !== 'op' || t.v !== v) throw new ConditionError(`expected "${v}"`, t.at);
  }

  parseAll(): Expr {
    const e = this.or();
    const t = this.peek();
    if (t.k !== 'end') throw new ConditionError(`unexpected "${t.v}"`, t.at);
    return e;
  }
  private or(): Expr {
    let l = this.and();
    while (this.isName('or')) {
      this.next();
      l = { t: 'or', l, r: this.and() };
    }
    return l;
  }
  private and(): Expr {
    let l = this.not();
    while (this.isName('and')) {
      this.next();
      l = { t: 'and', l, r: this.not() };
    }
    return l;
  }
  private not(): Expr {
    if (this.isName('not')) {
      this.next();
      return { t: 'not', e: this.not() };
    }
    return this.test();
  }
  private test(): Expr {
    const e = this.cmp();
    if (!this.isName('is')) return e;
    this.next();
    let neg = false;
    if (this.isName('not')) {
      this.next();
      neg = true;
    }
    const t = this.next();
    if (t.k !== 'name' || !TESTS.has(t.v)) throw new ConditionError(`unknown test "${t.v}" (known: ${[...TESTS].join(', ')})`, t.at);
    if (t.v === 'undefined') return { t: 'is', e, test: 'defined', neg: !neg };
    return { t: 'is', e, test: t.v, neg };
  }
  private cmp(): Expr {
    const l = this.unary();
    const t = this.peek();
    if (t.k === 'op' && CMP.has(t.v)) {
      this.next();
      return { t: 'cmp', op: t.v, l, r: this.unary() };
    }
    if (this.isName('in')) {
      this.next();
      return { t: 'cmp', op: 'in', l, r: this.unary() };
    }
    if (this.isName('not') && this.isName('in', 1)) {
      this.next();
      this.next();
      return { t: 'not', e: { t: 'cmp', op: 'in', l, r: this.unary() } };
    }
    return l;
  }
  private unary(): Expr {
    let e = this.primary();
    while (this.peek().k === 'op' && this.peek().v === '|') {
      this.next();
      const f = this.next();
      if (f.k !== 'name' || !(FILTERS as readonly string[]).includes(f.v)) {
        throw new ConditionError(`unknown filter "${f.v}" (known: ${FILTERS.join(', ')})`, f.at);
      }
      e = { t: 'filter', e, name: f.v };
    }
    return e;
  }
  private primary(): Expr {
    const t = this.next();
    if (t.k === 'num') return { t: 'lit', v: Number(t.v) };
    if (t.k === 'str') return { t: 'lit', v: t.v };
    if (t.k === 'op' && t.v === '(') {
      const e = this.or();
      this.expectOp(')');
      return e;
    }
    if (t.k === 'op' && t.v === '[') {
      const items: Expr[] = [];
      while (!(this.peek().k === 'op' && this.peek().v === ']')) {
        items.push(this.or());
        if (this.peek().k === 'op' && this.peek().v === ',') this.next();
        else break;
      }
      this.expectOp(']');
      return { t: 'list', items };
    }
    if (t.k === 'op' && t.v === '{') {
      if (this.peek().k === 'op' && this.peek().v === '{') throw new ConditionError('conditions are expressions, not templates: write them without {{ }}', t.at);
      const entries: [string, Expr][] = [];
      while (!(this.peek().k === 'op' && this.peek().v === '}')) {
        const k = this.next();
        if (k.k !== 'str') throw new ConditionError('expected a quoted key inside { }', k.at);
        this.expectOp(':');
        entries.push([k.v, this.or()]);
        if (this.peek().k === 'op' && this.peek().v === ',') this.next();
        else break;
      }
      this.expectOp('}');
      return { t: 'dict', entries };
    }
    if (t.k === 'name') {
      if (t.v === 'true' || t.v === 'True') return { t: 'lit', v: true };
      if (t.v === 'false' || t.v === 'False') return { t: 'lit', v: false };
      if (t.v === 'none' || t.v === 'None' || t.v === 'null') return { t: 'lit', v: null };
      if (['and', 'or', 'not', 'in', 'is'].includes(t.v)) throw new ConditionError(`unexpected "${t.v}"`, t.at);
      const rest: (string | number)[] = [];
      for (;;) {
        const p = this.peek();
        if (p.k === 'op' && p.v === '.') {
          this.next();
          const n = this.next();
          if (n.k !== 'name' && n.k !== 'num') throw new ConditionError('expected a name after "."', n.at);
          rest.push(n.k === 'num' ? Number(n.v) : n.v);
        } else if (p.k === 'op' && p.v === '[') {
          this.next();
          const n = this.next();
          if (n.k === 'num') rest.push(Number(n.v));
          else if (n.k === 'str') rest.push(n.v);
          else throw new ConditionError('expected a number or a quoted key inside [ ]', n.at);
          this.expectOp(']');
        } else break;
      }
      const end = this.peek().at;
      return { t: 'path', root: t.v, rest, text: this.src.slice(t.at, end).trim(), at: t.at };
    }
    throw new ConditionError(t.k === 'end' ? 'unexpected end of condition' : `unexpected "${t.v}"`, t.at);
  }
}

const cache = new Map<string, Expr>();

/** Parse a condition; throws ConditionError with the offset of the problem. */
export function parseCondition(src: string): Expr {
  const hit = cache.get(src);
  if (hit) return hit;
  const e = new Parser(tokenize(src), src).parseAll();
  cache.set(src, e);
  return e;
}

/** The variable paths a condition reads, e.g. ["rev.stdout", "cluster.size"], with their offsets. */
export function conditionRefs(e: Expr, out: { root: string; text: string; at: number }[] = []): { root: string; text: string; at: number }[] {
  switch (e.t) {
    case 'path':
      out.push({ root: e.root, text: e.text, at: e.at });
      break;
    case 'list':
      e.items.forEach((x) => conditionRefs(x, out));
      break;
    case 'dict':
      e.entries.forEach(([, x]) => conditionRefs(x, out));
      break;
    case 'not':
    case 'is':
    case 'filter':
      conditionRefs(e.e, out);
      break;
    case 'and':
    case 'or':
    case 'cmp':
      conditionRefs(e.l, out);
      conditionRefs(e.r, out);
      break;
    case 'lit':
      break;
  }
  return out;
}

/** Names whose presence `is defined` tests, so validation does not call them undefined. */
export function definedTests(e: Expr, out: Set<string> = new Set()): Set<string> {
  if (e.t === 'is' && e.test === 'defined' && e.e.t === 'path') out.add(e.e.root);
  if ('e' in e) definedTests(e.e, out);
  if ('l' in e) {
    definedTests(e.l, out);
    definedTests(e.r, out);
  }
  return out;
}

export type Scope = (root: string) => unknown;

const UNDEFINED = Symbol('undefined');
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

function lookup(e: Extract<Expr, { t: 'path' }>, scope: Scope): unknown {
  // Names inherited from Object.prototype (constructor, toString, __proto__) are never variables.
  if (FORBIDDEN.has(e.root)) return UNDEFINED;
  let v: unknown = scope(e.root);
  if (v === undefined || typeof v === 'function') return UNDEFINED;
  for (const k of e.rest) {
    if (v === null || typeof v !== 'object') return UNDEFINED;
    if (typeof k === 'string' && FORBIDDEN.has(k)) return UNDEFINED;
    if (!Object.prototype.hasOwnProperty.call(v, k)) return UNDEFINED;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  if (typeof v === 'string') return v.length > 0 && !['false', 'no', 'off', '0'].includes(v.toLowerCase());
  return Boolean(v);
}

function filter(name: string, v: unknown): unknown {
  switch (name) {
    case 'int': {
      const n = typeof v === 'number' ? v : parseInt(String(v).trim(), 10);
      return Number.isNaN(n) ? 0 : Math.trunc(n);
    }
    case 'float': {
      const n = typeof v === 'number' ? v : parseFloat(String(v).trim());
      return Number.isNaN(n) ? 0 : n;
    }
    case 'string':
      return typeof v === 'string' ? v : JSON.stringify(v);
    case 'length':
      if (typeof v === 'string' || Array.isArray(v)) return v.length;
      if (v && typeof v === 'object') return Object.keys(v).length;
      return 0;
    case 'trim':
      return String(v).trim();
    case 'lower':
      return String(v).toLowerCase();
    case 'upper':
      return String(v).toUpperCase();
    case 'bool':
      return truthy(v);
    case 'from_json':
      try {
        return JSON.parse(String(v)) as unknown;
      } catch {
        return null;
      }
    case 'first':
      return Array.isArray(v) ? v[0] : typeof v === 'string' ? v[0] : undefined;
    case 'last':
      return Array.isArray(v) ? v[v.length - 1] : typeof v === 'string' ? v[v.length - 1] : undefined;
    case 'keys':
      return v && typeof v === 'object' ? Object.keys(v).sort() : [];
    default:
      throw new Error(`unknown filter ${name}`);
  }
}

function equal(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'string' && b.trim() !== '' && !Number.isNaN(Number(b))) return a === Number(b);
  if (typeof b === 'number' && typeof a === 'string' && a.trim() !== '' && !Number.isNaN(Number(a))) return b === Number(a);
  return JSON.stringify(a) === JSON.stringify(b);
}

function evalExpr(e: Expr, scope: Scope): unknown {
  switch (e.t) {
    case 'lit':
      return e.v;
    case 'list':
      return e.items.map((x) => evalExpr(x, scope));
    case 'dict':
      // fromEntries defines own properties: a "__proto__" key cannot reach the prototype.
      return Object.fromEntries(e.entries.map(([k, x]) => [k, evalExpr(x, scope)]));
    case 'path': {
      const v = lookup(e, scope);
      if (v === UNDEFINED) throw new ConditionError(`"${e.text}" is not defined`, 0);
      return v;
    }
    case 'not':
      return !truthy(evalExpr(e.e, scope));
    case 'and':
      return truthy(evalExpr(e.l, scope)) && truthy(evalExpr(e.r, scope));
    case 'or':
      return truthy(evalExpr(e.l, scope)) || truthy(evalExpr(e.r, scope));
    case 'is': {
      let r: boolean;
      if (e.test === 'defined') r = e.e.t === 'path' ? lookup(e.e, scope) !== UNDEFINED : true;
      else {
        const v = evalExpr(e.e, scope);
        r = e.test === 'none' ? v === null : e.test === 'true' ? v === true : v === false;
      }
      return e.neg ? !r : r;
    }
    case 'filter':
      return filter(e.name, evalExpr(e.e, scope));
    case 'cmp': {
      const l = evalExpr(e.l, scope);
      const r = evalExpr(e.r, scope);
      switch (e.op) {
        case '==':
          return equal(l, r);
        case '!=':
          return !equal(l, r);
        case 'in':
          if (Array.isArray(r)) return r.some((x) => equal(x, l));
          if (typeof r === 'string') return r.includes(String(l));
          if (r && typeof r === 'object') return Object.prototype.hasOwnProperty.call(r, String(l));
          return false;
        default: {
          const a = typeof l === 'string' && typeof r === 'number' ? Number(l) : l;
          const b = typeof r === 'string' && typeof l === 'number' ? Number(r) : r;
          if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) {
            throw new ConditionError(`cannot compare ${JSON.stringify(l)} ${e.op} ${JSON.stringify(r)}`, 0);
          }
          const x = a;
          const y = b as number | string;
          return e.op === '<' ? x < y : e.op === '<=' ? x <= y : e.op === '>' ? x > y : x >= y;
        }
      }
    }
  }
}

/** Evaluate a condition to a boolean. Reading an undefined name throws (use `is defined`). */
export function evalCondition(src: string | Expr, scope: Scope): boolean {
  const e = typeof src === 'string' ? parseCondition(src) : src;
  return truthy(evalExpr(e, scope));
}

/** All conditions of a list must hold (Ansible semantics for a `when:` list). */
export function evalAll(conds: string[], scope: Scope): boolean {
  return conds.every((c) => evalCondition(c, scope));
}

function literal(v: unknown): string {
  return v === undefined ? 'none' : JSON.stringify(v);
}

/** Print a condition back as text, with the paths `resolve` knows replaced by literals. */
export function printCondition(e: Expr, resolve: (path: Extract<Expr, { t: 'path' }>) => { known: boolean; value?: unknown }): string {
  const p = (x: Expr): string => printCondition(x, resolve);
  // Operands of a comparison, filter or test keep their parentheses unless they bind at least as tightly.
  const operand = (x: Expr, allowCmp = false): string => (x.t === 'lit' || x.t === 'list' || x.t === 'dict' || x.t === 'path' || x.t === 'filter' || (allowCmp && x.t === 'cmp') ? p(x) : `(${p(x)})`);
  switch (e.t) {
    case 'lit':
      return literal(e.v);
    case 'list':
      return `[${e.items.map(p).join(', ')}]`;
    case 'dict':
      return `{${e.entries.map(([k, x]) => `${JSON.stringify(k)}: ${p(x)}`).join(', ')}}`;
    case 'path': {
      const r = resolve(e);
      return r.known ? literal(r.value) : e.text;
    }
    case 'not':
      return `not (${p(e.e)})`;
    case 'and':
    case 'or':
      return `(${p(e.l)}) ${e.t} (${p(e.r)})`;
    case 'cmp':
      return `${operand(e.l)} ${e.op} ${operand(e.r)}`;
    case 'is':
      return `${operand(e.e, true)} is ${e.neg ? 'not ' : ''}${e.test}`;
    case 'filter':
      return `${operand(e.e)} | ${e.name}`;
  }
}
