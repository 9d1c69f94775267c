// Module tests as data (pyinfra's tests/operations/<op>/*.json is the model): each
// test/modules/<module>/<case>.yaml gives a task, an inventory and -e values, and the exact actions
// the plan must hold for the case's host — or the diagnostics that refuse it. The case is compiled
// the way `runbook plan` compiles a playbook (render, schema checks after rendering, module plan).
//
// Coverage is checked too: every op and every argument of every module appears in some case, and
// every string argument has a case with a hostile value (`hostile: <arg>`).
//
// UPDATE_MODULE_CASES=1 writes the actual outcome into `expect` (then read the diff as a reviewer).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { buildPlan } from '../../engine/cli/inputs.js';
import type { Json, JsonObject } from '../../engine/model/types.js';
import { MODULES } from '../../engine/modules/registry.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';

const CASES_DIR = join(PACKAGE_ROOT, 'test', 'modules');
const UPDATE = process.env.UPDATE_MODULE_CASES === '1';

interface Expect {
  actions?: Json[];
  result?: Json;
  /** code: message, one per diagnostic (positions are the golden plans' and bad-input corpus's job). */
  diagnostics?: string[];
}

interface Case {
  description: string;
  /** Inventory file relative to the repository. */
  inventory: string;
  /** The host the task runs on (the play's hosts). */
  host: string;
  /** -e values. */
  vars?: Record<string, string>;
  /** Tasks before it (e.g. one that registers a run-time value the task uses). */
  before?: JsonObject[];
  /** The task: one module key with its args, plus task keywords. */
  task: JsonObject;
  /** The argument that carries a hostile value in this case. */
  hostile?: string;
  expect: Expect;
}

interface LoadedCase {
  module: string;
  name: string;
  file: string;
  text: string;
  c: Case;
}

function loadCases(): LoadedCase[] {
  const out: LoadedCase[] = [];
  for (const module of readdirSync(CASES_DIR).sort()) {
    for (const f of readdirSync(join(CASES_DIR, module))
      .filter((x) => x.endsWith('.yaml'))
      .sort()) {
      const file = join(CASES_DIR, module, f);
      const text = readFileSync(file, 'utf8');
      out.push({ module, name: f.replace(/\.yaml$/, ''), file, text, c: parse(text) as Case });
    }
  }
  return out;
}

/** Compile the case's task as a one-task playbook; the outcome in the shape of `expect`. */
function outcome(c: Case, tmp: string): Expect {
  const pb = join(tmp, 'case.yml');
  const before = c.before ?? [];
  writeFileSync(pb, stringify([{ name: 'case', hosts: c.host, tasks: [...before, { name: 'case', ...c.task }] }]));
  const vars = Object.entries(c.vars ?? {}).map(([k, v]) => `${k}=${v}`);
  const r = buildPlan({ playbook: pb, inventory: c.inventory, extraVars: vars });
  if (!r.plan) return { diagnostics: [...new Set(r.diagnostics.map((d) => `${d.code}: ${d.message}`))] };
  const task = r.plan.plays[0]?.tasks[before.length];
  const step = task?.steps.find((s) => s.host === c.host);
  return { actions: step?.actions ?? [], ...(task && task.result !== null ? { result: task.result } : {}) };
}

/** The schema's top-level properties of a module: name → type/enum. */
function schemaProps(schema: string): Record<string, { type?: string | string[]; enum?: string[] }> {
  const s = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'schemas', 'modules', `${schema}.schema.json`), 'utf8')) as {
    properties?: Record<string, { type?: string | string[]; enum?: string[] }>;
  };
  return s.properties ?? {};
}

const isString = (p: { type?: string | string[] }): boolean => p.type === 'string' || (Array.isArray(p.type) && p.type.includes('string'));

describe('module cases (test/modules/<module>/<case>.yaml)', () => {
  const cases = loadCases();
  let tmp: string;
  // Inventory paths in the cases (and so in messages) are relative to the repository.
  const cwd = process.cwd();
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'runbook-module-cases-'));
    process.chdir(PACKAGE_ROOT);
  });
  after(() => {
    process.chdir(cwd);
    rmSync(tmp, { recursive: true, force: true });
  });

  for (const lc of cases) {
    it(`${lc.module}/${lc.name}: ${lc.c.description}`, () => {
      const actual = outcome(lc.c, tmp);
      if (UPDATE) {
        const doc = parse(lc.text) as Case;
        doc.expect = actual;
        writeFileSync(lc.file, stringify(doc, { lineWidth: 0 }));
        return;
      }
      assert.deepEqual(actual, lc.c.expect);
    });
  }

  it('every module, every op and every argument has a case; every string argument a hostile one', () => {
    const missing: string[] = [];
    for (const m of Object.values(MODULES)) {
      const mine = cases.filter((x) => x.module === m.name);
      if (mine.length === 0) {
        missing.push(`${m.name}: no cases`);
        continue;
      }
      const argsOf = (x: LoadedCase): JsonObject => {
        const a = x.c.task[m.name];
        return a && typeof a === 'object' && !Array.isArray(a) ? a : {};
      };
      const props = schemaProps(m.schema);
      for (const [arg, p] of Object.entries(props)) {
        if (!mine.some((x) => arg in argsOf(x) || (arg === 'cmd' && typeof x.c.task[m.name] === 'string')))
          missing.push(`${m.name}: argument ${arg} in no case`);
        if (isString(p) && !p.enum && !mine.some((x) => x.c.hostile === arg)) missing.push(`${m.name}: no hostile case for ${arg}`);
      }
      for (const op of m.ops ? Object.keys(m.ops) : []) if (!mine.some((x) => argsOf(x).op === op)) missing.push(`${m.name}: op ${op} in no case`);
      // set_fact takes any names: one case with a hostile fact value stands for all.
      if (m.name === 'set_fact' && !mine.some((x) => x.c.hostile !== undefined)) missing.push('set_fact: no hostile case');
    }
    assert.deepEqual(missing, []);
  });

  it('the ops table of each module agrees with its schema (adding an op is one entry plus its enum value)', () => {
    for (const m of Object.values(MODULES)) {
      if (!m.ops) continue;
      assert.deepEqual(Object.keys(m.ops).sort(), [...(schemaProps(m.schema).op?.enum ?? [])].sort(), m.name);
    }
  });
});
