// The Handlebars environment: {{x}} is shell-quoted in commands, {{{x}}} is raw, undefined names are
// errors with positions, run-time values are visible placeholders, and data is never a template.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlan } from '../../engine/cli/inputs.js';
import { compileTemplate, hasTemplate, renderTemplate, TemplateError } from '../../engine/template/env.js';
import { runtimeRef } from '../../engine/template/runtime.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CANARY = `/tmp/runbook-canary-${randomBytes(6).toString('hex')}`;

/** Run a rendered command with /bin/sh and return its stdout byte for byte. */
const sh = (cmd: string): string => execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' });

function templateError(fn: () => unknown, kind: TemplateError['kind'], line: number, col: number, msg?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TemplateError, String(e));
    assert.deepEqual({ kind: e.kind, line: e.line, col: e.col }, { kind, line, col }, e.message);
    if (msg) assert.match(e.message, msg);
    return true;
  });
}

const NASTY: string[] = [
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `a; touch ${CANARY}`,
  `a | touch ${CANARY}`,
  `a && touch ${CANARY}`,
  `a\ntouch ${CANARY}`,
  `a\n`,
  `it's "quoted"`,
  `'`,
  `"`,
  `''`,
  `\\`,
  `-rf`,
  `--help`,
  `-`,
  `$HOME`,
  `\${HOME}`,
  `*`,
  `~`,
  `a b  c`,
  `\t`,
  `> ${CANARY}`,
  `< /etc/passwd`,
  `#comment`,
  `!`,
  `é ✓ 日本語 🙂`,
  `{{cluster.name}}`,
  ``,
];

describe('template env: shell mode quotes every {{value}}', () => {
  afterEach(() => assert.ok(!existsSync(CANARY), `${CANARY} exists: a value was executed`));
  after(() => rmSync(CANARY, { force: true }));

  for (const v of NASTY) {
    it(`round-trips ${JSON.stringify(v)} through /bin/sh as one word`, () => {
      const cmd = renderTemplate("printf '%s' {{x}}", { x: v }, 'shell');
      assert.equal(sh(cmd), v);
      // As one word: a counting function sees exactly one argument.
      assert.equal(sh(`count() { echo $#; }; count ${renderTemplate('{{x}}', { x: v }, 'shell')}`), '1\n');
    });
  }

  it('leaves safe words as they are and quotes the rest', () => {
    assert.equal(
      renderTemplate('etcdctl --endpoints={{e}} member remove {{id}}', { e: 'https://10.0.0.1:2379', id: '8e9e05c52164694d' }, 'shell'),
      'etcdctl --endpoints=https://10.0.0.1:2379 member remove 8e9e05c52164694d',
    );
    assert.equal(renderTemplate('echo {{x}}', { x: 'a b' }, 'shell'), "echo 'a b'");
  });

  it('quotes numbers, booleans, null, lists and mappings as text', () => {
    assert.equal(renderTemplate('{{x}}', { x: 5 }, 'shell'), '5');
    assert.equal(renderTemplate('{{x}}', { x: true }, 'shell'), 'true');
    assert.equal(renderTemplate('{{x}}', { x: null }, 'shell'), "''");
    assert.equal(sh(`printf '%s' ${renderTemplate('{{x}}', { x: ['a b', 'c'] }, 'shell')}`), '["a b","c"]');
    assert.equal(sh(`printf '%s' ${renderTemplate('{{x}}', { x: { k: "v'" } }, 'shell')}`), `{"k":"v'"}`);
  });

  it('quotes helper results too ({{join …}}, {{default …}}, {{#each}} items)', () => {
    assert.equal(renderTemplate('{{join l " "}}', { l: ['a', 'b;c'] }, 'shell'), "'a b;c'");
    assert.equal(renderTemplate('{{default nope "a b"}}', {}, 'shell'), "'a b'");
    assert.equal(renderTemplate('{{#each l}}{{this}} {{/each}}', { l: ['a b', '$(x)'] }, 'shell'), "'a b' '$(x)' ");
  });

  it('{{{x}}} inserts raw text (the explicit, reviewable escape hatch)', () => {
    assert.equal(renderTemplate('echo {{{x}}}', { x: 'a | b' }, 'shell'), 'echo a | b');
    assert.equal(renderTemplate('{{{x}}} {{x}}', { x: 'a b' }, 'shell'), "a b 'a b'");
  });

  it('the quote helper quotes in plain mode', () => {
    assert.equal(renderTemplate('{{quote x}}', { x: 'a b' }, 'plain'), "'a b'");
  });
});

describe('template env: plain mode', () => {
  it('inserts values unquoted and never HTML-escapes', () => {
    assert.equal(renderTemplate('{{x}}', { x: `<a href="x">&'` }, 'plain'), `<a href="x">&'`);
    assert.equal(renderTemplate('{{x}}/{{y}}', { x: '/var/lib', y: 'etcd db' }, 'plain'), '/var/lib/etcd db');
  });

  it('text without {{ is returned as it is', () => {
    assert.equal(hasTemplate('no template here'), false);
    assert.equal(renderTemplate('no template } here', {}, 'shell'), 'no template } here');
  });

  it('documented helpers work', () => {
    const ctx = { l: ['a', 'b', 'c'], s: 'MiXed', n: 0, t: true };
    // template → what it renders to (plain mode), one row per helper.
    const cases: [string, string][] = [
      ['{{join l ","}}', 'a,b,c'],
      ['{{upper s}} {{lower s}}', 'MIXED mixed'],
      ['{{json l}}', '["a","b","c"]'],
      ['{{first l}}', 'a'],
      ['{{join (without l "b") "+"}}', 'a+c'],
      ['{{concat s "-" n}}', 'MiXed-0'],
      ['{{#if (eq n 0)}}zero{{else}}other{{/if}}', 'zero'],
      ['{{#if (and t (not n))}}yes{{/if}}', 'yes'],
      ['{{#unless (or n (ne s "MiXed"))}}same{{/unless}}', 'same'],
    ];
    for (const [template, want] of cases) assert.equal(renderTemplate(template, ctx, 'plain'), want, template);
  });
});

describe('template env: undefined variables are errors with line and column', () => {
  it('in a plain mustache', () => templateError(() => renderTemplate('echo {{nope}}', {}, 'shell'), 'undefined-variable', 1, 8, /undefined variable "nope"/));
  it('on a later line', () => templateError(() => renderTemplate('a\n  {{nope}}', {}, 'shell'), 'undefined-variable', 2, 5));
  it('in a nested path (names the missing part)', () =>
    templateError(() => renderTemplate('{{x.y.z}}', { x: { y: 1 } }, 'plain'), 'undefined-variable', 1, 3, /"x\.y\.z"/));
  it('in a helper parameter', () => templateError(() => renderTemplate('{{join nope ","}}', {}, 'shell'), 'undefined-variable', 1, 8));
  it('in a subexpression', () => templateError(() => renderTemplate('{{upper (concat "a" nope)}}', {}, 'plain'), 'undefined-variable', 1, 21));
  it('in #if', () => templateError(() => renderTemplate('x {{#if nope}}y{{/if}}', {}, 'shell'), 'undefined-variable', 1, 9));
  it('in #if on line 2', () => templateError(() => renderTemplate('line1\nline2 {{#if nope}}{{/if}}', {}, 'shell'), 'undefined-variable', 2, 13));
  it('in a block body', () => templateError(() => renderTemplate('{{#if t}}{{nope}}{{/if}}', { t: true }, 'plain'), 'undefined-variable', 1, 12));
  it('inherited names are not variables', () => {
    templateError(() => renderTemplate('{{x.constructor}}', { x: {} }, 'plain'), 'undefined-variable', 1, 3);
    templateError(() => renderTemplate('{{x.__proto__}}', { x: {} }, 'plain'), 'undefined-variable', 1, 3);
    templateError(() => renderTemplate('{{toString}}', {}, 'plain'), 'undefined-variable', 1, 3);
  });

  it('default tolerates a missing value (that is its purpose)', () => {
    assert.equal(renderTemplate('{{default nope "d"}}', {}, 'plain'), 'd');
    assert.equal(renderTemplate('{{default nope.deeper "d"}}', {}, 'plain'), 'd');
    assert.equal(renderTemplate('{{default x "d"}}', { x: 'v' }, 'plain'), 'v');
    assert.equal(renderTemplate('{{default x "d"}}', { x: '' }, 'plain'), 'd');
    // …but only its first parameter.
    templateError(() => renderTemplate('{{default x nope}}', { x: null }, 'plain'), 'undefined-variable', 1, 13);
  });

  it('paths inside #each / #with are relative and not checked against the root', () => {
    assert.equal(renderTemplate('{{#each l}}{{name}},{{/each}}', { l: [{ name: 'a' }, { name: 'b' }] }, 'plain'), 'a,b,');
    assert.deepEqual(
      compileTemplate('a {{b.c}} {{join d ","}} {{#each e}}{{f}}{{@index}}{{/each}}', 'plain').paths.map((p) => [p.path, p.line, p.col]),
      [
        ['b.c', 1, 5],
        ['d', 1, 18],
        ['e', 1, 34],
      ],
    );
  });
});

describe('template env: syntax errors', () => {
  it('an unclosed {{ is reported at the {{', () => {
    templateError(() => renderTemplate('echo {{ foo', {}, 'shell'), 'template-syntax', 1, 6, /not closed/);
    templateError(() => renderTemplate('echo {{foo}', {}, 'shell'), 'template-syntax', 1, 6, /not closed/);
    templateError(() => renderTemplate('ok {{a}}\nthen {{{ b', { a: 1 }, 'shell'), 'template-syntax', 2, 6, /not closed/);
  });
  it('an unclosed block is reported', () => templateError(() => renderTemplate('{{#if x}}a', { x: 1 }, 'shell'), 'template-syntax', 1, 11, /ends inside/));
  it('partials and unknown helpers are errors, not lookups', () => {
    assert.throws(() => renderTemplate('{{> partial}}', {}, 'shell'), TemplateError);
    assert.throws(() => renderTemplate('{{nosuchhelper x}}', { x: 1 }, 'shell'), TemplateError);
  });
  it('the log helper is not available (it would write to the terminal)', () => {
    assert.throws(
      () => renderTemplate('{{log "x"}}', {}, 'shell'),
      (e: unknown) => e instanceof TemplateError && /log/.test(e.message),
    );
  });
});

describe('template env: run-time values', () => {
  const ctx = { rev: runtimeRef('rev'), run: runtimeRef('run'), static: 'v' };

  it('render as visible placeholders: ⟨x.y⟩ quoted later, ⟨!x.y⟩ raw', () => {
    assert.equal(renderTemplate('echo {{rev.stdout}} {{{rev.stdout}}}', ctx, 'shell'), 'echo ⟨rev.stdout⟩ ⟨!rev.stdout⟩');
    assert.equal(renderTemplate('{{rev.stdout}}', ctx, 'plain'), '⟨!rev.stdout⟩');
    assert.equal(renderTemplate('{{rev.json.members.0.ID}}', ctx, 'shell'), '⟨rev.json.members.0.ID⟩');
    assert.equal(renderTemplate('backup-{{run.timestamp}}.db', ctx, 'shell'), 'backup-⟨run.timestamp⟩.db');
    assert.equal(renderTemplate('{{quote rev.stdout}}', ctx, 'plain'), '⟨rev.stdout⟩');
  });

  it('registered keys such as .path and .file are paths, not properties of the placeholder', () => {
    assert.equal(renderTemplate('{{rev.path}} {{rev.file}}', ctx, 'shell'), '⟨rev.path⟩ ⟨rev.file⟩');
  });

  it('object internals of a placeholder are refused, not rendered', () => {
    for (const t of ['{{rev.constructor}}', '{{rev.toString}}', '{{rev.constructor.constructor}}', '{{rev.constructor.name}}', '{{rev.x.__proto__}}'])
      assert.throws(() => renderTemplate(t, ctx, 'shell'), TemplateError, t);
  });

  for (const [tpl, helper] of [
    ['{{upper rev.stdout}}', 'upper'],
    ['{{lower rev.stdout}}', 'lower'],
    ['{{join rev.list ","}}', 'join'],
    ['{{json rev}}', 'json'],
    ['{{concat "a" rev.x}}', 'concat'],
    ['{{first rev.list}}', 'first'],
    ['{{#if (eq rev.rc 0)}}y{{/if}}', 'eq'],
    ['{{#if rev.rc}}y{{/if}}', '#if'],
    ['{{#unless rev.rc}}y{{/unless}}', '#unless'],
    ['{{#each rev.list}}y{{/each}}', '#each'],
    ['{{#with rev}}{{x}}{{/with}}', '#with'],
  ] as const) {
    it(`helper ${helper} refuses them (runtime-value-misuse, at the value)`, () => {
      const col = tpl.indexOf('rev') + 1;
      templateError(() => renderTemplate(tpl, ctx, 'plain'), 'runtime-value-misuse', 1, col, new RegExp(`"${helper}" cannot use ⟨rev`));
    });
  }
});

describe('template env: data is never evaluated as a template', () => {
  it('a value that looks like a template renders literally', () => {
    const ctx = { x: '{{cluster.name}}', cluster: { name: 'prod' }, y: '{{{raw}}}', z: '{{#each a}}{{/each}}' };
    assert.equal(renderTemplate('{{x}}', ctx, 'plain'), '{{cluster.name}}');
    assert.equal(renderTemplate('{{x}} {{y}} {{z}}', ctx, 'shell'), "'{{cluster.name}}' '{{{raw}}}' '{{#each a}}{{/each}}'");
    assert.equal(renderTemplate('{{{x}}}', ctx, 'shell'), '{{cluster.name}}');
  });

  it('through plan: inventory vars reach the command quoted and unevaluated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-tpl-'));
    try {
      const inv = join(dir, 'inventory.yml');
      writeFileSync(inv, `${readInventory()}\n  tricky: "{{cluster.name}}"\n  evil: "$(touch ${CANARY})"\n`);
      const pb = join(dir, 'pb.yml');
      writeFileSync(pb, '- name: p\n  hosts: etcd\n  tasks:\n    - name: t\n      shell: printf "%s|%s" {{tricky}} {{evil}}\n      run_once: true\n');
      const r = buildPlan({ playbook: pb, inventory: inv });
      assert.deepEqual(r.diagnostics, []);
      const action = r.plan?.plays[0]?.tasks[0]?.steps[0]?.actions[0];
      assert.ok(action && action.kind === 'exec');
      assert.equal(sh(action.cmd), `{{cluster.name}}|$(touch ${CANARY})`);
      assert.ok(!existsSync(CANARY));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The good fixture ends with a `vars:` mapping; the test appends more vars under it. */
function readInventory(): string {
  return readFileSync(join(ROOT, 'test', 'fixtures', 'good', 'inventory.yml'), 'utf8').trimEnd();
}
