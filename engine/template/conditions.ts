// The condition language of `when`, `until`, `changed_when`, `failed_when` and `assert`.
// A tiny Jinja-like expression grammar: condition-lexer.ts makes tokens, this file parses them
// into an AST (and walks and prints it), condition-eval.ts interprets it (no JavaScript eval).
//
//   expr   := or ;  or := and ('or' and)* ;  and := not ('and' not)* ;  not := 'not' not | test
//   test   := cmp ('is' ['not'] ('defined' | 'none' | 'true' | 'false'))?
//   cmp    := unary (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not in') unary)?
//   unary  := primary ('|' filter)*
//   primary:= number | 'string' | "string" | true | false | none | null | [list] | {"key": expr, …} | (expr) | path
//   path   := name ('.' name | '[' (number|string) ']')*
import type { Json } from '../model/types.js';
import { isFilter, FILTERS } from './condition-filters.js';
import { ConditionError, tokenize, type Tok } from './condition-lexer.js';

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
      if (f.k !== 'name' || !isFilter(f.v)) {
        throw new ConditionError(`unknown filter "${f.v}" (known: ${Object.keys(FILTERS).join(', ')})`, f.at);
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
      if (this.peek().k === 'op' && this.peek().v === '{') {
        throw new ConditionError('conditions are expressions, not templates: write them without {{ }}', t.at);
      }
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

function literal(v: unknown): string {
  return v === undefined ? 'none' : JSON.stringify(v);
}

/** Print a condition back as text, with the paths `resolve` knows replaced by literals. */
export function printCondition(e: Expr, resolve: (path: Extract<Expr, { t: 'path' }>) => { known: boolean; value?: unknown }): string {
  const p = (x: Expr): string => printCondition(x, resolve);
  // Operands of a comparison, filter or test keep their parentheses unless they bind at least as tightly.
  const tight = (x: Expr, allowCmp: boolean): boolean =>
    x.t === 'lit' || x.t === 'list' || x.t === 'dict' || x.t === 'path' || x.t === 'filter' || (allowCmp && x.t === 'cmp');
  const operand = (x: Expr, allowCmp = false): string => (tight(x, allowCmp) ? p(x) : `(${p(x)})`);
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
