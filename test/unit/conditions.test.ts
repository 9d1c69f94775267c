// The condition language (`when`, `until`, `changed_when`, `failed_when`, `assert`): parsed into an
// AST and interpreted, never eval'd.
import assert from 'node:assert/strict';
import { evalAll, evalCondition, type Scope } from '../../engine/template/condition-eval.js';
import { ConditionError } from '../../engine/template/condition-lexer.js';
import { conditionRefs, definedTests, parseCondition, printCondition, type Expr } from '../../engine/template/conditions.js';
import type { Json } from '../../engine/model/types.js';

const VARS: Record<string, Json> = {
  rc0: { rc: 0, stdout: ' 42 \n', stderr: '' },
  rc1: { rc: 1, stdout: 'error', stderr: 'boom' },
  n: 3,
  s3: '3',
  s10: '10',
  name: 'etcd-1',
  names: ['etcd-1', 'etcd-2', 'etcd-3'],
  nums: [1, 2, 3],
  empty: [],
  emptyObj: {},
  obj: { a: 1, b: { c: 'deep' } },
  nothing: null,
  yes: 'yes',
  no: 'no',
  t: true,
  f: false,
  json: '{"members": [{"name": "etcd-1"}, {"name": "etcd-2"}], "ok": true}',
  notJson: '{nope',
  padded: '  hello  ',
};

const scope: Scope = (root) => (Object.prototype.hasOwnProperty.call(VARS, root) ? VARS[root] : undefined);
const ev = (src: string, sc: Scope = scope): boolean => evalCondition(src, sc);

describe('conditions: evaluation', () => {
  const table: [string, boolean][] = [
    // literals and truthiness
    ['true', true],
    ['false', false],
    ['True', true],
    ['none', false],
    ['null', false],
    ['0', false],
    ['1', true],
    ['""', false],
    ['"x"', true],
    ['"false"', false],
    ['"no"', false],
    ['"0"', false],
    ['[]', false],
    ['[0]', true],
    ['empty', false],
    ['emptyObj', false],
    ['obj', true],
    // and / or / not, precedence (not > and > or), parentheses
    ['t and t', true],
    ['t and f', false],
    ['f or t', true],
    ['f or f', false],
    ['not f', true],
    ['not not t', true],
    ['t or t and f', true],
    ['(t or t) and f', false],
    ['not (t and f)', true],
    ['not t and f', false],
    ['f or not f and t', true],
    ['((((t))))', true],
    // comparisons
    ['rc0.rc == 0', true],
    ['rc1.rc == 0', false],
    ['rc1.rc != 0', true],
    ['n > 2', true],
    ['n >= 3', true],
    ['n < 3', false],
    ['n <= 3', true],
    ['-1 < n', true],
    ['n == -3', false],
    ['1.5 < 2', true],
    // number / string coercion
    ['s3 == 3', true],
    ['3 == s3', true],
    ['s3 != 3', false],
    ['s10 > 9', true],
    ['s10 > n', true],
    ['"10" > "9"', false],
    ['"b" > "a"', true],
    ['name == "etcd-1"', true],
    ["name == 'etcd-1'", true],
    ['name == "etcd-10"', false],
    ['" 3" == 3', true],
    ['"" == 0', false],
    ['nothing == none', true],
    ['nothing is none', true],
    ['n is none', false],
    ['t is true', true],
    ['f is false', true],
    ['s3 is true', false],
    ['obj.b == {"c": "deep"}', true],
    ['obj == {"a": 1, "b": {"c": "deep"}}', true],
    ['{"k": n} == {"k": 3}', true],
    ['nums == [1, 2, 3]', true],
    ['nums == [1, 2]', false],
    // in / not in
    ['"etcd-2" in names', true],
    ['"etcd-4" in names', false],
    ['"etcd-4" not in names', true],
    ['2 in nums', true],
    ['"2" in nums', true],
    ['"ell" in padded', true],
    ['"a" in obj', true],
    ['"z" in obj', false],
    ['"z" not in obj', true],
    ['1 in [1, 2]', true],
    ['name in ["etcd-1", "etcd-9"]', true],
    ['"x" in nothing', false],
    // is defined / is not defined / is undefined
    ['rc0 is defined', true],
    ['rc0.rc is defined', true],
    ['rc0.missing is defined', false],
    ['nosuch is defined', false],
    ['nosuch is not defined', true],
    ['nosuch is undefined', true],
    ['rc0 is undefined', false],
    ['nosuch is defined and nosuch.rc == 0', false],
    ['nosuch is not defined or nosuch.rc == 0', true],
    ['obj.b.c is defined', true],
    ['obj["b"]["c"] == "deep"', true],
    ['names[1] == "etcd-2"', true],
    ['names.2 == "etcd-3"', true],
    ['names[7] is defined', false],
    // filters
    ['rc0.stdout | int == 42', true],
    ['rc0.stdout | trim == "42"', true],
    ['padded | trim == "hello"', true],
    ['padded | length == 9', true],
    ['names | length == 3', true],
    ['obj | length == 2', true],
    ['nothing | length == 0', true],
    ['"x" | int == 0', true],
    ['"3.7" | int == 3', true],
    ['"3.7" | float > 3.5', true],
    ['yes | bool', true],
    ['no | bool', false],
    ['"TRUE" | bool', true],
    ['"off" | bool', false],
    ['json | from_json | length == 2', true],
    ['notJson | from_json is none', true],
    ['name | upper == "ETCD-1"', true],
    ['"AbC" | lower == "abc"', true],
    ['names | first == "etcd-1"', true],
    ['names | last == "etcd-3"', true],
    ['obj | keys == ["a", "b"]', true],
    ['n | string == "3"', true],
    ['rc0.stdout | trim | int > 41', true],
    ['(rc0.stdout | int) == 42', true],
    // lists
    ['[1, 2, 3] | length == 3', true],
    ['[] | length == 0', true],
    ['[n, s3] == [3, "3"]', true],
    ['[1, [2, 3]] | last | length == 2', true],
  ];
  for (const [src, want] of table) {
    it(`${src} → ${want}`, () => assert.equal(ev(src), want));
  }

  it('reading an undefined name throws (guard it with "is defined")', () => {
    assert.throws(
      () => ev('nosuch == 1'),
      (e: unknown) => e instanceof ConditionError && /"nosuch" is not defined/.test(e.message),
    );
    assert.throws(() => ev('rc0.nosuch == 1'), ConditionError);
    assert.throws(() => ev('names[9] == 1'), ConditionError);
  });

  it('ordering values of different kinds is an error, not a guess', () => {
    assert.throws(
      () => ev('names < 3'),
      (e: unknown) => e instanceof ConditionError && /cannot compare/.test(e.message),
    );
    assert.throws(() => ev('obj > "a"'), ConditionError);
    assert.throws(() => ev('nothing < 1'), ConditionError);
  });

  it('evalAll: every condition of a when-list must hold', () => {
    assert.equal(evalAll(['t', 'n == 3'], scope), true);
    assert.equal(evalAll(['t', 'n == 4'], scope), false);
    assert.equal(evalAll([], scope), true);
  });

  it('and / or short-circuit: the right side is not read when the left decides', () => {
    assert.equal(ev('f and nosuch == 1'), false);
    assert.equal(ev('t or nosuch == 1'), true);
  });
});

describe('conditions: syntax errors carry the offset of the problem', () => {
  const table: [string, number, RegExp][] = [
    ['a ==', 4, /unexpected end/],
    ['a === b', 4, /unexpected character "="/],
    ['(a', 2, /expected "\)"/],
    ['a | nosuch', 4, /unknown filter "nosuch"/],
    ['a is weird', 5, /unknown test "weird"/],
    ["'abc", 0, /unterminated string/],
    ['a.', 2, /expected a name after "."/],
    ['a b', 2, /unexpected "b"/],
    ['', 0, /unexpected end/],
    ['a and', 5, /unexpected end/],
    ['not', 3, /unexpected end/],
    ['x[1', 3, /expected "\]"/],
    ['[1, 2', 5, /expected "\]"/],
    ['a.b[c]', 4, /quoted key/],
    ['a == 1 or', 9, /unexpected end/],
    ['a && b', 2, /unexpected character "&"/],
    ['a = 1', 2, /unexpected character "="/],
    ['rc.stdout ~ "x"', 10, /unexpected character "~"/],
    ['{{ rc.rc }} == 0', 0, /without {{ }}/],
    ['{"k" 1} == x', 5, /expected ":"/],
    ['{k: 1} == x', 1, /quoted key/],
    ['a == and', 5, /unexpected "and"/],
  ];
  for (const [src, offset, msg] of table) {
    it(JSON.stringify(src), () => {
      assert.throws(
        () => parseCondition(src),
        (e: unknown) => {
          assert.ok(e instanceof ConditionError, String(e));
          assert.equal(e.offset, offset, e.message);
          assert.match(e.message, msg);
          return true;
        },
      );
    });
  }
});

describe('conditions: no code execution, no prototype access', () => {
  const g = globalThis as Record<string, unknown>;
  afterEach(() => delete g.__runbookPwned);

  it('a call expression is a syntax error, not a call', () => {
    for (const src of [
      "constructor.constructor('x')",
      "constructor.constructor('globalThis.__runbookPwned = 1')()",
      "rc0.stdout.constructor.constructor('globalThis.__runbookPwned = 1')()",
      'process.exit(1)',
      "require('child_process')",
    ]) {
      assert.throws(() => parseCondition(src), ConditionError, src);
      assert.throws(() => ev(src), ConditionError, src);
    }
    assert.equal(g.__runbookPwned, undefined);
  });

  it('__proto__, constructor and prototype are never looked up inside values', () => {
    for (const src of [
      'obj.__proto__ is defined',
      'obj.constructor is defined',
      'obj["__proto__"] is defined',
      "obj['constructor'] is defined",
      'names.constructor is defined',
      'obj.prototype is defined',
      'rc0.stdout.constructor is defined',
    ]) {
      assert.equal(ev(src), false, src);
    }
    assert.throws(() => ev('obj.__proto__ == none'), ConditionError);
    assert.throws(() => ev('obj.constructor.name == "Object"'), ConditionError);
  });

  it('inherited names are not variables, even when the scope is a plain object', () => {
    const ctx: Record<string, unknown> = { a: 1 };
    const loose: Scope = (root) => (root in ctx ? ctx[root] : undefined);
    for (const src of ['constructor is defined', '__proto__ is defined', 'toString is defined', 'hasOwnProperty is defined', 'constructor.name is defined']) {
      assert.equal(ev(src, loose), false, src);
    }
    assert.throws(() => ev('constructor', loose), ConditionError);
    assert.throws(() => ev('toString', loose), ConditionError);
    assert.equal(ev('a == 1', loose), true);
  });

  it('only own properties are read', () => {
    const proto = { inherited: 'x' };
    const own = Object.create(proto) as Record<string, unknown>;
    own.mine = 1;
    const sc: Scope = (root) => (root === 'o' ? own : undefined);
    assert.equal(ev('o.mine == 1', sc), true);
    assert.equal(ev('o.inherited is defined', sc), false);
  });
});

describe('conditions: references and defined-tests (what validation reads)', () => {
  it('conditionRefs lists every path with its root and offset', () => {
    const refs = conditionRefs(parseCondition('rc.rc == 0 and "x" in names and (obj.b.c | trim) != other'));
    assert.deepEqual(
      refs.map((r) => [r.root, r.text, r.at]),
      [
        ['rc', 'rc.rc', 0],
        ['names', 'names', 22],
        ['obj', 'obj.b.c', 33],
        ['other', 'other', 52],
      ],
    );
  });

  it('definedTests names the roots guarded by "is defined"', () => {
    assert.deepEqual([...definedTests(parseCondition('x is defined and x.rc == 0 or y is not defined'))].sort(), ['x', 'y']);
    assert.deepEqual([...definedTests(parseCondition('x.rc == 0'))], []);
  });

  it('parses once per text (cache) and returns the same tree', () => {
    assert.equal(parseCondition('a == 1'), parseCondition('a == 1'));
  });
});

describe('conditions: printCondition round-trip', () => {
  const unknown = (): { known: boolean } => ({ known: false });
  const print = (src: string | Expr): string => printCondition(typeof src === 'string' ? parseCondition(src) : src, unknown);
  const mk =
    (vars: Record<string, Json>): Scope =>
    (root) =>
      Object.prototype.hasOwnProperty.call(vars, root) ? vars[root] : undefined;
  const scopes: Scope[] = [
    scope,
    mk({ a: true, b: false, c: true, x: { rc: 0, stdout: '7' }, s: 'on', l: [1, 2] }),
    mk({ a: false, b: true, c: false, x: { rc: 2, stdout: 'x' }, s: '', l: [] }),
    mk({ a: 0, b: 'yes', c: null, x: { rc: '0', stdout: ' 7 ' }, s: 'no', l: ['1'] }),
  ];
  const outcome = (src: string, sc: Scope): string => {
    try {
      return String(evalCondition(src, sc));
    } catch (e) {
      return e instanceof ConditionError ? 'error' : `crash: ${String(e)}`;
    }
  };
  const sources = [
    'a and b or not c',
    'a or b and c',
    '(a or b) and c',
    'not (a and b)',
    'x.rc == 0',
    'x.rc != 0 and x.stdout | int > 5',
    "'a' in ['a', 'b']",
    '1 not in l',
    'x is not defined',
    'x.rc is defined and x.rc == 0',
    's | bool',
    'x["stdout"] | trim == "7"',
    '-1 < x.rc',
    'c is none',
    // parenthesised operands of comparisons, filters and tests must keep their grouping
    '(a and b) == false',
    '(not a) == b',
    '(a or b) | bool',
    '(a or b) is true',
    '(x.rc == 0) == a',
    '(x.rc == 0) | string == "true"',
    'not (x.rc == 0) == a',
    '[a or b, not c] == [true, false]',
    '{"k": a or b} == {"k": true}',
  ];
  for (const src of sources) {
    it(src, () => {
      const once = print(src);
      const twice = print(once);
      assert.equal(twice, once, 'printing is a fixed point');
      for (const sc of scopes) assert.equal(outcome(once, sc), outcome(src, sc), `"${once}" evaluates like "${src}"`);
    });
  }

  it('bakes known values in as literals that parse back to the same value', () => {
    const values: Json[] = [
      'plain',
      'with "double" and \'single\' quotes',
      'back\\slash',
      'new\nline\ttab',
      'unicode ✓ é',
      '',
      0,
      -12.5,
      true,
      null,
      [1, 'two'],
      { k: 'v' },
    ];
    for (const v of values) {
      const text = printCondition(parseCondition('x == y'), (p) => (p.root === 'x' ? { known: true, value: v } : { known: false }));
      assert.equal(
        evalCondition(text, (root) => (root === 'y' ? v : undefined)),
        true,
        `${JSON.stringify(v)} → ${text}`,
      );
    }
  });

  it('leaves unknown (run-time) paths as written', () => {
    const text = printCondition(parseCondition('x.rc == 0 and n > 2'), (p) => (p.root === 'n' ? { known: true, value: 3 } : { known: false }));
    assert.equal(text, '(x.rc == 0) and (3 > 2)');
  });
});
