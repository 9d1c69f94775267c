// Playbook fixtures of the tests, as YAML files under test/fixtures/playbooks (read and reviewed as
// playbooks, not as strings inside TypeScript), loaded by name; and plans of the shipped playbooks.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlan, type PlanRequest } from '../../engine/cli/inputs.js';
import type { Plan } from '../../engine/model/types.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';

/** Compiled tests run from dist/test/support; the fixtures stay in the source tree. */
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/playbooks');

/** The path of test/fixtures/playbooks/NAME.yml. */
export function playbookPath(name: string): string {
  return path.join(FIXTURES, `${name}.yml`);
}

/** The text of test/fixtures/playbooks/NAME.yml (for tests that write a copy, or an edited one). */
export function playbookText(name: string): string {
  return readFileSync(playbookPath(name), 'utf8');
}

/**
 * The plan of a shipped playbook and inventory, built from the repository root as an operator
 * there runs it (their relative paths are what messages name); fails the test when it does not compile.
 */
export function shippedPlan(req: PlanRequest): Plan {
  const cwd = process.cwd();
  process.chdir(PACKAGE_ROOT);
  let r;
  try {
    r = buildPlan(req);
  } finally {
    process.chdir(cwd);
  }
  assert.ok(r.plan, JSON.stringify(r.diagnostics));
  return r.plan;
}
