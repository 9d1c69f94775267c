// Golden plans: the review surface. Every shipped playbook against every example inventory,
// rendered as review text; a change to a playbook shows up here as a readable diff.
// Regenerate with UPDATE_GOLDEN=1 npm test, then read the diff as a reviewer would.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { renderPlanText } from '../../engine/report/plan-text.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { extraVarsFor } from './extra-vars.js';

const GOLDEN = join(PACKAGE_ROOT, 'test', 'golden');
const playbooks = readdirSync(join(PACKAGE_ROOT, 'playbooks'))
  .filter((f) => f.endsWith('.yml'))
  .sort();
const inventories = readdirSync(join(PACKAGE_ROOT, 'inventories'))
  .filter((f) => f.endsWith('.yml'))
  .sort();

describe('golden plans', function () {
  const cwd = process.cwd();
  before(() => process.chdir(PACKAGE_ROOT));
  after(() => process.chdir(cwd));

  for (const pb of playbooks) {
    for (const inv of inventories) {
      const name = `${pb.replace(/\.yml$/, '')}--${inv.replace(/\.yml$/, '')}.txt`;
      it(`${pb} on ${inv}`, () => {
        const r = buildPlan({ playbook: `playbooks/${pb}`, inventory: `inventories/${inv}`, extraVars: extraVarsFor(pb, inv) });
        assert.deepEqual(r.diagnostics, [], JSON.stringify(r.diagnostics, null, 2));
        assert.ok(r.plan);
        // Verbose: the review surface shows each step's intent and the exact commands under it.
        const text = renderPlanText(r.plan, { verbose: true });
        const file = join(GOLDEN, name);
        if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
          writeFileSync(file, text);
          if (process.env.UPDATE_GOLDEN !== '1') assert.fail(`wrote new golden file ${name}: review it and commit it`);
        }
        assert.equal(text, readFileSync(file, 'utf8'), `plan differs from test/golden/${name} (UPDATE_GOLDEN=1 to accept, then review the diff)`);
      });
    }
  }

  it('has a golden file for every playbook × inventory and no stale ones', () => {
    const expected = new Set(playbooks.flatMap((pb) => inventories.map((inv) => `${pb.replace(/\.yml$/, '')}--${inv.replace(/\.yml$/, '')}.txt`)));
    const actual = readdirSync(GOLDEN).filter((f) => f.endsWith('.txt'));
    assert.deepEqual(
      actual.filter((f) => !expected.has(f)),
      [],
      'stale golden files',
    );
    assert.equal(actual.length, expected.size);
  });
});
