// The CI plan-diff set-up (docs/ci/) stays in step with the repository: every pair listed in
// plans.txt compiles, every shipped playbook × example inventory is listed, and the workflow parses.
import assert from 'node:assert/strict';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildPlan } from '../../engine/cli/inputs.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';

const CI = join(PACKAGE_ROOT, 'docs', 'ci');

function pairs(): { playbook: string; inventory: string; extraVars: string[] }[] {
  return readFileSync(join(CI, 'plans.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [playbook = '', inventory = '', ...rest] = l.split(/\s+/);
      const extraVars = rest.filter((_, i) => i % 2 === 1);
      assert.ok(
        rest.every((w, i) => (i % 2 === 0 ? w === '-e' : true)),
        `extra vars are "-e k=v" pairs: ${l}`,
      );
      return { playbook, inventory, extraVars };
    });
}

describe('diff: CI set-up in docs/ci', () => {
  const cwd = process.cwd();
  before(() => process.chdir(PACKAGE_ROOT));
  after(() => process.chdir(cwd));

  it('every pair in plans.txt compiles with its extra vars', () => {
    for (const p of pairs()) {
      const r = buildPlan(p);
      assert.deepEqual(r.diagnostics, [], `${p.playbook} on ${p.inventory}: ${JSON.stringify(r.diagnostics)}`);
    }
  });

  it('lists every shipped playbook on every example inventory', () => {
    const listed = new Set(pairs().map((p) => `${p.playbook} ${p.inventory}`));
    const playbooks = readdirSync(join(PACKAGE_ROOT, 'playbooks')).filter((f) => f.endsWith('.yml'));
    const inventories = readdirSync(join(PACKAGE_ROOT, 'inventories')).filter((f) => f.endsWith('.yml'));
    const missing = playbooks.flatMap((pb) => inventories.map((inv) => `playbooks/${pb} inventories/${inv}`)).filter((k) => !listed.has(k));
    assert.deepEqual(missing, []);
  });

  it('the workflow parses and runs the script, which is executable', () => {
    const wf = parse(readFileSync(join(CI, 'github-actions.yml'), 'utf8')) as { jobs: Record<string, { steps: { run?: string; uses?: string }[] }> };
    const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
    assert.ok(steps.some((s) => s.run?.includes('bash docs/ci/plan-diffs.sh')));
    assert.ok(steps.some((s) => s.run?.includes('validate playbooks/*.yml inventories/*.yml --format github')));
    assert.ok(steps.some((s) => s.uses?.startsWith('actions/github-script@')));
    accessSync(join(CI, 'plan-diffs.sh'), constants.X_OK);
  });
});
