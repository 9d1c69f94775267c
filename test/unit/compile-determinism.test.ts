// compile is a pure function: the same inputs give the same bytes, and the order of keys in the
// inventory's mappings does not matter (hosts and groups are ordered by the engine, not by YAML).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, parse, parseDocument, visit } from 'yaml';
import { buildPlan } from '../../engine/cli/inputs.js';
import type { Plan } from '../../engine/model/types.js';
import { renderPlanText } from '../../engine/report/plan-text.js';
import { stableStringify } from '../../engine/report/stable-json.js';
import { extraVarsFor } from '../golden/extra-vars.js';
import { seededRandom } from '../support/random.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PLAYBOOKS = readdirSync(join(ROOT, 'playbooks'))
  .filter((f) => f.endsWith('.yml'))
  .sort();
const INVENTORIES = readdirSync(join(ROOT, 'inventories'))
  .filter((f) => f.endsWith('.yml'))
  .sort();

/** The extra vars an operator passes per playbook and inventory (as in the golden plans). */

/** The same YAML with the keys of every mapping in a different order (lists keep theirs). */
function reorderMappings(text: string, seed = 42): string {
  const doc = parseDocument(text);
  const rnd = seededRandom(seed);
  visit(doc, {
    Map(_key, node) {
      const before = [...node.items];
      for (let i = node.items.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [node.items[i], node.items[j]] = [node.items[j]!, node.items[i]!];
      }
      if (node.items.length > 1 && node.items.every((p, i) => p === before[i])) node.items.reverse();
    },
  });
  return doc.toString();
}

function plan(playbook: string, inventory: string): Plan {
  const r = buildPlan({ playbook: `playbooks/${playbook}`, inventory: `inventories/${inventory}`, extraVars: extraVarsFor(playbook, inventory) });
  assert.deepEqual(r.diagnostics, [], JSON.stringify(r.diagnostics, null, 2));
  assert.ok(r.plan);
  return r.plan;
}

/** Text and JSON forms of a plan with the inventory's sha256 (which must differ for a reordered file) masked. */
function forms(p: Plan): { text: string; json: string; raw: string } {
  const sha = p.inputs.find((i) => i.role === 'inventory')?.sha256 ?? '';
  assert.match(sha, /^[0-9a-f]{64}$/);
  const mask = (s: string): string => s.replaceAll(sha, '<inventory-sha256>').replaceAll(sha.slice(0, 12), '<inventory-sha>');
  return { text: mask(renderPlanText(p)), json: mask(stableStringify(p)), raw: mask(JSON.stringify(p)) };
}

describe('compile determinism', function () {
  this.timeout(60_000);
  const cwd = process.cwd();
  let tmp: string;

  before(() => {
    // A copy of the project layout whose inventories have every mapping's keys reordered.
    tmp = mkdtempSync(join(tmpdir(), 'runbook-determinism-'));
    mkdirSync(join(tmp, 'playbooks'));
    mkdirSync(join(tmp, 'inventories'));
    for (const pb of PLAYBOOKS) copyFileSync(join(ROOT, 'playbooks', pb), join(tmp, 'playbooks', pb));
    for (const inv of INVENTORIES) writeFileSync(join(tmp, 'inventories', inv), reorderMappings(readFileSync(join(ROOT, 'inventories', inv), 'utf8')));
  });
  after(() => {
    process.chdir(cwd);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('the reordered inventories hold the same data in a different key order', () => {
    for (const inv of INVENTORIES) {
      const original = readFileSync(join(ROOT, 'inventories', inv), 'utf8');
      const reordered = readFileSync(join(tmp, 'inventories', inv), 'utf8');
      assert.notEqual(reordered, original);
      assert.deepEqual(parse(reordered), parse(original), inv);
      assert.notDeepEqual(Object.keys(parse(reordered) as object), Object.keys(parse(original) as object), `${inv}: top-level keys reordered`);
      const hostsOf = (t: string): string[] => Object.keys((parse(t) as { hosts: object }).hosts);
      assert.notDeepEqual(hostsOf(reordered), hostsOf(original), `${inv}: hosts reordered`);
      // Every mapping was visited: the document still has mappings and they parse.
      assert.ok(isMap(parseDocument(reordered).contents));
    }
  });

  for (const pb of PLAYBOOKS) {
    it(`${pb} on prod-3-https.yml: planned twice, identical bytes (text and JSON)`, () => {
      process.chdir(ROOT);
      const a = plan(pb, 'prod-3-https.yml');
      const b = plan(pb, 'prod-3-https.yml');
      assert.equal(renderPlanText(b), renderPlanText(a));
      assert.equal(stableStringify(b), stableStringify(a));
      assert.equal(JSON.stringify(b), JSON.stringify(a), 'even the unsorted object key order');
    });
  }

  for (const inv of INVENTORIES) {
    for (const pb of PLAYBOOKS) {
      it(`${pb} on ${inv}: reordered inventory keys give identical bytes`, () => {
        process.chdir(ROOT);
        const original = forms(plan(pb, inv));
        process.chdir(tmp);
        const reordered = forms(plan(pb, inv));
        process.chdir(ROOT);
        assert.equal(reordered.text, original.text);
        assert.equal(reordered.json, original.json);
        assert.equal(reordered.raw, original.raw, 'even the unsorted object key order');
      });
    }
  }

  it('two separate CLI processes print the same plan bytes', () => {
    const run = (): string =>
      execFileSync(
        process.execPath,
        [
          join(ROOT, 'bin', 'runbook.js'),
          'plan',
          'playbooks/restore-all.yml',
          '-i',
          'inventories/prod-3-https.yml',
          ...extraVarsFor('restore-all.yml', 'prod-3-https.yml').flatMap((e) => ['-e', e]),
          '--format',
          'json',
        ],
        { cwd: ROOT, encoding: 'utf8' },
      );
    const first = run();
    assert.equal(run(), first);
    process.chdir(ROOT);
    assert.equal(first, stableStringify(plan('restore-all.yml', 'prod-3-https.yml')));
  });
});
