// Conditions, step 3: evaluate a parsed condition against a scope (variable lookup). No
// JavaScript eval: the AST is interpreted; object internals are never variables.
import { ConditionError } from './condition-lexer.js';
import { FILTERS, truthy } from './condition-filters.js';
import { parseCondition, type Expr } from './conditions.js';

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
      return (FILTERS[e.name] ?? unknownFilter(e.name))(evalExpr(e.e, scope));
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

function unknownFilter(name: string): never {
  // The parser accepts only names in FILTERS: an Expr built by hand is the only way here.
  throw new ConditionError(`unknown filter "${name}"`, 0);
}
